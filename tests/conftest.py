"""Shared fixtures: the repository, the CLI as a user runs it, a scratch copy of the profiles."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gptoss_images.profiles import catalog

REPO = Path(__file__).resolve().parent.parent
pytest_plugins = ["tests.images"]


COMMAND_TIMEOUT_S = 600
"""A hang, not a slow machine: build.py's commands other than builds take seconds here."""
BUILD_TIMEOUT_S = 3600
"""A hang, not a slow machine: a cold build with its stack took 6-11 minutes on a busy 2-core machine
(the cu128 stack's downloads the most), so an hour is a wide margin."""


def run_build(*args: str, cwd: Path = REPO, timeout: float = COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess:
    """`python build.py ARGS` in a subprocess, as a user types it."""
    return subprocess.run([sys.executable, str(REPO / "build.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, seconds: float = 10) -> None:
    """Until something listens on 127.0.0.1:PORT (a server process just started)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


def copy_checkout(target: Path) -> Path:
    """A copy of the checkout's tracked and untracked (not ignored) files at `target`."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout.split()
    for rel in listed:
        if (REPO / rel).is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, target / rel)
    return target


@pytest.fixture
def profiles_dir(tmp_path: Path) -> Path:
    """A scratch copy of profiles/ to break."""
    target = tmp_path / "profiles"
    shutil.copytree(catalog.PROFILES_DIR, target)
    return target


@pytest.fixture(params=["fifo", "device", "folder", "huge"])
def odd_file(request, tmp_path) -> tuple[str, str]:
    """A path that is not a small regular file, and the words that name what it is."""
    path = tmp_path / f"odd-{request.param}.json"
    if request.param == "fifo":
        os.mkfifo(path)  # opened plainly, it blocks its reader forever
        return str(path), "a named pipe (FIFO), not a regular file"
    if request.param == "device":
        return "/dev/zero", "a character device, not a regular file"
    if request.param == "folder":
        path.mkdir()
        return str(path), "a folder"
    with path.open("wb") as handle:
        handle.truncate(300 * 1024 * 1024)  # sparse: larger than every limit
    return str(path), "300.0 MiB; the limit is"
