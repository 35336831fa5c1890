"""What every GPU vendor module declares: a GPU as its tool reports it, and the vendor's facts."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Runner = Callable[[list[str]], str]
"""Runs a GPU tool and returns its standard output (tests give recorded output instead)."""


@dataclass(frozen=True)
class Gpu:
    vendor: str
    name: str
    arch: str
    """NVIDIA: compute capability such as "9.0"; AMD: gfx target such as "gfx942"."""
    memory_mib: int
    driver: str = ""


@dataclass(frozen=True)
class Vendor:
    """One vendor's facts, asked by every stage: detection, `docker run`, Kubernetes, security."""

    name: str
    """As profiles name it (gpu.vendor): nvidia, amd."""
    display: str
    family: str
    """The profile family its GPUs belong to: cuda, rocm."""
    arch_label: str
    """What its arch field is called: compute capability, gfx target."""
    resource: str
    """The Kubernetes extended resource its device plugin offers."""
    pod_security: dict[str, Any]
    """The pod's securityContext on its nodes."""
    detect: Callable[[Runner, Path], tuple[list[Gpu], str]]
    """The machine's GPUs and the tool they were read from ('' when none)."""
    docker_gpus: bool = False
    """Whether Docker hands its GPUs over with `--gpus all` (the NVIDIA container toolkit)."""
    device_files: tuple[str, ...] = field(default_factory=tuple)
    """Else the device files a container needs of the host,"""
    groups: tuple[str, ...] = field(default_factory=tuple)
    """and the groups that may open them."""

    @property
    def docker_flags(self) -> str:
        """How `docker run` gives a container these GPUs."""
        if self.docker_gpus:
            return "--gpus all"
        return " ".join([f"--device={d}" for d in self.device_files] + [f"--group-add {g}" for g in self.groups])


def run(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, timeout=20, check=True).stdout
