"""Every example of issue "Every bad input refused": exit code 2 and one line naming what is wrong
and what is allowed, before anything costs time; secrets never shown in any spelling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gptoss_images.launcher.main import main
from tests.conftest import REPO, run_build

H100 = str(REPO / "docker" / "h100-cu128" / "profile.json")
H200 = str(REPO / "docker" / "h200" / "profile.json")  # the current line


def launch(*args: str, env: dict | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """The launcher as the image runs it (bin/gptoss-serve), with a stub-free PATH."""
    environ = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "GPTOSS_PROFILE": H100, **(env or {})}
    return subprocess.run([sys.executable, str(REPO / "bin" / "gptoss-serve"), *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=60)


def one_line_error(result: subprocess.CompletedProcess, *expected: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


@pytest.mark.parametrize("args,env,expected", [
    # extra flags go through the launcher's rules in every spelling vLLM takes
    (["--tensor_parallel_size", "3"], {}, ["--tensor-parallel-size=3: openai/gpt-oss-120b on h100-cu128 allows"]),
    (["-tp", "3"], {}, ["allows 1, 2, 4, 8"]),
    (["--tensor-parallel-size=3"], {}, ["allows 1, 2, 4, 8"]),
    (["--max-num-seq", "256"], {}, ["--max-num-seq: abbreviations are not accepted", "--max-num-seqs"]),
    (["--tensor", "3"], {}, ["--tensor: abbreviations are not accepted", "--tensor-parallel-size"]),
    (["--no-such-flag"], {}, ["--no-such-flag: unknown flag for vLLM 0.10.2"]),
    (["--max-num-batched-tokens"], {}, ["--max-num-batched-tokens needs a value"]),
    (["--max-num-batched-tokens", "lots"], {}, ["must be an integer such as 8192"]),
    (["openai/gpt-oss-20b"], {}, ["'openai/gpt-oss-20b': a stray value"]),
    (["--moe-activation", "mxfp8"], {}, ["--moe-activation: unknown flag for vLLM 0.10.2"]),  # a b200 option
    (["--gpu_memory_utilization", "1.5"], {}, ["--gpu-memory-utilization='1.5': vLLM takes a number ≤ 1.0"]),
    (["--max-num-seqs", "4", "--max_num_seqs", "8"], {}, ["--max-num-seqs: given twice"]),
    (["--max-num-seqs", "4", "--max_num_seqs", "8"], {}, ["give it once"]),
    (["--compilation-config", '{"pass_confg": {}}'], {}, ["unknown key 'pass_confg'; did you mean pass_config?"]),
    (["--kv-cache-dtype", "fp9"], {}, ["allowed: auto, fp8"]),
    # values inside JSON configs and numbers, against the ranges and types of the release's config classes
    (["--max-num-batched-tokens", "0"], {"GPTOSS_PROFILE": H200}, ["--max-num-batched-tokens='0': vLLM takes an "
                                                                  "integer (8192, 8k) ≥ 1"]),
    (["--stream-interval", "0"], {"GPTOSS_PROFILE": H200}, ["--stream-interval='0': vLLM takes an integer ≥ 1"]),
    (["--compilation-config", '{"pass_config": 5}'], {"GPTOSS_PROFILE": H200},
     ["--compilation-config.pass_config=5: vLLM takes a JSON object"]),
    (["--speculative-config", '{"num_speculative_tokens": -1}'], {"GPTOSS_PROFILE": H200},
     ["--speculative-config.num_speculative_tokens=-1: vLLM takes an integer ≥ 1"]),
    (["--compilation-config", '{"pass_config": {"fuse_norm_quant": "maybe"}}'], {"GPTOSS_PROFILE": H200},
     ["--compilation-config.pass_config.fuse_norm_quant=\"maybe\": vLLM takes true or false or null"]),
    (["--compilation-config.mode", "7"], {"GPTOSS_PROFILE": H200},
     ["--compilation-config.mode=7: vLLM takes one of dynamo_trace_once, none, stock_torch_compile, vllm_compile or "
      "an integer from 0 to 3 or null"]),
    (["--kernel-config", '{"moe_backend": "fastest"}'], {"GPTOSS_PROFILE": H200},
     ["--kernel-config.moe_backend=\"fastest\": vLLM takes one of aiter"]),
    # numbers as a person writes them: ASCII digits, one line
    (["--max-num-seqs", "1_0"], {}, ["--max-num-seqs='1_0': must be an integer from 1 to"]),
    ([], {"GPTOSS_MAX_NUM_SEQS": "8\n"}, ["GPTOSS_MAX_NUM_SEQS='8\\n': must be an integer from 1 to"]),
    (["--gpu-memory-utilization", "\u0660.\u0669"], {}, ["must be a number above 0 and at most 1"]),
    (["--swap-space", "\u0664"], {}, ["--swap-space='\u0664': must be a number"]),
    (["--served-model-name", "a\nb"], {}, ["a line break or NUL; give the value on one line"]),
    (["--config", "/etc/hostname"], {}, ["--config /etc/hostname: vLLM reads a YAML file named .yaml or .yml"]),
    (["--config", "/nonexistent.yaml"], {}, ["--config /nonexistent.yaml: no such file"]),
    (["--config"], {}, ["--config: needs a YAML file (.yaml or .yml)"]),
    (["--config", "a.yaml", "--config=b.yaml"], {}, ["--config: given twice; vLLM reads one config file"]),
    # secrets
    ([], {"GPTOSS_API_KEY": ""}, ["GPTOSS_API_KEY=<hidden>: must be a non-empty key"]),
    (["--api-key", " "], {}, ["must be a non-empty key"]),
    ([], {"VLLM_API_KEY": ""}, ["VLLM_API_KEY is empty"]),
    # the profile file
    ([], {"GPTOSS_PROFILE": ""}, ["GPTOSS_PROFILE/--profile='': empty"]),
    ([], {"GPTOSS_PROFILE": "/"}, ["a folder"]),
    ([], {"GPTOSS_PROFILE": "/etc/hostname"}, ["not JSON"]),
    ([], {"GPTOSS_PROFILE": str(REPO / "profiles" / "profile.schema.json")}, ["not a gpt-oss profile"]),
])
def test_bad_launcher_input_is_one_line_exit_2(args, env, expected):
    one_line_error(launch("--dry-run", *args, env=env), *expected)


@pytest.mark.parametrize("spelling", [["--api-key", "s3cr3t-K"], ["--api-key=s3cr3t-K"], ["--api_key", "s3cr3t-K"],
                                      ["--api_key=s3cr3t-K"]])
def test_the_api_key_never_appears_whatever_its_spelling(spelling, tmp_path):
    for mode in (["--dry-run"], ["--dry-run", "--json"], []):
        done = launch(*mode, *spelling, env={"GPTOSS_SKIP_CHECKS": "all", "PATH": str(tmp_path)})
        assert "s3cr3t-K" not in done.stdout + done.stderr
        assert "VLLM_API_KEY=<hidden>" in done.stdout + done.stderr or '"VLLM_API_KEY": "<hidden>"' in done.stdout
    stray = launch("--dry-run", "--api-key", "s3cr3t-K", "s3cr3t-2")
    assert stray.returncode == 2 and "s3cr3t" not in stray.stderr


def test_the_key_reaches_vllm_through_its_environment_only():
    calls = []
    environ = {"GPTOSS_PROFILE": H100, "GPTOSS_SKIP_CHECKS": "all"}
    assert main(["--api_key", "s3cr3t-K"], environ, execvpe=lambda *a: calls.append(a)) == 0
    (_, argv, env), = calls
    assert env["VLLM_API_KEY"] == "s3cr3t-K" and not any("s3cr3t" in word for word in argv)


def test_recipe_lookalike_variables_are_named(capsys):
    environ = {"GPTOSS_PROFILE": H100, "VLLM_USE_FLASHINFER_MXFP4_BF16_MOE": "1", "VLLM_ATTENTON_BACKEND": "x"}
    assert main(["--dry-run"], environ) == 0
    err = capsys.readouterr().err
    assert ("warning: VLLM_USE_FLASHINFER_MXFP4_BF16_MOE is not a variable vLLM 0.10.2 reads; it has no effect: "
            "did you mean VLLM_USE_FLASHINFER_MOE_MXFP4_BF16?") in err
    assert "VLLM_ATTENTON_BACKEND is not a variable vLLM 0.10.2 reads; it has no effect: did you mean " \
           "VLLM_ATTENTION_BACKEND?" in err


@pytest.mark.parametrize("config,expected", [
    ({"model_type": "llama", "num_hidden_layers": 24}, "config.json says model_type 'llama'; this image serves"),
    ({"model_type": "gpt_oss", "num_hidden_layers": 30}, "num_hidden_layers 30; expected 24 (20b) or 36 (120b)"),
    (None, "the folder has no config.json"),
])
def test_a_local_model_folder_must_hold_gpt_oss(tmp_path, config, expected):
    folder = tmp_path / "gpt-oss-20b-finetune"
    folder.mkdir()
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    one_line_error(launch("--dry-run", "--model", str(folder)), expected)


def test_a_gpt_oss_folder_is_served_by_its_config_not_its_name(tmp_path, capsys):
    folder = tmp_path / "my-20b-copy"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt_oss", "num_hidden_layers": 36}))
    assert main(["--dry-run", "--json", "--model", str(folder)], {"GPTOSS_PROFILE": H100}) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["tensor_parallel_size"] == 2  # 120b's default on H100, whatever the folder is called


@pytest.mark.parametrize("args", [
    ["--compilation-config", '{"cudagraph_mode": "full_and_piecewise", "pass_config": {"fuse_norm_quant": "yes"}}'],
    ["--compilation-config.cudagraph_mode", "FULL"], ["--compilation-config.cudagraph_mode=Piecewise"],
    ["--compilation-config", '{"cudagraph_capture_sizes": [1, 2, 4], "max_cudagraph_capture_size": "512"}'],
    ["--speculative-config", '{"num_speculative_tokens": 3.0, "method": "eagle3", "model": "m"}'],
    ["-O3"], ["--compilation-config.max_cudagraph_capture_size", "1k"], ["--max-num-batched-tokens", "8K"],
    ["--compilation-config", '{"max_cudagraph_capture_size": 1K}'],
])
def test_config_values_vllm_takes_are_taken(args, capsys):
    """What the release's own config classes accept (pydantic's lax numbers, enum names in any case, sizes such
    as 1k in dotted keys) passes: the check refuses only what vLLM would."""
    assert main(["--dry-run", *args], {"GPTOSS_PROFILE": H200}) == 0, capsys.readouterr().err


def test_a_dotted_size_reaches_vllm_as_the_release_reads_it(capsys):
    """0.20.2 on reads `1k` in a dotted key as 1,000; 0.10.2 keeps the text (vllm-api/behaviour.json)."""
    assert main(["--dry-run", "--json", "--compilation-config.max_cudagraph_capture_size", "1K"],
                {"GPTOSS_PROFILE": H200}) == 0
    words = json.loads(capsys.readouterr().out)["argv"]
    assert json.loads(words[words.index("--compilation-config") + 1])["max_cudagraph_capture_size"] == 1024


def test_extra_flags_are_normalised_and_replace_the_profiles(capsys):
    argv = ["--dry-run", "--json", "--max_num_batched_tokens=16384", "-tp", "1", "--enable_prefix_caching",
            "-O.pass_config.enable_noop=false"]
    assert main(argv, {"GPTOSS_PROFILE": str(REPO / "docker" / "b200-cu128" / "profile.json")}) == 0
    plan = json.loads(capsys.readouterr().out)
    words = plan["argv"]
    assert plan["tensor_parallel_size"] == 1 and words.count("--tensor-parallel-size") == 1
    assert words.count("--max-num-batched-tokens") == 1 and "16384" in words
    assert "--enable-prefix-caching" in words and "--no-enable-prefix-caching" not in words
    config = json.loads(words[words.index("--compilation-config") + 1])
    assert config["pass_config"] == {"enable_fi_allreduce_fusion": True, "enable_noop": False}


@pytest.mark.parametrize("args,expected", [
    (["--profiles-dir", "/nonexistent", "validate"], "--profiles-dir /nonexistent: no such folder"),
    (["pins", "check", "--index-url", "not-a-url"], "--index-url 'not-a-url': not a package index URL"),
    (["pins", "try", "1/../../x"], "VERSION '1/../../x': not a release version"),
    (["build", "h100", "--ca-bundle", "/nonexistent", "--dry-run"], "--ca-bundle /nonexistent: no such file"),
    (["build", "h100", "--ca-bundle", "/etc/hostname", "--dry-run"], "not a PEM bundle"),
    (["build", "h100", "--base-image", "nvidia/cuda:12.8 $(id)", "--dry-run"], "must be an image reference"),
    (["build", "h100", "--base-image", "gpu=x", "--dry-run"], "unknown family or line 'gpu'; allowed: cu128, cuda"),
    (["build", "h100", "--index-url", "ftp//x", "--dry-run"], "not a package index URL"),
    (["release", "--registry", "Local Host/x", "--dry-run"], "not a valid image repository"),
    (["push", "h100", "--registry", "UPPER/case", "--dry-run"], "not a valid image repository"),
    (["build"], "the following arguments are required: PROFILE"),
])
def test_bad_build_py_input_is_one_line_exit_2(args, expected):
    result = run_build(*args)
    one_line_error(result, expected, "error: ")


def test_a_named_file_that_is_not_a_small_regular_file_is_one_line(odd_file, tmp_path, profiles_dir):
    """Every file a person names is opened without blocking and read only if regular and bounded."""
    path, words = odd_file
    one_line_error(launch("--dry-run", env={"GPTOSS_PROFILE": path}), f"GPTOSS_PROFILE/--profile={path!r}: {words}")
    one_line_error(run_build("build", "h100", "--ca-bundle", path, "--dry-run", timeout=60),
                   f"--ca-bundle {path}: {words}")
    model = tmp_path / "gpt-oss-20b"
    model.mkdir()
    (model / "config.json").symlink_to(path)
    one_line_error(launch("--dry-run", "--model", str(model)), f"its config.json: {words}")
    (profiles_dir / "odd.yaml").symlink_to(path)
    one_line_error(run_build("--profiles-dir", str(profiles_dir), "validate", timeout=60), "odd.yaml", words)


@pytest.mark.parametrize("content, expected", [("[1]", "not a result (a JSON object written by build.py)"),
                                               ('{"x": 1}', "not a image result of this version (keys: x)"),
                                               (None, "--output /proc/x: cannot write it")])
def test_summary_reads_and_writes_in_one_line(tmp_path, content, expected):
    if content is not None:
        (tmp_path / "h100.json").write_text(content)
    one_line_error(run_build("summary", "--results", str(tmp_path), "--output", "/proc/x"), expected)


def test_a_health_check_on_a_port_that_is_not_one_says_so():
    result = launch("--health", env={"GPTOSS_PORT": "abc"})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == ("gptoss-serve: health: port 'abc' is not a port (1-65535); "
                                     "check --port or GPTOSS_PORT")


def test_unwritable_output_is_one_line(tmp_path):
    blocked = tmp_path / "ro"
    blocked.mkdir()
    blocked.chmod(0o500)
    try:
        if os.access(blocked, os.W_OK):  # root writes anyway: block with a file where a folder must go
            blocked.chmod(0o700)
            (blocked / "docker").write_text("a file")
            target = blocked / "docker"
        else:
            target = blocked / "docker"
        one_line_error(run_build("--docker-dir", str(target), "render"), "cannot write it")
    finally:
        blocked.chmod(0o700)


def test_every_subcommand_help_shows_examples():
    for command in ["list", "show", "validate", "render", "build", "test", "push", "release", "gpu-test",
                    "promote", "summary", "pins"]:
        out = run_build(command, "--help").stdout
        assert "examples:\n  python build.py " + command.split()[0] in out, command
    for action in ["check", "try", "record"]:
        assert "examples:\n  python build.py pins " + action in run_build("pins", action, "--help").stdout


def test_no_credential_is_shown_or_baked(profiles_dir, capsys):
    """A URL's password in build.py's output, a credential's variable in a profile (baked, printed)."""
    secret = "PASSW0RD-" + "x" * 6
    done = run_build("build", "h100", "--dry-run", "--index-url", f"https://user:{secret}@mirror.local/simple")
    assert done.returncode == 0 and secret not in done.stdout + done.stderr and "https://<hidden>@mirror" in done.stdout
    bad = run_build("build", "h100", "--index-url", f"ftp://user:{secret}@x/simple")
    assert bad.returncode == 2 and secret not in bad.stderr and bad.stderr.count("\n") == 1
    h100 = profiles_dir / "h100.yaml"
    h100.write_text(h100.read_text() + f"env: {{VLLM_API_KEY: {secret}}}\n")
    refused = run_build("--profiles-dir", str(profiles_dir), "validate")
    assert refused.returncode == 2 and "env.VLLM_API_KEY: a credential's variable" in refused.stderr
    assert secret not in refused.stderr
