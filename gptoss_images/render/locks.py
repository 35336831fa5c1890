"""A lock per stack and Python version: every package the stack installs, pinned with its hashes.

`build.py lock` resolves a stack's declared requirements (vllm==X and the stack's packages)
with uv (`uv pip compile --generate-hashes`) into locks/<stack>/py<X.Y>.txt; the stack's
Dockerfile installs the lock of the Python its base image has, hash-checked, and nothing
else. The lock's first lines say what it was resolved from, so `render --check` (and a build)
can tell in milliseconds that a pin moved and the lock was not refreshed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from gptoss_images import REPO
from gptoss_images.core import inputs
from gptoss_images.errors import UserError
from gptoss_images.render import tree

if TYPE_CHECKING:
    from gptoss_images.render.stacks import Stack

LOCKS_DIR = REPO / "locks"
PYTHONS = ("3.12", "3.11")
"""The Pythons a stack is locked for: Ubuntu 24.04's (the nvidia/cuda bases) and Debian 12's (a Debian base
through --base-image, as the tests' stand-ins are)."""
PLATFORM = "x86_64-manylinux_2_28"
"""The platform resolved for: the one vLLM's and torch's x86-64 wheels are built for."""
RESOLVED_FROM = "# resolved from: "
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def requirements(stack: Stack) -> list[str]:
    """What the stack declares: vLLM and its packages."""
    return [f"vllm=={stack.spec.stack.vllm}", *stack.spec.stack.packages]


def pins(text: str) -> dict[str, str]:
    """A lock's packages, by name normalised as pip does, and their versions."""
    return {normalise(m[1]): m[2] for line in text.splitlines() if (m := PIN.match(line))}


def normalise(name: str) -> str:
    """A distribution's name as pip compares it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def path(stack: Stack, python: str, root: Path = LOCKS_DIR) -> Path:
    return root / stack.name / f"py{python}.txt"


def files(stack: Stack, root: Path = LOCKS_DIR) -> list[Path]:
    """The stack's locks, one per Python (what its Dockerfile copies)."""
    return [path(stack, python, root) for python in PYTHONS]


def header(stack: Stack, python: str) -> str:
    return (f"# GENERATED FILE: do not edit. Locked by `python build.py lock {stack.name}` for Python {python} "
            f"on {PLATFORM}.\n{RESOLVED_FROM}{' '.join(requirements(stack))}\n")


def stale(stacks: list[Stack], root: Path = LOCKS_DIR) -> list[str]:
    """One line per lock that is missing or resolved from other requirements than its stack's."""
    found = []
    for stack in stacks:
        for python in PYTHONS:
            lock = path(stack, python, root)
            fix = f"run `python build.py lock {stack.name}`"
            if not lock.is_file():
                found.append(f"{tree.display(lock)}: missing; {fix}")
                continue
            with lock.open() as handle:
                recorded = next((line for line in handle if line.startswith(RESOLVED_FROM)), RESOLVED_FROM)
            was, now = recorded[len(RESOLVED_FROM):].split(), requirements(stack)
            if was != now:
                found.append(f"{tree.display(lock)}: resolved from {' '.join(was) or 'nothing'}, the stack now "
                             f"declares {' '.join(now)}; {fix}")
    return found


def lock(stack: Stack, python: str, index_url: str | None = None, extra_index_url: str | None = None,
         root: Path = LOCKS_DIR) -> tuple[Path, int]:
    """Resolve the stack for `python` and write its lock whole. Returns the lock and its number of packages."""
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if not Path(uv).is_file():
        raise UserError("uv: not found; install the package's dependencies (pip install -e .)")
    with tempfile.TemporaryDirectory() as tmp:
        wanted, out = Path(tmp, "requirements.in"), Path(tmp, "lock.txt")
        wanted.write_text("\n".join(requirements(stack)) + "\n")
        command = [uv, "pip", "compile", wanted.name, "--generate-hashes", "--no-header", "--quiet",
                   "--python-version", python, "--python-platform", PLATFORM, "--output-file", str(out),
                   "--index-url", index_url or "https://pypi.org/simple",
                   *(["--extra-index-url", extra_index_url] if extra_index_url else [])]
        env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}  # no user setting changes a lock
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp)  # "via -r requirements.in"
        if done.returncode:
            reason = (done.stderr.strip().splitlines() or ["no output"])
            raise UserError(f"{stack.name}: uv could not resolve {' '.join(requirements(stack))} for Python "
                            f"{python} at {inputs.hide_credentials(index_url or 'PyPI')}: "
                            f"{' '.join(line.strip() for line in reason)[:600]}")
        body = out.read_text()
    target = path(stack, python, root)
    tree.write_file(target, (header(stack, python) + body).encode())
    return target, sum(1 for line in body.splitlines() if line and not line[0].isspace() and "==" in line)


def lock_all(stacks: list[Stack], index_url: str | None = None, extra_index_url: str | None = None,
             root: Path = LOCKS_DIR) -> list[Path]:
    """Every lock of `stacks`, with a line of progress each."""
    written = []
    for stack in stacks:
        for python in PYTHONS:
            started = time.monotonic()
            print(f"[lock {stack.name}] resolving for Python {python} ...", file=sys.stderr, flush=True)
            target, count = lock(stack, python, index_url, extra_index_url, root)
            print(f"[lock {stack.name}] {tree.display(target)}: {count} packages with their hashes "
                  f"({time.monotonic() - started:.1f} s)", file=sys.stderr, flush=True)
            written.append(target)
    return written
