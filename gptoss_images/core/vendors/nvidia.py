"""NVIDIA: nvidia-smi's GPUs, the container toolkit's --gpus, nvidia.com/gpu, a non-root pod."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from gptoss_images.core import runtime
from gptoss_images.core.vendors.base import Gpu, Runner, Vendor

SMI = ["nvidia-smi", "--query-gpu=name,compute_cap,memory.total,driver_version", "--format=csv,noheader,nounits"]


def parse_smi(text: str) -> list[Gpu]:
    """nvidia-smi's CSV (SMI's query): name, compute capability, MiB, driver."""
    gpus = []
    for row in csv.reader(line for line in text.splitlines() if line.strip()):
        name, cap, memory, driver = (cell.strip() for cell in row[:4])
        gpus.append(Gpu("nvidia", name, cap, int(float(memory)), driver))
    return gpus


def detect(run: Runner, nodes: Path) -> tuple[list[Gpu], str]:
    if not shutil.which(SMI[0]):
        return [], ""
    return parse_smi(run(SMI)), "nvidia-smi"


VENDOR = Vendor(
    "nvidia", "NVIDIA", "cuda", "compute capability", "nvidia.com/gpu",
    {"runAsNonRoot": True, "runAsUser": runtime.UID, "runAsGroup": runtime.GID, "fsGroup": runtime.GID,
     "fsGroupChangePolicy": "OnRootMismatch", "seccompProfile": {"type": "RuntimeDefault"}},
    detect, docker_gpus=True)
