"""Following vLLM: `pins check` and `pins try` against a local index that serves real wheels.

The index holds vLLM 0.13.0 and FlashInfer 0.5.3 (downloaded once into .cache/); `pins
try` installs that vLLM (its dependencies from PyPI) and judges a line with its own
parser and envs. In a copy of the checkout whose current line is written in vLLM 0.10.2's
names on CUDA 12.8 (vLLM 0.13.0's torch is a CUDA 12.8 build), `pins try 0.13.0 --promote`
carries the settings across with the rename table and moves the pin with no hand edit;
a setting with no mapping stops it.
"""

from __future__ import annotations

import functools
import http.server
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from gptoss_images.vllm import install, pins
from tests.conftest import copy_checkout, run_build

WHEELS = {"vllm": "vllm==0.13.0", "flashinfer-python": "flashinfer-python==0.5.3"}
OLD_CURRENT = """\
    base_image: nvidia/cuda:12.8.1-devel-ubuntu24.04
    stack:
      vllm: "0.10.2"
      cuda: "12.8"
      cuda_home: base
    gpu:
      driver_min: "570.26"
    serve:
      # written for vLLM 0.10.2
      config:
        async-scheduling: true
        no-enable-prefix-caching: true
        cuda-graph-sizes: 2048
        max-num-batched-tokens: 8192
"""


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


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A copy of the checkout (tracked and untracked files) whose current line is written for vLLM 0.10.2,
    with the CUDA profiles only."""
    copy = copy_checkout(tmp_path / "checkout")
    profiles = copy / "profiles"
    for name in ("rocm", "mi300x", "mi325x", "mi355x", "r9700"):
        (profiles / f"{name}.yaml").unlink()
    cuda = (profiles / "cuda.yaml").read_text()
    start, end = cuda.index("  current:\n"), cuda.index("  # vLLM 0.10.2 on CUDA 12.8")
    (profiles / "cuda.yaml").write_text(cuda[:start] + "  current:\n" + OLD_CURRENT + cuda[end:])
    b200 = (profiles / "b200.yaml").read_text()
    start, end = b200.index("  current:\n"), b200.index("  cu128:\n")
    old_b200 = ("  current:\n    serve:\n      config:\n        compilation-config:\n"
                "          pass_config: {enable_fi_allreduce_fusion: true, enable_noop: true}\n")
    (profiles / "b200.yaml").write_text(b200[:start] + old_b200 + b200[end:])
    assert subprocess.run([sys.executable, "build.py", "render"], cwd=copy, capture_output=True).returncode == 0
    return copy


def test_releases_are_read_from_the_index(local_index):
    assert pins.releases("vllm", local_index) == ["0.13.0"]
    assert pins.releases("flashinfer_python", local_index) == ["0.5.3"]


def test_pins_check_lists_newer_releases(local_index):
    result = run_build("pins", "check", "--index-url", local_index)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split() == ["vllm", "pinned", "0.33.0", "up", "to", "date"]
    assert "nvidia-cuda-nvcc   pinned 13.0.88  not on this index" in result.stdout  # a partial mirror


def test_pins_check_names_an_unreachable_index():
    result = run_build("pins", "check", "--index-url", "http://127.0.0.1:9/simple")
    assert result.returncode == 2 and result.stderr.startswith("error: --index-url http://127.0.0.1:9/simple")


def test_pins_try_promote_carries_the_current_line_across_a_release(local_index, checkout):
    cu128_before = yaml.safe_load((checkout / "profiles/cuda.yaml").read_text())["lines"]["cu128"]
    done = subprocess.run([sys.executable, "build.py", "pins", "try", "0.13.0", "--promote", "--report", "pins.md",
                           "--index-url", local_index, "--extra-index-url", "https://pypi.org/simple"],
                          cwd=checkout, capture_output=True, text=True, timeout=3000)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "## vLLM 0.13.0 for the current line (now 0.10.2): passes" in out
    assert "cuda.yaml: lines.current.serve.config: cuda-graph-sizes -> max-cudagraph-capture-size" in out
    assert ("b200.yaml: lines.current.serve.config.compilation-config.pass_config.enable_noop: -> eliminate_noops"
            in out)
    assert "- h100: accepted" in out and (checkout / "pins.md").read_text() == out[:out.index("wrote ")]
    cuda = yaml.safe_load((checkout / "profiles/cuda.yaml").read_text())["lines"]
    assert cuda["current"]["stack"]["vllm"] == "0.13.0"
    assert cuda["current"]["serve"]["config"]["max-cudagraph-capture-size"] == 2048
    assert cuda["cu128"] == cu128_before  # the other line is left as it was
    assert "# written for vLLM 0.10.2" in (checkout / "profiles/cuda.yaml").read_text()  # comments kept
    assert (checkout / "vllm-api/0.13.0/serve.json").is_file()
    lock = (checkout / "locks/cuda-current/py3.12.txt").read_text()  # the moved stack locked again, with hashes
    assert "# resolved from: vllm==0.13.0\n" in lock and "\nvllm==0.13.0 \\\n    --hash=sha256:" in lock
    check = subprocess.run([sys.executable, "build.py", "render", "--check"], cwd=checkout, capture_output=True)
    assert check.returncode == 0  # rendered too: ready for a pull request


def test_pins_try_names_a_setting_with_no_mapping_and_promotes_nothing(local_index, checkout):
    cuda = checkout / "profiles/cuda.yaml"
    old = "        max-num-batched-tokens: 8192\n"
    cuda.write_text(cuda.read_text().replace(old, old + "        max-seq-len-to-capture: 8192\n", 1))
    before = cuda.read_text()
    done = subprocess.run([sys.executable, "build.py", "pins", "try", "0.13.0", "--promote", "--index-url",
                           local_index, "--extra-index-url", "https://pypi.org/simple"], cwd=checkout,
                          capture_output=True, text=True, timeout=3000)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "does not pass" in done.stdout and "What stops it (settings with no known mapping" in done.stdout
    assert "max-seq-len-to-capture" in done.stdout
    assert cuda.read_text() == before and not (checkout / "vllm-api/0.13.0").exists()


@pytest.mark.registry
def test_pins_check_says_which_base_moved_and_which_to_pin_by_digest(registry, tmp_path):
    """Bases in a real registry: one pinned to the digest its tag held before a push (moved), one by tag only."""
    import shutil

    from gptoss_images import REPO
    from gptoss_images.profiles import catalog
    from gptoss_images.publish import artifacts, bases
    from gptoss_images.publish import registry as oci

    current, cu128 = f"{registry}/nvidia/cuda:13.0.2-base-ubuntu24.04", f"{registry}/nvidia/cuda:12.8.1-devel"
    artifacts._push(current, "base.txt", b"one", "text/plain")
    pinned = oci.registry_digest(current)
    artifacts._push(current, "base.txt", b"two", "text/plain")  # the tag moves on
    artifacts._push(cu128, "base.txt", b"three", "text/plain")
    profiles = tmp_path / "profiles"
    shutil.copytree(REPO / "profiles", profiles)
    text = (profiles / "cuda.yaml").read_text().replace("nvidia/cuda:13.0.2-base-ubuntu24.04", f"{current}@{pinned}")
    (profiles / "cuda.yaml").write_text(text.replace("nvidia/cuda:12.8.1-devel-ubuntu24.04", cu128))
    lines = bases.check({n: p for n, p in catalog.load(profiles).items() if p.family == "cuda"})
    assert lines == [f"base {cu128}: not pinned by digest; the tag holds {oci.registry_digest(cu128)} "
                     f"(pin: {cu128}@{oci.registry_digest(cu128)})",
                     f"base {current}: MOVED: pinned {pinned}, the tag now holds {oci.registry_digest(current)}"]
    text = (profiles / "cuda.yaml").read_text().replace(pinned, oci.registry_digest(current))
    (profiles / "cuda.yaml").write_text(text)
    assert f"base {current}: {oci.registry_digest(current)}, as pinned" in bases.check(catalog.load(profiles))
