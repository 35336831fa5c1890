"""Pin tracking against a local package index that serves real wheels.

The index holds vLLM 0.13.0 and FlashInfer 0.5.3 (downloaded once into .cache/);
`pins try` installs that vLLM (dependencies from PyPI) and judges every profile with
its own parser and envs.py: 0.13.0 removed --cuda-graph-sizes and the pass_config
keys the Blackwell config uses, so nothing may be promoted.
"""

from __future__ import annotations

import functools
import http.server
import subprocess
import sys
import threading

import pytest

from gptoss_images.vllm import install, pins
from tests.conftest import REPO, run_build

WHEELS = {"vllm": "vllm==0.13.0", "flashinfer-python": "flashinfer-python==0.5.3"}


@pytest.fixture(scope="session")
def local_index() -> str:
    root = install.CACHE / "index" / "simple"
    for project, requirement in WHEELS.items():
        folder = root / project
        if not any(folder.glob("*.whl")):
            folder.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                            requirement, "-d", str(folder)], check=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    server.shutdown()


def test_releases_are_read_from_the_index(local_index):
    assert pins.releases("vllm", local_index) == ["0.13.0"]
    assert pins.releases("flashinfer_python", local_index) == ["0.5.3"]


def test_pins_check_lists_newer_releases(local_index):
    result = run_build("pins", "check", "--index-url", local_index)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["vllm", "pinned", "0.10.2", "1", "newer:", "0.13.0"]
    assert lines[1].split() == ["flashinfer-python", "pinned", "0.3.0", "1", "newer:", "0.5.3"]


def test_pins_check_names_an_unreachable_index():
    result = run_build("pins", "check", "--index-url", "http://127.0.0.1:9/simple")
    assert result.returncode == 2 and result.stderr.startswith("error: --index-url http://127.0.0.1:9/simple")


def test_pins_try_reports_what_the_candidate_rejects(local_index):
    result = run_build("pins", "try", "0.13.0", "--index-url", local_index,
                       "--extra-index-url", "https://pypi.org/simple", "--promote")
    assert result.returncode == 1, result.stderr[-2000:]
    out = result.stdout
    assert "h100     REJECTED candidate stack: vllm==0.13.0\n" in out
    assert "b200     REJECTED candidate stack: vllm==0.13.0 flashinfer-python==0.5.3" in out
    assert "parser: unrecognized arguments: --cuda-graph-sizes 2048" in out
    assert "pass_config.enable_fi_allreduce_fusion; Unexpected keyword argument" in out
    assert "VLLM_USE_AITER_UNIFIED_ATTENTION (renamed VLLM_ROCM_USE_AITER_UNIFIED_ATTENTION?)" in out
    assert "not promoted: 8 of 8 profiles" in out
    assert '"0.10.2"' in (REPO / "profiles" / "cuda.yaml").read_text()  # --promote did nothing


def test_promote_rewrites_the_pin(profiles_dir):
    changed = pins.promote("0.10.3", "0.10.2", profiles_dir)
    assert sorted(p.name for p in changed) == ["cuda.yaml", "rocm.yaml"]
    assert 'vllm: "0.10.3"' in (profiles_dir / "cuda.yaml").read_text()

