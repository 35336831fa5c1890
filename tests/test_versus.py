"""gptoss-bench --synthetic: the H200 runs replayed, the servers and loads it plans, a whole run against stand-ins.

The recordings (bench/h200-vllm0.20.2/, scripts/h200-bench.sh) are vLLM 0.20.2 on a real H200 serving
full-size synthetic gpt-oss-20b and 120b with the h200 profile carried to that release: what was served is
what the launcher plans now, what was read from vLLM's logs is what they say, and the README shows them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from gptoss_images.core import vendors
from gptoss_images.launcher import checks
from gptoss_images.measure import bench, startup, versus
from gptoss_images.measure.server import Vllm
from gptoss_images.publish import gates, release, results
from gptoss_images.vllm import pins
from tests.conftest import REPO, free_port

RECORDED = REPO / "bench/h200-vllm0.20.2"
CARRIED = REPO / "tests/fixtures/gpus/h200-vllm0.20.2-profile.json"
RUNS = {"20b": ["--against-defaults", "--scenario", "max-throughput,min-latency", "--tensor-parallel-size", "1",
                "--variant", "max-throughput: --max-cudagraph-capture-size 2048", "--waves", "1"],
        "120b-defaults-0.92": ["--against-defaults", "--model", "openai/gpt-oss-120b", "--scenario", "max-throughput",
                               "--tensor-parallel-size", "1", "--synthetic-dir", "/dev/shm/synthetic", "--waves", "1"],
        "120b-max-throughput-0.85": ["--model", "openai/gpt-oss-120b", "--scenario", "max-throughput",
                                     "--tensor-parallel-size", "1", "--gpu-memory-utilization", "0.85",
                                     "--synthetic-dir", "/dev/shm/synthetic", "--waves", "1"],
        "20b-balanced": ["--against-defaults", "--model", "openai/gpt-oss-20b", "--scenario", "balanced,min-latency",
                         "--tensor-parallel-size", "1", "--waves", "1", "--output-len", "256",
                         "--variant", "balanced: --stream-interval 20"],
        "20b-min-latency": ["--model", "openai/gpt-oss-20b", "--scenario", "min-latency", "--tensor-parallel-size",
                            "1", "--waves", "1", "--output-len", "256"]}
"""Each recorded run and its options besides --synthetic (the transcripts say the same)."""
H200 = checks.Machine(gpus=lambda vendor: (vendors.nvidia.parse_smi(
    (REPO / "tests/fixtures/gpus/nvidia-smi-h200.csv").read_text()), "nvidia-smi"), shm_bytes=lambda: 2**37)


def _result(run: str) -> dict:
    return json.loads((RECORDED / run / "result.json").read_text())


def _planned(options: list[str], profile: Path) -> list[versus.Setting]:
    return versus.plan(["--synthetic", *options], {"GPTOSS_PROFILE": str(profile)}, H200)[1]


def test_the_profile_the_next_run_serves_is_h200_carried_to_the_release_by_the_rename_record():
    assert pins.carried_profile(REPO / "profiles", "h200", "0.20.2") == CARRIED.read_bytes()
    h100 = REPO / "tests/fixtures/gpus/h100-vllm0.20.2-profile.json"  # served where the tool lends an H100
    assert pins.carried_profile(REPO / "profiles", "h100", "0.20.2") == h100.read_bytes()


@pytest.mark.parametrize("run", sorted(RUNS))
def test_the_transcript_is_the_run_and_every_server_served_what_was_planned_then(run):
    result = _result(run)
    assert f"$ gptoss-bench --synthetic {' '.join(RUNS[run])}".replace("'", "") in (
        RECORDED / run / "transcript.txt").read_text().replace("'", "")
    assert result["vllm"] == "0.20.2" and result["weights"] == "synthetic" and "NVIDIA H200" in result["machine"]
    then = _planned(RUNS[run], RECORDED / "profile.json")
    model = result["servers"][0]["argv"][2]
    assert [s["argv"] for s in result["servers"]] == [[model if w == "MODEL" else w for w in s.argv] for s in then]


def test_what_the_profile_serves_now_is_what_was_measured_or_what_the_measurements_changed():
    """20b: max-throughput as measured; capture size 2048 only in the variant that measured it. 120b at TP 1:
    the rule the out-of-memory start added is the flag the run that served passed."""
    now = {s.label: s.argv for s in _planned(RUNS["20b"], CARRIED)}
    recorded = {s["label"]: s["argv"] for s in _result("20b")["servers"]}
    model = recorded["vLLM defaults"][2]
    assert {k: [model if w == "MODEL" else w for w in v] for k, v in now.items()} == recorded
    assert "2048" not in " ".join(now["h200 max-throughput"])
    served = _result("120b-max-throughput-0.85")["servers"][0]["argv"]
    planned = _planned(RUNS["120b-max-throughput-0.85"][:-6] + RUNS["120b-max-throughput-0.85"][-4:], CARRIED)
    assert [served[2] if w == "MODEL" else w for w in planned[0].argv] == served


@pytest.mark.parametrize("run", sorted(RUNS))
def test_start_up_phases_and_failures_are_what_vllms_logs_say(run):
    for server in _result(run)["servers"]:
        log = RECORDED / run / f"vllm-{versus._slug(server['label'])}.log"
        found = startup.phases(log.read_text())
        assert {k: server["startup"][k] for k in found} == found
        if "error" in server:  # the root cause vLLM logged (out of memory; a vocabulary file gone mid-run)
            said = Vllm([], {}, log, 0).why_not(0).split("answered: ", 1)[1]
            assert said == server["error"].split("answered: ", 1)[1] or "CUDA out of memory" in said


def test_the_measurements_say_what_the_profile_comments_say():
    rows = {(r["settings"], r["load"]): r for r in _result("20b")["rows"]}
    tuned, defaults = rows["h200 max-throughput", "max-throughput"], rows["vLLM defaults", "max-throughput"]
    wider = rows["h200 max-throughput --max-cudagraph-capture-size 2048", "max-throughput"]
    assert round(tuned["output_throughput_per_gpu"] / defaults["output_throughput_per_gpu"], 2) == 1.29
    assert abs(wider["output_throughput_per_gpu"] / tuned["output_throughput_per_gpu"] - 1) < versus.NOISE
    bursts, each = rows["h200 max-throughput", "min-latency"], rows["h200 min-latency", "min-latency"]
    assert bursts["median_itl_ms"] > 15 * each["median_itl_ms"] and each["failed"] == bursts["failed"] == 0
    assert all(r["failed"] == 0 for r in rows.values())
    assert [v["verdict"] for v in _result("20b")["verdicts"]] == ["better", "worse", "better"]
    assert all("error" in s for s in _result("120b-defaults-0.92")["servers"])
    comment = (REPO / "profiles/cuda.yaml").read_text()
    assert "15,017 against 11,675" in comment and "118 s to /health against 70 s" in comment


def test_the_readme_shows_every_recorded_table():
    readme = (REPO / "README.md").read_text()
    for run in RUNS:
        assert versus.markdown(_result(run)) in readme, run


def test_scenario_all_is_every_scenario_each_planned_for_the_gpus_found():
    first, settings, loads, _ = versus.plan(["--synthetic", "--scenario", "all", "--against-defaults"],
                                            {"GPTOSS_PROFILE": str(CARRIED)}, H200)
    assert [(load.scenario, load.concurrency, load.prompts, load.layout) for load in loads] == [
        ("default", 1024, 3072, (1, 1)), ("max-throughput", 512, 1536, (1, 1)), ("min-latency", 8, 24, (1, 1)),
        ("balanced", 128, 384, (1, 1))]  # one H200: every scenario at TP 1
    assert [s.label for s in settings] == ["vLLM defaults", "h200 default", "h200 max-throughput",
                                           "h200 min-latency", "h200 balanced"]
    assert settings[0].slots == 1024 and first.plan.model == "openai/gpt-oss-20b"


def test_on_eight_gpus_each_layout_gets_its_own_defaults_and_a_load_runs_on_its_own_layout():
    eight = checks.Machine(gpus=lambda vendor: (vendors.nvidia.parse_smi(
        (REPO / "tests/fixtures/gpus/nvidia-smi-8xh200.csv").read_text()), "nvidia-smi"), shm_bytes=lambda: 2**37)
    _, settings, loads, _ = versus.plan(["--synthetic", "--scenario", "max-throughput,min-latency",
                                         "--against-defaults"], {"GPTOSS_PROFILE": str(CARRIED)}, eight)
    assert [(load.scenario, load.concurrency, load.layout) for load in loads] == [
        ("max-throughput", 512 * 8, (1, 8)), ("min-latency", 8 * 2, (4, 2))]  # max-num-seqs per DP replica
    assert [(s.label, s.layout) for s in settings] == [
        ("vLLM defaults, TP 1 x DP 8", (1, 8)), ("vLLM defaults, TP 4 x DP 2", (4, 2)),
        ("h200 max-throughput", (1, 8)), ("h200 min-latency", (4, 2))]
    assert settings[0].argv[3:7] == ["--tensor-parallel-size", "1", "--data-parallel-size", "8"]


def test_vllms_defaults_carry_no_setting_and_no_variable_of_the_profile():
    profile = REPO / "docker/b200-cu128/profile.json"
    environ = {"GPTOSS_PROFILE": str(profile), "VLLM_FLASHINFER_ALLREDUCE_FUSION_THRESHOLDS_MB": "{}",
               "GPTOSS_PORT": "9001", "GPTOSS_API_KEY": "s3cret"}
    machine = checks.Machine(gpus=lambda vendor: (vendors.nvidia.parse_smi(
        (REPO / "tests/fixtures/gpus/nvidia-smi-b200.csv").read_text()), "nvidia-smi"))
    defaults, tuned = versus.plan(["--synthetic", "--against-defaults", "--model", "openai/gpt-oss-20b"], environ,
                                  machine)[1]
    assert defaults.argv == ["vllm", "serve", "MODEL", "--tensor-parallel-size", "1", "--data-parallel-size", "8",
                             "--served-model-name", "openai/gpt-oss-20b", "--port", "9001"]  # 8 x B200: DP 8
    assert "VLLM_FLASHINFER_ALLREDUCE_FUSION_THRESHOLDS_MB" not in defaults.env | defaults.sets
    assert "VLLM_USE_FLASHINFER_MOE_MXFP4_BF16" in tuned.env and defaults.env["VLLM_API_KEY"] == "s3cret"
    assert "--compilation-config" in tuned.argv and defaults.port == tuned.port == 9001


def test_vllms_defaults_keep_the_memory_share_the_model_needs_to_start():
    defaults, tuned = _planned(["--scenario", "max-throughput", "--model", "openai/gpt-oss-120b",
                                "--against-defaults"], CARRIED)  # the h200 rule: 120b at TP 1 takes 0.85
    assert defaults.label == "vLLM defaults --gpu-memory-utilization 0.85"
    assert defaults.argv[-2:] == tuned.argv[tuned.argv.index("--gpu-memory-utilization"):][:2] == [
        "--gpu-memory-utilization", "0.85"]


def test_a_variant_that_changes_nothing_starts_no_second_server():
    settings = _planned(["--scenario", "max-throughput", "--variant", "max-throughput: --stream-interval 20",
                         "--variant", "max-throughput: --stream-interval 1"], CARRIED)
    assert [s.label for s in settings] == ["h200 max-throughput", "h200 max-throughput --stream-interval 1"]
    assert settings[1].argv[-4:-2] == ["--stream-interval", "1"] and settings[1].argv.count("--stream-interval") == 1


@pytest.mark.parametrize(("args", "wanted"), [
    (["--variant", "fastest: --max-num-seqs 4"], "--variant 'fastest: --max-num-seqs 4': 'SCENARIO: FLAGS' with "
                                                 "SCENARIO one of those measured (default)"),
    (["--variant", "default:"], "--variant 'default:': no flags after the scenario"),
    (["--variant", "default: --max-num-seq 4"], "--max-num-seq: abbreviations are not accepted"),
    (["--scenario", "fast,"], "--scenario/GPTOSS_SCENARIO='fast,': scenarios separated by commas, or 'all'"),
    (["--waves", "0"], "argument --waves: '0': must be an integer from 1 to 100"),
    (["--size", "huge"], "argument --size: invalid choice: 'huge'"),
    (["--check"], "--check: not with --synthetic; run gptoss-serve --check on its own"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, args, wanted):
    environ = {"GPTOSS_PROFILE": str(REPO / "docker/h200/profile.json")}
    assert bench.main(["--synthetic", *args], environ) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gptoss-bench: error: {wanted}") and err.count("\n") == 1


def test_help_teaches_what_it_measures_and_what_only_real_weights_do(capsys):
    assert bench.main(["--synthetic", "--help"], {"GPTOSS_PROFILE": str(REPO / "docker/h200/profile.json")}) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: gptoss-bench --synthetic") and "--against-defaults" in out and "--variant" in out
    assert "acceptance rate of\nspeculative decoding" in out and "gptoss-bench --synthetic --against-defaults" in out


STAND_IN = """#!{python}
# `vllm serve` is the stub server; `vllm bench serve` writes a result as vLLM's does, faster at higher concurrency
import json, os, sys
a = sys.argv[1:]
if a[:1] == ["serve"]:
    os.execv(sys.executable, [sys.executable, {stub!r}, *a])
value = lambda k: a[a.index(k) + 1]
n, c = int(value("--num-prompts")), int(value("--max-concurrency"))
result = {{"num_prompts": n, "completed": n, "duration": 1.0, "max_concurrency": c, "output_throughput": 100.0 * c,
           "seed": int(value("--seed"))}}
result |= {{f"{{s}}_{{m}}_ms": 5.0 for m in ("ttft", "tpot", "itl", "e2el") for s in ("mean", "median", "p99")}}
open(os.path.join(value("--result-dir"), value("--result-filename")), "w").write(json.dumps(result))
"""


def test_a_run_measures_each_scenario_at_its_load_the_defaults_at_every_load_and_reports_ratios(tmp_path, capsys):
    """Against stand-ins of vLLM's server and bench client, with the synthetic model already in the cache."""
    bin_dir, cache = tmp_path / "bin", tmp_path / "cache"
    bin_dir.mkdir()
    (bin_dir / "vllm").write_text(STAND_IN.format(python=sys.executable, stub=str(REPO / "tests/fixtures/stub-vllm")))
    (bin_dir / "vllm").chmod(0o755)
    (tmp_path / "o200k_base.tiktoken").write_text("stand-in\n")
    kept = cache / "synthetic" / "gpt-oss-20b-full-seed0-format2"
    kept.mkdir(parents=True)
    (kept / "config.json").write_text("{}")
    environ = {"GPTOSS_PROFILE": str(CARRIED), "GPTOSS_CACHE_DIR": str(cache), "GPTOSS_PORT": str(free_port()),
               "TIKTOKEN_ENCODINGS_BASE": str(tmp_path), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    code = versus.main(["--synthetic", "--against-defaults", "--scenario", "max-throughput,min-latency",
                        "--tensor-parallel-size", "1", "--skip-checks", "vocab", "--waves", "2", "--json"],
                       environ, H200)
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert [(r["settings"], r["load"], r["num_prompts"]) for r in report["rows"]] == [
        ("vLLM defaults", "max-throughput", 1024), ("vLLM defaults", "min-latency", 16),
        ("h200 max-throughput", "max-throughput", 1024), ("h200 min-latency", "min-latency", 16)]
    assert [(v["settings"], v["verdict"]) for v in report["verdicts"]] == [("h200 max-throughput", "same"),
                                                                          ("h200 min-latency", "same")]
    assert "(reused)" in err and "[3/3] h200 min-latency: vllm serve " in err and "warm" not in err
    assert all(s["startup"]["healthy_s"] > 0 for s in report["servers"])
    folder = Path(err.rsplit("results in ", 1)[1].strip())
    assert json.loads((folder / "result.json").read_text()) == report
    assert sorted(p.name for p in folder.glob("*.warm-up.json")) == [  # once per server, before its first load
        "bench-h200-max-throughput-at-max-throughput.warm-up.json",
        "bench-h200-min-latency-at-min-latency.warm-up.json", "bench-vllm-defaults-at-max-throughput.warm-up.json"]
    seeds = {p.name: json.loads(p.read_text())["seed"] for p in folder.glob("bench-*.json")}
    assert seeds == {  # a load's prompts are the same for every server; no server sees a prompt twice
        "bench-vllm-defaults-at-max-throughput.json": 0, "bench-vllm-defaults-at-min-latency.json": 1,
        "bench-h200-max-throughput-at-max-throughput.json": 0, "bench-h200-min-latency-at-min-latency.json": 1,
        "bench-vllm-defaults-at-max-throughput.warm-up.json": 1000,
        "bench-h200-max-throughput-at-max-throughput.warm-up.json": 1000,
        "bench-h200-min-latency-at-min-latency.warm-up.json": 1001}


LOST = {"vllm": "0.34.0", "verdicts": [{"settings": "h100 max-throughput", "scenario": "max-throughput",
                                        "goal": "throughput", "verdict": "worse",
                                        "ratios": {"output tok/s per GPU": 0.91}, "why": "output tok/s per GPU 0.91x"}]}


def test_settings_that_lose_to_the_defaults_hold_their_whole_line_until_a_person_accepts_them(tmp_path):
    for name in ("h100", "h200", "h100-cu128"):
        results.write(tmp_path, results.ImageResult(name, True, f"r/x:gptoss-{name}-1", f"r/x:gptoss-{name}"))
    results.write(tmp_path, results.GpuResult("h100", "passed", "served", versus=LOST))
    lines = {"h100": "cuda/current", "h200": "cuda/current", "h100-cu128": "cuda/cu128"}
    published = release.promote_all(None, tmp_path, "r/y", False, lines=lines)
    assert [(p.profile, p.ok) for p in published] == [("h100", False), ("h100-cu128", False), ("h200", False)]
    assert published[2].detail == ("line cuda/current held: h100's settings are worse than vLLM 0.34.0's defaults: "
                                   "h100 max-throughput (output tok/s per GPU 0.91x); once a person has looked, "
                                   "promote --accept-settings h100")
    assert published[1].detail == "pushed to r/x, not r/y"  # the other line goes on to its own gates
    assert gates.held_lines({"h100": ("cuda/current", LOST)}, {"h100"}) == {}
    assert results.versus_text(LOST) == "max-throughput worse 0.91x (vLLM 0.34.0)"
    assert "| max-throughput worse 0.91x (vLLM 0.34.0) |" in results.markdown(tmp_path)
