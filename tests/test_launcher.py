"""The launcher: profile + user inputs -> the exact vllm serve, its environment, its checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gptoss_images.core import vendors
from gptoss_images.launcher import checks
from gptoss_images.launcher.main import main
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures" / "gpus"
HOPPER = {"async-scheduling": True, "no-enable-prefix-caching": True, "cuda-graph-sizes": "2048",
          "max-num-batched-tokens": "8192", "max-model-len": "10240"}
BLACKWELL_COMPILATION = {"pass_config": {"enable_fi_allreduce_fusion": True, "enable_noop": True},
                         "custom_ops": ["+rms_norm"], "cudagraph_mode": "FULL_AND_PIECEWISE"}


def flags(argv: list[str]) -> dict:
    """`--name value` and `--name` (True) pairs after `vllm serve MODEL`, JSON values decoded."""
    found, rest = {}, argv[3:]
    for i, arg in enumerate(rest):
        if arg.startswith("--"):
            value = rest[i + 1] if i + 1 < len(rest) and not rest[i + 1].startswith("--") else True
            found[arg[2:]] = json.loads(value) if isinstance(value, str) and value.startswith("{") else value
    return found


def dry_run(capsys, profile: str, *args: str, env: dict | None = None) -> dict:
    environ = {"GPTOSS_PROFILE": str(REPO / "docker" / profile / "profile.json"), **(env or {})}
    assert main(["--dry-run", "--json", *args], environ) == 0
    plan = json.loads(capsys.readouterr().out)
    plan["flags"] = flags(plan["argv"])
    return plan


def test_h200_reproduces_the_recipes_hopper_launch(capsys):
    plan = dry_run(capsys, "h200-cu128", "--scenario", "max-throughput")
    assert plan["argv"][:5] == ["vllm", "serve", "openai/gpt-oss-120b", "--tensor-parallel-size", "1"]
    assert plan["flags"] == {"tensor-parallel-size": "1", **HOPPER, "max-num-seqs": "512"}


def test_h100_reproduces_the_recipe_with_its_h100_memory_fixes(capsys):
    plan = dry_run(capsys, "h100-cu128", "--scenario", "max-throughput")
    assert plan["argv"][-6:] == ["--max-num-seqs", "512", "--gpu-memory-utilization", "0.95",
                                 "--max-num-batched-tokens", "1024"]
    assert plan["argv"].count("--max-num-batched-tokens") == 1
    tp2 = dry_run(capsys, "h100-cu128")
    assert tp2["tensor_parallel_size"] == 2 and float(tp2["flags"]["gpu-memory-utilization"]) < 0.95


def test_b200_reproduces_the_recipes_blackwell_launch(capsys):
    plan = dry_run(capsys, "b200-cu128", "--scenario", "max-throughput", "--moe-activation", "mxfp8")
    assert plan["flags"] == {"tensor-parallel-size": "1", **HOPPER, "compilation-config": BLACKWELL_COMPILATION,
                             "max-num-seqs": "512"}
    assert plan["env"]["VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8"] == "1"
    assert plan["env"]["VLLM_FLASHINFER_ALLREDUCE_FUSION_THRESHOLDS_MB"] == '{"2":32,"4":32,"8":8}'
    assert "VLLM_USE_FLASHINFER_MOE_MXFP4_BF16" not in plan["env"]


def test_b200_defaults_to_bf16_moe_and_unsets_the_other_choice(capsys):
    plan = dry_run(capsys, "b200-cu128")
    assert plan["env"]["VLLM_USE_FLASHINFER_MOE_MXFP4_BF16"] == "1"
    assert "VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8" not in plan["env"]
    chosen = dry_run(capsys, "b200-cu128", env={"GPTOSS_MOE_ACTIVATION": "mxfp8",
                                          "VLLM_USE_FLASHINFER_MOE_MXFP4_BF16": "1"})
    assert chosen["unset"] == ["VLLM_USE_FLASHINFER_MOE_MXFP4_BF16"]


def test_rocm_profiles_carry_the_recipes_settings(capsys):
    mi355 = dry_run(capsys, "mi355x-preview")
    assert mi355["flags"]["block-size"] == "64"
    assert mi355["flags"]["compilation-config"]["compile_sizes"][-1] == 8192
    assert mi355["env"]["TRITON_HIP_PRESHUFFLE_SCALES"] == "1"
    r9700 = dry_run(capsys, "r9700-preview")
    assert r9700["model"] == "openai/gpt-oss-20b"
    big = dry_run(capsys, "r9700-preview", "--model", "openai/gpt-oss-120b", "--scenario", "max-throughput")
    assert big["tensor_parallel_size"] == 4  # the nearest TP the card allows


def test_user_values_replace_profile_flags_instead_of_repeating_them(capsys):
    plan = dry_run(capsys, "h200-cu128", "--max-num-seqs", "64", "--max-num-batched-tokens", "16384",
                   "--enable-prefix-caching", env={"GPTOSS_MAX_MODEL_LEN": "32768",
                                                   "GPTOSS_SCENARIO": "balanced"})
    argv = plan["argv"]
    assert argv.count("--max-num-seqs") == 1 and argv[argv.index("--max-num-seqs") + 1] == "64"
    assert argv[argv.index("--max-model-len") + 1] == "32768"
    assert argv[-3:] == ["--max-num-batched-tokens", "16384", "--enable-prefix-caching"]
    assert argv.count("--max-num-batched-tokens") == 1 and "--no-enable-prefix-caching" not in argv


def test_function_calling_tool_server_and_structured_output(capsys):
    plan = dry_run(capsys, "h100-cu128", "--function-calling", "--tool-server", "10.0.0.5:8001,10.0.0.6:8002",
                   env={"GPTOSS_STRUCTURED_OUTPUT": "yes"})
    argv = " ".join(plan["argv"])
    assert "--tool-call-parser openai --enable-auto-tool-choice" in argv
    assert "--tool-server 10.0.0.5:8001,10.0.0.6:8002" in argv
    assert "async-scheduling" not in argv
    assert any("async scheduling is off" in note for note in plan["notes"])


def test_api_key_goes_by_environment_and_is_hidden(capsys, tmp_path):
    environ = {"GPTOSS_PROFILE": str(REPO / "docker/h100-cu128/profile.json"), "GPTOSS_API_KEY": "s3cret"}
    assert main(["--dry-run"], environ) == 0
    out = capsys.readouterr().out
    assert "s3cret" not in out and "VLLM_API_KEY=<hidden>" in out


def test_dry_run_line_is_copy_pasteable_shell(capsys, tmp_path):
    environ = {"GPTOSS_PROFILE": str(REPO / "docker/b200-cu128/profile.json")}
    assert main(["--dry-run", "--served-model-name", "my model"], environ) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("env VLLM_FLASHINFER_ALLREDUCE_FUSION_THRESHOLDS_MB=")
    assert "VLLM_FLASHINFER_ALLREDUCE_FUSION_THRESHOLDS_MB='{\"2\":32,\"4\":32,\"8\":8}' " in line
    assert "--served-model-name 'my model'" in line


@pytest.mark.parametrize("args,env,message", [
    (["--scenario", "fast"], {}, "GPTOSS_SCENARIO/--scenario='fast': unknown scenario; allowed: default, "
                                 "max-throughput, min-latency, balanced"),
    ([], {"GPTOSS_TENSOR_PARALLEL_SIZE": "3"}, "tensor-parallel-size=3: openai/gpt-oss-120b on h100-cu128 allows 1, 2"),
    ([], {"GPTOSS_PORT": "80a"}, "GPTOSS_PORT='80a': must be an integer from 1 to 65535"),
    (["--model", "openai/gpt-oss-7b"], {}, "unknown model and no such folder; allowed: openai/gpt-oss-20b, "
                                           "openai/gpt-oss-120b or a local model folder"),
    ([], {"GPTOSS_STRUCTURED_OUTPUT": "1"}, None),
    (["--async-scheduling"], {"GPTOSS_STRUCTURED_OUTPUT": "1"}, "cannot combine them"),
    ([], {"GPTOSS_FUNCTION_CALLING": "maybe"}, "GPTOSS_FUNCTION_CALLING='maybe': must be 1/0, true/false"),
    ([], {"GPTOSS_GPU_MEMORY_UTILIZATION": "95"}, "must be a number above 0 and at most 1"),
    ([], {"GPTOSS_TOOL_SERVER": "browser"}, "must be 'demo' or HOST:PORT"),
    ([], {"GPTOSS_SCENERIO": "balanced"}, "GPTOSS_SCENERIO: unknown variable; allowed: GPTOSS_API_KEY"),
    ([], {"GPTOSS_SKIP_CHECKS": "gpus"}, "unknown check gpus; allowed: all, gpu, arch"),
])
def test_bad_input_is_one_line_and_exit_2(args, env, message, tmp_path):
    environ = {"GPTOSS_PROFILE": str(REPO / "docker/h100-cu128/profile.json"), "PATH": "/usr/bin:/bin", **env}
    result = subprocess.run([sys.executable, "-m", "gptoss_images.launcher", "--dry-run", *args],
                            cwd=REPO, env=environ, capture_output=True, text=True)
    if message is None:
        assert result.returncode == 0
        return
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gptoss-serve: error: ") and message in lines[0]
    assert "Traceback" not in result.stderr


def test_bad_moe_choice_on_b200(tmp_path):
    environ = {"GPTOSS_PROFILE": str(REPO / "docker/b200-cu128/profile.json"), "GPTOSS_MOE_ACTIVATION": "fp4"}
    assert main(["--dry-run"], environ) == 2


def test_launcher_imports_nothing_heavy():
    code = ("import sys, runpy; sys.argv = ['gptoss-serve', '--dry-run', '--profile', "
            f"'{REPO}/docker/b200-cu128/profile.json']\n"
            "try:\n    runpy.run_module('gptoss_images.launcher', run_name='__main__')\n"
            "except SystemExit: pass\n"
            "heavy = [m for m in ('vllm', 'torch', 'yaml', 'jinja2', 'numpy') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True).stdout
    assert "HEAVY []" in out


class FakeMachine(checks.Machine):
    def __init__(self, found: list[vendors.Gpu], shm: int = 64 * 2**30):
        super().__init__(gpus=lambda vendor: (found, "fixture"), shm_bytes=lambda: shm)


def _nvidia(name: str) -> list[vendors.Gpu]:
    return vendors.nvidia.parse_smi((FIXTURES / name).read_text())


def _serve(profile: str, machine: checks.Machine, tmp_path: Path, *args: str, env: dict | None = None):
    calls = []
    environ = {"GPTOSS_PROFILE": str(REPO / f"docker/{profile}/profile.json"),
               "HF_HOME": str(tmp_path / "hf"),
               "TIKTOKEN_ENCODINGS_BASE": str(tmp_path / "missing"), **(env or {})}
    code = main(list(args), environ, execvpe=lambda *a: calls.append(a), machine=machine)
    return code, calls


def test_serving_on_the_wrong_gpu_stops_with_the_override(tmp_path, capsys):
    code, calls = _serve("b200-cu128", FakeMachine(_nvidia("nvidia-smi-h100.csv")), tmp_path)
    assert code == 3 and calls == []
    err = capsys.readouterr().err
    assert "FAIL  gpu     NVIDIA H100 80GB HBM3 is not a B200" in err
    assert "GPTOSS_SKIP_CHECKS=gpu,arch,vocab" in err


def test_serving_execs_vllm_with_the_plan(tmp_path, capsys):
    code, calls = _serve("h100-cu128", FakeMachine(_nvidia("nvidia-smi-h100.csv")), tmp_path,
                         "--model", "openai/gpt-oss-20b", env={"GPTOSS_SKIP_CHECKS": "vocab"})
    assert code == 0
    (file, argv, env), = calls
    assert file == "vllm" and argv[:3] == ["vllm", "serve", "openai/gpt-oss-20b"]
    assert env["GPTOSS_SKIP_CHECKS"] == "vocab" and env["HF_HOME"] == str(tmp_path / "hf")  # inherited
    assert not list(tmp_path.iterdir())  # the launcher writes nothing


def test_real_h100_output_passes_the_h100_checks(tmp_path, capsys):
    plan_env = {"GPTOSS_MODEL": "openai/gpt-oss-20b", "GPTOSS_TENSOR_PARALLEL_SIZE": "1"}
    code, calls = _serve("h100-cu128", FakeMachine(_nvidia("nvidia-smi-h100.csv")), tmp_path, "--check",
                         env=plan_env)
    statuses = {line.split()[1]: line.split()[0] for line in capsys.readouterr().out.splitlines()}
    assert {name: statuses[name] for name in ("gpu", "arch", "count", "memory", "driver", "shm")} == dict.fromkeys(
        ("gpu", "arch", "count", "memory", "driver", "shm"), "PASS")
    assert statuses["vocab"] == "FAIL" and code == 1 and calls == []  # only the vocabulary is missing here


def test_check_lines(tmp_path, capsys):
    machine = FakeMachine(_nvidia("nvidia-smi-h100.csv"), shm=64 * 2**20)
    _serve("h100-cu128", machine, tmp_path, "--check", "--model", "openai/gpt-oss-20b")
    out = capsys.readouterr().out
    assert "PASS  gpu     1 x NVIDIA H100 80GB HBM3 (fixture) is a H100" in out
    assert "PASS  arch    compute capability 9.0" in out
    assert "PASS  driver  driver 580.159.04" in out
    assert "FAIL  shm     /dev/shm is 64 MiB: start the container with --ipc=host" not in out  # TP 1: a warning
    assert "WARN  shm     /dev/shm is 64 MiB" in out
    assert "WARN  model   openai/gpt-oss-20b is not in" in out
    assert "FAIL  vocab" in out


def test_checks_fail_on_too_few_gpus_old_driver_and_offline_without_weights(tmp_path, capsys):
    _serve("h100-cu128", FakeMachine(_nvidia("nvidia-smi-h100-old-driver.csv")), tmp_path, "--check",
           "--model", "openai/gpt-oss-120b", "--tensor-parallel-size", "2", env={"HF_HUB_OFFLINE": "1"})
    out = capsys.readouterr().out
    assert "FAIL  count   1 GPUs, tensor-parallel size 2 needs 2" in out
    assert "FAIL  driver  driver 550.54.15 is older than 570.26" in out
    assert "FAIL  model   HF_HUB_OFFLINE is set and openai/gpt-oss-120b is not in" in out


def test_model_in_cache_and_vocab_present(tmp_path, capsys):
    snapshot = tmp_path / "hf/hub/models--openai--gpt-oss-20b/snapshots/abc"
    snapshot.mkdir(parents=True)
    _serve("a100-cu128", FakeMachine(_nvidia("nvidia-smi-a100.csv")), tmp_path, "--check",
           "--model", "openai/gpt-oss-20b", "--tensor-parallel-size", "4")
    out = capsys.readouterr().out
    assert "PASS  gpu     4 x NVIDIA A100-SXM4-80GB (fixture) is a A100" in out
    assert "PASS  count   4 GPUs for tensor-parallel size 4" in out
    assert "PASS  model   openai/gpt-oss-20b is in the cache" in out


def test_a100_on_an_h100_profile_fails(tmp_path, capsys):
    _serve("h100-cu128", FakeMachine(_nvidia("nvidia-smi-a100.csv")), tmp_path, "--check")
    out = capsys.readouterr().out
    assert "FAIL  gpu     NVIDIA A100-SXM4-80GB is not a H100" in out
    assert "FAIL  arch    compute capability 8.0, profile h100-cu128 is built for 9.0" in out


def test_parsers_read_the_recorded_and_documented_formats():
    h100 = _nvidia("nvidia-smi-h100.csv")
    assert h100 == [vendors.Gpu("nvidia", "NVIDIA H100 80GB HBM3", "9.0", 81559, "580.159.04")]
    assert len(_nvidia("nvidia-smi-b200.csv")) == 8 and _nvidia("nvidia-smi-b200.csv")[0].arch == "10.0"
    mi300 = vendors.amd.parse_amd_smi((FIXTURES / "amd-smi-mi300x.json").read_text())
    assert [(g.name, g.arch, g.memory_mib) for g in mi300] == [("AMD Instinct MI300X", "gfx942", 196592)] * 2
    mi355 = vendors.amd.parse_amd_smi((FIXTURES / "amd-smi-mi355x-gpu_data.json").read_text())
    assert mi355[0].arch == "gfx950"
    r9700 = vendors.amd.parse_rocm_smi((FIXTURES / "rocm-smi-r9700.json").read_text())
    assert [(g.name, g.arch, g.memory_mib) for g in r9700] == [("AMD Radeon AI PRO R9700", "gfx1201", 32752)]
    kfd = vendors.amd.read_kfd(FIXTURES / "kfd-mi300x" / "nodes")
    assert kfd == [vendors.Gpu("amd", "gfx942", "gfx942", 196592)]
    assert vendors.amd.gfx_target(120001) == "gfx1201" and vendors.amd.gfx_target(90500) == "gfx950"


def test_amd_checks_with_kfd_and_amd_smi(tmp_path, capsys):
    kfd = vendors.amd.read_kfd(FIXTURES / "kfd-mi300x" / "nodes")
    _serve("mi300x-preview", FakeMachine(kfd), tmp_path, "--check")
    out = capsys.readouterr().out
    assert "WARN  gpu     gfx942 (fixture) gives no model name" in out
    assert "PASS  arch    gfx target gfx942" in out
    named = vendors.amd.parse_amd_smi((FIXTURES / "amd-smi-mi300x.json").read_text())
    _serve("mi355x-preview", FakeMachine(named), tmp_path, "--check")
    out = capsys.readouterr().out
    assert "FAIL  gpu     AMD Instinct MI300X is not a MI355X" in out
    assert "FAIL  arch    gfx target gfx942, profile mi355x-preview is built for gfx950" in out


def test_help_teaches_every_knob(capsys):
    with pytest.raises(SystemExit):
        main(["--help"], {"GPTOSS_PROFILE": str(REPO / "docker/b200-cu128/profile.json")})
    out = capsys.readouterr().out
    for text in ["GPTOSS_MODEL", "GPTOSS_TENSOR_PARALLEL_SIZE", "GPTOSS_SCENARIO", "GPTOSS_TOOL_SERVER",
                 "GPTOSS_STRUCTURED_OUTPUT", "GPTOSS_MOE_ACTIVATION", "--dry-run", "--check", "examples (",
                 "--list-profiles", "--user 12345:0", "--gpus all",
                 "max-throughput: best throughput per GPU"]:
        assert text in out


def test_demo_tool_server_needs_gpt_oss(tmp_path, capsys):
    _serve("h100-cu128", FakeMachine(_nvidia("nvidia-smi-h100.csv")), tmp_path, "--check", "--tool-server", "demo")
    assert "FAIL  tools   --tool-server demo needs the gpt-oss package" in capsys.readouterr().out


CURRENT_HOPPER = {"no-enable-prefix-caching": True, "max-num-batched-tokens": "8192"}
"""The recipe's current Hopper config less what an H200 measured against it (profiles/cuda.yaml says why)."""
EAGLE3 = {"model": "nvidia/gpt-oss-120b-Eagle3-v3", "num_speculative_tokens": 7, "method": "eagle3",
          "draft_tensor_parallel_size": 1}


def test_current_line_serves_the_recipes_current_hopper_config_as_measured(capsys):
    plan = dry_run(capsys, "h200", "--scenario", "max-throughput")
    assert plan["flags"] == {"tensor-parallel-size": "1", **CURRENT_HOPPER, "max-num-seqs": "512",
                             "stream-interval": "20", "gpu-memory-utilization": "0.85"}
    assert "--async-scheduling" not in plan["argv"]  # vLLM's default now
    assert "stream-interval" not in dry_run(capsys, "h200", "--scenario", "min-latency")["flags"]
    assert "gpu-memory-utilization" not in dry_run(capsys, "h200", "--model", "openai/gpt-oss-20b")["flags"]


def test_current_blackwell_adds_fp8_kv_cache_and_mxfp8_moe_activations(capsys):
    plan = dry_run(capsys, "b200")
    assert plan["flags"]["kv-cache-dtype"] == "fp8"
    assert plan["flags"]["quantization-config"] == {"moe": {"activation": "mxfp8"}}
    assert not any(k.startswith("VLLM_USE_FLASHINFER") for k in plan["env"])  # gone from vLLM 0.33
    bf16 = dry_run(capsys, "b200", "--moe-activation", "bf16")
    assert "quantization-config" not in bf16["flags"]


def test_eagle3_speculative_decoding_is_an_option_for_120b(capsys):
    assert "speculative-config" not in dry_run(capsys, "h100")["flags"]  # off by default
    plan = dry_run(capsys, "h100", "--speculative", "eagle3")
    assert plan["flags"]["speculative-config"] == EAGLE3
    result = subprocess.run([sys.executable, "-m", "gptoss_images.launcher", "--dry-run", "--speculative", "eagle3",
                             "--model", "openai/gpt-oss-20b"], cwd=REPO, capture_output=True, text=True,
                            env={"GPTOSS_PROFILE": str(REPO / "docker/h100/profile.json"), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert "--speculative='eagle3': for openai/gpt-oss-120b only, not openai/gpt-oss-20b" in result.stderr
    a100 = {"GPTOSS_PROFILE": str(REPO / "docker/a100/profile.json")}  # the recipe gives EAGLE3 for Hopper
    assert main(["--dry-run", "--speculative", "eagle3"], a100) == 2  # and Blackwell only


def test_structured_output_keeps_async_scheduling_where_the_release_supports_it(capsys):
    plan = dry_run(capsys, "h100", "--structured-output", "--async-scheduling")
    assert "--async-scheduling" in plan["argv"] and not any("async" in note for note in plan["notes"])
    old = dry_run(capsys, "h100-cu128", "--structured-output")
    assert "--async-scheduling" not in old["argv"] and "vLLM 0.10.2 does not support it" in " ".join(old["notes"])


def test_current_rocm_settings_and_mi355x_checkpoint(capsys):
    mi300 = dry_run(capsys, "mi300x")
    assert mi300["flags"]["attention-backend"] == "ROCM_AITER_UNIFIED_ATTN"
    assert mi300["flags"]["compilation-config"] == {"pass_config": {"fuse_rope_kvcache": True},
                                                    "use_inductor_graph_partition": True}
    assert mi300["flags"]["block-size"] == "64" and mi300["flags"]["gpu-memory-utilization"] == "0.95"
    assert {k: v for k, v in mi300["env"].items() if not k.endswith(("_HOME", "_ROOT", "_DIR", "_BASE"))} == {
        "VLLM_ROCM_USE_AITER": "1", "VLLM_ROCM_QUICK_REDUCE_QUANTIZATION": "INT4", "AMDGCN_USE_BUFFER_OPS": "0"}
    assert dry_run(capsys, "mi355x")["model"] == "amd/gpt-oss-120b-w-mxfp4-a-fp8"
    r9700 = dry_run(capsys, "r9700")
    assert "attention-backend" not in r9700["flags"] and "VLLM_ROCM_USE_AITER" not in r9700["env"]


def test_each_line_knows_its_minimum_driver(tmp_path, capsys):
    _serve("h100", FakeMachine(_nvidia("nvidia-smi-h100-old-driver.csv")), tmp_path, "--check")
    assert "FAIL  driver  driver 550.54.15 is older than 580.65.06, the first for CUDA 13.0" in capsys.readouterr().out
    _serve("h100", FakeMachine(_nvidia("nvidia-smi-h100.csv")), tmp_path, "--check",
           env={"TIKTOKEN_ENCODINGS_BASE": ""})
    out = capsys.readouterr().out
    assert "PASS  driver  driver 580.159.04" in out
    assert "FAIL  vocab   TIKTOKEN_ENCODINGS_BASE is unset: the image sets it to its baked vocabulary" in out


def _family(line: str = "current") -> list[dict]:
    from gptoss_images.launcher import profile as profile_file

    return [profile_file.read(str(REPO / "docker" / p / "profile.json"))
            for p in ("a100", "b200", "h100", "h200") for p in [p if line == "current" else f"{p}-{line}"]]


@pytest.mark.parametrize("fixture,current,cu128", [
    ("nvidia-smi-h100.csv", "h100", "h100-cu128"), ("nvidia-smi-h200.csv", "h200", "h200-cu128"),
    ("nvidia-smi-2xh200.csv", "h200", "h200-cu128"),
    ("nvidia-smi-a100.csv", None, "a100-cu128"),  # driver 570: too old for CUDA 13, right for 12.8
    ("nvidia-smi-b200.csv", None, "b200-cu128"), ("nvidia-smi-mixed.csv", None, None),
    ("nvidia-smi-l40s.csv", None, None), ("nvidia-smi-h100-old-driver.csv", None, None)])
def test_a_vendor_image_picks_the_profile_its_gpus_fit(fixture, current, cu128):
    from gptoss_images.core import select

    for line, expected in (("current", current), ("cu128", cu128)):
        chosen = select.choose(_family(line), _nvidia(fixture))
        assert (chosen["name"] if chosen else None) == expected, line


def test_no_fit_is_one_message_with_what_was_found_and_what_each_profile_needs(tmp_path):
    folder = tmp_path / "profiles"
    folder.mkdir()
    for p in ("a100", "h100", "h200", "b200"):
        (folder / f"{p}.json").write_text((REPO / "docker" / p / "profile.json").read_text())
    from gptoss_images.core.inputs import BadInput
    from gptoss_images.launcher import profile as profile_file

    with pytest.raises(BadInput) as raised:
        profile_file.load([], {}, lambda vendor: _nvidia("nvidia-smi-l40s.csv"), str(folder), "/nonexistent")
    message = str(raised.value)
    assert "found 2 x NVIDIA L40S (8.9, 46068 MiB, driver 580.159.04)" in message
    assert "h100: H100 (9.0, driver >= 580.65.06)" in message and "GPTOSS_PROFILE=NAME forces one" in message
    forced = profile_file.load([], {"GPTOSS_PROFILE": "h200"}, lambda vendor: [], str(folder), "/nonexistent")
    assert forced["name"] == "h200"


def test_list_profiles_sorts_every_fit_with_its_reason_and_command(capsys):
    environ = {"GPTOSS_PROFILE": str(REPO / "docker/h100/profile.json")}
    assert main(["--list-profiles"], environ, machine=FakeMachine(_nvidia("nvidia-smi-h100.csv"))) == 0
    out = capsys.readouterr().out
    assert out.startswith("this machine: 1 x NVIDIA H100 80GB HBM3 (9.0, 81559 MiB, driver 580.159.04)")
    compatible = out.split("compatible:")[1].split("low-memory:")[0]
    assert "h100             openai/gpt-oss-20b     TP 1  13.0 GiB of weights per GPU" in compatible
    assert "-e GPTOSS_PROFILE=h100 -e GPTOSS_MODEL=openai/gpt-oss-20b -e GPTOSS_TENSOR_PARALLEL_SIZE=1" in compatible
    low = out.split("low-memory:")[1].split("incompatible:")[0]
    assert "openai/gpt-oss-120b    TP 1  61.0 GiB of weights per GPU, 75.7 GiB usable: little room" in low
    assert "openai/gpt-oss-120b    TP 2  needs 2 GPUs; found 1" in out.split("incompatible:")[1]
    assert main(["--list-profiles", "--json"], environ, machine=FakeMachine(_nvidia("nvidia-smi-h100.csv"))) == 0
    listed = json.loads(capsys.readouterr().out)["profiles"]
    assert {(f["model"], f["tp"], f["status"]) for f in listed} >= {("openai/gpt-oss-20b", 1, "compatible"),
                                                                     ("openai/gpt-oss-120b", 1, "low-memory")}


SINCE_RECORDED = {"openai/gpt-oss-120b    TP 1  61.0 GiB of weights per GPU, 126.4 GiB usable":
                  "openai/gpt-oss-120b    TP 1  61.0 GiB of weights per GPU, 119.3 GiB usable"}
"""What the h200 profile changed after the sessions were recorded: 120b at TP 1 takes 0.85 of the GPU
(measured on an H200 by the synthetic benchmark: vLLM's 0.92 runs out of memory)."""


def test_the_recorded_h200_sessions_are_what_the_launcher_says_today(capsys):
    """Every line the recorded --list-profiles printed is printed today (the plan's lines come on top)."""
    for fixture, session in (("nvidia-smi-h200.csv", "h200-launcher-session.txt"),
                             ("nvidia-smi-2xh200.csv", "2xh200-launcher-session.txt")):
        recorded = (FIXTURES / session).read_text()
        for then, now in SINCE_RECORDED.items():
            recorded = recorded.replace(then, now)
        block = recorded.split("== h200 --list-profiles\n", 1)[1].split("\n== ", 1)[0].splitlines()
        environ = {"GPTOSS_PROFILE": str(REPO / "docker/h200/profile.json")}
        assert main(["--list-profiles"], environ, machine=FakeMachine(_nvidia(fixture))) == 0
        today = capsys.readouterr().out.splitlines()
        assert [line for line in block if line not in today] == [] and "the plan, per scenario" in "\n".join(today)


def test_caches_go_under_the_cache_volume_or_to_tmp(tmp_path):
    from gptoss_images.core import caches

    env, where = caches.environment({"GPTOSS_CACHE_DIR": str(tmp_path)})
    assert env["VLLM_CACHE_ROOT"] == f"{tmp_path}/vllm" and env["TRITON_CACHE_DIR"] == f"{tmp_path}/triton"
    assert env["TORCHINDUCTOR_CACHE_DIR"] == f"{tmp_path}/torchinductor" and env["HF_HOME"] == f"{tmp_path}/huggingface"
    assert "lost with the container" in where  # a folder, not a mount point
    env, where = caches.environment({"HF_HOME": "/models"}, writable=lambda path, mode: path != caches.ROOT)
    assert env["VLLM_CACHE_ROOT"].startswith(caches.FALLBACK) and "HF_HOME" not in env  # the user's own wins
    env, _ = caches.environment({"GPTOSS_CACHE_DIR": "/nonexistent"}, str(tmp_path))
    assert env["HF_HOME"] == f"{tmp_path}/huggingface"  # --cache-dir over the variable


@pytest.mark.parametrize(("folder", "why"), [
    ("/nonexistent", "no such folder"), ("/", "the root folder"), ("/proc/self", "inside /proc, the kernel's"),
    ("/dev/shm/../null", "inside /dev, the kernel's"), ("cache", "not an absolute path"),
    (str(REPO / "README.md"), "not a folder")])
def test_a_cache_folder_that_will_not_do_is_refused_in_one_line_never_replaced(capsys, folder, why):
    for argv, environ in ((["--check", "--cache-dir", folder], {}), (["--dry-run"], {"GPTOSS_CACHE_DIR": folder})):
        assert main(argv, {"GPTOSS_PROFILE": str(REPO / "docker/h100/profile.json"), **environ}) == 2
        err = capsys.readouterr().err
        assert err == f"gptoss-serve: error: --cache-dir/GPTOSS_CACHE_DIR={folder!r}: {why}; give a writable " \
                      "folder, e.g. a volume mounted at /cache\n"


def test_no_writable_cache_anywhere_is_refused_not_assumed():
    from gptoss_images.core import caches
    from gptoss_images.core.inputs import BadInput

    with pytest.raises(BadInput, match=r"^no writable cache folder: /cache is not writable and neither is /tmp"):
        caches.root({}, writable=lambda path, mode: False)


@pytest.mark.parametrize("spelling", [["--hf-token", "hf_s3cret"], ["--hf_token=hf_s3cret"]])
def test_a_hugging_face_token_travels_as_hf_token_and_is_never_shown(capsys, spelling):
    plan = dry_run(capsys, "h100", *spelling)
    assert "hf_s3cret" not in json.dumps(plan) and plan["env"]["HF_TOKEN"] == "<hidden>"
    assert not any(a.startswith(("--hf-token", "--hf_token")) for a in plan["argv"])
    assert main(["--dry-run", *spelling], {"GPTOSS_PROFILE": str(REPO / "docker/h100/profile.json")}) == 0
    out, err = capsys.readouterr()
    assert "hf_s3cret" not in out + err and "HF_TOKEN=<hidden>" in out
    assert "--hf-token" in dry_run(capsys, "h100", "--hf-token")["argv"]  # bare: the login's token, no secret


@pytest.mark.parametrize(("cmdline", "env", "wanted"), [
    (b"vllm\0serve\0m\0--port\x009000\0", {}, ("127.0.0.1", "9000")),
    (b"vllm\0serve\0m\0--port=9001\0--host\x000.0.0.0\0", {"GPTOSS_PORT": "8000"}, ("127.0.0.1", "9001")),
    (b"vllm\0serve\0m\0--host\x0010.0.0.5\0", {"GPTOSS_PORT": "8100"}, ("10.0.0.5", "8100")),
    (b"/bin/sh\0-c\0sleep 1\0", {"GPTOSS_PORT": "8200"}, ("127.0.0.1", "8200")),
    (b"", {}, ("127.0.0.1", "8000")),
])
def test_the_health_check_asks_where_the_server_really_listens(cmdline, env, wanted):
    from gptoss_images.launcher import health
    assert health.address(cmdline, env) == wanted


def test_the_health_check_answers_for_a_server_on_another_port():
    from gptoss_images.launcher import health
    from tests.conftest import free_port, wait_for_port
    port = free_port()
    server = subprocess.Popen([sys.executable, str(REPO / "tests/fixtures/stub-vllm"), "serve", "m", "--port",
                               str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        assert health.probe(port=port) == 0 and health.probe(port=free_port()) == 1
    finally:
        server.terminate()
        server.wait(10)


def test_o3_is_read_as_each_release_reads_it(capsys):
    current = dry_run(capsys, "h100", "-O3")
    assert current["flags"]["optimization-level"] == "3"  # vLLM 0.20 on: --optimization-level
    cu128 = dry_run(capsys, "b200-cu128", "-O", "2")
    assert cu128["flags"]["compilation-config"]["level"] == 2  # 0.10.2: the compilation config's level
    assert cu128["flags"]["compilation-config"]["cudagraph_mode"] == "FULL_AND_PIECEWISE"  # merged, not replaced


def test_credential_flags_and_variables_come_from_each_release_record_by_kind():
    """Derived from what each release records, by what the name says, not listed by hand."""
    from gptoss_images.core import plan as planner
    from gptoss_images.core import vllm_api

    for version in ("0.10.2", "0.20.2", "0.33.0"):
        api = vllm_api.load(version)
        assert api.secrets == {"api-key", "hf-token"}  # allow-credentials is a switch, ssl-keyfile a path
        assert {e for e in api.envs if vllm_api.credential_name(e)} == {
            "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "VLLM_API_KEY"}  # not ..._TOKEN_THRESHOLD
    later = vllm_api.Api("9.9.9", {**api.flags, "kv-connector-token": {"value": "str"}}, api.envs)
    assert "kv-connector-token" in later.secrets  # a release that adds one: hidden with no code change
    with pytest.raises(vllm_api.Rejected) as refused:
        vllm_api.parse(later, ["--kv-connector-token"], secret=later.secrets)
    assert "--kv-connector-token" in str(refused.value)
    shown = planner.Plan("h100", "m", {}, 1, "default", {}, ["vllm", "serve", "m", "--kv-connector-token", "s3cret",
                                                              "--kv-connector-token=s3cret", "--port", "8000"],
                         {}, secret_flags=later.secrets)
    assert "s3cret" not in shown.shell() + shown.as_json() and shown.argv.count("s3cret") == 1
    assert shown.shown_argv()[3:7] == ["--kv-connector-token", "<hidden>", "--kv-connector-token=<hidden>", "--port"]


CONFIG = """\
max-num-seqs: 64
enable-prefix-caching: true
compilation-config:
  cudagraph_mode: FULL_AND_PIECEWISE
hf-token: hf_s3cretTOKEN
"""


def test_a_config_file_is_read_as_the_pinned_vllm_reads_it_and_meets_every_rule(capsys, tmp_path):
    """vLLM's --config FILE: its settings become flags before the command line's (which win), each checked as a
    flag is; the command run has no --config, and a token in it is hidden like one given as a flag."""
    config = tmp_path / "serve.yaml"
    config.write_text(CONFIG)
    plan = dry_run(capsys, "h100", "--config", str(config))
    assert "--config" not in plan["argv"] and "hf_s3cretTOKEN" not in json.dumps(plan)
    assert (plan["flags"]["max-num-seqs"], plan["flags"]["enable-prefix-caching"]) == ("64", True)
    assert plan["flags"]["compilation-config"] == {"cudagraph_mode": "FULL_AND_PIECEWISE"}
    assert dry_run(capsys, "h100", f"--config={config}", "--max-num-seqs", "32")["flags"]["max-num-seqs"] == "32"


@pytest.mark.parametrize(("text", "name", "profile", "message"), [
    ("tensor-parallel-size: 3\n", "c.yaml", "h100", "--tensor-parallel-size=3: openai/gpt-oss-120b on h100 allows"),
    ("max-num-seq: 3\n", "c.yaml", "h100", "--config {path}: --max-num-seq: abbreviations are not accepted"),
    ("all2all-backend: nope\n", "c.yml", "h100", "--config {path}: --all2all-backend='nope': allowed: "),
    ("config: other.yaml\n", "c.yaml", "h100", "--config {path}: --config: a config file inside a config file"),
    ("compilation-config: {level: 3}\n", "c.yaml", "h100-cu128",
     "key 'compilation-config': vLLM 0.10.2 passes a mapping as Python text, which its JSON parser refuses"),
    ("enable-prefix-caching: false\n", "c.yaml", "h100-cu128", "vLLM 0.10.2 drops a key set to false; leave it"),
    ("max-num-seqs: true\n", "c.yaml", "h100", "key 'max-num-seqs': true for a flag that takes a value"),
    ("- max-num-seqs\n", "c.yaml", "h100", "--config {path}: must be a mapping of settings (key: value), not list"),
    ("max-num-seqs: [\n", "c.yaml", "h100", "--config {path}: malformed YAML: line 2: "),
    ("max-num-seqs: 8\n", "c.json", "h100", "--config {path}: vLLM reads a YAML file named .yaml or .yml"),
    ("a: " + "[" * 30 + "]" * 30 + "\n", "c.yaml", "h100", "--config {path}: nested deeper than 20 levels"),
    ("hf-token: hf_s3cretTOKEN\nmax-num-seq: 1\n", "c.yaml", "h100", "--max-num-seq: abbreviations"),
])
def test_a_bad_config_file_is_one_line_naming_it(text, name, profile, message, tmp_path):
    path = tmp_path / name
    path.write_text(text)
    environ = {"GPTOSS_PROFILE": str(REPO / "docker" / profile / "profile.json"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "gptoss_images.launcher", "--dry-run", "--config", str(path)],
                            cwd=REPO, env=environ, capture_output=True, text=True)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert message.format(path=path) in lines[0] and "s3cret" not in result.stderr


def test_a_config_file_that_is_a_fifo_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "c.yaml"
    os.mkfifo(fifo)
    environ = {"GPTOSS_PROFILE": str(REPO / "docker/h100/profile.json"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "gptoss_images.launcher", "--dry-run", "--config", str(fifo)],
                            cwd=REPO, env=environ, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "a named pipe (FIFO), not a regular file" in result.stderr
