"""gptoss-bench and gptoss-eval: the eval harness against a stub server that answers right and wrong,
the reference's sampling and grading, the bench's command and table, promote's gates on recorded
results, the measured artifact in a real registry; in the image, both commands teach."""

from __future__ import annotations

import contextlib
import io
import json
import random
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gptoss_images.errors import UserError
from gptoss_images.measure import bench, evals, grading
from gptoss_images.publish import artifacts, gates, gpu_test, results
from tests.conftest import REPO, free_port, run_build, wait_for_port
from tests.images import write_eval_data

H100 = str(REPO / "docker/h100/profile.json")
A100 = str(REPO / "docker/a100/profile.json")
STUB = REPO / "tests/fixtures/stub-vllm"


@pytest.fixture(scope="module")
def stub_server():
    port = free_port()
    process = subprocess.Popen([sys.executable, str(STUB), "serve", "openai/gpt-oss-20b", "--port", str(port)])
    wait_for_port(port)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


def run_eval(*argv: str, tmp_path: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    environ = {"HOME": str(tmp_path), "GPTOSS_CACHE_DIR": str(tmp_path)}
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = evals.main(["--profile", H100, *argv], environ)
    return code, out.getvalue(), err.getvalue()


def test_a_model_that_answers_right_passes_and_the_result_is_saved(stub_server, tmp_path):
    data = write_eval_data(tmp_path / "data", gpqa=14, aime=30, knows=1.0)
    code, out, err = run_eval("--url", stub_server, "--data", str(data), "--repeats", "2", "--json",
                              tmp_path=tmp_path)
    assert code == 0, err
    outcomes = {o["eval"]: o for o in json.loads(out)}
    assert outcomes["gpqa"]["samples"] == 28 and outcomes["gpqa"]["score"] == 100.0
    assert outcomes["aime25"]["samples"] == 60 and outcomes["aime25"]["recipe"] == 38.8  # the 20b's, low effort
    saved = sorted((tmp_path / "evals").glob("eval-h100-20b-gpqa-low-*.json"))
    assert saved and json.loads(saved[-1].read_text())["outcome"]["passed"] is True


def test_a_model_below_the_recipe_fails_and_says_so(stub_server, tmp_path):
    data = write_eval_data(tmp_path / "data", gpqa=60, aime=2, knows=0.25)  # 25% right: chance level
    code, out, _ = run_eval("--url", stub_server, "--data", str(data), "--eval", "gpqa", "--repeats", "1",
                            tmp_path=tmp_path)
    assert code == 1
    row = next(line for line in out.splitlines() if line.startswith("gpqa"))
    tolerance = evals.tolerance_points(56.8, 60)
    assert row.split() == ["gpqa", "gpt-oss-20b", "low", "60", "25.0", "56.8", f"-{tolerance:.1f}", "BELOW", "the",
                           "recipe"]


def test_the_chat_api_grades_the_same(stub_server, tmp_path):
    data = write_eval_data(tmp_path / "data", gpqa=28, aime=58, knows=0.5)
    code, out, _ = run_eval("--url", stub_server, "--data", str(data), "--api", "chat", "--repeats", "1", "--json",
                            tmp_path=tmp_path)
    scores = {o["eval"]: o["score"] for o in json.loads(out)}
    assert scores == {"gpqa": 50.0, "aime25": 50.0} and code == 0


def test_too_few_samples_are_not_judged_and_do_not_pass(stub_server, tmp_path):
    """Every answer right, but 30 AIME25 samples cannot tell gpt-oss-20b's 38.8 from half of it: not judged."""
    data = write_eval_data(tmp_path / "data", gpqa=2, aime=30, knows=1.0)
    code, out, _ = run_eval("--url", stub_server, "--data", str(data), "--eval", "aime25", "--repeats", "1", "--json",
                            tmp_path=tmp_path)
    outcome = json.loads(out)[0]
    assert code == 1 and outcome["score"] == 100.0 and not outcome["passed"] and outcome["too_few"] == 57
    assert gates.refusals({}, [outcome], None) == [
        "aime25: too few samples to judge (30; at least 57 tell the recipe's 38.8 from half of it)"]
    half = [dict(outcome, samples=60, too_few=0, score=19.4, tolerance=evals.tolerance_points(38.8, 60),
                 passed=19.4 >= 38.8 - evals.tolerance_points(38.8, 60))]
    assert not half[0]["passed"]  # the nightly's two repeats: a model scoring half the recipe's fails
    assert "gpqa,aime25" in " ".join(gpu_test.EVALS) and gpu_test.EVALS[-2:] == ["--repeats", "2"]


def test_limit_samples_the_questions_the_reference_samples(tmp_path):
    data = write_eval_data(tmp_path / "data", gpqa=30, aime=10)
    rows = evals.load("gpqa", data)
    chosen = evals.examples("gpqa", rows, limit=5, repeats=1)
    reference = random.Random(0)
    expected = reference.sample(rows, 5)
    assert [r["Question"] for r in chosen] == [r["Question"] for r in expected]
    assert [r["permutation"] for r in chosen] == [reference.sample(range(4), 4) for _ in range(5)]
    full = evals.examples("aime25", evals.load("aime25", data), limit=None, repeats=8)
    assert len(full) == 80 and {r["answer"] for r in full} == {str(i * 11) for i in range(10)}


def test_prompts_are_the_references():
    row = {"Question": "Q?", "Correct Answer": "yes", "Incorrect Answer 1": "n1", "Incorrect Answer 2": "n2",
           "Incorrect Answer 3": "n3", "permutation": [2, 0, 3, 1]}
    text, right = evals.prompt("gpqa", row)
    assert text == ("Q?\n\n(A) n2\n(B) yes\n(C) n3\n(D) n1\n\nExpress your final answer as the corresponding "
                    "option 'A', 'B', 'C', or 'D'.") and right == "B"
    text, right = evals.prompt("aime25", {"question": "Find x.", "answer": "70"})
    assert text == "\nFind x.\nPlease reason step by step, and put your final answer within \\boxed{}.\n"
    assert right == "70"


@pytest.mark.parametrize("text, letter", [
    ("**Answer:** C", "C"), ("Answer: (B)", "B"), ("so the answer is D.", "s"), ("The answer: D.", "D"),
    ("Option A fits", "A"),
    (r"\boxed{B}", "B"), (r"\boxed{\text{C } 2.08}", "C"), ("(D)", "D"), ("**A**", "A"), ("B.", "B"),
    ("I think\nAnswer: B\n", "B"), ("", ""), ("xyz", "x"), ("a\n**A**\nAnswer: D", "D"),
])
def test_gpqa_answers_are_read_as_the_reference_reads_them(text, letter):
    assert grading.extract_abcd(text) == letter


@pytest.mark.parametrize("text, answer", [
    (r"so \boxed{70}", "70"), (r"\boxed{1, 2, 33}", "33"), (r"\framebox{5}", "5"), ("it is 12 or 13", "13"),
    ("no number", ""), (r"\boxed{7} then \boxed{9}", "9"),
])
def test_aime_answers_are_read_as_the_reference_reads_them(text, answer):
    assert grading.extract_boxed(text) == answer


def test_the_tolerance_is_three_standard_errors_of_the_run():
    assert evals.tolerance_points(65.3, 198 * 8) == pytest.approx(3.58, abs=0.01)  # a full GPQA run
    assert evals.tolerance_points(51.2, 30) == pytest.approx(27.4, abs=0.1)  # AIME once: loose, honestly
    assert evals.judge("gpqa", "120b", "low", [{"score": 1.0, "error": False}] * 62
                       + [{"score": 0.0, "error": False}] * 38).passed  # 62 >= 65.3 - 14.3


@pytest.mark.parametrize("argv, message", [
    (["--eval", "mmlu"], "--eval 'mmlu': unknown eval; allowed: gpqa, aime25"),
    (["--limit", "5", "--repeats", "3"], "--limit with --repeats"),
    (["--limit", "0"], "argument --limit: '0': a whole number of at least 1"),
    (["--reasoning-effort", "max"], "argument --reasoning-effort: invalid choice: 'max'"),
    (["--url", "ftp://x"], "--url 'ftp://x': an http(s):// URL"),
    (["--url", "http://127.0.0.1:9"], "http://127.0.0.1:9: no server answers"),
])
def test_eval_refuses_bad_input_in_one_line(tmp_path, argv, message):
    code, out, err = run_eval(*argv, tmp_path=tmp_path)
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and message in err, err


def test_eval_data_that_is_not_a_small_regular_file_is_one_line(stub_server, odd_file, tmp_path):
    path, words = odd_file
    (tmp_path / "gpqa_diamond.csv").symlink_to(path)
    code, out, err = run_eval("--url", stub_server, "--data", str(tmp_path), "--eval", "gpqa", tmp_path=tmp_path)
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and words in err, err


@pytest.mark.parametrize("name, content, message", [
    ("gpqa_diamond.csv", "Question,Correct Answer\nQ?,yes\n",
     "record 1 lacks Incorrect Answer 1, Incorrect Answer 2, Incorrect Answer 3"),
    ("aime2025-I.jsonl", '{"question": "Q?"}\n', "record 1 lacks answer"),
    ("aime2025-I.jsonl", '{"question": "Q?", "answer": 1}\n[', "not JSON lines"),
])
def test_eval_data_without_what_the_reference_reads_is_one_line(stub_server, tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    (tmp_path / "aime2025-II.jsonl").write_text("")
    code, out, err = run_eval("--url", stub_server, "--data", str(tmp_path), "--eval",
                              "gpqa" if name.endswith(".csv") else "aime25", tmp_path=tmp_path)
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and message in err, err


class _Broken(BaseHTTPRequestHandler):
    """A server that lists the model and then fails every question: 500, or an answer later than any timeout."""

    def do_GET(self) -> None:
        self._answer(200, {"data": [{"id": "openai/gpt-oss-20b"}]})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.server.mode == "slow":  # type: ignore[attr-defined]
            threading.Event().wait(3)  # not time.sleep: the test stubs it out
        self._answer(500, {"error": "boom"})

    def _answer(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("mode, reason", [("500", "HTTP 500"), ("slow", "no answer within 1 s (--request-timeout)")])
def test_failed_requests_are_said_at_once_counted_by_kind_and_fail_the_run(tmp_path, monkeypatch, mode, reason):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Broken)
    server.mode = mode  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(evals.time, "sleep", lambda _: None)  # the retries' back-off, not what is tested
    monkeypatch.setattr(evals, "TRIES", 2)
    try:
        data = write_eval_data(tmp_path / "data", gpqa=2, aime=1)
        code, out, err = run_eval("--url", f"http://127.0.0.1:{server.server_port}", "--data", str(data), "--eval",
                                  "gpqa", "--limit", "2", "--request-timeout", "1", tmp_path=tmp_path)
    finally:
        server.shutdown()
    assert code == 1
    assert err.count(f"POST http://127.0.0.1:{server.server_port}/v1/responses: {reason}; retrying up to 2") == 1
    assert f"2 requests failed ({reason} x 2)" in out


def _bench_plan(profile: str, *argv: str):
    from gptoss_images.measure import common

    ns = bench.parser().parse_args(["--profile", profile, *argv])
    prof, plan, _, _ = common.target(ns, {"HOME": "/nonexistent"}, ask=False)
    return prof, plan


def test_bench_concurrency_is_the_servers_max_num_seqs():
    assert bench.concurrency(*_bench_plan(H100, "--scenario", "max-throughput")) == 512
    assert bench.concurrency(*_bench_plan(H100, "--scenario", "min-latency")) == 8
    assert bench.concurrency(*_bench_plan(H100, "--model", "openai/gpt-oss-20b")) == 1024  # vLLM's default, H100
    assert bench.concurrency(*_bench_plan(A100, "--model", "openai/gpt-oss-20b")) == 256  # vLLM's default, A100


def test_bench_command_is_the_recipes(tmp_path):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = bench.main(["--profile", H100, "--scenario", "balanced", "--dry-run", "--tokenizer", "/tok",
                           "--result-dir", str(tmp_path)], {"HOME": str(tmp_path)})
    argv = out.getvalue().split()
    assert code == 0 and argv[:3] == ["vllm", "bench", "serve"]
    pairs = dict(zip(argv[3::1], argv[4::1]))
    assert pairs["--max-concurrency"] == "128" and pairs["--num-prompts"] == "640"
    assert pairs["--random-input-len"] == pairs["--random-output-len"] == "1024" and "--ignore-eos" in argv
    assert pairs["--dataset-name"] == "random" and pairs["--base-url"] == "http://127.0.0.1:8000"


def test_bench_never_downloads_a_tokenizer(tmp_path):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = bench.main(["--profile", H100, "--dry-run"], {"HOME": str(tmp_path), "GPTOSS_CACHE_DIR": str(tmp_path)})
    assert code == 2 and "is not in the model cache" in err.getvalue() and "never downloads" in err.getvalue()
    snapshot = tmp_path / "huggingface/hub/models--openai--gpt-oss-120b/snapshots/abc"
    snapshot.mkdir(parents=True)
    (snapshot / "tokenizer.json").write_text("{}")
    assert bench.cached_tokenizer("openai/gpt-oss-120b", str(tmp_path / "huggingface")) == str(snapshot)


RESULT = {"num_prompts": 640, "completed": 640, "duration": 100.0, "total_input_tokens": 655360,
          "total_output_tokens": 655360, "request_throughput": 6.4, "output_throughput": 6553.6,
          "total_token_throughput": 13107.2, "max_concurrency": 128, "mean_ttft_ms": 210.0, "median_ttft_ms": 180.5,
          "p99_ttft_ms": 900.0, "mean_tpot_ms": 18.0, "median_tpot_ms": 17.5, "p99_tpot_ms": 25.0,
          "mean_itl_ms": 17.9, "median_itl_ms": 17.0, "p99_itl_ms": 40.0, "mean_e2el_ms": 18600.0,
          "median_e2el_ms": 18500.0, "p99_e2el_ms": 26000.0}


def test_bench_summary_and_table_show_throughput_per_gpu():
    _, plan = _bench_plan(H100, "--scenario", "balanced")
    kept = bench.summary(RESULT, plan.tp, "h100", plan)
    assert kept["output_throughput_per_gpu"] == pytest.approx(3276.8) and kept["failed"] == 0 and kept["tp"] == 2
    text = bench.table(RESULT, kept)
    assert "Output tok/s per GPU (2 GPUs):           3276.80" in text
    assert "Median TTFT (ms):                        180.50" in text
    assert text.startswith("============ Serving Benchmark Result ============")


def test_gates_on_recorded_results():
    ok_evals = [{"eval": "gpqa", "score": 55.0, "recipe": 56.8, "tolerance": 10.1, "passed": True, "errors": 0,
                 "model": "20b", "effort": "low"}]
    nights = {"history": [4000.0, 3800.0, 3700.0, 3650.0, 3600.0], "bench": {"output_throughput_per_gpu": 3600.0}}
    assert gates.baseline(nights) == 3700.0  # the median: 2% a night for five nights cannot compound
    assert gates.refusals({"output_throughput_per_gpu": 3300.0}, ok_evals, nights) == [
        "throughput fell 11% (3700 -> 3300 output tok/s per GPU, the median of 5 published nights), more than 10%"]
    assert gates.carried_history(nights, {"output_throughput_per_gpu": 3500.0})[-2:] == [3600.0, 3500.0]
    assert len(gates.carried_history({"history": [1.0] * 9}, {"output_throughput_per_gpu": 2.0})) == 7
    before = {"bench": {"output_throughput_per_gpu": 4000.0}}  # an artifact from before the history
    assert gates.refusals({"output_throughput_per_gpu": 3700.0, "failed": 0}, ok_evals, before) == []  # -7.5%
    slower = gates.refusals({"output_throughput_per_gpu": 3000.0, "failed": 0}, ok_evals, before)
    assert slower == ["throughput fell 25% (4000 -> 3000 output tok/s per GPU), more than 10%"]
    assert gates.refusals({"output_throughput_per_gpu": 3000.0}, ok_evals, None) == []  # the first night
    worse = [dict(ok_evals[0], score=30.0, passed=False)]
    assert gates.refusals({}, worse, before) == [
        "gpqa 30.0 is below the recipe's 56.8 - 10.1 (gpt-oss-20b, low effort)"]
    assert gates.refusals({"failed": 3, "num_prompts": 320}, [], None) == ["the bench lost 3 of 320 requests"]


@pytest.mark.registry
def test_the_measured_artifact_lives_beside_the_floating_tag(registry):
    floating = f"{registry}/measured:gptoss-h100"
    assert artifacts.pull_measured(floating) is None
    artifacts.push_measured(floating, {"bench": {"output_throughput_per_gpu": 1234.5}, "evals": []})
    assert artifacts.pull_measured(floating) == {"bench": {"output_throughput_per_gpu": 1234.5}, "evals": []}
    artifacts._push(artifacts.measured_ref(floating), "measured.json", b"not json", artifacts.MEASURED_TYPE)
    with pytest.raises(UserError, match=r"measured: not the JSON push_measured writes"):
        artifacts.pull_measured(floating)  # a gate that cannot read its baseline fails closed
    with pytest.raises(UserError, match=r"^cannot read 127\.0\.0\.1:9/x:gptoss-h100\.measured: ConnectionError"):
        artifacts.pull_measured("127.0.0.1:9/x:gptoss-h100")


@pytest.mark.docker  # promote asks the engine for the registry's digests
@pytest.mark.registry
def test_promote_refuses_an_image_that_measured_worse_and_says_why(registry, tmp_path):
    repo = f"{registry}/gated"
    before = {"bench": {"output_throughput_per_gpu": 5000.0, "median_ttft_ms": 100.0, "median_tpot_ms": 10.0},
              "evals": []}
    artifacts.push_measured(f"{repo}:gptoss-h100", before)
    results.write(tmp_path, results.ImageResult("h100", True, f"{repo}:gptoss-h100-vllm0.33.0-20261126",
                                                f"{repo}:gptoss-h100", "sha256:x", 1, 1.0))
    evals_ = [{"eval": "gpqa", "score": 60.0, "recipe": 56.8, "tolerance": 10.1, "passed": True, "errors": 0,
               "model": "20b", "effort": "low"}]
    results.write(tmp_path, results.GpuResult("h100", "passed", "served", {
        "output_throughput_per_gpu": 3500.0, "median_ttft_ms": 120.0, "median_tpot_ms": 12.5, "failed": 0}, evals_))
    done = run_build("promote", "--results", str(tmp_path), "--registry", repo)
    assert done.returncode == 1
    assert ("h100     not published: throughput fell 30% (5000 -> 3500 output tok/s per GPU), more than 10%"
            in done.stdout)
    summary = run_build("summary", "--results", str(tmp_path)).stdout
    assert "| - | - | passed (served) | 3500 (5000) | 120 ms (100) | 12.5 ms (10.0) | 60.0 | - |" in summary
    loose = run_build("promote", "--results", str(tmp_path), "--registry", repo, "--max-throughput-drop", "0.5")
    assert "throughput fell" not in loose.stdout  # past the gate; the registry has no such image to promote


@pytest.mark.docker
@pytest.mark.parametrize("tool", ["gptoss-bench", "gptoss-bench --synthetic", "gptoss-eval", "gptoss-self-test"])
def test_the_image_runs_its_tools_and_they_teach(client, h100, tool):
    out = client.containers.run(h100[0].id, [*tool.split(), "--help"], remove=True, network_mode="none").decode()
    assert out.startswith(f"usage: {tool}") and "examples:" in out and "exit codes:" in out
