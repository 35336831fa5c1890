"""Real images: the Docker engine builds them, smoke tests gate their tags, a real
registry takes them. Nothing here is skipped: without an engine these tests fail.

The suite builds h100 with the full pinned vLLM stack on a debootstrap base (the
documented --base-image override), then h200 beside it, and a ROCm profile on a
stand-in of rocm/vllm-dev that already holds vLLM.
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import docker
import pytest

from gptoss_images import engine, profiles
from tests.conftest import REPO, run_build

pytestmark = pytest.mark.docker

REPO_NAME = "gptoss-test/images"
BASE = "gptoss-test/debian:bookworm"
ROCM_STANDIN = "gptoss-test/rocm-vllm-dev:standin"
BROKEN_STANDIN = "gptoss-test/rocm-vllm-dev:no-harmony"
CA_MARKER = "# gptoss-images test CA bundle 5f1c0d"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


@pytest.fixture(scope="session")
def client() -> docker.DockerClient:
    return engine.connect()  # a UserError here fails every test: loudly, never skipped


@pytest.fixture(scope="session", autouse=True)
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
    assert "(1 layers sent, " in first and "already there" in first
    ref = f"{target}:gptoss-h200"
    digest = client.images.get_registry_data(ref).id
    assert digest in sibling.stderr
    client.images.remove(ref, noprune=True)
    assert client.images.pull(ref).id == h200[0].id  # pull back: the same image
    for image in (h100[0], h200[0]):
        for tag in client.images.get(image.id).tags:
            if tag.startswith(registry):
                client.images.remove(tag, noprune=True)


def test_bad_inputs_are_one_clear_line(client, h100):
    unknown = run_build("build", "h1000", "--repo", REPO_NAME)
    assert unknown.returncode == 2 and unknown.stderr.startswith("error: unknown profile 'h1000'")
    invalid = run_build("push", "h100", "--registry", "Local Host/x")
    assert invalid.returncode == 2 and "not a valid image repository" in invalid.stderr
    unreachable = run_build("push", "h100", "--registry", "127.0.0.1:9/gptoss", "--repo", REPO_NAME)
    assert unreachable.returncode == 1 and "Traceback" not in unreachable.stderr
    assert "error: push of 127.0.0.1:9/gptoss:gptoss-h100-vllm0.10.2-" in unreachable.stderr
    assert "connection refused" in unreachable.stderr
    assert not [t for i in client.images.list() for t in i.tags if t.startswith("127.0.0.1:9/")]  # nothing tagged


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


@pytest.fixture(scope="session")
def stub_server_image(client, h100, tmp_path_factory):
    """The h100 image with `vllm` replaced by a stub OpenAI server: gpu-test's probe, GPU-free."""
    folder = tmp_path_factory.mktemp("stub")
    shutil.copy(REPO / "tests/fixtures/stub-vllm", folder / "vllm")
    (folder / "Dockerfile").write_text(f"FROM {h100[0].id}\nCOPY vllm /opt/venv/bin/vllm\n")
    image, _ = client.images.build(path=str(folder), tag="gptoss-test/stub-server:latest", rm=True)
    yield image.tags[0]
    client.images.remove(image.tags[0], noprune=True)


def test_gpu_test_serves_and_chats_with_a_stub_server(stub_server_image, tmp_path):
    ok = run_build("gpu-test", "h100", "--image", stub_server_image, "--without-gpu",
                   "--env", "GPTOSS_SKIP_CHECKS=all", "--results", str(tmp_path))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "[h100] gpu-test passed: served openai/gpt-oss-20b: 'Hello'" in ok.stdout
    assert json.loads((tmp_path / "h100.gpu.json").read_text())["status"] == "passed"
    broken = run_build("gpu-test", "h100", "--image", stub_server_image, "--without-gpu",
                       "--env", "GPTOSS_MODEL=nope", "--results", str(tmp_path))
    assert broken.returncode == 1 and "gpu-test FAILED: the server exited" in broken.stdout
    assert "GPTOSS_MODEL/--model='nope'" in broken.stdout


def test_promote_moves_only_green_profiles(client, h200, registry, tmp_path):
    from gptoss_images import results
    repo = f"{registry}/promote"
    assert run_build("push", "h200", "--registry", repo, "--repo", REPO_NAME).returncode == 0
    immutable = next(t for t in client.images.get(h200[0].id).tags
                     if t.startswith(repo) and not t.endswith(":gptoss-h200"))
    floating = f"{repo}:gptoss-h200-rc"
    results.write(tmp_path, results.ImageResult("h200", True, immutable, floating, "sha256:x", 1, 1.0))
    results.write(tmp_path, results.GpuResult("h200", "passed", "served"))
    results.write(tmp_path, results.ImageResult("a100", True, immutable, f"{repo}:gptoss-a100-rc"))
    results.write(tmp_path, results.GpuResult("a100", "failed", "--check failed: FAIL gpu"))
    results.write(tmp_path, results.ImageResult("mi300x", False, error="[mi300x] smoke test failed: vocab"))
    result = run_build("promote", "--results", str(tmp_path), "--registry", repo)
    assert result.returncode == 1
    assert "h200     published" in result.stdout
    assert "a100     not published: GPU check failed" in result.stdout
    assert "mi300x   not published: no image was pushed" in result.stdout
    assert client.images.get_registry_data(floating).id == client.images.get_registry_data(immutable).id
    with pytest.raises(docker.errors.APIError):
        client.images.get_registry_data(f"{repo}:gptoss-a100-rc")
    summary = run_build("summary", "--results", str(tmp_path), "--output", str(tmp_path / "summary.md"))
    assert "| mi300x | - | - | - | not run | failed: [mi300x] smoke test failed: vocab |" in summary.stdout
    assert f"| h200 | sha256:x | 0.00 GB | 1.0 s | passed (served) | published {floating} |" in summary.stdout
    assert (tmp_path / "summary.md").read_text().startswith("## gptoss-images")


def test_make_nightly_from_a_clean_clone(client, h100, h200, mi300x, registry, ca_bundle, tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    results_dir = tmp_path / "results"
    target = f"{registry}/nightly"
    done = subprocess.run(
        ["make", "-C", str(clone), "nightly", "NIGHTLY_SETUP=bases", "NIGHTLY_PROFILES=h100 h200 mi300x",
         f"NIGHTLY_REGISTRY={target}", f"NIGHTLY_RESULTS={results_dir}", f"NIGHTLY_CA_BUNDLE={ca_bundle}",
         f"NIGHTLY_ROCM_BASE={ROCM_STANDIN}"], capture_output=True, text=True, timeout=3000)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "no GPU on this machine: no GPU check; publishing without it" in done.stdout
    for profile in ("h100", "h200", "mi300x"):
        row = next(line for line in done.stdout.splitlines() if line.startswith(f"| {profile} |"))
        assert f"| not run | published {target}:gptoss-{profile} |" in row
        image = json.loads((results_dir / f"{profile}.json").read_text())
        assert client.images.get_registry_data(image["floating"]).id == image["digest"]
    for image in client.images.list(name="gptoss-images"):
        for tag in image.tags:
            if tag.split(":")[1].startswith(("gptoss-h100", "gptoss-h200", "gptoss-mi300x")):
                client.images.remove(tag, noprune=True)


def _fake_wheel(folder: Path, name: str, version: str) -> None:
    """A minimal valid wheel: enough for an installer, nothing to import."""
    import zipfile
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


@pytest.mark.parametrize("builder", ["classic", "buildkit"])
def test_dockerfile_builds_with_the_classic_builder_and_buildkit(client, base, tiny_index, builder):
    tag = f"gptoss-test/builders:{builder}"
    args = ["--network", "host", "--build-arg", f"BASE_IMAGE={base}", "--build-arg", f"PIP_INDEX_URL={tiny_index}",
            "-t", tag, str(REPO / "docker" / "h100")]
    env = {**os.environ, "DOCKER_BUILDKIT": "1" if builder == "buildkit" else "0"}
    docker_cli = "/usr/bin/docker" if Path("/usr/bin/docker").is_file() else "docker"  # Debian's CLI has BuildKit
    done = subprocess.run([docker_cli, "build", *args], env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    try:
        out = client.containers.run(tag, ["--dry-run"], remove=True, network_mode="none").decode()
        assert "vllm serve openai/gpt-oss-120b --config /tmp/gptoss/vllm-h100.yaml" in out
        assert client.images.get(tag).attrs["Config"]["Entrypoint"] == ["gptoss-serve"]
    finally:
        client.images.remove(tag, noprune=True)
