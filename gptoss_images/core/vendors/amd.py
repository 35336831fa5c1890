"""AMD: amd-smi's, rocm-smi's or KFD's GPUs, device files, amd.com/gpu, a root pod without capabilities."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from gptoss_images.core import runtime
from gptoss_images.core.vendors.base import Gpu, Runner, Vendor

AMD_SMI = ["amd-smi", "static", "--asic", "--vram", "--json"]
ROCM_SMI = ["rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json"]
KFD_NODES = Path("/sys/class/kfd/kfd/topology/nodes")


def gfx_target(version: int) -> str:
    """KFD's gfx_target_version (major*10000 + minor*100 + stepping) as gfxNNN."""
    major, minor, step = version // 10000, version // 100 % 100, version % 100
    return f"gfx{major}{minor:x}{step:x}"


def read_kfd(nodes: Path = KFD_NODES) -> list[Gpu]:
    gpus = []
    for node in sorted(nodes.iterdir(), key=lambda p: int(p.name)) if nodes.is_dir() else []:
        props = _properties(node / "properties")
        if props.get("simd_count", 0) == 0 or props.get("gfx_target_version", 0) == 0:
            continue  # a CPU node
        banks = node / "mem_banks"
        memory = sum(_properties(b / "properties").get("size_in_bytes", 0)
                     for b in (banks.iterdir() if banks.is_dir() else []))
        name = (node / "name").read_text().strip() if (node / "name").is_file() else ""
        arch = gfx_target(props["gfx_target_version"])
        gpus.append(Gpu("amd", name or arch, arch, memory // 2**20))
    return gpus


def parse_amd_smi(text: str) -> list[Gpu]:
    data = json.loads(text)
    cards = data.get("gpu_data", []) if isinstance(data, dict) else data
    gpus = []
    for card in cards:
        asic, vram = card.get("asic") or {}, card.get("vram") or {}
        size = vram.get("size") or {}
        memory = int(size.get("value", 0)) if isinstance(size, dict) else int(size or 0)
        gpus.append(Gpu("amd", asic.get("market_name", "AMD GPU"),
                        asic.get("target_graphics_version", ""), memory))
    return gpus


def parse_rocm_smi(text: str) -> list[Gpu]:
    gpus = []
    for key, card in json.loads(text).items():
        if not key.startswith("card"):
            continue
        fields = {k.lower(): v for k, v in card.items()}
        memory = int(fields.get("vram total memory (b)", 0)) // 2**20
        gpus.append(Gpu("amd", fields.get("card series", "AMD GPU"), fields.get("gfx version", ""),
                        memory))
    return gpus


def detect(run: Runner, nodes: Path) -> tuple[list[Gpu], str]:
    """amd-smi's, else rocm-smi's, else the KFD topology's (no tool needed, no model name)."""
    for command, parse in ((AMD_SMI, parse_amd_smi), (ROCM_SMI, parse_rocm_smi)):
        if shutil.which(command[0]):
            try:
                found = parse(run(command))
            except (OSError, ValueError, subprocess.SubprocessError):
                continue
            if found:
                return found, command[0]
    found = read_kfd(nodes)
    return found, ("KFD topology" if found else "")


def _properties(path: Path) -> dict[str, int]:
    props = {}
    for line in path.read_text().splitlines() if path.is_file() else []:
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            props[key] = int(value)
    return props


VENDOR = Vendor(
    # ROCm's /dev/kfd and /dev/dri/renderD* belong to the host's render and video groups, whose GIDs differ
    # between hosts: the server runs as root, without any capability.
    "amd", "AMD", "rocm", "gfx target", "amd.com/gpu",
    {"runAsUser": 0, "fsGroup": runtime.GID, "seccompProfile": {"type": "RuntimeDefault"}},
    detect, device_files=("/dev/kfd", "/dev/dri"), groups=("video",))
