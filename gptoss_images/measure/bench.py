"""gptoss-bench: the recipe's `vllm bench serve` against a server with a scenario's settings, offline.

The recipe's benchmark: random prompts of 1024 tokens, 1024 tokens out with
--ignore-eos, --max-concurrency equal to the server's max-num-seqs and five times as
many prompts. The tokenizer comes from the model cache the server filled (or a folder
given); nothing is downloaded. The result JSON is saved; the recipe's table is printed
with the output throughput per GPU, the number the recipe compares configurations by.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gptoss_images.core import inputs
from gptoss_images.core.inputs import BadInput
from gptoss_images.core.plan import Plan
from gptoss_images.measure import common

PROG = "gptoss-bench"
INPUT_LEN = OUTPUT_LEN = 1024
PROMPTS_PER_SLOT = 5
PERCENTILES = "ttft,tpot,itl,e2el"
LARGE_GPU_GIB = 70
"""vLLM (0.10.2 to 0.33.0, EngineArgs' defaults) runs 1024 sequences on GPUs of 70 GiB or more
except A100s, 256 elsewhere, at most max-num-batched-tokens: the concurrency when no
scenario sets max-num-seqs."""

EXAMPLES = f"""\
examples:
  docker exec SERVER gptoss-bench                     the server of that container, its own scenario
  docker run --rm --network host -v gptoss-cache:/cache IMAGE gptoss-bench --scenario max-throughput
  kubectl exec deploy/gptoss-h100-120b-balanced -- gptoss-bench
  gptoss-bench --url http://gptoss:8000 --num-prompts 200     a short run against another host
  gptoss-bench --dry-run                              print the vllm bench command, run nothing

The defaults are the recipe's: --random-input-len {INPUT_LEN} --random-output-len {OUTPUT_LEN} --ignore-eos,
--max-concurrency = the scenario's max-num-seqs, --num-prompts = {PROMPTS_PER_SLOT} x that. The result JSON
goes to <cache>/bench/ (or --result-dir); --json prints the summary as JSON.
exit codes: 0 ok, 1 the benchmark failed or lost requests, 2 bad input.
"""


def parser() -> common.Parser:
    p = common.Parser(prog=PROG, description=__doc__.split("\n\n", 1)[1], epilog=EXAMPLES)
    common.add_server_options(p)
    p.add_argument("--max-concurrency", type=_positive, metavar="N",
                   help="requests in flight (default: the scenario's max-num-seqs)")
    p.add_argument("--num-prompts", type=_positive, metavar="N",
                   help=f"requests in all (default {PROMPTS_PER_SLOT} x --max-concurrency)")
    p.add_argument("--input-len", type=_positive, default=INPUT_LEN, metavar="N", help="prompt tokens")
    p.add_argument("--output-len", type=_positive, default=OUTPUT_LEN, metavar="N", help="output tokens")
    p.add_argument("--gpus", type=_positive, metavar="N",
                   help="GPUs behind the URL, for the per-GPU throughput (default: the scenario's TP)")
    p.add_argument("--tokenizer", metavar="DIR",
                   help="a tokenizer folder (default: the model's, from the Hugging Face cache under /cache)")
    p.add_argument("--result-dir", metavar="DIR", help="where the result JSON goes (default <cache>/bench)")
    p.add_argument("--seed", type=int, default=0, help="the random prompts' seed (default 0)")
    p.add_argument("--dry-run", action="store_true", help="print the vllm bench command, run nothing")
    p.add_argument("--json", action="store_true", help="print the summary as JSON instead of the table")
    return p


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None,
         run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> int:
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    if "--synthetic" in argv:  # serve a synthetic model itself, tuned and vLLM's defaults
        from gptoss_images.measure import versus
        return versus.main(argv, environ)
    try:
        ns = parser().parse_args(argv)
        profile, plan, url, served = common.target(ns, environ, ask=not ns.dry_run)
        slots = ns.max_concurrency or concurrency(profile, plan)
        prompts = ns.num_prompts or PROMPTS_PER_SLOT * slots
        tokenizer = ns.tokenizer or cached_tokenizer(plan.model, plan.env.get("HF_HOME") or environ.get("HF_HOME"))
        folder = common.output_dir(ns.result_dir, environ, "bench")
        size = plan.model.rsplit("-", 1)[-1]
        name = f"bench-{profile['name']}-{size}-{plan.scenario}-{time.strftime('%Y%m%d-%H%M%S')}"
        argv_ = command(url, served, tokenizer, slots, prompts, ns.input_len, ns.output_len, folder, f"{name}.json",
                        ns.seed)
    except BadInput as exc:
        return common.fail(PROG, str(exc))
    if ns.dry_run:
        print(" ".join(map(shlex.quote, argv_)))
        return 0
    env = dict(environ) | plan.env | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    key = common.api_key(environ)
    if key:
        env["OPENAI_API_KEY"] = key  # vllm bench sends it as the bearer token
    print(f"{PROG}: {' '.join(map(shlex.quote, argv_))}", file=sys.stderr, flush=True)
    try:
        done = run(argv_, env=env, stdout=sys.stderr)
    except FileNotFoundError:
        return common.fail(PROG, "vllm not found on PATH: run gptoss-bench in a gptoss image")
    path = Path(folder, f"{name}.json")
    if done.returncode != 0 or not path.is_file():
        print(f"{PROG}: error: vllm bench serve failed (exit {done.returncode})", file=sys.stderr)
        return 1
    result = json.loads(path.read_text())
    kept = summary(result, ns.gpus or plan.tp * plan.dp, profile["name"], plan)
    path.with_suffix(".summary.json").write_text(json.dumps(kept, indent=2) + "\n")
    print(json.dumps(kept, indent=2) if ns.json else table(result, kept))
    print(f"{PROG}: saved {path} and {path.with_suffix('.summary.json')}", file=sys.stderr)
    return 0 if kept["failed"] == 0 else 1


def concurrency(profile: dict[str, Any], plan: Plan) -> int:
    """The sequences the server runs at once: max-num-seqs (the plan's, else vLLM's default for this GPU) per
    data-parallel replica, since each replica's engine schedules its own (vLLM 0.10.2 to 0.33.0: every DP
    rank runs a scheduler of its own over the scheduler config's max_num_seqs)."""
    if "max-num-seqs" in plan.settings:
        per_replica = int(plan.settings["max-num-seqs"])
    else:
        gpu = profile["gpu"]
        default = 1024 if gpu["memory_gib"] >= LARGE_GPU_GIB and gpu["model"] != "A100" else 256
        per_replica = min(default, int(plan.settings.get("max-num-batched-tokens", default)))
    return per_replica * getattr(plan, "dp", 1)


def cached_tokenizer(model: str, hf_home: str | None) -> str:
    """The model's tokenizer folder: a local model folder itself, else its snapshot in the cache."""
    if os.path.isdir(model):
        return model
    home = hf_home or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    repo = Path(home, "hub", "models--" + model.replace("/", "--"))
    ref = repo / "refs" / "main"
    snapshots = [repo / "snapshots" / ref.read_text().strip()] if ref.is_file() else sorted(
        (repo / "snapshots").glob("*"))
    for snapshot in snapshots:
        if (snapshot / "tokenizer.json").is_file() or (snapshot / "tokenizer_config.json").is_file():
            return str(snapshot)
    raise BadInput(f"the tokenizer of {model} is not in the model cache ({home}): run the benchmark where the "
                   "server's cache is mounted (-v gptoss-cache:/cache), or give --tokenizer DIR; "
                   "gptoss-bench never downloads")


def command(url: str, served: str, tokenizer: str, slots: int, prompts: int, input_len: int, output_len: int,
            folder: str, filename: str, seed: int) -> list[str]:
    return ["vllm", "bench", "serve", "--backend", "openai", "--base-url", url, "--endpoint", "/v1/completions",
            "--model", served, "--tokenizer", tokenizer, "--dataset-name", "random",
            "--random-input-len", str(input_len), "--random-output-len", str(output_len), "--ignore-eos",
            "--max-concurrency", str(slots), "--num-prompts", str(prompts), "--seed", str(seed),
            "--percentile-metrics", PERCENTILES, "--metric-percentiles", "50,99",
            "--save-result", "--result-dir", folder, "--result-filename", filename]


def run(argv: list[str], env: Mapping[str, str], key: str | None, log: Path, result: Path) -> dict[str, Any] | None:
    """Run `vllm bench serve` (its output to `log`); its result JSON, or None if it failed."""
    env = dict(env) | ({"OPENAI_API_KEY": key} if key else {})  # vllm bench sends it as the bearer token
    with log.open("w") as out:
        try:
            done = subprocess.run(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        except FileNotFoundError:
            return None
    if done.returncode != 0 or not result.is_file():
        return None
    return json.loads(result.read_text())


def summary(result: dict[str, Any], gpus: int, profile: str, plan: Plan) -> dict[str, Any]:
    """The numbers kept and compared night after night."""
    return {"profile": profile, "model": plan.model, "scenario": plan.scenario, "tp": plan.tp,
            **figures(result, gpus)}


def figures(result: dict[str, Any], gpus: int) -> dict[str, Any]:
    """A result's requests, throughputs (per GPU too) and latency percentiles."""
    prompts = int(result.get("num_prompts") or 0)
    completed = int(result.get("completed") or 0)
    return {
        "gpus": gpus, "max_concurrency": result.get("max_concurrency"), "num_prompts": prompts,
        "completed": completed, "failed": max(prompts - completed, 0) if prompts else 0,
        "duration_s": result.get("duration"),
        "request_throughput": result.get("request_throughput"),
        "output_throughput": result.get("output_throughput"),
        "output_throughput_per_gpu": (result.get("output_throughput") or 0) / gpus,
        "total_token_throughput": result.get("total_token_throughput"),
        **{f"{stat}_{metric}_ms": result.get(f"{stat}_{metric}_ms")
           for metric in PERCENTILES.split(",") for stat in ("mean", "median", "p99")},
    }


def table(result: dict[str, Any], kept: dict[str, Any]) -> str:
    """The recipe's table, with the throughput per GPU after the throughputs."""
    rows: list[tuple[str, Any]] = [
        ("Successful requests", kept["completed"]), ("Benchmark duration (s)", result.get("duration")),
        ("Total input tokens", result.get("total_input_tokens")),
        ("Total generated tokens", result.get("total_output_tokens")),
        ("Request throughput (req/s)", result.get("request_throughput")),
        ("Output token throughput (tok/s)", result.get("output_throughput")),
        ("Total Token throughput (tok/s)", result.get("total_token_throughput")),
        (f"Output tok/s per GPU ({kept['gpus']} GPU{'s' if kept['gpus'] > 1 else ''})",
         kept["output_throughput_per_gpu"])]
    lines = [f"{' Serving Benchmark Result ':=^50}"] + [_row(k, v) for k, v in rows]
    titles = {"ttft": "Time to First Token", "tpot": "Time per Output Token (excl. 1st token)",
              "itl": "Inter-token Latency", "e2el": "End-to-end Latency"}
    for metric, title in titles.items():
        lines.append(f"{' ' + title + ' ':-^50}")
        for stat, label in (("mean", "Mean"), ("median", "Median"), ("p99", "P99")):
            lines.append(_row(f"{label} {metric.upper()} (ms)", result.get(f"{stat}_{metric}_ms")))
    lines.append("=" * 50)
    return "\n".join(lines)


def _row(label: str, value: Any) -> str:
    text = "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)
    return f"{label + ':':<40} {text}"


def _positive(text: str) -> int:
    try:
        return inputs.integer(1, 10_000_000)(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
