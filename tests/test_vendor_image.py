"""The vendor image (gptoss-cuda): one image for every current-line CUDA profile that picks the
profile the GPUs it finds fit, refuses GPUs none fits, lists what fits, and runs as any user on a
read-only root file system with the caches on a volume. GPUs are recorded nvidia-smi output."""

from __future__ import annotations

import json
import shutil
import uuid

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.docker
GPUS = REPO / "tests/fixtures/gpus"
PATH = "/fake:/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def run(client, image, recording: str, args: list[str], tmp_path, **options) -> tuple[int, str, str]:
    """The image with nvidia-smi answering as the recorded machine did."""
    fake = tmp_path / f"fake-{uuid.uuid4().hex[:8]}"
    fake.mkdir()
    shutil.copy(GPUS / f"nvidia-smi-{recording}.csv", fake / "answer.csv")
    (fake / "nvidia-smi").write_text("#!/bin/sh\ncat /fake/answer.csv\n")
    (fake / "nvidia-smi").chmod(0o755)
    fake.chmod(0o755)
    volumes = {str(fake): {"bind": "/fake", "mode": "ro"}} | options.pop("volumes", {})
    environment = {"PATH": PATH} | options.pop("environment", {})
    container = client.containers.create(image.id, args, environment=environment, volumes=volumes,
                                         network_mode="none", **options)
    try:
        container.start()
        code = container.wait(timeout=120)["StatusCode"]
        return (code, container.logs(stdout=True, stderr=False).decode(),
                container.logs(stdout=False, stderr=True).decode())
    finally:
        container.remove(force=True)


@pytest.mark.parametrize("recording, profile, model, tp", [("h100", "h100", "openai/gpt-oss-20b", 1),
                                                            ("2xh200", "h200", "openai/gpt-oss-120b", 2)])
def test_it_serves_the_profile_and_plan_the_gpus_fit(client, cuda_vendor, tmp_path, recording, profile, model, tp):
    """One H100 (80 GB) leaves 120b too little KV room: the plan falls back to 20b on it."""
    code, out, err = run(client, cuda_vendor[0], recording, ["--dry-run", "--json"], tmp_path)
    assert code == 0, err
    plan = json.loads(out)
    assert (plan["profile"], plan["model"], plan["tensor_parallel_size"], plan["data_parallel_size"]) == \
        (profile, model, tp, 1)


@pytest.mark.parametrize("recording", ["a100", "b200"])
def test_a_driver_older_than_the_line_needs_is_refused_with_the_reason(client, cuda_vendor, tmp_path, recording):
    """The A100 and B200 recordings run the 570 driver: the current line needs 580.65.06 (CUDA 13.0)."""
    code, out, err = run(client, cuda_vendor[0], recording, ["--dry-run"], tmp_path)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "no profile of this image fits this machine" in err and "driver >= 580.65.06" in err


def test_it_refuses_gpus_no_profile_fits_in_one_line(client, cuda_vendor, tmp_path):
    code, out, err = run(client, cuda_vendor[0], "l40s", ["--dry-run"], tmp_path)
    assert code == 2 and out == ""
    assert err.startswith("gptoss-serve: error: no profile of this image fits this machine: found 2 x NVIDIA L40S")
    assert len(err.strip().splitlines()) == 1 and "GPTOSS_PROFILE=NAME forces one" in err


def test_gptoss_profile_forces_one(client, cuda_vendor, tmp_path):
    code, out, _ = run(client, cuda_vendor[0], "l40s", ["--dry-run", "--json"], tmp_path,
                       environment={"PATH": PATH, "GPTOSS_PROFILE": "h200"})
    assert code == 0 and '"profile": "h200"' in out


def test_list_profiles_says_what_fits_this_machine(client, cuda_vendor, tmp_path):
    code, out, _ = run(client, cuda_vendor[0], "h100", ["--list-profiles"], tmp_path)
    assert code == 0 and out.startswith("this machine: 1 x NVIDIA H100 80GB HBM3")
    compatible = out[out.index("compatible:"):out.index("incompatible:")] if "incompatible:" in out else out
    assert "h100" in compatible and "openai/gpt-oss-20b" in compatible
    assert "b200" in out[out.index("incompatible:"):]


def test_any_user_read_only_root_caches_on_a_volume(client, cuda_vendor, tmp_path):
    volume = client.volumes.create(f"gptoss-test-cache-{uuid.uuid4().hex[:8]}")
    try:
        options = {"user": "12345:0", "read_only": True, "tmpfs": {"/tmp": ""},
                   "volumes": {volume.name: {"bind": "/cache", "mode": "rw"}}}
        code, _, err = run(client, cuda_vendor[0], "h100", ["--dry-run"], tmp_path, **options)
        assert code == 0 and "caches in /cache (a volume: kept across restarts)" in err, err
        code, out, err = run(client, cuda_vendor[0], "h100", ["--download", "--dry-run"], tmp_path, **options)
        assert code == 0 and out.startswith("HF_HOME=/cache/huggingface ") and "download openai/gpt-oss-20b" in out
        written = client.containers.run(cuda_vendor[0].id, ["-c", "touch /cache/probe && echo ok"], user="12345:0",
                                        entrypoint="sh", read_only=True, remove=True, network_mode="none",
                                        volumes={volume.name: {"bind": "/cache", "mode": "rw"}})
        assert written.strip() == b"ok"  # the volume is writable by an arbitrary UID in group 0
    finally:
        volume.remove(force=True)


def test_the_vendor_image_costs_its_profiles_only(client, cuda_vendor, h100):
    vendor, single = cuda_vendor[0], h100[0]
    assert vendor.attrs["Config"]["Healthcheck"]["Test"] == ["CMD", "gptoss-serve", "--health"]
    ours, theirs = vendor.attrs["RootFS"]["Layers"], single.attrs["RootFS"]["Layers"]
    shared = next(i for i, (a, b) in enumerate(zip(ours + [None], theirs + [None])) if a != b)
    assert shared >= len(theirs) - 3  # the stack and the launcher layers are the h100's own
    assert abs(vendor.attrs["Size"] - single.attrs["Size"]) < 1_000_000
