"""Per-profile results of a pipeline run, as JSON files that jobs hand to each other."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gptoss_images.core import files
from gptoss_images.errors import UserError


@dataclass
class ImageResult:
    profile: str
    ok: bool
    immutable: str = ""
    floating: str = ""
    digest: str = ""
    size: int = 0
    build_s: float = 0.0
    error: str = ""
    sbom: str = ""
    """The SBOM pushed beside the immutable tag, summarised: packages, key versions."""


@dataclass
class GpuResult:
    profile: str
    status: str  # passed or failed (no file: the check did not run)
    detail: str = ""
    bench: dict[str, Any] = field(default_factory=dict)
    """gptoss-bench's summary of the night's short benchmark."""
    evals: list[dict[str, Any]] = field(default_factory=list)
    """gptoss-eval's outcomes (low effort)."""
    selftest: dict[str, Any] = field(default_factory=dict)
    """The image's --self-test on the GPU before any weights: passed, failed checks, start-up phases."""
    versus: dict[str, Any] = field(default_factory=dict)
    """Its settings against vLLM's defaults (gptoss-bench --synthetic --against-defaults), once per vLLM
    release: {"vllm": version, "verdicts": [...], "carried": true when an earlier night measured them}."""


@dataclass
class PublishResult:
    profile: str
    ok: bool
    detail: str = ""


KINDS = {"image": ImageResult, "gpu": GpuResult, "publish": PublishResult}


def write(directory: Path, result: ImageResult | GpuResult | PublishResult) -> Path:
    kind = next(k for k, cls in KINDS.items() if isinstance(result, cls))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (f"{result.profile}.json" if kind == "image" else f"{result.profile}.{kind}.json")
    path.write_text(json.dumps(dataclasses.asdict(result), indent=2) + "\n")
    return path


def read(directory: Path, profile: str, kind: str):
    path = directory / (f"{profile}.json" if kind == "image" else f"{profile}.{kind}.json")
    data = _load(path)
    try:
        return None if data is None else KINDS[kind](**data)
    except TypeError:
        raise UserError(f"{path}: not a {kind} result of this version (keys: {', '.join(sorted(data))[:160]}); "
                        f"--results names a folder of build.py's results") from None


def write_previous(directory: Path, profile: str, measured: dict[str, Any]) -> None:
    """The last published night's measurements of a profile, as promote found them."""
    (directory / f"{profile}.previous.json").write_text(json.dumps(measured, indent=2) + "\n")


def read_previous(directory: Path, profile: str) -> dict[str, Any] | None:
    return _load(directory / f"{profile}.previous.json")


def _load(path: Path) -> dict[str, Any] | None:
    """A result file's JSON object; None when there is none; one line when it is something else."""
    if not path.exists():
        return None
    try:
        data = json.loads(files.read_bytes(path, 64 * files.MiB))
    except files.Unreadable as exc:
        raise UserError(f"{path}: {exc.reason}") from None
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a result (a JSON object written by build.py); --results names a folder "
                        f"of build.py's results")
    return data


def profiles_in(directory: Path) -> list[str]:
    return sorted(p.name.split(".")[0] for p in directory.glob("*.json") if p.name.count(".") == 1)


def markdown(directory: Path) -> str:
    """The run's summary table: profile, digest, size, build time, GPU check, what it measured next to
    the last published night's (in brackets), result."""
    rows = ["| profile | digest | size | build | SBOM | self-test | vs vLLM's defaults | GPU check | out tok/s/GPU "
            "| TTFT p50 | TPOT p50 | GPQA | AIME25 | result |", "| " + " | ".join(["---"] * 14) + " |"]
    for profile in profiles_in(directory):
        image, gpu = read(directory, profile, "image"), read(directory, profile, "gpu")
        publish = read(directory, profile, "publish")
        before = read_previous(directory, profile) or {}
        if not image.ok:
            result = f"failed: {image.error.splitlines()[0][:160]}"
        elif publish is None:
            result = "built, not published"
        else:
            result = ("published " + image.floating) if publish.ok else f"not published: {publish.detail}"
        gpu_text = f"{gpu.status}" + (f" ({gpu.detail[:80]})" if gpu and gpu.detail else "") if gpu else "not run"
        bench, old_bench = (gpu.bench if gpu else {}), before.get("bench") or {}
        scores = {o["eval"]: o["score"] for o in (gpu.evals if gpu else [])}
        old_scores = {o["eval"]: o["score"] for o in before.get("evals") or []}
        rows.append(f"| {profile} | {image.digest[:19] or '-'} | "
                    f"{f'{image.size / 1e9:.2f} GB' if image.size else '-'} | "
                    f"{f'{image.build_s:.1f} s' if image.build_s else '-'} | {_packages(image.sbom)} | "
                    f"{startup_text(gpu.selftest) if gpu and gpu.selftest else '-'} | "
                    f"{versus_text(gpu.versus) if gpu and gpu.versus else '-'} | {gpu_text} | "
                    f"{_then(bench.get('output_throughput_per_gpu'), old_bench.get('output_throughput_per_gpu'), 0)} | "
                    f"{_then(bench.get('median_ttft_ms'), old_bench.get('median_ttft_ms'), 0, ' ms')} | "
                    f"{_then(bench.get('median_tpot_ms'), old_bench.get('median_tpot_ms'), 1, ' ms')} | "
                    f"{_then(scores.get('gpqa'), old_scores.get('gpqa'), 1)} | "
                    f"{_then(scores.get('aime25'), old_scores.get('aime25'), 1)} | {result} |")
    return "\n".join(rows) + "\n"


def startup_text(selftest: dict[str, Any]) -> str:
    """A self-test in a few words: its verdict and how long the start took, by phase."""
    if not selftest.get("passed"):
        return "failed: " + ("; ".join(selftest.get("failed") or []) or selftest.get("error", ""))[:120]
    phases = selftest.get("startup") or {}
    parts = [f"{label} {phases[key]:.0f} s" for key, label in (("torch_compile_s", "compile"),
                                                                 ("graph_capture_s", "graphs")) if key in phases]
    healthy = f", /health in {phases['healthy_s']:.0f} s" if "healthy_s" in phases else ""
    return f"passed{healthy}" + (f" ({', '.join(parts)})" if parts else "")


def versus_text(versus: dict[str, Any]) -> str:
    """Each scenario's verdict against vLLM's defaults, with its ratio: 'max-throughput better 1.29x'."""
    if versus.get("error"):
        return f"not measured: {versus['error'][:100]}"
    parts = [f"{v['scenario']} {v['verdict']} " + "/".join(f"{r:.2f}x" for r in v["ratios"].values())
             for v in versus.get("verdicts") or []]
    return (", ".join(parts) or "no scenario measured") + (f" (vLLM {versus['vllm']}"
                                                            + (", an earlier night's)" if versus.get("carried")
                                                               else ")") if versus.get("vllm") else "")


def _packages(line: str) -> str:
    """The SBOM's package count and vLLM's version, from its summary line."""
    if not line:
        return "-"
    count = line.split(" ", 1)[0]
    vllm = next((part.split(" ")[1] for part in line.split(": ", 1)[-1].split(", ") if part.startswith("vllm ")), "")
    return f"{count} packages" + (f", vllm {vllm}" if vllm else "")


def _then(now: float | None, before: float | None, digits: int, unit: str = "") -> str:
    """`now` and, in brackets, the last published night's value."""
    if now is None:
        return "-"
    return f"{now:.{digits}f}{unit}" + (f" ({before:.{digits}f})" if before is not None else "")
