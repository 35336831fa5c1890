"""Shared fixtures: the repository, the CLI as a user runs it, the pinned vLLM."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gptoss_images import profiles, vllm_env

REPO = Path(__file__).resolve().parent.parent
PINNED_VLLM = "0.10.2"


def run_build(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """`python build.py ARGS` in a subprocess, as a user types it."""
    return subprocess.run([sys.executable, str(REPO / "build.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture
def profiles_dir(tmp_path: Path) -> Path:
    """A scratch copy of profiles/ to break."""
    target = tmp_path / "profiles"
    shutil.copytree(profiles.PROFILES_DIR, target)
    return target


@pytest.fixture(scope="session")
def vllm_python() -> Path:
    """Python of a venv with the pinned vLLM, installed on first use (never skipped)."""
    return vllm_env.ensure(PINNED_VLLM)


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """Debian's docker-registry (distribution 2.8) on a free localhost port."""
    binary = shutil.which("docker-registry")
    assert binary, "docker-registry missing: apt-get install docker-registry (make setup does)"
    root = tmp_path_factory.mktemp("registry")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = root / "config.yml"
    config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\n"
                      f"  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n")
    process = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    for _ in range(50):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    yield f"127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(root, ignore_errors=True)  # gigabytes of pushed layers
