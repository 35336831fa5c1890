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
from pathlib import Path
from typing import Any

from gptoss_images.launcher import checks, inputs
from gptoss_images.launcher import plan as planner
from gptoss_images.launcher.inputs import BadInput

DEFAULT_PROFILE = "/opt/gptoss/profile.json"
EPILOG = """\
Every option can also be given as a GPTOSS_* variable (shown after each option);
the option wins. Anything else on the command line goes to `vllm serve` as it is,
replacing the profile's value of the same flag.

examples:
  docker run --gpus all --ipc=host -p 8000:8000 IMAGE
  docker run ... -e GPTOSS_MODEL=openai/gpt-oss-20b -e GPTOSS_SCENARIO=max-throughput IMAGE
  docker run ... IMAGE --tensor-parallel-size 4 --function-calling --max-num-batched-tokens 16384
  docker run --rm IMAGE --dry-run          print the exact command and environment, run nothing
  docker run --rm --gpus all IMAGE --check check GPUs, memory, driver, /dev/shm, cache, vocabulary

exit codes: 0 ok, 1 --check found a failure, 2 bad input, 3 a machine check failed at start,
127 vllm not found.
"""


def load_profile(argv: list[str], environ: Mapping[str, str]) -> dict[str, Any]:
    path = environ.get("GPTOSS_PROFILE", DEFAULT_PROFILE)
    for i, arg in enumerate(argv):
        if arg == "--profile" and i + 1 < len(argv):
            path = argv[i + 1]
        elif arg.startswith("--profile="):
            path = arg.split("=", 1)[1]
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise BadInput(f"GPTOSS_PROFILE/--profile={path!r}: no such file; give a rendered "
                       "docker/<profile>/profile.json") from None
    except ValueError as exc:
        raise BadInput(f"GPTOSS_PROFILE/--profile={path!r}: not a profile JSON ({exc})") from None


def make_parser(profile: dict[str, Any]) -> argparse.ArgumentParser:
    scenarios = "; ".join(f"{name}: {s['description']}" for name, s in profile["serve"]["scenarios"].items())
    options = "".join(f"\n  --{name} / GPTOSS_{name.upper().replace('-', '_')}: {o['description']}; "
                      f"{', '.join(o['choices'])} (default {o['default']})"
                      for name, o in profile["options"].items())
    parser = argparse.ArgumentParser(
        prog="gptoss-serve", allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f"Serve gpt-oss with vLLM {profile['stack']['vllm']} on {profile['description']} "
                    f"(profile {profile['name']}).\n\nscenarios: {scenarios}"
                    + (f"\n\nhardware options:{options}" if options else ""),
        epilog=EPILOG)
    parser.add_argument("--dry-run", action="store_true",
                        help="print the exact command and environment as a shell line, run nothing")
    parser.add_argument("--json", action="store_true", help="with --dry-run: print JSON instead")
    parser.add_argument("--check", action="store_true",
                        help="check the machine (pass / warn / fail lines) and exit")
    inputs.add_options(parser, list(profile["options"]))
    parser.add_argument("-tp", dest="tensor_parallel_size", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None,
         execvpe: Callable[..., Any] = os.execvpe, machine: checks.Machine | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    try:
        profile = load_profile(argv, environ)
        ns, extra = make_parser(profile).parse_known_args(argv)
        values = inputs.collect(ns, environ, list(profile["options"]))
        plan = planner.build(profile, values, extra, environ)
        skip = _skip_list(values.get("skip-checks", ""))
    except BadInput as exc:
        print(f"gptoss-serve: error: {exc}", file=sys.stderr)
        return 2
    for note in plan.notes:
        print(f"gptoss-serve: note: {note}", file=sys.stderr)
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


def _skip_list(text: str) -> set[str]:
    names = {n.strip() for n in text.split(",") if n.strip()}
    unknown = names - set(checks.NAMES) - {"all"}
    if unknown:
        raise BadInput(f"GPTOSS_SKIP_CHECKS/--skip-checks={text!r}: unknown check "
                       f"{', '.join(sorted(unknown))}; allowed: all, {', '.join(checks.NAMES)}")
    return names

