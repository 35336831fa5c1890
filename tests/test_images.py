"""Real images: the Docker engine builds them and smoke tests gate their tags.
Nothing here is skipped: without an engine these tests fail.

The suite builds h100 with the full pinned vLLM stack on a debootstrap base (the
documented --base-image override), then h200 beside it, and a ROCm profile on a
stand-in of rocm/vllm-dev that already holds vLLM.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gptoss_images.profiles import catalog
from tests.conftest import REPO, run_build
from tests.images import BASE_ARGS, CA_MARKER, CUDA_BASES, REPO_NAME, build_cli

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("remove_test_tags")]


def test_build_streams_each_step_builds_the_stack_first_and_ends_with_a_table(h100):
    image, result, _ = h100
    assert "[stack cuda-current] step 4/" in result.stderr and "RUN apt-get update" in result.stderr
    assert result.stderr.index("[stack cuda-current]") < result.stderr.index("[h100] step 1/")
    assert "[h100] smoke ok   parser: vLLM's parser accepts all 8" in result.stderr
    header, row = result.stdout.strip().splitlines()[-2:]
    assert header.split() == ["PROFILE", "RESULT", "IMAGE", "SIZE", "BUILD", "TAGS"]
    assert row.split()[:3] == ["h100", "ok", image.id.split(":")[1][:12]]


def test_the_current_line_passes_the_recipes_known_issue_checks(h100):
    err = h100[1].stderr
    assert "[h100] smoke ok   version: vLLM 0.33.0" in err
    assert ("smoke ok   cuda: CUDA 13.0: torch 13.0, base image 13.0, CUDA_HOME (/opt/venv/cuda) nvcc 13.0"
            in err)
    assert "smoke ok   triton: 1 distributions provide triton: triton 3.8.0" in err
    assert "smoke ok   vocab: harmony's vocabulary loads offline" in err


def test_the_cu128_line_keeps_its_stack(h100_cu128):
    image, result, _ = h100_cu128
    assert "[h100-cu128] smoke ok   version: vLLM 0.10.2" in result.stderr
    assert "smoke ok   cuda: CUDA 12.8: torch 12.8, base image 12.8" in result.stderr
    env = dict(e.split("=", 1) for e in image.attrs["Config"]["Env"])
    assert env["CUDA_HOME"] == "/usr/local/cuda" and env["TIKTOKEN_ENCODINGS_BASE"] == "/opt/gptoss/tiktoken"


def test_tags_and_labels(h100):
    image, _, _ = h100
    profile = catalog.load()["h100"]
    revision = image.labels["org.opencontainers.image.revision"]  # HEAD when it was built
    assert subprocess.run(["git", "cat-file", "-e", f"{revision}^{{commit}}"], cwd=REPO).returncode == 0
    immutable = [t for t in image.tags if t != f"{REPO_NAME}:gptoss-h100"]
    assert f"{REPO_NAME}:gptoss-h100" in image.tags and len(immutable) == 1
    assert immutable[0].startswith(f"{REPO_NAME}:gptoss-h100-vllm0.33.0-")
    assert immutable[0].endswith(revision[:12])
    labels = image.labels
    assert labels["io.gptoss.profile-hash"] == catalog.content_hash(profile)
    assert labels["io.gptoss.base-image"] == CUDA_BASES["current"] and labels["io.gptoss.vllm-version"] == "0.33.0"
    assert labels["org.opencontainers.image.title"] == "gptoss-h100"
    assert image.attrs["Config"]["Entrypoint"] == ["gptoss-serve"]


def test_image_runs_its_launcher(client, h100_cu128):
    image, _, _ = h100_cu128
    out = client.containers.run(image.id, ["--dry-run", "--scenario", "max-throughput"], remove=True,
                                network_mode="none").decode()
    assert "vllm serve openai/gpt-oss-120b --tensor-parallel-size 1 " in out
    assert "--max-num-seqs 512 --gpu-memory-utilization 0.95 --max-num-batched-tokens 1024" in out


def test_sibling_shares_every_heavy_layer(h100, h200):
    first, second = h100[0], h200[0]
    a, b = first.attrs["RootFS"]["Layers"], second.attrs["RootFS"]["Layers"]
    shared = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    assert shared >= 10  # base, system packages, the stack's 4 layers, the launcher's 5
    assert len(a) - shared <= 1 and len(b) - shared <= 1  # only the profile layer differs
    first_steps = {h["Id"] for h in first.history()}
    own = sum(h["Size"] for h in second.history() if h["Id"] not in first_steps)
    assert own < 1_000_000, f"{own} bytes of layers of its own"
    assert "is built already" in h200[1].stderr  # the stack is built once


def test_the_stack_travels_in_layers_of_similar_size(h100):
    image = h100[0]
    sizes = sorted((h["Size"] for h in image.history()), reverse=True)
    total = image.attrs["Size"]
    assert sizes[0] < 0.4 * total, f"largest layer {sizes[0] / 1e9:.2f} GB of {total / 1e9:.2f} GB"
    big = [s for s in sizes if s > 0.1 * total]
    assert len(big) >= 4 and big[-1] > 0.5 * big[0]  # four of similar size


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
    assert layers >= 10


def test_rocm_profile_builds_on_a_base_that_holds_vllm(mi300x):
    image, result = mi300x
    assert "[mi300x] smoke ok   version: vLLM 0.33.0" in result.stderr
    env = dict(e.split("=", 1) for e in image.attrs["Config"]["Env"])
    assert env["VLLM_ROCM_USE_AITER"] == "1" and env["VLLM_ROCM_QUICK_REDUCE_QUANTIZATION"] == "INT4"


def test_failed_smoke_test_leaves_no_tag_and_the_old_one_untouched(client, mi300x, rocm_standins, ca_bundle):
    _, broken = rocm_standins
    tags_before = {t for i in client.images.list() for t in i.tags}
    result = build_cli("mi300x", "--base-image", f"rocm={broken}", "--ca-bundle", str(ca_bundle))
    assert result.returncode == 1
    summary = next(line for line in result.stderr.splitlines() if "smoke test failed" in line)
    assert summary.startswith("error: [mi300x] smoke test failed: ") and "vocab (" in summary
    assert client.images.get(f"{REPO_NAME}:gptoss-mi300x").id == mi300x[0].id
    assert {t for i in client.images.list() for t in i.tags} == tags_before


def test_failing_run_step_shows_the_step_and_its_output(client, base, tmp_path):
    profiles_dir, docker_dir = tmp_path / "profiles", tmp_path / "docker"
    shutil.copytree(catalog.PROFILES_DIR, profiles_dir)
    cuda = (profiles_dir / "cuda.yaml").read_text()  # the stacks keep their names and locks: a new hash each
    (profiles_dir / "cuda.yaml").write_text(re.sub(r"installer: uv==\S+", "installer: uv==0.0.0", cuda))
    assert run_build("--profiles-dir", str(profiles_dir), "--docker-dir", str(docker_dir), "render").returncode == 0
    tags_before = {t for i in client.images.list() for t in i.tags}
    result = run_build("--profiles-dir", str(profiles_dir), "--docker-dir", str(docker_dir),
                       "build", "a100-cu128", *BASE_ARGS, "--repo", REPO_NAME)
    assert result.returncode == 1
    first = next(line for line in result.stderr.splitlines() if line.startswith("error:"))
    assert first.startswith("error: [stack cuda-cu128] build failed at step 10/")
    assert "returned a non-zero code" in first
    assert "uv==0.0.0" in result.stderr and "  last output:" in result.stderr
    assert {t for i in client.images.list() for t in i.tags} == tags_before


def test_engine_not_running_is_one_clear_line(tmp_path):
    env_result = subprocess.run(
        [sys.executable, str(REPO / "build.py"), "build", "h100"], cwd=REPO, capture_output=True, text=True,
        env={**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    assert env_result.returncode == 2
    assert env_result.stderr.startswith("error: Docker engine not reachable")
    assert len(env_result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("builder", ["classic", "buildkit"])
def test_dockerfiles_build_with_the_classic_builder_and_buildkit(client, base, tiny_index, tiny_checkout, builder):
    stack, tag = f"gptoss-test/builders-stack:{builder}", f"gptoss-test/builders:{builder}"
    env = {**os.environ, "DOCKER_BUILDKIT": "1" if builder == "buildkit" else "0"}
    docker_cli = "/usr/bin/docker" if Path("/usr/bin/docker").is_file() else "docker"  # Debian's CLI has BuildKit
    steps = [["--network", "host", "--build-arg", f"BASE_IMAGE={CUDA_BASES['cu128']}", "--build-arg",
              f"PIP_INDEX_URL={tiny_index}", "-f", "docker/stacks/cuda-cu128/Dockerfile", "-t", stack, "."],
             ["--build-arg", f"STACK_IMAGE={stack}", "-f", "docker/h100-cu128/Dockerfile", "-t", tag, "."]]
    try:
        for args in steps:
            done = subprocess.run([docker_cli, "build", *args], cwd=tiny_checkout, env=env, capture_output=True,
                                  text=True,
                                  timeout=1200)
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        out = client.containers.run(tag, ["--dry-run"], remove=True, network_mode="none").decode()
        assert "vllm serve openai/gpt-oss-120b --tensor-parallel-size 2" in out
        assert client.images.get(tag).attrs["Config"]["Entrypoint"] == ["gptoss-serve"]
    finally:
        for ref in (tag, stack):
            if ref in {t for image in client.images.list() for t in image.tags}:
                client.images.remove(ref, noprune=True)


def test_the_same_inputs_give_the_same_layers(client, base, tiny_index, tiny_checkout):
    """A stack built again from the same inputs (its build stage run anew: the index spelt another way) is the same
    bytes: every layer, the stack's parts, the SBOM and the vocabulary, so a rebuild pushes nothing."""
    refs, env = [], {**os.environ, "DOCKER_BUILDKIT": "0"}
    try:
        for number, index in enumerate((tiny_index, tiny_index.replace("127.0.0.1", "localhost"))):
            ref = f"gptoss-test/same-stack:{number}"
            done = subprocess.run(["docker", "build", "--network", "host", "--build-arg",
                                   f"BASE_IMAGE={CUDA_BASES['cu128']}", "--build-arg", f"PIP_INDEX_URL={index}", "-f",
                                   "docker/stacks/cuda-cu128/Dockerfile", "-t", ref, "."], cwd=tiny_checkout, env=env,
                                  capture_output=True, text=True, timeout=1200)
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
            refs.append(ref)
        assert "layers: 1: " in done.stdout  # the second build installed and cut the stack anew
        first, second = (client.images.get(ref).attrs["RootFS"]["Layers"] for ref in refs)
        assert first == second and len(first) >= 7  # base, system, 4 parts, SBOM and vocabulary
        from gptoss_images.image import sbom

        assert json.loads(sbom.read(client, refs[0]))["creationInfo"]["created"] == "1980-01-01T00:00:00Z"
    finally:
        for ref in refs:
            client.images.remove(ref, noprune=True)


def test_readme_plain_docker_build_lines_run_as_written_and_share_the_builders_layers(plain_h100, h100):
    """The README's two lines (the same as the Dockerfile's header) built the stack and h100 without Python;
    the builder, sending the same bytes, reused every layer of them."""
    for line in plain_h100["lines"]:
        assert line in (REPO / "docker/h100/Dockerfile").read_text()
    image, result, _ = h100
    assert re.search(r"\[stack cuda-current\] step 14/\d+ RUN .*\(cached\)", result.stderr)
    stack_steps = [x for x in result.stderr.splitlines() if x.startswith("[stack cuda-current] step")]
    assert all(x.endswith("(cached)") or "ARG" in x or "FROM" in x for x in stack_steps), stack_steps
    ours, plain = image.attrs["RootFS"]["Layers"], plain_h100["image"].attrs["RootFS"]["Layers"]
    assert plain[:len(ours) - 1] == ours[:-1]


KILLED_BUILD = """\
import signal, sys
from pathlib import Path
from gptoss_images.cli.main import _interrupt
from gptoss_images.image import build, engine
signal.signal(signal.SIGTERM, _interrupt)
build._build(engine.connect(), "docker/killed/Dockerfile", "killed", build.BuildInputs(), {{}}, {{}}, True,
             Path({docker!r}))
"""


def test_a_killed_build_leaves_no_container_or_image_behind(client, tmp_path):
    """SIGTERM in the middle of a RUN step: its container and the intermediate images this build made go."""
    marker = f"killed-{os.getpid()}"
    (tmp_path / "killed").mkdir()
    (tmp_path / "killed" / "Dockerfile").write_text(
        f"FROM gptoss-test/debian:bookworm\nRUN echo {marker} > /made\nRUN sleep 300 && echo {marker}\n")
    before = {i.id for i in client.images.list(all=True)}
    process = subprocess.Popen([sys.executable, "-c", KILLED_BUILD.format(docker=str(tmp_path))], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not [c for c in client.containers.list() if marker in " ".join(c.attrs["Config"]["Cmd"] or [])]:
            assert time.monotonic() < deadline and process.poll() is None, process.stderr.read()
            time.sleep(0.5)
        process.terminate()
        assert process.wait(120) != 0
    finally:
        process.kill()
    left = [c.name for c in client.containers.list(all=True) if marker in " ".join(c.attrs["Config"]["Cmd"] or [])]
    assert left == []
    made = [i.id for i in client.images.list(all=True) if i.id not in before and not i.tags]
    assert made == [], made
