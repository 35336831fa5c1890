"""On a GPU machine: the image's machine check, its self-test, a short real serve of gpt-oss-20b, its measures.

The self-test (a synthetic model: no weights) must pass before the weights are touched;
on a new vLLM release, the synthetic benchmark then measures the profile's settings
against vLLM's defaults (`gptoss-bench --synthetic --against-defaults`, every scenario
these GPUs run), for promote's gates;
/v1/models and one chat completion must answer before a floating tag may move; then
gptoss-bench (a short run of the recipe's benchmark) and gptoss-eval (GPQA and AIME25 at
low effort, each question once) run inside the server's container, and promote's gates
judge their numbers.
"""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
from docker.types import DeviceRequest

from gptoss_images.core import runtime, vendors
from gptoss_images.errors import UserError
from gptoss_images.image import tags
from gptoss_images.profiles.schema import Profile
from gptoss_images.publish import artifacts, results

SERVE_MODEL = "openai/gpt-oss-20b"
BENCH = ["gptoss-bench", "--json", "--max-concurrency", "64", "--num-prompts", "320"]
"""The nightly's bench: fixed, so that nights compare; short (a few minutes on one GPU)."""
EVALS = ["gptoss-eval", "--json", "--eval", "gpqa,aime25", "--reasoning-effort", "low", "--repeats", "2"]
"""Twice over each question: AIME25's 30 questions once (30 samples) cannot tell gpt-oss-20b's 38.8 from half of
it, 60 can (evals.samples_to_judge: 57)."""
EVAL_DATA = "/opt/gptoss-evals"


@dataclass(frozen=True)
class Outcome:
    ok: bool
    detail: str
    bench: dict[str, Any] = field(default_factory=dict)
    evals: list[dict[str, Any]] = field(default_factory=list)
    selftest: dict[str, Any] = field(default_factory=dict)
    versus: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """How `build.py gpu-test` was asked to check one profile's image."""

    image: str | None
    """The image (default: the immutable tag pushed in `results`, else REPO:gptoss-<profile>)."""
    repo: str
    results: Path | None
    env: dict[str, str]
    with_gpu: bool = True
    measure: bool = True
    hf_cache: Path | None = None
    eval_data: Path | None = None
    against_defaults: str = "never"
    """never, always, or new-release (once per vLLM release: the published image's verdicts otherwise)."""
    registry: str | None = None


def job(client: docker.DockerClient, profile: Profile, check: Check) -> results.GpuResult:
    """The GPU job of one profile: which image, whether to compare with vLLM's defaults, the run, the lines
    it prints and the result it writes."""
    image = check.image
    if image is None and check.results:
        pushed = results.read(check.results, profile.name, "image")
        image = pushed.immutable if pushed and pushed.ok else None
        if image is None:
            print(f"error: {check.results}: no pushed image of {profile.name} to check", file=sys.stderr)
            failed = results.GpuResult(profile.name, "failed", "no image")
            results.write(check.results, failed)
            return failed
    image = image or tags.floating(check.repo, profile.name)
    carried = None
    if check.against_defaults == "new-release":
        if not check.registry:
            raise UserError("--against-defaults new-release: give --registry, where the last published image's "
                            "measurements are")
        carried = measured_versus(tags.floating(check.registry, profile.name), profile.stack.vllm)
    compare = check.against_defaults == "always" or (check.against_defaults == "new-release" and carried is None)
    outcome = run(client, image, profile, check.with_gpu, check.env, measure=check.measure, hf_cache=check.hf_cache,
                  eval_data=check.eval_data, against_defaults=compare)
    versus = outcome.versus or carried or {}
    name = profile.name
    if outcome.selftest:
        print(f"[{name}] self-test {'passed' if outcome.selftest['passed'] else 'FAILED'}: "
              f"{results.startup_text(outcome.selftest)}")
    if versus:
        print(f"[{name}] against vLLM's defaults: {results.versus_text(versus)}")
    print(f"[{name}] gpu-test {'passed' if outcome.ok else 'FAILED'}: {outcome.detail}")
    if outcome.bench:
        print(f"[{name}] bench: {outcome.bench['output_throughput_per_gpu']:.0f} output tok/s per GPU, "
              f"TTFT p50 {outcome.bench['median_ttft_ms']:.0f} ms, TPOT p50 {outcome.bench['median_tpot_ms']:.1f} ms")
    for o in outcome.evals:
        print(f"[{name}] eval: {o['eval']} {o['score']:.1f} (recipe {o['recipe']}, {o['samples']} answers)")
    result = results.GpuResult(name, "passed" if outcome.ok else "failed", outcome.detail, outcome.bench,
                               outcome.evals, outcome.selftest, versus)
    if check.results:
        results.write(check.results, result)
    return result


def selftest_summary(report: dict[str, Any]) -> dict[str, Any]:
    """What the results keep of a self-test's report: the verdict, the failed checks, the start-up phases."""
    return {"passed": bool(report.get("passed")), "startup": report.get("startup") or {},
            "failed": [f"{c['name']} ({c['message'][:120]})" for c in report.get("checks") or []
                       if c.get("status") == "fail"]}


def _gpu_options(profile: Profile) -> dict:
    """docker-py's form of the vendor's `docker run` flags."""
    vendor = vendors.of(profile.gpu.vendor)
    if vendor.docker_gpus:
        return {"device_requests": [DeviceRequest(count=-1, capabilities=[["gpu"]])]}
    return {"devices": [f"{d}:{d}" for d in vendor.device_files], "group_add": list(vendor.groups)}


def run(client: docker.DockerClient, image: str, profile: Profile, with_gpu: bool = True,
        env: dict[str, str] | None = None, timeout_s: float = 1800, measure: bool = True,
        hf_cache: Path | None = None, eval_data: Path | None = None, against_defaults: bool = False) -> Outcome:
    """`--check` must pass, then the server must answer /v1/models and one chat completion; with
    `measure`, the bench and the evals run against it. `hf_cache` (default ~/.cache/huggingface)
    is the image's Hugging Face cache; `eval_data` holds the eval datasets (default: downloaded)."""
    options = _gpu_options(profile) if with_gpu else {}
    hf_cache = hf_cache or Path.home() / ".cache" / "huggingface"
    volumes = {str(hf_cache): {"bind": "/cache/huggingface", "mode": "rw"}} if hf_cache.is_dir() else {}
    if eval_data:
        volumes[str(eval_data.resolve())] = {"bind": EVAL_DATA, "mode": "ro"}
    env = {"GPTOSS_MODEL": SERVE_MODEL, "GPTOSS_TENSOR_PARALLEL_SIZE": "1", **(env or {})}
    if with_gpu:
        checked = client.containers.run(image, ["--check"], remove=False, detach=True, ipc_mode="host",
                                        environment=env, volumes=volumes, **options)
        try:
            code = checked.wait(timeout=300)["StatusCode"]
            lines = checked.logs().decode(errors="replace")
        finally:
            checked.remove(force=True)
        if code != 0:
            failed = [line for line in lines.splitlines() if line.startswith("FAIL")]
            return Outcome(False, f"--check failed: {'; '.join(failed) or lines[-300:]}")
        tested = selftest(client, image, env, volumes, options, timeout_s)
        if not tested["passed"]:
            return Outcome(False, f"self-test failed: {'; '.join(tested['failed']) or tested.get('error', '')}",
                           selftest=tested)
    else:
        tested = {}
    compared = versus(client, image, env, volumes, options, timeout_s, profile.stack.vllm) if against_defaults else {}
    port = _free_port()
    inside = env.get("GPTOSS_PORT", str(runtime.PORT))  # where the server listens in the container
    server = client.containers.run(image, [], detach=True, ipc_mode="host", environment=env, volumes=volumes,
                                   ports={f"{inside}/tcp": ("127.0.0.1", port)}, **options)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        models = None
        while time.monotonic() < deadline:
            server.reload()
            if server.status == "exited":
                return Outcome(False, f"the server exited: {server.logs(tail=20).decode(errors='replace')}")
            models = _get_json(f"{base}/v1/models")
            if models:
                break
            time.sleep(2)
        if not models:
            return Outcome(False, f"/v1/models did not answer within {timeout_s:.0f} s")
        name = models["data"][0]["id"]
        reply = _post_json(f"{base}/v1/chat/completions", {
            "model": name, "max_tokens": 64,
            "messages": [{"role": "user", "content": "Say hello in one word."}]})
        message = ((reply or {}).get("choices") or [{}])[0].get("message") or {}
        text = message.get("content") or message.get("reasoning_content") or ""
        if not text:
            return Outcome(False, f"the chat completion returned no text: {json.dumps(reply)[:300]}")
        served = f"served {name}: {text.strip()[:60]!r}"
        if not measure:
            return Outcome(True, served, selftest=tested, versus=compared)
        bench, problem = _exec_json(server, BENCH)
        if problem:
            return Outcome(False, f"{served}; gptoss-bench failed: {problem}", selftest=tested, versus=compared)
        evals, problem = _exec_json(server, EVALS + (["--data", EVAL_DATA] if eval_data else []))
        if problem:
            return Outcome(False, f"{served}; gptoss-eval failed: {problem}", bench, selftest=tested,
                           versus=compared)
        return Outcome(True, served, bench, evals, tested, compared)
    finally:
        server.remove(force=True)


def selftest(client: docker.DockerClient, image: str, env: dict[str, str], volumes: dict, options: dict,
             timeout_s: float, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """`--self-test --json` in the image, on the GPUs: its report, summarised (an error if it gave none)."""
    argv = ["--self-test", "--json", "--health-timeout", str(int(timeout_s)), *extra]
    container = client.containers.run(image, argv,
                                      detach=True, ipc_mode="host", environment=env, volumes=volumes, **options)
    try:
        code = container.wait(timeout=timeout_s + 600)["StatusCode"]
        out = container.logs(stdout=True, stderr=False).decode(errors="replace")
        err = container.logs(stdout=False, stderr=True).decode(errors="replace")
    finally:
        container.remove(force=True)
    try:
        return selftest_summary(json.loads(out))
    except ValueError:
        return {"passed": False, "startup": {}, "failed": [], "error": f"exit {code}: {err.strip()[-300:]}"}


def versus(client: docker.DockerClient, image: str, env: dict[str, str], volumes: dict, options: dict,
           timeout_s: float, vllm: str) -> dict[str, Any]:
    """`gptoss-bench --synthetic --against-defaults --scenario all --json` in the image, on the GPUs: the verdicts
    (an error if it gave none). Not a failure of the GPU check: promote's gates judge the verdicts."""
    argv = ["gptoss-bench", "--synthetic", "--against-defaults", "--scenario", "all", "--json", "--health-timeout",
            str(int(timeout_s))]
    container = client.containers.run(image, argv, detach=True, ipc_mode="host", environment=env, volumes=volumes,
                                      **options)
    try:
        code = container.wait(timeout=6 * timeout_s)["StatusCode"]
        out = container.logs(stdout=True, stderr=False).decode(errors="replace")
        err = container.logs(stdout=False, stderr=True).decode(errors="replace")
    finally:
        container.remove(force=True)
    try:
        report = json.loads(out)
        return {"vllm": report["vllm"], "verdicts": report["verdicts"]}
    except (ValueError, KeyError, TypeError):
        return {"vllm": vllm, "verdicts": [], "error": f"exit {code}: {err.strip()[-300:]}"}


def measured_versus(floating: str, vllm: str) -> dict[str, Any] | None:
    """The verdicts the published image (`floating`) was measured with, if they are of vLLM `vllm`: a release
    is compared with its defaults once, on its first night."""
    try:
        measured = artifacts.pull_measured(floating) or {}
    except UserError:
        return None
    earlier = measured.get("versus") or {}
    if earlier.get("vllm") != vllm or earlier.get("error"):
        return None
    return {**earlier, "carried": True}


def _exec_json(server: Any, command: list[str]) -> tuple[Any, str]:
    """Run a measuring command in the server's container; its JSON (stdout), or what went wrong.
    A non-zero exit with JSON (requests lost, a score below the recipe) is a result for the gates."""
    code, (out, err) = server.exec_run(command, demux=True)
    try:
        return json.loads(out or b""), ""
    except ValueError:
        return None, f"exit {code}: {(err or b'').decode(errors='replace').strip()[-300:]}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _post_json(url: str, body: dict) -> dict | None:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
