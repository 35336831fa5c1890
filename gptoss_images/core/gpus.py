"""What GPUs a machine has, read from nvidia-smi, amd-smi, rocm-smi or the KFD topology.

The parsers are pure functions of the tools' text, so that tests feed them
recorded output of real machines.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gptoss_images.core import runtime

NVIDIA_SMI = ["nvidia-smi", "--query-gpu=name,compute_cap,memory.total,driver_version",
              "--format=csv,noheader,nounits"]
AMD_SMI = ["amd-smi", "static", "--asic", "--vram", "--json"]
ROCM_SMI = ["rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json"]
KFD_NODES = Path("/sys/class/kfd/kfd/topology/nodes")

Runner = Callable[[list[str]], str]
AMD_DEVICE_FILES = ["/dev/kfd", "/dev/dri"]
AMD_GROUPS = ["video"]
"""What a container needs of the host for ROCm: its device files, and the group that may open them."""
DOCKER_DEVICES = {"nvidia": "--gpus all",
                  "amd": " ".join([f"--device={d}" for d in AMD_DEVICE_FILES]
                                  + [f"--group-add {g}" for g in AMD_GROUPS])}
"""How `docker run` gives a container the GPUs of each vendor (AMD's need their device files)."""


def run_line(vendor: str, image: str, extra: str = "") -> str:
    """The `docker run` line that serves `image` on this vendor's GPUs."""
    ports = f"--ipc=host -p {runtime.PORT}:{runtime.PORT}"
    return " ".join(filter(None, ["docker run", DOCKER_DEVICES[vendor], ports, extra, image]))


@dataclass(frozen=True)
class Gpu:
    vendor: str
    name: str
    arch: str
    """NVIDIA: compute capability such as "9.0"; AMD: gfx target such as "gfx942"."""
    memory_mib: int
    driver: str = ""


def parse_nvidia_smi(text: str) -> list[Gpu]:
    gpus = []
    for row in csv.reader(line for line in text.splitlines() if line.strip()):
        name, cap, memory, driver = (cell.strip() for cell in row[:4])
        gpus.append(Gpu("nvidia", name, cap, int(float(memory)), driver))
    return gpus


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


def detect(vendor: str, run: Runner | None = None, nodes: Path = KFD_NODES) -> tuple[list[Gpu], str]:
    """The machine's GPUs of `vendor` and where they were read from ('' when none)."""
    run = run or _run
    if vendor == "nvidia":
        if not shutil.which("nvidia-smi"):
            return [], ""
        return parse_nvidia_smi(run(NVIDIA_SMI)), "nvidia-smi"
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


def _run(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, timeout=20, check=True).stdout


def _properties(path: Path) -> dict[str, int]:
    props = {}
    for line in path.read_text().splitlines() if path.is_file() else []:
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            props[key] = int(value)
    return props
