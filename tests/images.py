"""Fixtures of the image tests: the engine, the bases, the images the suite builds once
per session, a real registry and a local package index. Tests that use them are marked
`docker` and clean up with `remove_test_tags`."""

from __future__ import annotations

import functools
import http.server
import io
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import docker
import pytest

from gptoss_images.image import engine
from tests.conftest import REPO, run_build

REPO_NAME = "gptoss-test/images"
BASE = "gptoss-test/debian:bookworm"
ROCM_STANDIN = "gptoss-test/rocm-vllm-dev:standin"
BROKEN_STANDIN = "gptoss-test/rocm-vllm-dev:no-harmony"
CA_MARKER = "# gptoss-images test CA bundle 5f1c0d"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


@pytest.fixture(scope="session")
def client() -> docker.DockerClient:
    return engine.connect()  # a UserError here fails every test: loudly, never skipped


@pytest.fixture(scope="session")
def remove_test_tags(client):
    """At the end, remove every tag the tests made (pushes to test registries included);
    the layers stay as build cache."""
    yield
    for image in client.images.list():
        for tag in image.tags:
            if tag.startswith(("127.0.0.1:", f"{REPO_NAME}:")):
                client.images.remove(tag, noprune=True)


@pytest.fixture(scope="session")
def ca_bundle(tmp_path_factory) -> Path:
    """The host's CA bundle (containers need it to reach PyPI here) with a marker line."""
    assert HOST_CA.is_file(), f"{HOST_CA} missing: apt-get install ca-certificates"
    path = tmp_path_factory.mktemp("ca") / "extra-ca.pem"
    path.write_text(f"{CA_MARKER}\n{HOST_CA.read_text()}")
    return path


@pytest.fixture(scope="session")
def base(client) -> str:
    subprocess.run([str(REPO / "scripts" / "test-bases.sh")], check=True)
    return BASE


def build_cli(*args: str) -> subprocess.CompletedProcess:
    return run_build("build", *args, "--repo", REPO_NAME)


@pytest.fixture(scope="session")
def h100(client, base, ca_bundle):
    started = time.monotonic()
    result = build_cli("h100", "--base-image", base, "--ca-bundle", str(ca_bundle))
    assert result.returncode == 0, result.stderr[-3000:]
    image = client.images.get(f"{REPO_NAME}:gptoss-h100")
    yield image, result, time.monotonic() - started
    _untag(client, "h100")


@pytest.fixture(scope="session")
def h200(client, h100, base, ca_bundle):
    started = time.monotonic()
    result = build_cli("h200", "--base-image", base, "--ca-bundle", str(ca_bundle))
    assert result.returncode == 0, result.stderr[-3000:]
    yield client.images.get(f"{REPO_NAME}:gptoss-h200"), result, time.monotonic() - started
    _untag(client, "h200")


@pytest.fixture(scope="session")
def rocm_standins(client, h100):
    """rocm/vllm-dev stand-ins: an image that already holds vLLM, and one whose harmony is broken."""
    image, _, _ = h100
    subprocess.run([str(REPO / "scripts/rocm-standin.sh"), image.id, ROCM_STANDIN], check=True)
    broken = f"FROM {ROCM_STANDIN}\nRUN python3 -m pip uninstall -q -y openai-harmony\n"
    client.images.build(fileobj=io.BytesIO(broken.encode()), tag=BROKEN_STANDIN, rm=True)
    yield ROCM_STANDIN, BROKEN_STANDIN
    for tag in (ROCM_STANDIN, BROKEN_STANDIN):
        client.images.remove(tag, noprune=True)


@pytest.fixture(scope="session")
def mi300x(client, rocm_standins, ca_bundle):
    good, _ = rocm_standins
    result = build_cli("mi300x", "--base-image", good, "--ca-bundle", str(ca_bundle))
    assert result.returncode == 0, result.stderr[-3000:]
    yield client.images.get(f"{REPO_NAME}:gptoss-mi300x"), result
    _untag(client, "mi300x")


@pytest.fixture(scope="session")
def stub_server_image(client, h100, tmp_path_factory):
    """The h100 image with `vllm` replaced by a stub OpenAI server: gpu-test's probe, GPU-free."""
    folder = tmp_path_factory.mktemp("stub")
    shutil.copy(REPO / "tests/fixtures/stub-vllm", folder / "vllm")
    (folder / "Dockerfile").write_text(f"FROM {h100[0].id}\nCOPY vllm /opt/venv/bin/vllm\n")
    image, _ = client.images.build(path=str(folder), tag="gptoss-test/stub-server:latest", rm=True)
    yield image.tags[0]
    client.images.remove(image.tags[0], noprune=True)


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


def _fake_wheel(folder: Path, name: str, version: str) -> None:
    """A minimal valid wheel: enough for an installer, nothing to import."""
    dist = f"{name}-{version}.dist-info"
    files = {f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: gptoss-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{dist}/RECORD"] = "".join(f"{path},,\n" for path in files) + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as wheel:
        for path, text in files.items():
            wheel.writestr(path, text)


@pytest.fixture(scope="session")
def tiny_index(tmp_path_factory):
    """A local index with real uv, pip, setuptools, wheel and quicktok-v1 wheels and a stand-in
    vllm==0.10.2 wheel: the CUDA Dockerfile's every step, in seconds instead of minutes."""
    root = tmp_path_factory.mktemp("index") / "simple"
    for project, extra in [("uv", ["uv==0.13.9"]), ("pip", ["pip"]), ("setuptools", ["setuptools"]),
                           ("wheel", ["wheel"]), ("packaging", ["packaging"]),
                           ("quicktok-v1", ["--python-version", "3.11", "--platform", "manylinux2014_x86_64",
                                            "quicktok-v1==0.4.0"])]:
        (root / project).mkdir(parents=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "-d", str(root / project), *extra], check=True)
    (root / "vllm").mkdir()
    _fake_wheel(root / "vllm", "vllm", "0.10.2")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    server.shutdown()


def _untag(client: docker.DockerClient, profile: str) -> None:
    """Remove the tags a test made, keeping the layers as build cache."""
    for image in client.images.list(name=REPO_NAME):
        for tag in image.tags:
            if tag.split(":", 1)[1].startswith(f"gptoss-{profile}"):
                client.images.remove(tag, noprune=True)


