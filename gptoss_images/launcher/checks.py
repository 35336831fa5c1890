"""Machine checks before serving: GPUs, their count, memory, driver, /dev/shm, model, vocabulary.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptoss_images.core import runtime, select, vendors
from gptoss_images.core.plan import Plan

NAMES = ["gpu", "arch", "count", "memory", "driver", "shm", "model", "vocab", "tools"]


@dataclass(frozen=True)
class Result:
    status: str  # pass, warn or fail
    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.status.upper():4}  {self.name:7} {self.message}"


@dataclass
class Machine:
    """What the checks look at; tests give recorded values instead of the real ones."""

    gpus: Callable[[str], tuple[list[vendors.Gpu], str]] = vendors.detect
    shm_bytes: Callable[[], int | None] = lambda: _shm_bytes()


def found(machine: Machine, vendor: str) -> list[vendors.Gpu]:
    """The machine's GPUs of `vendor`; none when its tool fails (the gpu check then says why)."""
    try:
        return machine.gpus(vendor)[0]
    except (OSError, ValueError, subprocess.SubprocessError):
        return []


def run(profile: dict[str, Any], plan: Plan, environ: Mapping[str, str],
        machine: Machine | None = None) -> list[Result]:
    machine = machine or Machine()
    results = _gpu_checks(profile, plan, machine)
    results.append(_shm(plan, machine.shm_bytes()))
    results.append(_model_files(plan, environ))
    results.append(_vocab(profile, plan, environ))
    if plan.settings.get("tool-server") == "demo":
        results.append(_demo_tools())
    return results


def _gpu_checks(profile: dict, plan: Plan, machine: Machine) -> list[Result]:
    want = profile["gpu"]
    vendor = want["vendor"]
    try:
        found, source = machine.gpus(vendor)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        return [Result("fail", "gpu", f"could not query {vendor} GPUs: {exc}")]
    if not found:
        return [Result("fail", "gpu", f"no {vendors.of(vendor).display} GPU "
                                      f"visible; start the container with {vendors.of(vendor).docker_flags}")]
    first = found[0]
    results = []
    names = {g.name for g in found}
    if any(m.lower() in first.name.lower() for m in want["match"]):
        results.append(Result("pass", "gpu", f"{len(found)} x {first.name} ({source}) is a {want['model']}"))
    elif first.name.startswith("gfx"):
        results.append(Result("warn", "gpu", f"{first.name} ({source}) gives no model name; "
                                             f"cannot tell it is a {want['model']}"))
    else:
        results.append(Result("fail", "gpu", f"{', '.join(sorted(names))} is not a {want['model']}: "
                                             f"use the image built for it"))
    label = vendors.of(vendor).arch_label
    if select.arch_ok(profile, first):
        results.append(Result("pass", "arch", f"{label} {first.arch}"))
    else:
        results.append(Result("fail", "arch", f"{label} {first.arch}, profile {profile['name']} "
                                              f"is built for {want['arch']}"))
    used = plan.tp * plan.dp
    shape = f"TP {plan.tp} x DP {plan.dp}" if plan.dp > 1 else f"tensor-parallel size {plan.tp}"
    if len(found) >= used:
        idle = f"; {len(found) - used} left idle" if len(found) > used else ""
        results.append(Result("pass", "count", f"{len(found)} GPUs for {shape}{idle}"))
    else:
        results.append(Result("fail", "count", f"{len(found)} GPUs, {shape} needs {used}; set "
                                               "GPTOSS_TENSOR_PARALLEL_SIZE / GPTOSS_DATA_PARALLEL_SIZE or unset "
                                               "them for the machine's plan"))
    results.append(_memory(plan, min(g.memory_mib for g in found[:plan.tp]) / 1024))
    if want.get("driver_min") and first.driver:
        ok = select.driver_ok(profile, first)
        cuda = profile["stack"].get("cuda")
        results.append(Result("pass" if ok else "fail", "driver", f"driver {first.driver}" + (
            "" if ok else f" is older than {want['driver_min']}, the first for CUDA {cuda} (this image's "
                          "line); upgrade the driver or run the line built for it")))
    return results


def _memory(plan: Plan, per_gpu_gib: float) -> Result:
    utilization = float(plan.settings.get("gpu-memory-utilization", select.UTILIZATION))
    usable = per_gpu_gib * utilization
    weights = plan.model_spec["weights_gib"] / plan.tp
    text = (f"{weights:.1f} GiB of weights per GPU, {usable:.1f} GiB usable "
            f"({per_gpu_gib:.1f} GiB x {utilization})")
    if weights > usable:
        return Result("fail", "memory", f"{text}: raise GPTOSS_TENSOR_PARALLEL_SIZE")
    if weights > select.HEADROOM * usable:
        return Result("warn", "memory", f"{text}: little room left for the KV cache")
    return Result("pass", "memory", text)


def _shm(plan: Plan, size: int | None) -> Result:
    if size is None:
        return Result("warn", "shm", "/dev/shm not found")
    if size >= runtime.SHM_MIN_BYTES:
        return Result("pass", "shm", f"/dev/shm is {size / 2**30:.1f} GiB")
    status = "fail" if plan.tp > 1 else "warn"
    return Result(status, "shm", f"/dev/shm is {size // 2**20} MiB: start the container with "
                                 f"--ipc=host (or --shm-size {runtime.SHM_SIZE_GIB}g)")


def _model_files(plan: Plan, environ: Mapping[str, str]) -> Result:
    offline = environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}
    if os.path.isdir(plan.model):
        ok = Path(plan.model, "config.json").is_file()
        return Result("pass" if ok else "fail", "model",
                      f"local folder {plan.model}" + ("" if ok else " has no config.json"))
    home = plan.env.get("HF_HOME") or environ.get("HF_HOME") or str(Path(environ.get("HOME", "/"), ".cache",
                                                                           "huggingface"))
    cache = Path(environ.get("HF_HUB_CACHE", str(Path(home, "hub"))))
    snapshots = cache / f"models--{plan.model.replace('/', '--')}" / "snapshots"
    if snapshots.is_dir() and any(snapshots.iterdir()):
        return Result("pass", "model", f"{plan.model} is in the cache {cache}"
                                       + (" (offline mode)" if offline else ""))
    if offline:
        return Result("fail", "model", f"HF_HUB_OFFLINE is set and {plan.model} is not in {cache}: "
                                       "mount a cache that holds it (-v gptoss-cache:/cache)")
    return Result("warn", "model", f"{plan.model} is not in {cache}: it will be downloaded at start "
                                   f"(~{plan.model_spec['weights_gib']} GiB); mount a cache to keep it")


def _vocab(profile: dict, plan: Plan, environ: Mapping[str, str]) -> Result:
    base = plan.env.get("TIKTOKEN_ENCODINGS_BASE") or environ.get("TIKTOKEN_ENCODINGS_BASE")
    if not base:
        if not profile["harmony"].get("vocab_wheel"):
            return Result("pass", "vocab", "oss-harmony carries its vocabulary (checked offline at build)")
        return Result("fail", "vocab", "TIKTOKEN_ENCODINGS_BASE is unset: the image sets it to its baked vocabulary; "
                                       "without it openai-harmony downloads it at the first request and the "
                                       "self-test cannot build its tokenizer")
    path = Path(base, "o200k_base.tiktoken")
    if not path.is_file():
        return Result("fail", "vocab", f"{path} is missing: harmony cannot load its vocabulary")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != profile["harmony"]["sha256"]:
        return Result("fail", "vocab", f"{path} has SHA-256 {digest[:12]}..., "
                                       f"expected {profile['harmony']['sha256'][:12]}...")
    return Result("pass", "vocab", f"{path} (SHA-256 checked)")


def _demo_tools() -> Result:
    if importlib.util.find_spec("gpt_oss") is not None:
        return Result("pass", "tools", "gpt-oss's demo tools are installed")
    return Result("fail", "tools", "--tool-server demo needs the gpt-oss package (Python 3.12 or later), "
                                   "not in this image: give MCP servers (HOST:PORT,...) or add it "
                                   "(FROM this image, RUN pip install gpt-oss)")


def _shm_bytes() -> int | None:
    try:
        stat = os.statvfs("/dev/shm")
    except OSError:
        return None
    return stat.f_blocks * stat.f_frsize
