"""The image's SBOM: the SPDX document syft writes at build time into /opt/gptoss/sbom.spdx.json, read back.

The stack's build stage (or, for an image built on a vendor's, a stage on that image)
scans the file system the final image is made of: the OS packages and every Python
distribution of the venv, with the versions pip installed.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from typing import Any

import docker

from gptoss_images.render import locks

PATH = "/opt/gptoss/sbom.spdx.json"
LOCK_PATH = "/opt/gptoss/requirements.lock"
"""The lock a stack image was installed from (settle.py puts it there)."""
VENV_PACKAGE = re.compile(r"(?:^|[\s:,])/?opt/venv/lib/python[0-9.]+/site-packages/[^/,]+\.dist-info/METADATA")
"""Where syft found a distribution of the stack's venv (a path from the scanned root, with or without its slash)."""
FILE = "sbom.spdx.json"
MEDIA_TYPE = "application/spdx+json"
KEY = ("vllm", "torch", "triton", "flashinfer-python", "transformers")
CUDA_LIBRARY = re.compile(r"^nvidia-(cublas|cuda-runtime|cudnn|nccl|cuda-nvcc)(-cu\d+)?$")


def read(client: docker.DockerClient, image_id: str, path: str = PATH) -> bytes:
    """The SBOM file of an image, or another file of it (empty if it has none)."""
    container = client.containers.create(image_id, entrypoint=["true"], network_disabled=True)
    try:
        stream, _ = container.get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            member = archive.extractfile(archive.getmembers()[0])
            return member.read() if member else b""
    except docker.errors.NotFound:
        return b""
    finally:
        container.remove(force=True)


def packages(document: dict[str, Any]) -> dict[str, set[str]]:
    """Package name (normalised as pip does) -> the versions the SBOM lists."""
    found: dict[str, set[str]] = {}
    for package in document.get("packages") or []:
        name = locks.normalise(str(package.get("name", "")))
        if name and package.get("versionInfo"):
            found.setdefault(name, set()).add(package["versionInfo"])
    return found


def venv_packages(document: dict[str, Any]) -> dict[str, set[str]]:
    """The packages installed in the stack's virtual environment (not those vendored inside one), by name
    normalised as pip does."""
    found: dict[str, set[str]] = {}
    for package in document.get("packages") or []:
        if VENV_PACKAGE.search(str(package.get("sourceInfo", ""))) and package.get("versionInfo"):
            found.setdefault(locks.normalise(str(package.get("name", ""))), set()).add(package["versionInfo"])
    return found


def lock_differences(document: dict[str, Any], pins: dict[str, str]) -> list[str]:
    """How the venv's packages the SBOM lists differ from a lock's `pins` (name -> version): none if they are the
    lock's, each at its version."""
    held = venv_packages(document)
    found = (("other versions", sorted(f"{n} {'/'.join(sorted(held[n]))} (locked {v})" for n, v in pins.items()
                                       if n in held and held[n] != {v})),
             ("not installed", sorted(f"{n}=={v}" for n, v in pins.items() if n not in held)),
             ("not locked", sorted(f"{n} {'/'.join(sorted(vs))}" for n, vs in held.items() if n not in pins)))
    return [f"{label}: {', '.join(items[:5])}{' ...' if len(items) > 5 else ''}" for label, items in found if items]


def summary(document: dict[str, Any]) -> str:
    """One line: how many packages, and the versions that matter (vLLM, torch, the CUDA libraries)."""
    held = packages(document)
    key = [f"{name} {'/'.join(sorted(held[name]))}" for name in KEY if name in held]
    cuda = sorted(f"{name} {'/'.join(sorted(v))}" for name, v in held.items() if CUDA_LIBRARY.match(name))
    return f"{len(document.get('packages') or [])} packages: " + ", ".join(key + cuda)


def parse(data: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(data)
    except ValueError:
        return None
    return document if isinstance(document, dict) and document.get("spdxVersion") else None
