"""Promote's gates: the self-test, throughput, accuracy, the settings against vLLM's defaults.

An image whose output throughput per GPU fell by more than the threshold from the one
published before it, or whose eval fell below the recipe's score minus its tolerance,
keeps its immutable tag and does not get the floating one; the reason says which. A
profile whose tuned settings measured worse than vLLM's defaults on a new release holds
every image of its line until a person accepts it (promote --accept-settings PROFILE).
"""

from __future__ import annotations

from typing import Any

MAX_THROUGHPUT_DROP = 0.10
"""A fall of more than 10% in output tokens per second per GPU stops a promotion (run-to-run noise
of the nightly's short bench on one machine is a few percent)."""


def refusals(bench: dict[str, Any], evals: list[dict[str, Any]], previous: dict[str, Any] | None,
             max_drop: float = MAX_THROUGHPUT_DROP, selftest: dict[str, Any] | None = None) -> list[str]:
    """Why this image may not be published; empty if it may."""
    found = []
    if selftest and not selftest.get("passed"):
        found.append("the self-test failed: " + ("; ".join(selftest.get("failed") or []) or selftest.get("error", "")))
    before = ((previous or {}).get("bench") or {}).get("output_throughput_per_gpu")
    now = bench.get("output_throughput_per_gpu")
    if before and now is not None and now < (1 - max_drop) * before:
        found.append(f"throughput fell {100 * (1 - now / before):.0f}% ({before:.0f} -> {now:.0f} output tok/s "
                     f"per GPU), more than {100 * max_drop:.0f}%")
    if bench.get("failed"):
        found.append(f"the bench lost {bench['failed']} of {bench.get('num_prompts')} requests")
    for outcome in evals:
        if outcome.get("errors"):
            found.append(f"{outcome['eval']}: {outcome['errors']} requests failed")
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
