"""gptoss-bench --synthetic: the image's tuned settings against vLLM's defaults on these GPUs, with no weights.

It writes a full-size synthetic gpt-oss (the served model's real shapes and MXFP4 format,
seeded random values; kept in the cache and reused), serves it with the command
`gptoss-serve --dry-run` plans for each scenario chosen (only the model path changed),
and runs the recipe's benchmark at each scenario's load: random prompts of 1024 tokens,
1024 tokens out with --ignore-eos, the scenario's concurrency. With --against-defaults
it also serves vLLM's defaults at the same TP and measures them at every load, in the
same run: each row then has its ratio to the defaults. A scenario's server (and each
variant of it) is measured at that scenario's load; the defaults' server at every chosen
load it holds (a load no larger than its max-num-seqs); a server's first load after an unmeasured wave.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gptoss_images.core import caches, runtime, select, vllm_api
from gptoss_images.core.inputs import BadInput
from gptoss_images.launcher import checks
from gptoss_images.launcher import main as launcher
from gptoss_images.launcher import profile as profile_file
from gptoss_images.measure import bench, common, models, selftest, startup
from gptoss_images.measure.server import Vllm

PROG = "gptoss-bench --synthetic"
DEFAULTS = "vLLM defaults"
SHARE = "gpu-memory-utilization"
WAVES = 3
"""Prompts per load, in waves of its concurrency: 1,536 at 512, the recipe's run."""
WARM_UP_TOKENS = 16
WARM_UP_SEED = 1000
"""A warm-up wave's prompts: seeds from here, none a measured load's."""
"""Before a server's first measured run, one wave of the load's prompts with this many tokens out, not measured:
on the H200 a first wave of 8 right after start-up waited 0.9-1.9 s for its first token, a later one 0.07-0.16 s.
Later loads on the same server follow a measured one (each `vllm bench serve` costs about 20 s of start-up)."""
NOISE = 0.03
"""Ratios within 3 % of 1 are the same: what two runs of one server differ by."""
GOALS = {"throughput": "output tokens per second per GPU", "latency": "median time to first token and "
                                                                      "median inter-token latency"}

EXAMPLES = """\
examples:
  docker run --rm --gpus all --ipc=host -v gptoss-cache:/cache IMAGE gptoss-bench --synthetic --against-defaults
  gptoss-bench --synthetic --against-defaults --scenario max-throughput,min-latency --tensor-parallel-size 1
  gptoss-bench --synthetic --against-defaults --scenario all --model openai/gpt-oss-120b --json
  gptoss-bench --synthetic --scenario max-throughput --variant 'max-throughput: --max-cudagraph-capture-size 2048'

It takes the options gptoss-serve takes (model, TP, hardware options, extra vLLM flags);
--scenario takes a list or 'all' (every scenario, each planned for the GPUs found). The synthetic
model is written once into <cache>/synthetic (13 GB for 20b, 61 GB for 120b; --synthetic-dir
puts it elsewhere, e.g. /dev/shm) and reused. What it measures is the model's work per token:
the real shapes, kernels and settings. What only real weights measure: the acceptance rate of
speculative decoding (EAGLE3 is left out) and accuracy (gptoss-eval).
exit codes: 0 every server served and every request completed, 1 one did not, 2 bad input,
3 a machine check failed.
"""


@dataclass
class Load:
    """A scenario's benchmark load: its concurrency, prompts in waves of it."""

    scenario: str
    concurrency: int
    prompts: int
    layout: tuple[int, int] = (1, 1)
    """The TP and DP it is measured at: only servers of that layout take it."""


@dataclass
class Setting:
    """One server to start: vLLM's defaults, a scenario's command, or a variant of it."""

    label: str
    scenario: str | None
    argv: list[str]
    env: dict[str, str]
    slots: int
    """The most sequences it runs at once (its max-num-seqs): the largest load it is measured at."""
    port: int
    layout: tuple[int, int] = (1, 1)
    """Its TP and DP."""
    sets: dict[str, str] = field(default_factory=dict)
    """The variables its command sets (beyond the caller's environment): what the JSON records."""
    startup: dict[str, float] = field(default_factory=dict)
    error: str = ""


def options(parser: argparse.ArgumentParser) -> None:
    """The synthetic benchmark's own options, beside gptoss-serve's."""
    group = parser.add_argument_group("synthetic benchmark")
    group.add_argument("--synthetic", action="store_true", help="serve a full-size synthetic gpt-oss and measure it")
    group.add_argument("--against-defaults", action="store_true",
                       help="also serve vLLM's defaults at the same TP and measure them at every load")
    group.add_argument("--variant", action="append", default=[], metavar="'SCENARIO: FLAGS'",
                       help="also serve SCENARIO's command with these vLLM flags added (repeatable), e.g. "
                            "'max-throughput: --max-cudagraph-capture-size 2048'")
    group.add_argument("--waves", type=selftest._integer(1, 100), default=WAVES, metavar="N",
                       help=f"prompts per load: N x its concurrency (default {WAVES})")
    group.add_argument("--input-len", type=selftest._integer(1, 1_000_000), default=bench.INPUT_LEN, metavar="N",
                       help=f"prompt tokens (default {bench.INPUT_LEN})")
    group.add_argument("--output-len", type=selftest._integer(1, 1_000_000), default=bench.OUTPUT_LEN,
                       metavar="N", help=f"output tokens, --ignore-eos (default {bench.OUTPUT_LEN})")
    group.add_argument("--size", choices=["full", "tiny"], default="full",
                       help="the synthetic model: full (the real shapes, default) or tiny (a quick try)")
    group.add_argument("--synthetic-dir", metavar="DIR", help="where the synthetic model is kept "
                                                              "(default <cache>/synthetic)")
    group.add_argument("--result-dir", metavar="DIR", help="where results and logs go (default <cache>/bench)")
    group.add_argument("--health-timeout", type=selftest._integer(10, 7200), default=1800, metavar="S",
                       help="seconds to wait for each server's /health (default 1800)")


def main(argv: list[str], environ: Mapping[str, str], machine: checks.Machine | None = None) -> int:
    environ = dict(environ)
    machine = machine or checks.Machine()
    if "-h" in argv or "--help" in argv:
        return _help(argv, environ, machine)
    try:
        plan_ = plan(argv, environ, machine)
    except (BadInput, vllm_api.Rejected) as exc:
        return common.fail("gptoss-bench", launcher.redact(str(exc), argv, environ))
    first, settings, loads, ns = plan_
    out = sys.stderr if ns.json else sys.stdout
    results = [selftest._waived(r, first.skip) for r in checks.run(first.profile, first.plan, environ, machine)]
    for result in results:
        print(selftest.line(result), file=out, flush=True)
    failed = [r.name for r in results if r.status == "fail"]
    if failed:
        print(f"gptoss-bench: error: machine check failed: {', '.join(failed)}. To measure anyway: --skip-checks "
              f"{','.join(failed)}", file=sys.stderr)
        return 3
    try:
        vocab = models.vocab(first.plan.env, environ)
        folder = Path(common.output_dir(ns.result_dir, environ, "bench"),
                      f"synthetic-{first.profile['name']}-{first.plan.model.rsplit('-', 1)[-1]}-"
                      f"{time.strftime('%Y%m%d-%H%M%S')}")
        folder.mkdir(parents=True)
        parent = Path(ns.synthetic_dir or os.path.join(caches.root(environ)[0], "synthetic"))
    except (BadInput, OSError) as exc:
        return common.fail("gptoss-bench", str(exc))
    model_dir = models.kept_folder(parent, first.plan.model, ns.size)
    written = models.write(model_dir, vocab, first.plan.model, ns.size, settings[-1].env, reuse=True)
    print(selftest.line(written), file=out, flush=True)
    run = Run(first, settings, loads, ns, folder, model_dir, written.message,
              select.describe(_found(machine, first.profile)), out)
    if written.status == "pass":
        for number, setting in enumerate(settings, 1):
            run.serve(setting, f"[{number}/{len(settings)}]", common.api_key(environ))
    run.save()
    print(run.table(), file=out)
    print(f"gptoss-bench: results in {folder}", file=sys.stderr)
    if ns.json:
        print(json.dumps(run.as_dict(), indent=2))
    return 0 if written.status == "pass" and run.complete() else 1


def plan(argv: list[str], environ: dict[str, str], machine: checks.Machine
         ) -> tuple[launcher.Resolved, list[Setting], list[Load], argparse.Namespace]:
    """Every server to start and every load to measure, from the options."""
    other = [a for a in argv if a.split("=", 1)[0] in selftest.OTHER_ACTIONS]
    if other:
        raise BadInput(f"{other[0]}: not with --synthetic; run gptoss-serve {other[0]} on its own")
    held = profile_file.load(argv, environ, lambda vendor: machine.gpus(vendor)[0])
    rest, names = _scenarios(argv, environ, held, machine)
    env = {k: v for k, v in environ.items() if k != "GPTOSS_SCENARIO"}
    env = selftest.with_model(rest, env, held)
    resolved = {name: launcher.resolve([*rest, "--scenario", name], env, machine, options) for name in names}
    first = resolved[names[0]]
    ns = first.ns
    if not ns.synthetic:
        raise BadInput("give --synthetic: this mode serves a synthetic model")
    loads = {name: Load(name, c, ns.waves * c, (r.plan.tp, r.plan.dp)) for name, r in resolved.items()
             if (c := bench.concurrency(r.profile, r.plan))}
    layouts = {(r.plan.tp, r.plan.dp): r for r in resolved.values()}
    settings: list[Setting] = []
    if ns.against_defaults:  # one defaults server per layout the scenarios plan on these GPUs
        settings += [_defaults(r, env, len(layouts) > 1) for r in layouts.values()]
    for name, r in resolved.items():
        settings.append(_setting(f"{r.profile['name']} {name}", name, r, env))
    for text in ns.variant:
        name, _, flags = text.partition(":")
        name = name.strip()
        if name not in resolved:
            raise BadInput(f"--variant {text!r}: 'SCENARIO: FLAGS' with SCENARIO one of those measured "
                           f"({', '.join(names)})")
        try:
            words = shlex.split(flags)
        except ValueError as exc:
            raise BadInput(f"--variant {text!r}: {exc}") from None
        if not words:
            raise BadInput(f"--variant {text!r}: no flags after the scenario")
        varied = launcher.resolve([*rest, "--scenario", name, *words], env, machine, options)
        settings.append(_setting(f"{varied.profile['name']} {name} {' '.join(words)}", name, varied, env))
    unique: dict[tuple, Setting] = {}
    for setting in settings:
        unique.setdefault((tuple(setting.argv), tuple(sorted(setting.env.items()))), setting)
    return first, list(unique.values()), list(loads.values()), ns


def _scenarios(argv: list[str], environ: Mapping[str, str], profile: dict[str, Any], machine: checks.Machine
               ) -> tuple[list[str], list[str]]:
    """argv without --scenario, and the scenarios it (or GPTOSS_SCENARIO) names: a list, or 'all'."""
    rest, given = [], environ.get("GPTOSS_SCENARIO")
    words = iter(argv)
    for word in words:
        if word == "--scenario":
            given = next(words, None)
            if given is None:
                raise BadInput("--scenario: expected one argument")
        elif word.startswith("--scenario="):
            given = word.split("=", 1)[1]
        else:
            rest.append(word)
    known = list(profile["serve"]["scenarios"])
    if given == "all":  # each planned for these GPUs (the machine's plan)
        return rest, known
    names = [n.strip() for n in (given or "default").split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise BadInput(f"--scenario/GPTOSS_SCENARIO={given!r}: scenarios separated by commas, or 'all'; "
                       f"allowed: {', '.join(known)}")
    return rest, list(dict.fromkeys(names))


def _found(machine: checks.Machine, profile: dict[str, Any]) -> list:
    """The GPUs of the profile's vendor this machine has (none if its tool fails: the checks say why)."""
    try:
        return machine.gpus(profile["gpu"]["vendor"])[0]
    except (OSError, ValueError, subprocess.SubprocessError):
        return []


def _setting(label: str, scenario: str, resolved: launcher.Resolved, environ: Mapping[str, str]) -> Setting:
    argv, env, skipped = selftest.command(resolved, environ)
    for line in skipped:
        print(f"gptoss-bench: {label}: {line.name} left out: {line.message}", file=sys.stderr)
    return Setting(label, scenario, argv, env, bench.concurrency(resolved.profile, resolved.plan),
                   int(resolved.plan.settings.get("port", runtime.PORT)), (resolved.plan.tp, resolved.plan.dp),
                   resolved.plan.env | selftest.OFFLINE)


def _defaults(resolved: launcher.Resolved, environ: Mapping[str, str], named: bool = False) -> Setting:
    """vLLM's defaults at the plan's TP and DP (the same GPUs): no profile setting, no profile variable; where to
    listen kept, and the plan's memory share, which decides whether the model starts at all (120b at TP 1 on an
    H200 runs out of memory at vLLM's 0.92), so the ratio is that of the other settings. `named`: the label says
    its layout (a run with several)."""
    plan, profile = resolved.plan, resolved.profile
    argv = ["vllm", "serve", "MODEL", "--tensor-parallel-size", str(plan.tp)]
    if plan.dp > 1:
        argv += ["--data-parallel-size", str(plan.dp)]
    argv += ["--served-model-name", plan.model]
    for key in ("host", "port", SHARE):
        if key in plan.settings:
            argv += [f"--{key}", str(plan.settings[key])]
    tuned = set(profile["env"]) | {var for option in profile["options"].values()
                                   for choice in option["choices"].values() for var in choice["env"]}
    kept = set(caches.FOLDERS) | {"VLLM_API_KEY"}
    sets = {k: v for k, v in plan.env.items() if k in kept} | selftest.OFFLINE
    env = {k: v for k, v in environ.items() if k not in tuned} | sets
    slots = bench.concurrency(profile, _Bare(plan.tp, plan.dp))
    label = f"{DEFAULTS}, TP {plan.tp} x DP {plan.dp}" if named else DEFAULTS
    if SHARE in plan.settings:
        label += f" --{SHARE} {plan.settings[SHARE]}"
    return Setting(label, None, argv, env, slots, int(plan.settings.get("port", runtime.PORT)), (plan.tp, plan.dp),
                   sets)


@dataclass
class _Bare:
    """A plan with no settings: what bench.concurrency reads of vLLM's defaults."""

    tp: int
    dp: int = 1
    settings: dict[str, Any] = field(default_factory=dict)


class Run:
    """The servers started, the loads measured, the table and the JSON they make."""

    def __init__(self, first: launcher.Resolved, settings: list[Setting], loads: list[Load],
                 ns: argparse.Namespace, folder: Path, model_dir: Path, synthetic: str, machine: str,
                 out: Any) -> None:
        self.first, self.settings, self.loads, self.ns = first, settings, loads, ns
        self.folder, self.model_dir, self.synthetic, self.machine, self.out = folder, model_dir, synthetic, machine, out
        self.rows: list[dict[str, Any]] = []
        self.started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def serve(self, setting: Setting, counter: str, key: str | None) -> None:
        """Start one server, measure it at its scenario's load (the defaults: every load they hold), stop it."""
        argv = [str(self.model_dir) if word == "MODEL" else word for word in setting.argv]
        setting.argv = argv
        slug = _slug(setting.label)
        print(f"gptoss-bench: {counter} {setting.label}: {' '.join(map(shlex.quote, argv))}", file=sys.stderr,
              flush=True)
        vllm = Vllm(argv, setting.env, self.folder / f"vllm-{slug}.log", setting.port)
        try:
            vllm.start()
        except FileNotFoundError:
            setting.error = f"{argv[0]} not found on PATH: run gptoss-bench in a gptoss image"
            print(f"gptoss-bench: {counter} {setting.label}: {setting.error}", file=sys.stderr)
            return
        with vllm:
            healthy = vllm.wait_healthy(self.ns.health_timeout, lambda s: print(
                f"gptoss-bench: {counter} waiting for /health ({s:.0f} s)", file=sys.stderr, flush=True))
            setting.startup = vllm.phases()
            if healthy is None:
                setting.error = vllm.why_not(self.ns.health_timeout)
                print(f"gptoss-bench: {counter} {setting.label}: {setting.error}", file=sys.stderr)
                return
            setting.startup["healthy_s"] = round(healthy, 1)
            print(f"gptoss-bench: {counter} started: {startup.describe(setting.startup)}", file=sys.stderr,
                  flush=True)
            loads = [load for load in self.loads if load.layout == setting.layout and (
                load.scenario == setting.scenario if setting.scenario else load.concurrency <= setting.slots)]
            for number, load in enumerate(loads):
                self._measure(setting, load, slug, key, warm_up=number == 0)

    def _measure(self, setting: Setting, load: Load, slug: str, key: str | None, warm_up: bool) -> None:
        """The measured run at the load; before a server's first, a warm-up wave at that load (not measured).

        Each load has prompts of its own seed, the same for every server, and a warm-up wave's are of another: a
        server measured at several loads never sees a prompt twice, so vLLM's prefix caching (on by default, off in
        the profiles) finds nothing from an earlier wave. (Runs before 2026-12-07 drew every load from seed 0: the
        defaults' later loads were then served from their cache.)"""
        seed = self.loads.index(load)
        name = f"bench-{slug}-at-{load.scenario}"
        url = f"http://127.0.0.1:{setting.port}"
        print(f"gptoss-bench:   at {load.scenario}'s load ({load.concurrency} in flight, {load.prompts} prompts)",
              file=sys.stderr, flush=True)
        if warm_up:
            warm = bench.command(url, self.first.plan.model, str(self.model_dir), load.concurrency, load.concurrency,
                                 self.ns.input_len, WARM_UP_TOKENS, str(self.folder), f"{name}.warm-up.json",
                                 WARM_UP_SEED + seed)
            bench.run(warm, setting.env, key, self.folder / f"{name}.warm-up.log",
                      self.folder / f"{name}.warm-up.json")
        argv = bench.command(url, self.first.plan.model, str(self.model_dir), load.concurrency, load.prompts,
                             self.ns.input_len, self.ns.output_len, str(self.folder), f"{name}.json", seed)
        result = bench.run(argv, setting.env, key, self.folder / f"{name}.log", self.folder / f"{name}.json")
        gpus = setting.layout[0] * setting.layout[1]
        row = {"settings": setting.label, "scenario": setting.scenario, "load": load.scenario,
               "concurrency": load.concurrency, "gpus": gpus}
        if result is None:
            row["error"] = f"vllm bench serve failed (see {name}.log)"
        else:
            row |= {k: v for k, v in bench.figures(result, gpus).items()}
        self.rows.append(row)
        print(f"gptoss-bench:   {_figures_line(row)}", file=sys.stderr, flush=True)

    def complete(self) -> bool:
        return (all(not s.error for s in self.settings)
                and all("error" not in r and r.get("failed") == 0 for r in self.rows))

    def verdicts(self) -> list[dict[str, Any]]:
        """Each scenario's own settings against the defaults at its own load, judged by its goal."""
        found = []
        by = {(r["settings"], r["load"]): r for r in self.rows if "error" not in r}
        for setting in self.settings:
            if setting.scenario is None:
                continue
            tuned = by.get((setting.label, setting.scenario))
            base = next((r for (label, load), r in by.items() if load == setting.scenario
                         and label.startswith(DEFAULTS)), None)
            if not tuned or not base:
                continue
            goal = self.first.profile["serve"]["scenarios"][setting.scenario].get("goal", "throughput")
            found.append({"settings": setting.label, "scenario": setting.scenario, "goal": goal,
                          **judge(goal, tuned, base)})
        return found

    def as_dict(self) -> dict[str, Any]:
        plan = self.first.plan
        return {"profile": self.first.profile["name"], "vllm": self.first.profile["stack"]["vllm"],
                "machine": self.machine, "weights": "synthetic", "synthetic": self.synthetic, "model": plan.model,
                "tensor_parallel_size": plan.tp, "started": self.started, "input_len": self.ns.input_len,
                "output_len": self.ns.output_len, "waves": self.ns.waves,
                "servers": [{"label": s.label, "scenario": s.scenario, "argv": s.argv,
                             "env": {k: "<hidden>" if k in plan.secrets else v for k, v in s.sets.items()},
                             "max_concurrency": s.slots, "startup": s.startup,
                             **({"error": s.error} if s.error else {})} for s in self.settings],
                "loads": [vars(load) for load in self.loads], "rows": self.rows, "verdicts": self.verdicts()}

    def save(self) -> None:
        path = self.folder / "result.json"
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(self.as_dict(), indent=2) + "\n")
        partial.rename(path)

    def table(self) -> str:
        """One table per load (ratios to the defaults), the start-up of each server, the verdicts."""
        plan = self.first.plan
        lines = [f"{plan.model} (synthetic weights), TP {plan.tp}, vLLM {self.first.profile['stack']['vllm']}, "
                 f"{self.machine}; random {self.ns.input_len} -> {self.ns.output_len} tokens, --ignore-eos"]
        for load in self.loads:
            rows = [r for r in self.rows if r["load"] == load.scenario]
            if not rows:
                continue
            base = next((r for r in rows if r["settings"].startswith(DEFAULTS) and "error" not in r), None)
            lines += ["", f"at {load.scenario}'s load: {load.concurrency} in flight, {load.prompts} prompts",
                      f"  {'settings':52} {'out tok/s/GPU':>13} {'vs defaults':>11} {'TTFT p50':>10} "
                      f"{'TPOT p50':>9} {'ITL p50':>9} {'failed':>6}"]
            for row in rows:
                if "error" in row:
                    lines.append(f"  {row['settings']:52} {row['error']}")
                    continue
                ratio = (f"{row['output_throughput_per_gpu'] / base['output_throughput_per_gpu']:.2f}x"
                         if base and base["output_throughput_per_gpu"] else "-")
                lines.append(f"  {row['settings']:52} {row['output_throughput_per_gpu']:>13,.0f} {ratio:>11} "
                             f"{row['median_ttft_ms']:>7,.0f} ms {row['median_tpot_ms']:>6.1f} ms "
                             f"{row['median_itl_ms']:>6.1f} ms {row['failed']:>6}")
        lines += ["", "start-up (to /health, from vLLM's log):"]
        for setting in self.settings:
            lines.append(f"  {setting.label:52} " + (setting.error or startup.describe(setting.startup)))
        for verdict in self.verdicts():
            than = "the same as" if verdict["verdict"] == "same" else f"{verdict['verdict']} than"
            lines.append(f"{verdict['settings']}: {than} vLLM's defaults at {verdict['scenario']}'s load, by its "
                         f"goal ({verdict['why']})")
        return "\n".join(lines)


def markdown(result: dict[str, Any]) -> str:
    """A run's rows as a Markdown table (the README's), from its result.json: each load, each server."""
    started = {s["label"]: s for s in result["servers"]}
    lines = ["| load (in flight) | settings | output tok/s per GPU | vs defaults | median TTFT | median TPOT | "
             "median ITL | to /health |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for load in result["loads"]:
        rows = [r for r in result["rows"] if r["load"] == load["scenario"] and "error" not in r]
        base = next((r for r in rows if r["settings"].startswith(DEFAULTS)), None)
        for row in rows:
            ratio = f"{row['output_throughput_per_gpu'] / base['output_throughput_per_gpu']:.2f}×" if base else "-"
            health = started[row["settings"]]["startup"].get("healthy_s")
            lines.append(f"| {load['scenario']} ({load['concurrency']}) | {row['settings']} | "
                         f"{row['output_throughput_per_gpu']:,.0f} | {ratio} | {row['median_ttft_ms']:,.0f} ms | "
                         f"{row['median_tpot_ms']:.1f} ms | {row['median_itl_ms']:.1f} ms | "
                         f"{health:.0f} s |" if health else "- |")
    for server in result["servers"]:
        if server.get("error"):
            lines.append(f"| - | {server['label']} | did not start: {server['error'].split(': ', 1)[0]} "
                         "| | | | | |")
    return "\n".join(lines)


def judge(goal: str, tuned: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """better, same or worse than the defaults, by the scenario's goal, with NOISE either side of 1."""
    if goal == "latency":
        ratios = {"median TTFT": base["median_ttft_ms"] / tuned["median_ttft_ms"],
                  "median ITL": base["median_itl_ms"] / tuned["median_itl_ms"]}
    else:
        ratios = {"output tok/s per GPU": tuned["output_throughput_per_gpu"] / base["output_throughput_per_gpu"]}
    if any(r < 1 - NOISE for r in ratios.values()):
        verdict = "worse"
    elif any(r > 1 + NOISE for r in ratios.values()):
        verdict = "better"
    else:
        verdict = "same"
    why = ", ".join(f"{name} {r:.2f}x" for name, r in ratios.items()) + (
        " (defaults/tuned: above 1 is faster)" if goal == "latency" else " the defaults'")
    return {"verdict": verdict, "ratios": {k: round(v, 3) for k, v in ratios.items()}, "why": why}


def _figures_line(row: dict[str, Any]) -> str:
    if "error" in row:
        return f"{row['settings']}: {row['error']}"
    return (f"{row['completed']} of {row['num_prompts']} requests, {row['output_throughput_per_gpu']:,.0f} output "
            f"tok/s per GPU, median TTFT {row['median_ttft_ms']:,.0f} ms, TPOT {row['median_tpot_ms']:.1f} ms, "
            f"ITL {row['median_itl_ms']:.1f} ms")


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")[:80]


def _help(argv: list[str], environ: dict[str, str], machine: checks.Machine) -> int:
    try:
        profile = profile_file.load(argv, environ, lambda vendor: machine.gpus(vendor)[0])
    except BadInput as exc:
        return common.fail("gptoss-bench", str(exc))
    parser = selftest.tool_parser(profile, options)
    parser.prog = "gptoss-bench --synthetic"
    parser.description, parser.epilog = __doc__.split("\n\n", 1)[1], EXAMPLES
    parser.print_help()
    return 0
