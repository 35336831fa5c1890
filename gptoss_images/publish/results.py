"""Per-profile results of a pipeline run, as JSON files that jobs hand to each other."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path


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


@dataclass
class GpuResult:
    profile: str
    status: str  # passed or failed (no file: the check did not run)
    detail: str = ""


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
    return KINDS[kind](**json.loads(path.read_text())) if path.is_file() else None


def profiles_in(directory: Path) -> list[str]:
    return sorted(p.name.split(".")[0] for p in directory.glob("*.json") if p.name.count(".") == 1)


def markdown(directory: Path) -> str:
    """The run's summary table: profile, digest, size, build time, result."""
    rows = ["| profile | digest | size | build | GPU check | result |", "| --- | --- | --- | --- | --- | --- |"]
    for profile in profiles_in(directory):
        image, gpu = read(directory, profile, "image"), read(directory, profile, "gpu")
        publish = read(directory, profile, "publish")
        if not image.ok:
            result = f"failed: {image.error.splitlines()[0][:160]}"
        elif publish is None:
            result = "built, not published"
        else:
            result = ("published " + image.floating) if publish.ok else f"not published: {publish.detail}"
        gpu_text = f"{gpu.status}" + (f" ({gpu.detail[:80]})" if gpu and gpu.detail else "") if gpu else "not run"
        rows.append(f"| {profile} | {image.digest[:19] or '-'} | "
                    f"{f'{image.size / 1e9:.2f} GB' if image.size else '-'} | "
                    f"{f'{image.build_s:.1f} s' if image.build_s else '-'} | {gpu_text} | {result} |")
    return "\n".join(rows) + "\n"
