"""gptoss-self-test: the sessions recorded on a real H200 replayed, its command the launcher's own, its bad inputs.

The recordings (tests/fixtures/gpus/h200-self-test-vllm0.20.2/, scripts/h200-self-test.sh) are vLLM
0.20.2 serving the h200 profile carried to that release (`build.py pins carry`), with a synthetic
gpt-oss: every check of the self-test passed there, and what it read from vLLM's log is what the
log says.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gptoss_images.core import vendors
from gptoss_images.launcher import checks
from gptoss_images.launcher import main as launcher
from gptoss_images.measure import probes, selftest, startup
from tests.conftest import REPO

RECORDED = REPO / "tests/fixtures/gpus/h200-self-test-vllm0.20.2"
PROFILE = RECORDED / "profile.json"
"""The h200 profile as those sessions served it, carried to 0.20.2 (the profile has moved on since: the
synthetic benchmark's measurements changed its settings; tests/test_versus.py checks the current carry)."""
SESSIONS = {"default-cold": [], "default-warm": [], "max-throughput": ["--scenario", "max-throughput",
                                                                       "--function-calling"],
            "120b-max-throughput": ["--scenario", "max-throughput", "--model", "openai/gpt-oss-120b"]}
"""Each recorded session and the options it was run with (besides RUN's)."""
RUN = ["--health-timeout", "420"]
MACHINE = [name for name in checks.NAMES if name != "tools"]
CHECKS = MACHINE + ["synthetic", "start", *probes.PROBES, "metrics", "bench"]
H200 = checks.Machine(gpus=lambda vendor: (vendors.nvidia.parse_smi(
    (REPO / "tests/fixtures/gpus/nvidia-smi-h200.csv").read_text()), "nvidia-smi"), shm_bytes=lambda: 2**37)


def _report(session: str) -> dict:
    return json.loads((RECORDED / session / "report.json").read_text())


@pytest.mark.parametrize("session", sorted(SESSIONS))
def test_every_check_ran_and_passed_on_the_h200(session):
    report = _report(session)
    assert report["passed"] and report["vllm"] == "0.20.2" and report["profile"] == "h200"
    assert [c["name"] for c in report["checks"]] == CHECKS
    skipped = {c["name"]: c["message"] for c in report["checks"] if c["status"] == "skip"}
    assert all(c["status"] == "pass" for c in report["checks"] if c["name"] not in skipped)
    assert skipped.keys() == {"model"} | ({"tools"} if "--function-calling" not in SESSIONS[session] else set())
    assert report["bench"]["failed"] == 0 and report["bench"]["completed"] == report["bench"]["num_prompts"] >= 512
    transcript = (RECORDED / session / "transcript.txt").read_text()
    for check in report["checks"]:
        assert selftest.line(checks.Result(check["status"], check["name"], check["message"])) in transcript
    assert "every check passed" in transcript and transcript.rstrip().endswith("exit 0")


@pytest.mark.parametrize("session", sorted(SESSIONS))
def test_the_start_up_phases_are_what_vllms_log_says(session):
    report = _report(session)
    read = startup.phases((RECORDED / session / "vllm.log").read_text())
    assert read == {k: v for k, v in report["startup"].items() if k != "healthy_s"}
    assert {"weights_s", "torch_compile_s", "graph_capture_s", "engine_init_s", "kv_cache_tokens"} <= read.keys()
    assert report["startup"]["healthy_s"] > read["engine_init_s"]


def test_a_warm_restart_skips_compilation_and_most_of_the_graph_capture():
    cold, warm = _report("default-cold")["startup"], _report("default-warm")["startup"]
    assert warm["engine_init_s"] < cold["engine_init_s"] / 5 and warm["healthy_s"] < cold["healthy_s"] / 2


@pytest.mark.parametrize("session", sorted(SESSIONS))
def test_it_served_the_command_the_launcher_prints_with_only_model_and_name_changed(session, tmp_path):
    """The recorded argv is `gptoss-serve --dry-run` of the same options, model path and served name aside."""
    report = _report(session)
    env = {"GPTOSS_PROFILE": str(PROFILE), "GPTOSS_CACHE_DIR": str(tmp_path)}
    profile = json.loads(PROFILE.read_text())
    resolved = launcher.resolve(RUN + SESSIONS[session], selftest.with_model(SESSIONS[session], env, profile), H200,
                                selftest.options)
    argv, _, _ = selftest.command(resolved, env)
    assert report["argv"] == [report["argv"][2] if word == "MODEL" else word for word in argv]
    dry = resolved.plan.argv
    assert argv[:2] + argv[3:-2] == dry[:2] + dry[3:] and argv[-2:] == ["--served-model-name", resolved.plan.model]


def test_eagle3_cannot_be_served_without_its_draft_and_is_reported_skipped(tmp_path):
    env = {"GPTOSS_PROFILE": str(REPO / "docker/h200/profile.json"), "GPTOSS_CACHE_DIR": str(tmp_path)}
    argv = ["--scenario", "max-throughput", "--model", "openai/gpt-oss-120b", "--speculative", "eagle3"]
    argv_, _, skipped = selftest.command(launcher.resolve(argv, env, H200, selftest.options), env)
    assert "--speculative-config" not in argv_
    assert [(r.status, r.name) for r in skipped] == [("skip", "speculative-config")]
    assert "nvidia/gpt-oss-120b-Eagle3-v3" in skipped[0].message


@pytest.mark.parametrize(("args", "env", "wanted"), [
    (["--scenario", "fastest"], {}, "GPTOSS_SCENARIO/--scenario='fastest': unknown scenario; allowed: default"),
    (["--bench-prompts", "0"], {}, "argument --bench-prompts: '0': must be an integer from 1 to 1000000"),
    (["--check"], {}, "--check: not with the self-test; run gptoss-serve --check on its own"),
    (["--size", "huge"], {}, "argument --size: invalid choice: 'huge' (choose from 'tiny', 'full')"),
    ([], {"TIKTOKEN_ENCODINGS_BASE": "/nonexistent"}, "TIKTOKEN_ENCODINGS_BASE: no o200k_base.tiktoken in "
                                                      "/nonexistent"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, args, env, wanted):
    environ = {"GPTOSS_PROFILE": str(REPO / "docker/h200/profile.json"), "GPTOSS_CACHE_DIR": str(tmp_path), **env}
    assert selftest.main(args, environ, H200) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gptoss-self-test: error: {wanted}") and err.count("\n") == 1


def test_help_teaches_with_examples(capsys):
    assert selftest.main(["--help"], {"GPTOSS_PROFILE": str(REPO / "docker/h200/profile.json")}, H200) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: gptoss-self-test") and "--scenario" in out and "--report-dir" in out
    assert "docker run --rm --gpus all --ipc=host -v gptoss-cache:/cache IMAGE --self-test" in out


def test_the_entrypoint_hands_self_test_over_with_every_other_option():
    called = []
    code = launcher.main(["--scenario", "max-throughput", "--self-test", "--function-calling"], {"X": "1"},
                         execvpe=lambda *a: called.append(a))
    assert code == 0
    assert called == [("gptoss-self-test", ["gptoss-self-test", "--scenario", "max-throughput",
                                            "--function-calling"], {"X": "1"})]


def test_the_metrics_probe_wants_what_the_deploy_files_read(monkeypatch):
    exported = b"# HELP x\nvllm:num_requests_waiting{model_name=\"m\"} 0.0\nvllm:prompt_tokens_total 3\n"

    class Answer(probes.Server):
        def get(self, path: str) -> tuple[int, bytes]:
            return 200, exported

    server = Answer("http://x", "m")
    assert probes.metrics(server, ["vllm:num_requests_waiting"], ["vllm:prompt_tokens", "vllm:other"]) == (
        "vllm:num_requests_waiting exported; 1 of the 2 declared")
    result, _ = probes.run("metrics", lambda: probes.metrics(server, ["vllm:gone"], []))
    assert (result.status, result.message) == ("fail", "an answer not in the API's shape (AssertionError: "
                                                       "missing vllm:gone)")


def test_recorded_sessions_are_the_ones_documented():
    assert sorted(p.name for p in RECORDED.iterdir() if p.is_dir()) == sorted(SESSIONS)
    assert all(sorted(f.name for f in (RECORDED / s).iterdir()) == ["bench.json", "report.json", "transcript.txt",
                                                                   "vllm.log"] for s in SESSIONS)
    assert Path(REPO / "scripts/h200-self-test.sh").is_file()
