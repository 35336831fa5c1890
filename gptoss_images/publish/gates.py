"""Promote's gates: the self-test, throughput, accuracy, the settings against vLLM's defaults.

An image whose output throughput per GPU fell by more than the threshold from the baseline
(the median of the last published nights, so that small drops cannot compound), whose eval
fell below the recipe's score minus its tolerance or ran too few samples to be judged, keeps
its immutable tag and does not get the floating one; the reason says which. A
profile whose tuned settings measured worse than vLLM's defaults on a new release holds
every image of its line until a person accepts it (promote --accept-settings PROFILE).
"""

from __future__ import annotations

from typing import Any

MAX_THROUGHPUT_DROP = 0.10
"""A fall of more than 10% in output tokens per second per GPU stops a promotion (run-to-run noise
of the nightly's short bench on one machine is a few percent)."""
BASELINE_NIGHTS = 7
"""The published nights whose median throughput is the baseline."""


def history(previous: dict[str, Any] | None) -> list[float]:
    """The throughput of the last published nights, oldest first (the last night's own where an older artifact
    carries no history)."""
    if not previous:
        return []
    kept = [n for n in previous.get("history") or [] if isinstance(n, (int, float))]
    if not kept and isinstance((previous.get("bench") or {}).get("output_throughput_per_gpu"), (int, float)):
        kept = [previous["bench"]["output_throughput_per_gpu"]]
    return kept[-BASELINE_NIGHTS:]


def baseline(previous: dict[str, Any] | None) -> float | None:
    nights = sorted(history(previous))
    if not nights:
        return None
    middle = len(nights) // 2
    return nights[middle] if len(nights) % 2 else (nights[middle - 1] + nights[middle]) / 2


def carried_history(previous: dict[str, Any] | None, bench: dict[str, Any]) -> list[float]:
    """The history the night being published keeps beside its floating tag: the last nights', then its own."""
    now = bench.get("output_throughput_per_gpu")
    return (history(previous) + ([now] if isinstance(now, (int, float)) else []))[-BASELINE_NIGHTS:]


def refusals(bench: dict[str, Any], evals: list[dict[str, Any]], previous: dict[str, Any] | None,
             max_drop: float = MAX_THROUGHPUT_DROP, selftest: dict[str, Any] | None = None) -> list[str]:
    """Why this image may not be published; empty if it may."""
    found = []
    if selftest and not selftest.get("passed"):
        found.append("the self-test failed: " + ("; ".join(selftest.get("failed") or []) or selftest.get("error", "")))
    before, nights = baseline(previous), len(history(previous))
    now = bench.get("output_throughput_per_gpu")
    if before and now is not None and now < (1 - max_drop) * before:
        found.append(f"throughput fell {100 * (1 - now / before):.0f}% ({before:.0f} -> {now:.0f} output tok/s "
                     f"per GPU{f', the median of {nights} published nights' if nights > 1 else ''}), more than "
                     f"{100 * max_drop:.0f}%")
    if bench.get("failed"):
        found.append(f"the bench lost {bench['failed']} of {bench.get('num_prompts')} requests")
    for outcome in evals:
        if outcome.get("errors"):
            found.append(f"{outcome['eval']}: {outcome['errors']} requests failed")
        elif outcome.get("too_few"):
            found.append(f"{outcome['eval']}: too few samples to judge ({outcome['samples']}; at least "
                         f"{outcome['too_few']} tell the recipe's {outcome['recipe']:.1f} from half of it)")
        elif not outcome.get("passed"):
            found.append(f"{outcome['eval']} {outcome['score']:.1f} is below the recipe's {outcome['recipe']:.1f} "
                         f"- {outcome['tolerance']:.1f} (gpt-oss-{outcome['model']}, {outcome['effort']} effort)")
    return found


def losing(versus: dict[str, Any]) -> list[str]:
    """The scenarios whose settings measured worse than vLLM's defaults, and by how much."""
    return [f"{v['settings']} ({v['why']})" for v in versus.get("verdicts") or [] if v.get("verdict") == "worse"]


def held_lines(versus_by_profile: dict[str, tuple[str, dict[str, Any]]], accepted: set[str]) -> dict[str, str]:
    """Each line (family and line, e.g. cuda/current) held by a profile whose settings lose to vLLM's defaults,
    with the reason; profiles in `accepted` are a person's acceptance and hold nothing."""
    held: dict[str, str] = {}
    for profile, (line, versus) in sorted(versus_by_profile.items()):
        lost = losing(versus)
        if lost and profile not in accepted and line not in held:
            held[line] = (f"{profile}'s settings are worse than vLLM {versus.get('vllm', '')}'s defaults: "
                          f"{'; '.join(lost)}; once a person has looked, promote --accept-settings {profile}")
    return held
