"""Which profile fits this machine: every profile x model x TP judged on the GPUs found, and the pick.

A fit is compatible (the weights fit with room for the KV cache), low-memory (the
weights fit, little room is left) or incompatible (another GPU or architecture, too
few GPUs, an old driver, or weights that do not fit), with the reason in words and
the command line that runs it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from gptoss_images.core import vendors

UTILIZATION = 0.9
"""vLLM's default share of each GPU's memory, for the fit of profiles that do not set one."""
HEADROOM = 0.8
"""Weights above this share of the usable memory leave little room for the KV cache."""


@dataclass(frozen=True)
class Fit:
    profile: str
    model: str
    tp: int
    status: str  # compatible, low-memory or incompatible
    reason: str
    command: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def gpu_matches(profile: dict[str, Any], gpu: vendors.Gpu) -> bool:
    """Whether a GPU is the profile's model (its name, or for AMD's KFD-only view its gfx target)."""
    want = profile["gpu"]
    if gpu.vendor != want["vendor"]:
        return False
    if gpu.name.startswith("gfx"):  # the KFD topology gives no model name
        return arch_ok(profile, gpu)
    return any(m.lower() in gpu.name.lower() for m in want["match"]) and arch_ok(profile, gpu)


def arch_ok(profile: dict[str, Any], gpu: vendors.Gpu) -> bool:
    """Whether the GPU's architecture is one the profile serves (its own, or another of its family)."""
    return gpu.arch in [profile["gpu"]["arch"], *profile["gpu"].get("also_arch", [])]


def closest(profiles: list[dict[str, Any]], found: list[vendors.Gpu]) -> dict[str, Any] | None:
    """For a GPU no profile names: the profile made for its architecture, if one is."""
    return next((p for p in profiles if found and arch_ok(p, found[0])), None)


def driver_ok(profile: dict[str, Any], gpu: vendors.Gpu) -> bool:
    need = profile["gpu"].get("driver_min")
    return not (need and gpu.driver) or version(gpu.driver) >= version(need)


def fits(profile: dict[str, Any], found: list[vendors.Gpu]) -> list[Fit]:
    """Every model x TP of `profile` on the GPUs `found`."""
    same = [g for g in found if gpu_matches(profile, g)]
    out = []
    for model, spec in profile["models"].items():
        for tp in spec["tp"]:
            status, reason = _judge(profile, spec, tp, found, same)
            devices = vendors.of(profile["gpu"]["vendor"]).docker_flags
            command = (f"docker run {devices} --ipc=host -p 8000:8000 -v gptoss-cache:/cache "
                       f"-e GPTOSS_PROFILE={profile['name']} -e GPTOSS_MODEL={model} "
                       f"-e GPTOSS_TENSOR_PARALLEL_SIZE={tp} IMAGE")
            out.append(Fit(profile["name"], model, tp, status, reason, command))
    return out


def choose(profiles: list[dict[str, Any]], found: list[vendors.Gpu]) -> dict[str, Any] | None:
    """The profile made for these GPUs (their model and architecture, a driver new enough)."""
    for profile in profiles:
        if found and all(gpu_matches(profile, g) for g in found) and driver_ok(profile, found[0]):
            return profile
    return None


def describe(found: list[vendors.Gpu]) -> str:
    if not found:
        return "no GPU"
    first = found[0]
    mixed = "" if len({g.name for g in found}) == 1 else f" (mixed: {', '.join(sorted({g.name for g in found}))})"
    driver = f", driver {first.driver}" if first.driver else ""
    return f"{len(found)} x {first.name} ({first.arch}, {first.memory_mib} MiB{driver}){mixed}"


def needs(profile: dict[str, Any]) -> str:
    want = profile["gpu"]
    driver = f", driver >= {want['driver_min']}" if want.get("driver_min") else ""
    return f"{profile['name']}: {want['model']} ({want['arch']}{driver})"


def version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def judge_tp(profile: dict[str, Any], spec: dict[str, Any], tp: int, same: list[vendors.Gpu]) -> tuple[str, str]:
    """How one replica of a model at `tp` fits the memory of the profile's GPUs `same`: compatible, low-memory or
    incompatible, and why (the driver is the driver check's business, not the layout's)."""
    if len(same) < tp:
        return "incompatible", f"needs {tp} GPUs; found {len(same)}"
    weights = spec["weights_gib"] / tp
    share = utilization(profile, spec, tp)
    usable = min(g.memory_mib for g in same[:tp]) / 1024 * share
    if weights > usable:
        return "incompatible", (f"needs >= {weights / share:.0f} GiB per GPU for {weights:.1f} GiB of "
                                f"weights; has {usable / share:.0f} GiB")
    room = f"{weights:.1f} GiB of weights per GPU, {usable:.1f} GiB usable"
    if weights > HEADROOM * usable:
        return "low-memory", f"{room}: little room for the KV cache (short contexts, few sequences)"
    return "compatible", room


def _judge(profile: dict, spec: dict, tp: int, found: list[vendors.Gpu],
           same: list[vendors.Gpu]) -> tuple[str, str]:
    want = profile["gpu"]
    if not found:
        return "incompatible", "no GPU found"
    if not same:
        return "incompatible", f"needs {want['model']} ({want['arch']}); found {describe(found)}"
    if not driver_ok(profile, same[0]):
        return "incompatible", (f"needs driver >= {want['driver_min']} (CUDA {profile['stack'].get('cuda')}); "
                                f"found {same[0].driver}")
    return judge_tp(profile, spec, tp, same)


def utilization(profile: dict, spec: dict, tp: int) -> float:
    """The share of each GPU's memory vLLM takes for a model at `tp`: the profile's rule, else vLLM's default."""
    value = profile["serve"]["config"].get("gpu-memory-utilization", UTILIZATION)
    for rule in spec.get("rules", []):
        if rule["tp"] == tp:
            value = rule["args"].get("gpu-memory-utilization", value)
    return float(value)
