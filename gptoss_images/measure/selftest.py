"""gptoss-self-test: prove on this machine's GPUs, without weights, that the image's exact command serves.

It writes a synthetic gpt-oss (the real architecture and MXFP4 checkpoint format at a
tiny size, seeded: the same bytes every time) and its tokenizer into the cache, starts
vLLM with the command `gptoss-serve --dry-run` prints for the same options (only the
model path and the served name changed), waits for /health, then asks every endpoint,
reads the metrics, runs a short `vllm bench serve` at the scenario's concurrency and
reads the start-up phases from vLLM's log. Each check prints one line, as `--check`
does; the report is written as JSON beside vLLM's log.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from gptoss_images.core import caches, inputs, runtime, vllm_api
from gptoss_images.core.inputs import BadInput
from gptoss_images.launcher import checks
from gptoss_images.launcher import main as launcher
from gptoss_images.launcher import profile as profile_file
from gptoss_images.launcher.checks import Result
from gptoss_images.measure import bench, common, models, probes, startup
from gptoss_images.measure.server import Vllm

PROG = "gptoss-self-test"
OTHER_ACTIONS = ("--dry-run", "--check", "--list-profiles", "--download", "--health")
"""gptoss-serve's other actions: each one runs alone."""
SYNTHETIC_LIKE = "openai/gpt-oss-20b"
"""The model whose architecture the synthetic one has, and so the one the self-test plans by default."""
SKIPPED = {"model": "the synthetic model needs no weights in the cache"}
"""Machine checks that do not apply to a synthetic model, and why."""
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
"""The synthetic model is local: nothing may be fetched, so nothing waits on a network."""
UNSERVABLE = {"speculative-config": "speculative decoding needs its draft model's weights ({model})"}
"""Settings a synthetic model cannot serve: left out of the command, reported as skipped."""

EXAMPLES = """\
examples:
  docker run --rm --gpus all --ipc=host -v gptoss-cache:/cache IMAGE --self-test
  docker run --rm --gpus all --ipc=host IMAGE --self-test --scenario max-throughput --function-calling
  docker run --rm --gpus all --ipc=host IMAGE --self-test --model openai/gpt-oss-120b --json

It takes the options gptoss-serve takes (scenario, model, TP, hardware options, extra vLLM
flags) and serves what they plan. The synthetic model has gpt-oss-20b's architecture (120b's
expert count with --model openai/gpt-oss-120b) at hidden size 1,024 and two layers, so
it proves that the image's vLLM, kernels and settings serve on these GPUs; speed and
accuracy need the real weights (gptoss-bench, gptoss-eval).
exit codes: 0 every check passed, 1 a check failed, 2 bad input, 3 a machine check failed.
"""


def options(parser: argparse.ArgumentParser) -> None:
    """gptoss-self-test's own options, beside gptoss-serve's."""
    group = parser.add_argument_group("self-test")
    group.add_argument("--report-dir", metavar="DIR", help="where the report and vLLM's log go "
                                                           "(default <cache>/self-test)")
    group.add_argument("--bench-prompts", type=_integer(1, 1_000_000), metavar="N",
                       help="requests of the short benchmark (default: the scenario's concurrency, one wave)")
    group.add_argument("--bench-output-len", type=_integer(1, 100_000), default=256, metavar="N",
                       help="output tokens per benchmark request (default 256; prompts are the recipe's 1024)")
    group.add_argument("--health-timeout", type=_integer(10, 7200), default=1800, metavar="S",
                       help="seconds to wait for /health (default 1800)")
    group.add_argument("--size", choices=["tiny", "full"], default="tiny",
                       help="the synthetic model's size: tiny (default) or full (the real shapes, 13-65 GB)")


def _integer(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            return inputs.integer(low, high)(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: must be {exc}") from None
    return parse


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None,
         machine: checks.Machine | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    environ = dict(os.environ if environ is None else environ)
    machine = machine or checks.Machine()
    if "-h" in argv or "--help" in argv:
        return _help(argv, environ, machine)
    try:
        other = [a for a in argv if a.split("=", 1)[0] in OTHER_ACTIONS]
        if other:
            raise BadInput(f"{other[0]}: not with the self-test; run gptoss-serve {other[0]} on its own")
        held = profile_file.load(argv, environ, lambda vendor: machine.gpus(vendor)[0])
        resolved = launcher.resolve(argv, with_model(argv, environ, held), machine, options)
        argv_, env, skipped = command(resolved, environ)
        vocab = models.vocab(env, environ)
    except (BadInput, vllm_api.Rejected) as exc:
        return common.fail(PROG, launcher.redact(str(exc), argv, environ))
    profile, plan, ns = resolved.profile, resolved.plan, resolved.ns
    out = sys.stderr if ns.json else sys.stdout  # with --json, stdout holds the report alone
    machine_checks = [_waived(r, resolved.skip) for r in checks.run(profile, plan, environ, machine)]
    for result in machine_checks:
        print(line(result), file=out, flush=True)
    failed = [r.name for r in machine_checks if r.status == "fail"]
    if failed:
        print(f"{PROG}: error: machine check failed: {', '.join(failed)}. To test anyway: --skip-checks "
              f"{','.join(failed)}", file=sys.stderr)
        return 3
    folder = Path(ns.report_dir or os.path.join(caches.root(environ)[0], "self-test"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return common.fail(PROG, f"--report-dir {str(folder)!r}: cannot create it ({exc.strerror})")
    stamp = f"{profile['name']}-{plan.scenario}-{time.strftime('%Y%m%d-%H%M%S')}"
    report = Report(profile, plan, argv_, env, folder / f"self-test-{stamp}.json", folder / f"vllm-{stamp}.log", out)
    report.results += machine_checks + skipped
    model_dir = Path(caches.root(environ)[0], "self-test", "model")
    if report.record(models.write(model_dir, vocab, plan.model, ns.size, env)).status == "pass":
        serve(report, model_dir, ns, environ)
    report.save()
    print(f"{PROG}: {report.verdict()}; report {report.path}, vLLM's log {report.log}", file=sys.stderr)
    if ns.json:
        print(json.dumps(report.as_dict(), indent=2))
    return 0 if report.passed else 1


def command(resolved: launcher.Resolved, environ: Mapping[str, str]) -> tuple[list[str], dict[str, str], list[Result]]:
    """The served command with the model path left as MODEL and the served name set, its environment,
    and the settings left out (a skip line each)."""
    plan = resolved.plan
    skipped, settings = [], {}
    for key, value in plan.settings.items():
        why = UNSERVABLE.get(vllm_api.resolve(resolved.api, f"--{key}")[0])
        if why:
            skipped.append(Result("skip", key, why.format(**(value if isinstance(value, dict) else {}))))
        else:
            settings[key] = value
    settings.setdefault("served-model-name", plan.model)
    argv = ["vllm", "serve", "MODEL", "--tensor-parallel-size", str(plan.tp)]
    if plan.dp > 1:
        argv += ["--data-parallel-size", str(plan.dp)]
    for key, value in settings.items():
        argv += vllm_api.argv_of(key, value)
    env = {k: v for k, v in environ.items() if k not in plan.unset} | plan.env | OFFLINE
    return argv, env, skipped


class Report:
    """The self-test's lines as they come, and the JSON report they make."""

    def __init__(self, profile: dict, plan: Any, argv: list[str], env: dict[str, str], path: Path, log: Path,
                 out: TextIO) -> None:
        self.profile, self.plan, self.argv, self.env, self.path, self.log = profile, plan, argv, env, path, log
        self.out = out
        self.results: list[Result] = []
        self.seconds: dict[str, float] = {}
        self.phases: dict[str, float] = {}
        self.bench: dict[str, Any] = {}
        self.started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def record(self, result: Result, seconds: float | None = None) -> Result:
        self.results.append(result)
        if seconds is not None:
            self.seconds[result.name] = round(seconds, 3)
        print(line(result), file=self.out, flush=True)
        return result

    @property
    def passed(self) -> bool:
        return all(r.status in ("pass", "warn", "skip") for r in self.results)

    def verdict(self) -> str:
        failed = [r.name for r in self.results if r.status == "fail"]
        return "every check passed" if not failed else f"failed: {', '.join(failed)}"

    def as_dict(self) -> dict[str, Any]:
        shown = {k: "<hidden>" if k in self.plan.secrets else v for k, v in self.plan.env.items()}
        return {"profile": self.profile["name"], "vllm": self.profile["stack"]["vllm"], "scenario": self.plan.scenario,
                "model": self.plan.model, "tensor_parallel_size": self.plan.tp, "started": self.started,
                "argv": self.argv, "env": shown, "passed": self.passed,
                "checks": [{"name": r.name, "status": r.status, "message": r.message,
                            **({"seconds": self.seconds[r.name]} if r.name in self.seconds else {})}
                           for r in self.results],
                "startup": self.phases, "bench": self.bench}

    def save(self) -> None:
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(self.as_dict(), indent=2) + "\n")
        partial.rename(self.path)


def serve(report: Report, model_dir: Path, ns: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Start vLLM on the synthetic model, probe it, benchmark it, stop it."""
    argv = [str(model_dir) if word == "MODEL" else word for word in report.argv]
    report.argv = argv
    port = int(report.plan.settings.get("port", runtime.PORT))
    server = probes.Server(f"http://127.0.0.1:{port}", str(report.plan.settings.get("served-model-name",
                                                                                     report.plan.model)),
                           common.api_key(environ))
    print(f"{PROG}: {' '.join(map(shlex.quote, argv))}", file=sys.stderr, flush=True)
    vllm = Vllm(argv, report.env, report.log, port)
    try:
        vllm.start()
    except FileNotFoundError:
        report.record(Result("fail", "start", f"{argv[0]} not found on PATH"))
        return
    with vllm:
        healthy = vllm.wait_healthy(ns.health_timeout, _waiting)
        report.phases = vllm.phases()
        if healthy is None:
            report.record(Result("fail", "start", vllm.why_not(ns.health_timeout)))
            return
        report.phases["healthy_s"] = round(healthy, 1)
        report.record(Result("pass", "start", startup.describe(report.phases)), healthy)
        for name, probe in probes.PROBES.items():
            if name == "tools" and "tool-call-parser" not in report.plan.settings:
                report.record(Result("skip", name, "function calling is off in this command "
                                                   "(GPTOSS_FUNCTION_CALLING=1 or --function-calling)"))
                continue
            report.record(*probes.run(name, lambda p=probe: p(server)))
        wanted = list(runtime.METRICS_READ)
        declared = sorted(vllm_api.metric_names(report.profile["stack"]["vllm"]) or [])
        report.record(*probes.run("metrics", lambda: probes.metrics(server, wanted, declared)))
        report.record(*_bench(report, server, model_dir, ns))


def _waiting(seconds: float) -> None:
    print(f"{PROG}: waiting for /health ({seconds:.0f} s)", file=sys.stderr, flush=True)


def _bench(report: Report, server: probes.Server, model_dir: Path, ns: argparse.Namespace) -> tuple[Result, float]:
    """A short `vllm bench serve`: the recipe's random prompts, --ignore-eos, the scenario's concurrency."""
    slots = bench.concurrency(report.profile, report.plan)
    prompts = ns.bench_prompts or slots
    name = report.path.stem.replace("self-test-", "bench-")
    path = report.path.parent / f"{name}.json"
    argv = bench.command(server.url, server.model, str(model_dir), slots, prompts, bench.INPUT_LEN,
                         ns.bench_output_len, str(report.path.parent), path.name, 0)
    print(f"{PROG}: {' '.join(map(shlex.quote, argv))}", file=sys.stderr, flush=True)
    started = time.monotonic()
    result = bench.run(argv, report.env, server.key, report.log.with_name(f"{name}.log"), path)
    seconds = time.monotonic() - started
    if result is None:
        return Result("fail", "bench", f"vllm bench serve failed (see {name}.log)"), seconds
    kept = bench.summary(result, report.plan.tp * report.plan.dp, report.profile["name"], report.plan)
    report.bench = kept
    line = (f"{kept['completed']} of {kept['num_prompts']} requests at concurrency {slots}, "
            f"{kept['output_throughput']:.0f} output tok/s, median TTFT {kept['median_ttft_ms']:.0f} ms, "
            f"TPOT {kept['median_tpot_ms']:.1f} ms")
    return Result("pass" if kept["failed"] == 0 else "fail", "bench", line), seconds


def line(result: Result) -> str:
    """A check as --check prints it, with room for the self-test's longer names."""
    return f"{result.status.upper():4}  {result.name:16} {result.message}"


def _waived(result: Result, skip: set[str]) -> Result:
    """A machine check as the self-test counts it: not for a synthetic model, or skipped by the user."""
    if result.name in SKIPPED:
        return Result("skip", result.name, SKIPPED[result.name])
    if result.status == "fail" and ({"all", result.name} & skip):
        return Result("skip", result.name, f"skipped (--skip-checks): {result.message}")
    return result


def with_model(argv: list[str], environ: dict[str, str], profile: dict[str, Any]) -> dict[str, str]:
    """The environment with the model the synthetic one stands in for: the user's, else the profile's 20b
    (the synthetic model's architecture), else the profile's default."""
    given = "GPTOSS_MODEL" in environ or any(a == "--model" or a.startswith("--model=") for a in argv)
    if given or SYNTHETIC_LIKE not in profile["models"]:
        return environ
    return environ | {"GPTOSS_MODEL": SYNTHETIC_LIKE}


def _help(argv: list[str], environ: dict[str, str], machine: checks.Machine) -> int:
    try:
        profile = profile_file.load(argv, environ, lambda vendor: machine.gpus(vendor)[0])
    except BadInput as exc:
        return common.fail(PROG, str(exc))
    parser = tool_parser(profile, options)
    parser.prog, parser.description, parser.epilog = PROG, __doc__.split("\n\n", 1)[1], EXAMPLES
    parser.print_help()
    return 0


def tool_parser(profile: dict[str, Any], extend: Callable[[argparse.ArgumentParser], None]
                ) -> argparse.ArgumentParser:
    """The launcher's parser with a tool's own options, less gptoss-serve's other actions (which the tool refuses):
    what its --help teaches."""
    parser = launcher.make_parser(profile)
    extend(parser)
    for action in parser._actions:
        if any(flag in OTHER_ACTIONS for flag in action.option_strings):
            action.help = argparse.SUPPRESS
    return parser

