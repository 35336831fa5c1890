"""The GPU vendors, one module each: every stage asks here, never names a vendor's facts itself.

Each module (nvidia.py, amd.py) declares its vendor's detection, how Docker and
Kubernetes hand its GPUs to a container, and the pod security its device files need.
"""

from __future__ import annotations

from pathlib import Path

from gptoss_images.core import runtime
from gptoss_images.core.vendors import amd, nvidia
from gptoss_images.core.vendors.base import Gpu, Runner, Vendor, run

VENDORS: dict[str, Vendor] = {v.name: v for v in (nvidia.VENDOR, amd.VENDOR)}
BY_FAMILY: dict[str, Vendor] = {v.family: v for v in VENDORS.values()}

__all__ = ["Gpu", "Runner", "Vendor", "VENDORS", "BY_FAMILY", "detect", "of", "run_line"]


def of(name: str) -> Vendor:
    return VENDORS[name]


def detect(vendor: str, run_: Runner | None = None, nodes: Path = amd.KFD_NODES) -> tuple[list[Gpu], str]:
    """The machine's GPUs of `vendor` and where they were read from ('' when none)."""
    return VENDORS[vendor].detect(run_ or run, nodes)


def run_line(vendor: str, image: str, extra: str = "") -> str:
    """The `docker run` line that serves `image` on this vendor's GPUs."""
    ports = f"--ipc=host -p {runtime.PORT}:{runtime.PORT}"
    return " ".join(filter(None, ["docker run", VENDORS[vendor].docker_flags, ports, extra, image]))
