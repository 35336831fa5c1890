"""Real images: the Docker engine builds them, smoke tests gate their tags, a real
registry takes them. Nothing here is skipped: without an engine these tests fail.

The suite builds h100 with the full pinned vLLM stack on a debootstrap base (the
documented --base-image override), then h200 beside it, and a ROCm profile on a
stand-in of rocm/vllm-dev that already holds vLLM.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import docker
from gptoss_images import engine, profiles
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
    for tag, extra in [(ROCM_STANDIN, ""), (BROKEN_STANDIN, "RUN python3 -m pip uninstall -q -y openai-harmony\n")]:
        dockerfile = f"FROM {image.id}\nENTRYPOINT []\nCMD [\"bash\"]\n{extra}"
        client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
    yield ROCM_STANDIN, BROKEN_STANDIN
    for tag in (ROCM_STANDIN, BROKEN_STANDIN):
        client.images.remove(tag, noprune=True)


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


def test_build_streams_each_step_and_ends_with_a_table(h100):
    image, result, _ = h100
    assert "[h100] step 4/" in result.stderr and "RUN apt-get update" in result.stderr
    assert "[h100] smoke ok   parser: vLLM's parser accepts all 8" in result.stderr
    header, row = result.stdout.strip().splitlines()[-2:]
    assert header.split() == ["PROFILE", "RESULT", "IMAGE", "SIZE", "BUILD", "TAGS"]
    assert row.split()[:3] == ["h100", "ok", image.id.split(":")[1][:12]]


def test_tags_and_labels(h100):
    image, _, _ = h100
    profile = profiles.load()["h100"]
    revision = image.labels["org.opencontainers.image.revision"]  # HEAD when it was built
    assert subprocess.run(["git", "cat-file", "-e", f"{revision}^{{commit}}"], cwd=REPO).returncode == 0
    immutable = [t for t in image.tags if t != f"{REPO_NAME}:gptoss-h100"]
    assert f"{REPO_NAME}:gptoss-h100" in image.tags and len(immutable) == 1
    assert immutable[0].startswith(f"{REPO_NAME}:gptoss-h100-vllm0.10.2-")
    assert immutable[0].endswith(revision[:12])
    labels = image.labels
    assert labels["io.gptoss.profile-hash"] == profiles.content_hash(profile)
    assert labels["io.gptoss.base-image"] == BASE and labels["io.gptoss.vllm-version"] == "0.10.2"
    assert labels["org.opencontainers.image.title"] == "gptoss-h100"
    assert image.attrs["Config"]["Entrypoint"] == ["gptoss-serve"]


def test_image_runs_its_launcher(client, h100):
    image, _, _ = h100
    out = client.containers.run(image.id, ["--dry-run", "--scenario", "max-throughput"], remove=True,
                                network_mode="none").decode()
    assert "vllm serve openai/gpt-oss-120b --config /tmp/gptoss/vllm-h100.yaml --tensor-parallel-size 1 " \
           "--max-num-seqs 512 --gpu-memory-utilization 0.95 --max-num-batched-tokens 1024" in out


def test_sibling_shares_every_heavy_layer(h100, h200):
    first, second = h100[0], h200[0]
    a, b = first.attrs["RootFS"]["Layers"], second.attrs["RootFS"]["Layers"]
    shared = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    assert shared >= 5  # base, system packages, the vLLM stack, the vocabulary, the launcher
    assert len(a) - shared <= 1 and len(b) - shared <= 1  # only the profile layer differs
    first_steps = {h["Id"] for h in first.history()}
    own = sum(h["Size"] for h in second.history() if h["Id"] not in first_steps)
    assert own < 1_000_000, f"{own} bytes of layers of its own"
    assert "(cached)" in h200[1].stderr


def test_ca_bundle_and_build_inputs_are_absent_from_the_final_image(client, h100):
    image, _, _ = h100
    history = json.dumps(client.api.history(image.id)) + json.dumps(image.attrs["Config"])
    assert "PIP_INDEX_URL" not in history and "extra-ca.pem" not in history
    marker, carry, layers = CA_MARKER.encode(), b"", 0
    for chunk in image.save(chunk_size=8 * 2**20):
        window = carry + chunk
        assert marker not in window, "the build's CA bundle is in the saved image"
        assert b"opt/build/certs" not in window and b"opt/build/ca.pem" not in window
        layers += window.count(b"layer.tar")
        carry = window[-len(marker):]
    assert layers >= 5


@pytest.fixture(scope="session")
def mi300x(client, rocm_standins, ca_bundle):
    good, _ = rocm_standins
    result = build_cli("mi300x", "--base-image", good, "--ca-bundle", str(ca_bundle))
    assert result.returncode == 0, result.stderr[-3000:]
    yield client.images.get(f"{REPO_NAME}:gptoss-mi300x"), result
    _untag(client, "mi300x")


def test_rocm_profile_builds_on_a_base_that_holds_vllm(mi300x):
    image, result = mi300x
    assert "[mi300x] smoke ok   version: vLLM 0.10.2" in result.stderr
    env = dict(e.split("=", 1) for e in image.attrs["Config"]["Env"])
    assert env["VLLM_ROCM_USE_AITER"] == "1" and env["VLLM_ROCM_USE_AITER_MHA"] == "0"


def test_failed_smoke_test_leaves_no_tag_and_the_old_one_untouched(client, mi300x, rocm_standins, ca_bundle):
    _, broken = rocm_standins
    tags_before = {t for i in client.images.list() for t in i.tags}
    result = build_cli("mi300x", "--base-image", broken, "--ca-bundle", str(ca_bundle))
    assert result.returncode == 1
    summary = next(line for line in result.stderr.splitlines() if "smoke test failed" in line)
    assert summary.startswith("error: [mi300x] smoke test failed: ") and "vocab (" in summary
    assert client.images.get(f"{REPO_NAME}:gptoss-mi300x").id == mi300x[0].id
    assert {t for i in client.images.list() for t in i.tags} == tags_before


def test_failing_run_step_shows_the_step_and_its_output(client, base, tmp_path):
    profiles_dir, docker_dir = tmp_path / "profiles", tmp_path / "docker"
    shutil.copytree(profiles.PROFILES_DIR, profiles_dir)
    (profiles_dir / "a100.yaml").write_text((profiles_dir / "a100.yaml").read_text()
                                            + "stack: {installer: uv==0.0.0}\n")
    assert run_build("--profiles-dir", str(profiles_dir), "--docker-dir", str(docker_dir), "render").returncode == 0
    tags_before = {t for i in client.images.list() for t in i.tags}
    result = run_build("--profiles-dir", str(profiles_dir), "--docker-dir", str(docker_dir),
                       "build", "a100", "--base-image", base, "--repo", REPO_NAME)
    assert result.returncode == 1
    first = next(line for line in result.stderr.splitlines() if line.startswith("error:"))
    assert first.startswith("error: [a100] build failed at step 9/") and "returned a non-zero code" in first
    assert "uv==0.0.0" in result.stderr and "last output:" in result.stderr
    assert {t for i in client.images.list() for t in i.tags} == tags_before


def test_push_verifies_digests_and_a_sibling_sends_only_its_own_layers(client, h100, h200, registry):
    target = f"{registry}/gptoss"
    result = run_build("push", "h100", "--registry", target, "--repo", REPO_NAME)
    assert result.returncode == 0, result.stderr[-2000:]
    pushed = [line for line in result.stderr.splitlines() if line.startswith("pushed ")]
    assert [p.split()[1].rsplit(":", 1)[1] for p in pushed][-1] == "gptoss-h100"  # floating tag last
    sibling = run_build("push", "h200", "--registry", target, "--repo", REPO_NAME)
    assert sibling.returncode == 0, sibling.stderr[-2000:]
    first = next(line for line in sibling.stderr.splitlines() if line.startswith("pushed "))
    assert "already there" in first and " 1 layers sent" in first
    ref = f"{target}:gptoss-h200"
    digest = client.images.get_registry_data(ref).id
    assert digest in sibling.stderr
    client.images.remove(ref, noprune=True)
    assert client.images.pull(ref).id == h200[0].id  # pull back: the same image
    for image in (h100[0], h200[0]):
        for tag in client.images.get(image.id).tags:
            if tag.startswith(registry):
                client.images.remove(tag, noprune=True)


def test_bad_inputs_are_one_clear_line(h100):
    unknown = run_build("build", "h1000", "--repo", REPO_NAME)
    assert unknown.returncode == 2 and unknown.stderr.startswith("error: unknown profile 'h1000'")
    invalid = run_build("push", "h100", "--registry", "Local Host/x")
    assert invalid.returncode == 2 and "not a valid image repository" in invalid.stderr
    unreachable = run_build("push", "h100", "--registry", "127.0.0.1:9/gptoss", "--repo", REPO_NAME)
    assert unreachable.returncode == 1 and "Traceback" not in unreachable.stderr
    assert "error: push of 127.0.0.1:9/gptoss:gptoss-h100-vllm0.10.2-" in unreachable.stderr
    assert "connection refused" in unreachable.stderr


def test_engine_not_running_is_one_clear_line(tmp_path):
    env_result = subprocess.run(
        [sys.executable, str(REPO / "build.py"), "build", "h100"], cwd=REPO, capture_output=True, text=True,
        env={**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    assert env_result.returncode == 2
    assert env_result.stderr.startswith("error: Docker engine not reachable")
    assert len(env_result.stderr.strip().splitlines()) == 1


def _untag(client: docker.DockerClient, profile: str) -> None:
    """Remove the tags a test made, keeping the layers as build cache."""
    for image in client.images.list(name=REPO_NAME):
        for tag in image.tags:
            if tag.split(":", 1)[1].startswith(f"gptoss-{profile}"):
                client.images.remove(tag, noprune=True)
