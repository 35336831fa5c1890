"""gptoss-serve: the image's entrypoint. Standard library only, so it starts fast.

It reads the baked profile, takes the user's options and GPTOSS_* variables,
checks the machine and replaces itself with `vllm serve`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gptoss_images.core import config_file, inputs, select, vendors, vllm_api
from gptoss_images.core import fit as layout_fit
from gptoss_images.core import plan as planner
from gptoss_images.core.inputs import BadInput
from gptoss_images.launcher import checks, download, health
from gptoss_images.launcher import profile as profile_file

SELF_TEST = "gptoss-self-test"
TOOLS = ("gptoss-bench", "gptoss-eval", SELF_TEST)
"""The image's other commands: `docker run IMAGE gptoss-bench ...` runs them instead of serving."""


@dataclass
class Resolved:
    """What the user's options and the machine make of the profile: the plan and how to run it."""

    profile: dict[str, Any]
    api: vllm_api.Api
    ns: argparse.Namespace
    plan: planner.Plan
    skip: set[str]


EPILOG = """\
Every option can also be given as a GPTOSS_* variable (shown after each option);
the option wins. Anything else on the command line goes to `vllm serve` as it is,
replacing the profile's value of the same flag.

examples ({devices} gives the container this vendor's GPUs):
  docker run {devices} --ipc=host -p 8000:8000 -v gptoss-cache:/cache IMAGE
  docker run ... -e GPTOSS_MODEL=openai/gpt-oss-20b -e GPTOSS_SCENARIO=max-throughput IMAGE
  docker run ... IMAGE --tensor-parallel-size 4 --function-calling --max-num-batched-tokens 16384
  docker run --rm IMAGE --dry-run          print the exact command and environment, run nothing
  docker run --rm {devices} IMAGE --check
                                           check GPUs, memory, driver, /dev/shm, cache, vocabulary
  docker run --rm -v gptoss-cache:/cache IMAGE --download
                                           fill the cache volume with the weights, then exit
  docker run --rm {devices} --ipc=host IMAGE --self-test
                                           serve a synthetic gpt-oss with this command on these GPUs, no
                                           weights: every endpoint, metrics, a short benchmark, start-up times
  docker run --rm {devices} IMAGE --list-profiles [--json]
                                           every profile x model x TP: does it fit this machine?
  docker exec SERVER gptoss-bench          the recipe's benchmark against this server (see gptoss-bench --help)
  docker exec SERVER gptoss-eval           GPQA and AIME25 against it, judged by the recipe's scores
  docker run --user 12345:0 --read-only -v gptoss-cache:/cache ... IMAGE
                                           any user (group 0), a read-only root file system

exit codes: 0 ok, 1 --check found a failure, 2 bad input, 3 a machine check failed at start,
127 vllm not found.
"""


def make_parser(profile: dict[str, Any]) -> argparse.ArgumentParser:
    scenarios = "; ".join(f"{name}: {s['description']}" for name, s in profile["serve"]["scenarios"].items())
    options = "".join(f"\n  --{name} / GPTOSS_{name.upper().replace('-', '_')}: {o['description']}; "
                      f"{', '.join(o['choices'])} (default {o['default']})"
                      for name, o in profile["options"].items())
    parser = inputs.Parser(
        prog="gptoss-serve",
        description=f"Serve gpt-oss with vLLM {profile['stack']['vllm']} on {profile['description']} "
                    f"(profile {profile['name']}).\n\nscenarios: {scenarios}"
                    + (f"\n\nhardware options:{options}" if options else ""),
        epilog=EPILOG.format(devices=vendors.of(profile["gpu"]["vendor"]).docker_flags))
    parser.add_argument("--dry-run", action="store_true",
                        help="print the exact command and environment as a shell line, run nothing")
    parser.add_argument("--json", action="store_true", help="with --dry-run: print JSON instead")
    parser.add_argument("--check", action="store_true",
                        help="check the machine (pass / warn / fail lines) and exit: an init or startup gate")
    parser.add_argument("--list-profiles", action="store_true",
                        help="every profile of this image x model x TP: compatible, low-memory or incompatible "
                             "on this machine, why, and the command that runs it (--json too)")
    parser.add_argument("--download", action="store_true",
                        help="download the model (and a speculative draft model) into the cache and exit; "
                             "with --dry-run, print the commands")
    parser.add_argument("--self-test", action="store_true",
                        help="prove on this machine's GPUs, without weights, that this image serves: a synthetic "
                             "gpt-oss, every endpoint, a short benchmark (gptoss-self-test --help)")
    parser.add_argument("--health", action="store_true",
                        help="exit 0 if vLLM's /health answers where the server listens (the image's HEALTHCHECK)")
    inputs.add_options(parser, list(profile["options"]))
    return parser


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None,
         execvpe: Callable[..., Any] = os.execvpe, machine: checks.Machine | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    if argv and argv[0] in TOOLS:  # docker run IMAGE gptoss-bench ...: the entrypoint hands over
        return _hand_over(argv, environ, execvpe)
    if "--health" in argv:
        return health.probe()
    machine = machine or checks.Machine()
    if "--list-profiles" in argv:
        return _list_profiles(argv, environ, machine)
    if "--self-test" in argv:  # gptoss-self-test resolves the same options and serves a synthetic model
        return _hand_over([SELF_TEST, *(a for a in argv if a != "--self-test")], environ, execvpe)
    try:
        resolved = resolve(argv, environ, machine)
    except (BadInput, vllm_api.Rejected) as exc:
        print(f"gptoss-serve: error: {inputs.one_line(redact(str(exc), argv, environ))}", file=sys.stderr)
        return 2
    profile, api, ns, plan, skip = resolved.profile, resolved.api, resolved.ns, resolved.plan, resolved.skip
    for warning in _lookalikes(api, environ):
        print(f"gptoss-serve: warning: {inputs.one_line(warning)}", file=sys.stderr)
    for note in plan.notes:
        print(f"gptoss-serve: note: {note}", file=sys.stderr)
    if ns.download:
        return download.run(plan, environ, ns.dry_run)
    if ns.check:
        results = checks.run(profile, plan, environ, machine)
        print("\n".join(map(str, results)))
        return 1 if any(r.status == "fail" for r in results) else 0
    if ns.dry_run:
        print(plan.as_json() if ns.json else plan.shell())
        return 0
    if "all" not in skip:
        results = checks.run(profile, plan, environ, machine)
        for result in results:
            print(f"gptoss-serve: {result}", file=sys.stderr)
        failed = [r.name for r in results if r.status == "fail" and r.name not in skip]
        if failed:
            print(f"gptoss-serve: error: machine check failed: {', '.join(failed)}. To start anyway: "
                  f"GPTOSS_SKIP_CHECKS={','.join(failed)} (or --skip-checks {','.join(failed)})",
                  file=sys.stderr)
            return 3
    env = {k: v for k, v in environ.items() if k not in plan.unset}
    env.update(plan.env)
    print(f"gptoss-serve: {plan.shell()}", file=sys.stderr)
    try:
        execvpe(plan.argv[0], plan.argv, env)
    except FileNotFoundError:
        print(f"gptoss-serve: error: {plan.argv[0]} not found on PATH", file=sys.stderr)
        return 127
    return 0


def resolve(argv: list[str], environ: Mapping[str, str], machine: checks.Machine,
            extend: Callable[[argparse.ArgumentParser], None] | None = None) -> Resolved:
    """The profile, the record of its vLLM, the options and the plan; raises BadInput or Rejected.
    `extend` adds a caller's own options (gptoss-self-test's) to the launcher's."""
    profile = profile_file.load(argv, environ, lambda vendor: machine.gpus(vendor)[0])
    api = vllm_api.load(profile["stack"]["vllm"])
    if api is None:
        raise BadInput(f"no record of what vLLM {profile['stack']['vllm']} accepts in {vllm_api.RECORDS}: "
                       "the image is incomplete; rebuild it")
    return resolve_profile(profile, api, argv, environ, machine, extend)


def resolve_profile(profile: dict[str, Any], api: vllm_api.Api, argv: list[str], environ: Mapping[str, str],
                    machine: checks.Machine, extend: Callable[[argparse.ArgumentParser], None] | None = None,
                    parser: argparse.ArgumentParser | None = None) -> Resolved:
    """`resolve` for a profile already read (validation starts every profile this way before it is rendered,
    with the profile's `parser` made once)."""
    parser = parser or make_parser(profile)
    if extend:
        extend(parser)
    argv = config_file.expand(argv, api, vllm_api.behaviour(api.version))  # its settings meet every rule below
    ns, words = parser.parse_known_args(argv)
    extra = vllm_api.parse(api, words, secret=api.secrets)
    values, extra = inputs.collect(ns, environ, list(profile["options"]), extra)
    _refuse_empty_key(environ)
    plan = planner.build(profile, values, extra, environ, api, vllm_api.behaviour(api.version),
                         found=checks.found(machine, profile["gpu"]["vendor"]))
    return Resolved(profile, api, ns, plan, _skip_list(values.get("skip-checks", "")))


def _hand_over(argv: list[str], environ: Mapping[str, str], execvpe: Callable[..., Any]) -> int:
    """Become one of the image's other commands."""
    try:
        execvpe(argv[0], argv, dict(environ))
    except FileNotFoundError:
        print(f"gptoss-serve: error: {argv[0]} not found on PATH", file=sys.stderr)
        return 127
    return 0


def _list_profiles(argv: list[str], environ: Mapping[str, str], machine: checks.Machine) -> int:
    """Print every profile x model x TP of this image as it fits this machine."""
    try:
        named = profile_file.given(argv, environ)
        held = [profile_file.read(named)] if named and "/" in named else profile_file.available()
    except BadInput as exc:
        print(f"gptoss-serve: error: {inputs.one_line(str(exc))}", file=sys.stderr)
        return 2
    found = checks.found(machine, held[0]["gpu"]["vendor"]) if held else []
    fits = [fit for p in held for fit in select.fits(p, found)]
    plans = [(p, scenario, layout_fit.plan(p, scenario, found)) for p in held
             if any(select.gpu_matches(p, g) for g in found) for scenario in p["serve"]["scenarios"]]
    if "--json" in argv:
        print(json.dumps({"found": select.describe(found), "profiles": [f.as_dict() for f in fits],
                          "plans": [{"profile": p["name"], "scenario": s, **layout.as_dict()}
                                    for p, s, layout in plans]}, indent=2))
        return 0
    print(f"this machine: {select.describe(found)}")
    if plans:
        print("\nthe plan, per scenario (GPTOSS_SCENARIO; every GPU serving):")
    for profile, scenario, layout in plans:
        print(f"  {profile['name']:16} {scenario:15} {layout.describe()}")
    for status in ("compatible", "low-memory", "incompatible"):
        chosen = [f for f in fits if f.status == status]
        if chosen:
            print(f"\n{status}:")
        for fit in chosen:
            print(f"  {fit.profile:16} {fit.model:22} TP {fit.tp}  {fit.reason}")
            if status != "incompatible":
                print(f"    {fit.command}")
    return 0


def redact(text: str, argv: list[str], environ: Mapping[str, str]) -> str:
    """`text` with every secret the user gave replaced, however it was spelt: the secrets' variables
    and whatever follows a flag that looks like a credential flag of a recorded release (--api-key, --hf-token)."""
    secrets = {environ.get(var, "") for var in ("GPTOSS_API_KEY", *inputs.SECRET_VARIABLES.values())}
    taking = False
    for word in argv:
        name, eq, value = word.lstrip("-").replace("_", "-").partition("=")
        if word.startswith("-"):
            taking = len(name) >= 4 and any(flag.startswith(name) for flag in vllm_api.recorded_secrets())
            if taking and eq:
                secrets.add(value)
                taking = False
        elif taking:
            secrets.add(word)
    for secret in sorted((s for s in secrets if s.strip()), key=len, reverse=True):
        text = text.replace(secret, "<hidden>")
    return text


def _refuse_empty_key(environ: Mapping[str, str]) -> None:
    if "VLLM_API_KEY" in environ and not environ["VLLM_API_KEY"].strip():
        raise BadInput("VLLM_API_KEY is empty: vLLM would start without authentication; unset it or give a key")


def _lookalikes(api: vllm_api.Api, environ: Mapping[str, str]) -> list[str]:
    """VLLM_* variables this vLLM never reads (a typo, or a recipe's name from another release)."""
    found = []
    for var in sorted(v for v in environ if v.startswith("VLLM_") and v not in api.envs):
        real = vllm_api.similar_env(api, var)
        found.append(f"{var} is not a variable vLLM {api.version} reads; it has no effect"
                     + (f": did you mean {real}?" if real else ""))
    return found


def _skip_list(text: str) -> set[str]:
    names = {n.strip() for n in text.split(",") if n.strip()}
    unknown = names - set(checks.NAMES) - {"all"}
    if unknown:
        raise BadInput(f"GPTOSS_SKIP_CHECKS/--skip-checks={text!r}: unknown check "
                       f"{', '.join(sorted(unknown))}; allowed: all, {', '.join(checks.NAMES)}")
    return names

