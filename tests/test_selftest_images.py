"""The self-test inside the images: its model writer on each pinned stack, the whole run against a stub
server, and `--download` read by the image's own `hf` against a stand-in of the Hub.

The writer runs once per stack (the current line's h100 image, the cu128 line's): the checkpoint has
gpt-oss-20b's config and the tensor names vLLM's gpt_oss loader of that release reads, transformers'
GptOss loads it on the CPU with finite logits, the tokenizer's ids are tiktoken's o200k_harmony,
and two runs write the same bytes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from gptoss_images.launcher import download
from gptoss_images.measure import probes
from tests.conftest import REPO, free_port, wait_for_port

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("remove_test_tags")]
STACKS = {"0.33.0": "h100", "0.10.2": "h100_cu128"}
"""Each pinned release and the image fixture that holds its stack."""
REFERENCE = json.loads((REPO / "tests/fixtures/gpt-oss-20b/config.json").read_text())
"""openai/gpt-oss-20b's config.json as published."""
CORPUS = ["Hello, world!", "  two  spaces\n\n\ttab", "日本語のテキスト", "x = 12345678 + 0.5e-3;",
          "<|start|>user<|message|>What is 2+2?<|end|><|start|>assistant<|channel|>final<|message|>4<|return|>",
          "<|reserved_201087|><|endofprompt|><|call|>"]


@pytest.fixture(scope="module", params=sorted(STACKS))
def checked(request, client):
    image = request.getfixturevalue(STACKS[request.param])[0]
    script = (REPO / "tests/fixtures/synthetic-check.py").read_text()
    out = client.containers.run(image.id, ["-c", script, json.dumps(CORPUS)], entrypoint="python3", remove=True,
                                network_mode="none", stderr=False).decode()
    return request.param, json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])


def test_the_checkpoint_is_gpt_oss_20bs_config_and_the_same_bytes_every_time(checked):
    _, found = checked
    assert found["identical"]
    assert set(found["files"]) - {"special_tokens_map.json"} == {  # transformers 4 writes that one too
        "config.json", "generation_config.json", "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
        "model-00003-of-00003.safetensors", "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json"}
    assert found["full_config"] == {k: v for k, v in REFERENCE.items() if k != "transformers_version"}


def test_the_tensors_are_the_ones_vllms_loader_reads_in_gpt_oss_shapes_and_dtypes(checked):
    version, found = checked
    tensors = found["tensors"]
    assert tensors["model.layers.1.mlp.experts.gate_up_proj_blocks"] == [[32, 2048, 32, 16], "torch.uint8"]
    assert tensors["model.layers.1.mlp.experts.down_proj_scales"] == [[32, 1024, 32], "torch.uint8"]
    assert tensors["model.layers.0.self_attn.sinks"] == [[64], "torch.bfloat16"]
    assert tensors["model.embed_tokens.weight"] == [[201088, 1024], "torch.bfloat16"]
    assert len(tensors) == 3 + 2 * 19
    experts = {name.rsplit(".", 1)[1] for name in tensors if ".mlp.experts." in name}
    assert experts == {f"{p}_{k}" for p in ("gate_up_proj", "down_proj") for k in ("blocks", "scales", "bias")}
    assert all(name in found["loader_source"] for name in experts | {"sinks"})
    if found["mapped"] is not None:  # the release maps checkpoint names to its parameters: each expert is mapped
        mapped = found["mapped"]
        assert mapped["model.layers.0.mlp.experts.gate_up_proj_blocks"] == "model.layers.0.mlp.experts.w13_weight"
        assert mapped["model.layers.0.mlp.experts.down_proj_scales"] == "model.layers.0.mlp.experts.w2_weight_scale"
        assert mapped["model.layers.0.self_attn.sinks"] == "model.layers.0.attn.sinks"
    else:
        assert version == "0.10.2"


def test_transformers_loads_it_on_the_cpu_and_the_logits_are_finite(checked):
    _, found = checked
    assert found["missing"] == [] and found["unexpected"] == []
    assert found["finite"] and found["logits_shape"] == [1, 8, 201088]


def test_the_tokenizers_ids_are_tiktokens_o200k_harmony(checked):
    _, found = checked
    assert all(found["ids_equal"]) and found["tokens"] == 201088
    assert found["specials"]["<|startoftext|>"] == 199998 and found["specials"]["<|return|>"] == 200002
    assert found["specials"]["<|call|>"] == 200012 and found["specials"]["<|reserved_201087|>"] == 201087
    assert list(found["specials"].values()) == list(range(199998, 201088))


def test_the_self_test_runs_in_the_image_as_any_user_read_only(stub_server_image):
    """`docker run IMAGE --self-test` with vLLM's server a stub: the synthetic model written by the image's
    own Python, every probe, the metrics, the real `vllm bench serve` client, a report on stdout."""
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--user", "12345:0", "--read-only", "--tmpfs", "/tmp",
         stub_server_image, "--self-test", "--json", "--skip-checks", "gpu", "--function-calling",
         "--bench-prompts", "8", "--bench-output-len", "16"], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["passed"] and report["profile"] == "h100" and report["model"] == "openai/gpt-oss-20b"
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert all(statuses[name] == "pass" for name in [*probes.PROBES, "synthetic", "start", "metrics", "bench"])
    assert statuses["gpu"] == "skip" and statuses["model"] == "skip"
    assert report["bench"]["completed"] == 8 and report["bench"]["failed"] == 0
    assert report["argv"][2] == "/tmp/gptoss-cache/self-test/model"  # no volume, a read-only root: /tmp
    assert report["env"]["HF_HOME"] == "/tmp/gptoss-cache/huggingface"
    assert re.search(r"^PASS  bench +8 of 8 requests at concurrency 1024", done.stderr, re.MULTILINE)
    assert "every check passed" in done.stderr
    broken = subprocess.run(["docker", "run", "--rm", "--network", "none", stub_server_image, "--self-test",
                             "--skip-checks", "gpu", "--scenario", "fastest"], capture_output=True, text=True)
    assert broken.returncode == 2 and broken.stderr.count("\n") == 1
    assert broken.stderr.startswith("gptoss-self-test: error: GPTOSS_SCENARIO/--scenario='fastest'")


def test_download_fetches_the_model_and_excludes_only_the_two_folders(h100, tmp_path):
    """`--download`'s command read by the image's own `hf` against a stand-in of the Hub's HTTP API."""
    wanted = ["config.json", "generation_config.json", "model-00000-of-00002.safetensors",
              "model.safetensors.index.json", "tokenizer.json", "chat_template.jinja"]
    unused = ["original/config.json", "original/model.safetensors", "metal/model.bin"]
    log, cache, port = tmp_path / "requests.log", tmp_path / "cache", free_port()
    cache.mkdir(mode=0o777)
    cache.chmod(0o777)
    hub = subprocess.Popen([sys.executable, str(REPO / "tests/fixtures/stub-hub"), str(port), str(log),
                            "openai/gpt-oss-20b", *wanted, *unused])
    try:
        wait_for_port(port)
        done = subprocess.run(
            ["docker", "run", "--rm", "--network", "host", "-e", f"HF_ENDPOINT=http://127.0.0.1:{port}",
             "-e", "GPTOSS_MODEL=openai/gpt-oss-20b", "-v", f"{cache}:/cache", h100[0].id, "--download"],
            capture_output=True, text=True, timeout=300)
    finally:
        hub.terminate()
        hub.wait()
    assert done.returncode == 0, done.stderr[-2000:]
    line = "hf download openai/gpt-oss-20b " + " ".join(f"--exclude '{p}'" for p in download.UNUSED)
    assert f"gptoss-serve: {line}" in done.stderr
    snapshot = next((cache / "huggingface/hub/models--openai--gpt-oss-20b/snapshots").iterdir())
    assert sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()) == sorted(wanted)
    asked = [line.split(" ", 1)[1] for line in log.read_text().splitlines()]
    fetched = {path.split("/resolve/", 1)[1].split("/", 1)[1] for path in asked if "/resolve/" in path}
    assert fetched == set(wanted)
    assert not [path for path in asked if "original/" in path or "metal/" in path or "%2A" in path]
