"""The plan for the machine: the model, tensor parallelism and data parallelism that use every GPU found.

One server serves on all of them: TP GPUs per replica (the scenario's preference: TP 1 for
throughput per GPU, more for latency), DP replicas behind vLLM's own load balancing, as
many as the GPUs found hold. The profile's default model is served where its weights fit
a replica with room for the KV cache, else the next model that does. What the user sets
(model, TP, DP) wins; the machine checks then judge it. Without any GPU of the profile in
sight (a build machine, a dry run elsewhere) the plan is the profile's own: the model's
TP for the scenario, DP 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from gptoss_images.core import select
from gptoss_images.core.vendors import Gpu

RANK = {"compatible": 0, "low-memory": 1, "incompatible": 2}


@dataclass(frozen=True)
class Layout:
    model: str
    """One of the profile's models."""
    tp: int
    dp: int
    found: int
    """GPUs of this profile's kind found (0: none in sight, the profile's own plan)."""
    status: str
    """How a replica fits: compatible, low-memory or incompatible (select's judgement), or unknown."""
    room: str
    """Weights and usable memory per GPU, in words."""
    why: str
    kv_gib: float | None = None
    """What a GPU's usable memory leaves for the KV cache once its share of the weights is in, in GiB."""

    @property
    def used(self) -> int:
        return self.tp * self.dp

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"gpus_used": self.used}

    def describe(self) -> str:
        """'openai/gpt-oss-120b, TP 1 x DP 8 = 8 of 8 GPUs (13.0 GiB ...): why'."""
        gpus = f" = {self.used} of {self.found} GPUs" if self.found else ""
        kv = f", {self.kv_gib:.1f} GiB left for the KV cache" if self.kv_gib is not None and self.kv_gib > 0 else ""
        room = f" ({self.room}{kv})" if self.room else ""
        return f"{self.model}, TP {self.tp} x DP {self.dp}{gpus}{room}: {self.why}"


def preferred_tp(profile: dict[str, Any], model: str, scenario: str) -> int:
    """The TP a scenario asks for (its `tp`), else the model's default."""
    return profile["serve"]["scenarios"][scenario].get("tp") or profile["models"][model]["default_tp"]


def static(profile: dict[str, Any], model: str, scenario: str, tp: int | None = None, dp: int | None = None,
           why: str = "no GPU of this profile in sight: the profile's own plan") -> Layout:
    """The plan without a machine: the nearest TP the model allows to the scenario's, DP as given or 1."""
    allowed = profile["models"][model]["tp"]
    wanted = tp or preferred_tp(profile, model, scenario)
    chosen = tp or min((t for t in allowed if t >= wanted), default=max(allowed))
    return Layout(model, chosen, dp or 1, 0, "unknown", "", why)


def plan(profile: dict[str, Any], scenario: str, found: list[Gpu], model: str | None = None,
         tp: int | None = None, dp: int | None = None) -> Layout:
    """The layout for the GPUs `found` (all of them the profile's kind, or the profile's own plan)."""
    same = [g for g in found if select.gpu_matches(profile, g)]
    if not same:
        return static(profile, model or profile["default_model"], scenario, tp, dp)
    models = [model] if model else [profile["default_model"]] + sorted(
        (m for m in profile["models"] if m != profile["default_model"]),
        key=lambda m: -profile["models"][m]["weights_gib"])
    best: tuple[int, int, Layout] | None = None
    for order, name in enumerate(models):
        layout = _for_model(profile, scenario, same, name, tp, dp)
        key = (RANK[layout.status], order)
        if best is None or key < best[:2]:
            best = (*key, layout)
        if layout.status == "compatible":
            break
    assert best is not None
    chosen = best[2]
    if model is None and chosen.model != profile["default_model"]:
        first = _for_model(profile, scenario, same, profile["default_model"], tp, dp)
        chosen = replace(chosen, why=f"{profile['default_model']} does not fit here ({first.room or first.why}); "
                                     + chosen.why)
    return chosen


def _for_model(profile: dict[str, Any], scenario: str, same: list[Gpu], model: str, tp: int | None,
               dp: int | None) -> Layout:
    layout = _layout(profile, scenario, same, model, tp, dp)
    spec = profile["models"][model]
    usable = min(g.memory_mib for g in same) / 1024 * select.utilization(profile, spec, layout.tp)
    return replace(layout, kv_gib=round(usable - spec["weights_gib"] / layout.tp, 1))


def _layout(profile: dict[str, Any], scenario: str, same: list[Gpu], model: str, tp: int | None,
            dp: int | None) -> Layout:
    spec, n = profile["models"][model], len(same)
    wanted = preferred_tp(profile, model, scenario)
    if tp:
        status, room = select.judge_tp(profile, spec, tp, same)
        replicas = dp or max(1, n // tp)
        return Layout(model, tp, replicas, n, status, room, "the TP given" + (" and DP given" if dp else
                                                                               f"; DP {replicas} fills the GPUs"))
    candidates = [t for t in spec["tp"] if t * (dp or 1) <= n and (dp or n % t == 0)]
    judged = {t: select.judge_tp(profile, spec, t, same) for t in candidates}
    for status in ("compatible", "low-memory"):
        fitting = sorted(t for t, (s, _) in judged.items() if s == status)
        if fitting:
            above = [t for t in fitting if t >= wanted]
            chosen = above[0] if above else fitting[-1]
            replicas = dp or n // chosen
            reason = (f"the {scenario} scenario asks for TP {wanted}"
                      + ("" if chosen == wanted else f", the nearest that fits {n} GPU{'s' if n > 1 else ''} "
                                                    f"is {chosen}")
                      + (f"; DP {replicas} uses every GPU" if not dp else "; the DP given"))
            return Layout(model, chosen, replicas, n, status, judged[chosen][1], reason)
    smallest = min(spec["tp"])
    status, room = select.judge_tp(profile, spec, smallest, same)
    return Layout(model, smallest, dp or 1, n, "incompatible", room,
                  f"no TP of {model} fits {n} x {same[0].name}: {room}")
