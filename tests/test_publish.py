"""Publishing: a real registry takes the images, digests are read back, floating tags
move only for green profiles, and `make nightly` runs the workflow's commands here."""

from __future__ import annotations

import json
import re
import subprocess

import docker
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from gptoss_images.image import build, sbom
from gptoss_images.publish import artifacts, provenance
from gptoss_images.publish.registry import PushFailed
from gptoss_images.publish.registry import push as registry_push
from tests.conftest import BUILD_TIMEOUT_S, REPO, run_build
from tests.images import REPO_NAME, ROCM_STANDIN

NIGHTLY_REPO = "gptoss-test/nightly"
INSTALLED = ("import importlib.metadata as m, json, re; print(json.dumps({re.sub(r'[-_.]+', '-', d.metadata['Name'])"
             ".lower(): d.version for d in m.distributions()}))")
pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("remove_test_tags")]


def test_push_verifies_digests_and_a_sibling_sends_only_its_own_layers(client, h100, h200, registry, tmp_path,
                                                                       monkeypatch):
    target = f"{registry}/gptoss"
    private = ed25519.Ed25519PrivateKey.generate()
    monkeypatch.setenv("GPTOSS_SIGNING_KEY", private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode())
    (tmp_path / "signing.pub").write_bytes(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    result = run_build("push", "h100", "--registry", target, "--repo", REPO_NAME, timeout=BUILD_TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-2000:]
    pushed = [line for line in result.stderr.splitlines() if line.startswith("pushed ")]
    assert [p.split()[1].rsplit(":", 1)[1] for p in pushed][-1] == "gptoss-h100"  # floating tag last
    immutable = pushed[0].split()[1]
    verified = run_build("verify", f"{target}:gptoss-h100", "--key", str(tmp_path / "signing.pub"))
    assert verified.returncode == 0 and verified.stdout.count("PASS") == len(provenance.CHECKS), verified.stdout
    assert "PASS  lock        the SBOM's 198 packages of /opt/venv are the lock's" in verified.stdout
    assert "provenance beside it: " in result.stderr and "(signed by key " in result.stderr
    assert "BEGIN PRIVATE KEY" not in result.stderr + result.stdout
    sent = re.findall(rf"pushing {re.escape(immutable)}: layer \w+ sent \(([0-9.]+) MB, [0-9.]+ MB/s\)", result.stderr)
    assert len(sent) >= 3 and max(map(float, sent)) > 100  # each layer said as it lands, with its size and rate
    document = artifacts.pull_sbom(immutable)  # read back from the registry, beside the image
    assert f"SBOM beside it: {immutable}.sbom (" in result.stderr
    listed = sbom.packages(document)
    held = json.loads(client.containers.run(h100[0].id, ["-c", INSTALLED], entrypoint="python3", remove=True,
                                            network_mode="none"))
    assert listed["vllm"] == {held["vllm"]} == {"0.33.0"}
    assert listed["torch"] == {held["torch"]} and held["torch"].startswith("2.14.0")
    cuda = {name for name in held if sbom.CUDA_LIBRARY.match(name)}
    assert {"nvidia-cublas", "nvidia-cuda-nvcc"} <= {n.removesuffix("-cu13") for n in cuda}
    assert all(listed[name] == {held[name]} for name in cuda)  # every CUDA library at the version installed
    sibling = run_build("push", "h200", "--registry", target, "--repo", REPO_NAME, timeout=BUILD_TIMEOUT_S)
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
    assert "error: push of 127.0.0.1:9/gptoss:gptoss-h100-vllm0.33.0-" in unreachable.stderr
    assert "connection refused" in unreachable.stderr
    assert not [t for i in client.images.list() for t in i.tags if t.startswith("127.0.0.1:9/")]  # nothing tagged


def test_gpu_test_serves_chats_and_measures_with_a_stub_server(stub_server_image, tiny_hf_cache, eval_data,
                                                               tmp_path):
    """The nightly's GPU job against a stub server: the real `vllm bench serve` client and gptoss-eval
    run inside the image and their numbers land in the results for promote's gates."""
    ok = run_build("gpu-test", "h100", "--image", stub_server_image, "--without-gpu",
                   "--env", "GPTOSS_SKIP_CHECKS=all", "--hf-cache", str(tiny_hf_cache),
                   "--eval-data", str(eval_data), "--results", str(tmp_path))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "[h100] gpu-test passed: served openai/gpt-oss-20b: 'Hello'" in ok.stdout
    gpu = json.loads((tmp_path / "h100.gpu.json").read_text())
    assert gpu["status"] == "passed"
    bench = gpu["bench"]
    assert bench["num_prompts"] == bench["completed"] == 320 and bench["failed"] == 0
    assert bench["max_concurrency"] == 64 and bench["model"] == "openai/gpt-oss-20b" and bench["gpus"] == 1
    assert bench["output_throughput_per_gpu"] > 0 and bench["median_ttft_ms"] > 0
    assert {(o["eval"], o["score"], o["passed"]) for o in gpu["evals"]} == {("gpqa", 100.0, True),
                                                                             ("aime25", 100.0, True)}
    assert "[h100] bench: " in ok.stdout and "[h100] eval: gpqa 100.0 (recipe 56.8, 28 answers)" in ok.stdout
    broken = run_build("gpu-test", "h100", "--image", stub_server_image, "--without-gpu", "--no-measure",
                       "--env", "GPTOSS_MODEL=nope", "--results", str(tmp_path))
    assert broken.returncode == 1 and "gpu-test FAILED: the server exited" in broken.stdout
    assert "GPTOSS_MODEL/--model='nope'" in broken.stdout


def test_an_immutable_tag_never_moves(client, registry):
    """A rebuild of the same image keeps its immutable tag; another image under it is refused in one line."""
    import io
    made = []
    try:
        for label in ("one", "two"):
            image, _ = client.images.build(fileobj=io.BytesIO(
                f"FROM gptoss-test/debian:bookworm\nLABEL io.gptoss.test={label}\n".encode()), rm=True)
            made.append(image.id)
        ref = f"{registry}/immutable:gptoss-h100-vllm0.33.0-20261202-0123456789ab"
        first = registry_push(client, made[0], [ref], quiet=True, immutable=1)
        assert registry_push(client, made[0], [ref], quiet=True, immutable=1) == first  # kept, not pushed again
        with pytest.raises(PushFailed) as refused:
            registry_push(client, made[1], [ref], quiet=True, immutable=1)
        assert f"{ref} is immutable and holds another image ({first[ref]}" in str(refused.value)
        assert client.images.get_registry_data(ref).id == first[ref]
    finally:
        for image_id in made:
            client.images.remove(image_id, force=True)


def test_promote_moves_only_green_profiles(client, h200, registry, tmp_path):
    from gptoss_images.publish import results
    repo = f"{registry}/promote"
    assert run_build("push", "h200", "--registry", repo, "--repo", REPO_NAME, timeout=BUILD_TIMEOUT_S).returncode == 0
    immutable = next(t for t in client.images.get(h200[0].id).tags
                     if t.startswith(repo) and not t.endswith(":gptoss-h200"))
    floating = f"{repo}:gptoss-h200-rc"
    results.write(tmp_path, results.ImageResult("h200", True, immutable, floating, "sha256:x", 1, 1.0))
    results.write(tmp_path, results.GpuResult("h200", "passed", "served"))
    results.write(tmp_path, results.ImageResult("a100", True, immutable, f"{repo}:gptoss-a100-rc"))
    results.write(tmp_path, results.GpuResult("a100", "failed", "--check failed: FAIL gpu"))
    results.write(tmp_path, results.ImageResult("mi300x", False, error="[mi300x] smoke test failed: vocab"))
    (tmp_path / "other.pub").write_bytes(ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    keyed = run_build("promote", "--results", str(tmp_path), "--registry", repo, "--key", str(tmp_path / "other.pub"))
    assert "h200     not published: not verified: signature: the attestation is not signed by key " in keyed.stdout
    with pytest.raises(docker.errors.APIError):  # pushed unsigned: the floating tag did not move
        client.images.get_registry_data(floating)
    result = run_build("promote", "--results", str(tmp_path), "--registry", repo)
    assert result.returncode == 1
    assert "h200     published" in result.stdout
    assert "a100     not published: GPU check failed: --check failed: FAIL gpu" in result.stdout
    assert "mi300x   not published: no image was pushed" in result.stdout
    assert client.images.get_registry_data(floating).id == client.images.get_registry_data(immutable).id
    with pytest.raises(docker.errors.APIError):
        client.images.get_registry_data(f"{repo}:gptoss-a100-rc")
    summary = run_build("summary", "--results", str(tmp_path), "--output", str(tmp_path / "summary.md"))
    assert ("| mi300x | - | - | - | - | - | - | not run | - | - | - | - | - | failed: [mi300x] smoke test failed: "
            "vocab |" in summary.stdout)
    assert (f"| h200 | sha256:x | 0.00 GB | 1.0 s | - | - | - | passed (served) | - | - | - | - | - | published "
            f"{floating} |" in summary.stdout)
    assert (tmp_path / "summary.md").read_text().startswith("## gptoss-images")


def test_make_nightly_from_a_clean_clone(client, h100, h200, mi300x, registry, ca_bundle, tmp_path):
    """The nightly's commands from a clean clone; its stack job finds the current line's stack in the
    registry (this session's, pushed there under the nightly's name) and pulls it instead of building."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    results_dir = tmp_path / "results"
    target = f"{registry}/nightly"
    stack = next(tag for image in client.images.list(name=f"{REPO_NAME}-stack") for tag in image.tags
                 if ":cuda-current-" in tag)
    shared = build.remote_stack(target, stack)
    registry_push(client, client.images.get(stack).id, [shared], quiet=True)
    done = subprocess.run(
        ["make", "-C", str(clone), "nightly", "NIGHTLY_SETUP=bases", "NIGHTLY_PROFILES=h100 h200 mi300x",
         f"NIGHTLY_REGISTRY={target}", f"NIGHTLY_RESULTS={results_dir}", f"NIGHTLY_CA_BUNDLE={ca_bundle}",
         f"NIGHTLY_ROCM_BASE={ROCM_STANDIN}", f"NIGHTLY_REPO={NIGHTLY_REPO}"],
        capture_output=True, text=True, timeout=3000)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "no GPU on this machine: no GPU check; publishing without it" in done.stdout
    assert f"[stack cuda-current] {shared} is in the registry already" in done.stdout
    for profile in ("h100", "h200", "mi300x"):
        row = next(line for line in done.stdout.splitlines() if line.startswith(f"| {profile} |"))
        assert "| not run |" in row and row.endswith(f"| published {target}:gptoss-{profile} |")
        assert " packages, vllm 0.33.0 |" in row  # the SBOM's summary
        image = json.loads((results_dir / f"{profile}.json").read_text())
        assert client.images.get_registry_data(image["floating"]).id == image["digest"]
    for image in client.images.list(name=NIGHTLY_REPO):
        for tag in image.tags:
            client.images.remove(tag, noprune=True)
