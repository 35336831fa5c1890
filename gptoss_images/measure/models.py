"""The synthetic model's folder for the self-test and the synthetic benchmark: written by the image's own stack.

The writer (`synthetic.py`, under torch and safetensors) runs as a child of the image's
Python; this side, standard library only, picks the folder, finds harmony's vocabulary
and says what was written or reused, as a check line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from gptoss_images.core.inputs import BadInput
from gptoss_images.launcher.checks import Result

ROOT = Path(__file__).resolve().parents[2]
"""The folder that holds gptoss_images, for the writer's interpreter."""
VOCAB = "o200k_base.tiktoken"
FORMAT = 2
"""The writer's format: bump it when checkpoint.py writes other bytes, so that kept folders are rewritten."""


def like(model: str) -> str:
    """Which gpt-oss the synthetic model is shaped like: 120b's experts and layers, else 20b's."""
    return "120b" if "-120b" in model else "20b"


def kept_folder(parent: Path, model: str, size: str, seed: int = 0) -> Path:
    """Where a model that is kept and reused lives: named by everything its bytes depend on."""
    return parent / f"gpt-oss-{like(model)}-{size}-seed{seed}-format{FORMAT}"


def write(folder: Path, vocab: Path, model: str, size: str, env: Mapping[str, str], reuse: bool = False) -> Result:
    """The synthetic model and tokenizer in `folder`, written whole (or, with `reuse`, kept if there)."""
    shape = f"gpt-oss-{like(model)} architecture, {size}"
    if reuse and (folder / "config.json").is_file():
        return Result("pass", "synthetic", f"{shape}: {_mib(folder):.0f} MiB in {folder} (reused)")
    argv = [sys.executable, "-m", "gptoss_images.measure.synthetic", str(folder), "--vocab", str(vocab),
            "--like", like(model), "--size", size]
    started = time.monotonic()
    path = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    done = subprocess.run(argv, env=dict(env) | {"PYTHONPATH": path}, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-2:])
        return Result("fail", "synthetic", f"writing the synthetic model failed: {tail}")
    return Result("pass", "synthetic", f"{shape}: {_mib(folder):.0f} MiB in {folder} ({seconds:.1f} s)")


def vocab(env: Mapping[str, str], environ: Mapping[str, str]) -> Path:
    """Harmony's vocabulary, baked in every image: the synthetic tokenizer is made from it."""
    base = env.get("TIKTOKEN_ENCODINGS_BASE") or environ.get("TIKTOKEN_ENCODINGS_BASE")
    path = Path(base or "/opt/gptoss/tiktoken", VOCAB)
    if not path.is_file():
        raise BadInput(f"TIKTOKEN_ENCODINGS_BASE: no {VOCAB} in {path.parent}, which the synthetic model's "
                       "tokenizer is built from; this image does not bake harmony's vocabulary: rebuild it")
    return path


def _mib(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.iterdir()) / 2**20
