"""build.py pins: track releases of the pinned stack and try candidates against every profile."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gptoss_images.cli import args as cli_args
from gptoss_images.cli.images import Add
from gptoss_images.errors import UserError
from gptoss_images.profiles import catalog
from gptoss_images.publish import bases
from gptoss_images.render import locks, outputs, tree
from gptoss_images.vllm import install, pins, record


def cmd_pins_check(args: argparse.Namespace) -> int:
    loaded = catalog.load(args.profiles_dir)
    for line in pins.check(loaded, args.index_url) + bases.check(loaded):
        print(line)
    if args.github_output:
        cli_args.github_output(args.github_output, pins.newer_vllm(loaded, args.index_url) or "")
    return 0


def cmd_pins_record(args: argparse.Namespace) -> int:
    python = install.ensure(args.version, args.index_url, args.extra_index_url)
    print(f"wrote {record.write(python, args.version)}")
    return 0


def cmd_pins_carry(args: argparse.Namespace) -> int:
    data = pins.carried_profile(args.profiles_dir, args.profile, args.version)
    tree.write_file(args.out, data)
    print(f"wrote {args.out}: {args.profile} with its settings carried to vLLM {args.version}")
    return 0


def cmd_pins_try(args: argparse.Namespace) -> int:
    trial = pins.try_candidate(args.profiles_dir, args.line, args.version, args.index_url, args.extra_index_url)
    report = pins.report(trial)
    print(report, end="")
    for path in args.report or []:
        with path.open("a") as handle:  # appended: $GITHUB_STEP_SUMMARY takes several reports
            handle.write(report)
    if not trial.ok:
        return 1
    if args.promote:
        for path in pins.promote(trial, args.profiles_dir):
            print(f"wrote {path}")
        loaded = catalog.load(args.profiles_dir)
        moved = [s for s in outputs.stacks_of(loaded) if locks.stale([s])]  # the stacks the new pin changed
        for path in locks.lock_all(moved, args.index_url, args.extra_index_url):
            print(f"wrote {tree.display(path)}")
        changed = outputs.write(outputs.compute(loaded, None, outputs.DOCKER_DIR, args.profiles_dir))
        print(f"rendered: {len(changed)} outputs changed")
    return 0


def cmd_lock(args: argparse.Namespace) -> int:
    loaded = catalog.load(args.profiles_dir)
    every = outputs.stacks_of(loaded)
    chosen = [s for s in every if not args.stacks or s.name in args.stacks]
    unknown = sorted(set(args.stacks) - {s.name for s in every})
    if unknown:
        raise UserError(f"lock {unknown[0]}: no such stack; stacks: {', '.join(s.name for s in every)}")
    if args.check:
        problems = locks.stale(chosen)
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            return 1
        print(f"locks are up to date for {len(chosen)} stacks")
        return 0
    locks.lock_all(chosen, args.index_url, args.extra_index_url)
    changed = outputs.write(outputs.compute(loaded, None, outputs.DOCKER_DIR, args.profiles_dir))
    print(f"locked {len(chosen)} stacks; rendered: {len(changed)} outputs changed (the stacks' tags hash their locks)")
    return 0


EXAMPLES = {
    "check": ["python build.py pins check", "python build.py pins check --index-url https://pypi.mirror.local/simple",
              "python build.py pins check --github-output newer"],
    "try": ["python build.py pins try 0.34.0", "python build.py pins try 0.34.0 --promote --report pins.md",
            "python build.py pins try 0.10.3 --line cu128"],
    "record": ["python build.py pins record 0.10.2"],
    "carry": ["python build.py pins carry 0.20.2 h200 --out h200-0.20.2.json   # then gptoss-serve --profile FILE"],
}


def add_commands(add: Add) -> None:
    p = add("lock", cmd_lock, "resolve each stack's requirements into locks/<stack>/py<X.Y>.txt: every package "
                              "pinned with its hashes, for each Python a base image may have; then render",
            "python build.py lock                  every stack", "python build.py lock cuda-current",
            "python build.py lock --check          exit 1 if a lock is missing or its stack's pins moved",
            "python build.py lock --index-url https://pypi.mirror.local/simple")
    p.add_argument("stacks", nargs="*", metavar="STACK", help="these stacks (default: all; one folder each under "
                                                              "docker/stacks/)")
    p.add_argument("--index-url", metavar="URL", type=cli_args.index_url, help="package index (default PyPI)")
    p.add_argument("--extra-index-url", metavar="URL", type=cli_args.index_url,
                   help="a second index (packages the first lacks)")
    p.add_argument("--check", action="store_true", help="resolve nothing; name every missing or stale lock")
    pins_parser = add("pins", lambda a: a.pins_parser.print_help() or 2,
                      "track releases of vLLM and FlashInfer newer than the pins",
                      *[line for lines in EXAMPLES.values() for line in lines])
    pins_sub = pins_parser.add_subparsers(dest="pins_command", metavar="ACTION")
    pins_parser.set_defaults(pins_parser=pins_parser)
    for name, func, text in [
        ("check", cmd_pins_check, "list releases on the package index newer than the pins"),
        ("try", cmd_pins_try, "judge every profile's settings with a candidate vLLM's own parser and envs.py"),
        ("record", cmd_pins_record, "record what a vLLM release accepts: serve flags, config keys, "
                                    "environment variables (vllm-api/VERSION/)"),
        ("carry", cmd_pins_carry, "write a profile's profile.json with its settings carried to another recorded "
                                  "vLLM release (to serve or self-test it there: --profile FILE)"),
    ]:
        p = pins_sub.add_parser(name, help=text, description=text, epilog=cli_args.examples(*EXAMPLES[name]))
        p.set_defaults(func=func)
        if name != "check":
            p.add_argument("version", metavar="VERSION", type=cli_args.release, help="a vLLM release, e.g. 0.13.0")
        else:
            p.add_argument("--github-output", metavar="NAME", help="write NAME=<the newest vLLM newer than the "
                                                                   "current line's pin, or nothing> to $GITHUB_OUTPUT")
        p.add_argument("--index-url", default=pins.DEFAULT_INDEX if name == "check" else None, metavar="URL",
                       type=cli_args.index_url, help="package index (default PyPI)")
        if name != "check":
            p.add_argument("--extra-index-url", metavar="URL", type=cli_args.index_url,
                           help="a second index for the candidate's dependencies")
        if name == "carry":
            p.add_argument("profile", metavar="PROFILE", help="a profile, e.g. h200")
            p.add_argument("--out", type=Path, required=True, metavar="FILE", help="the profile JSON to write")
        if name == "try":
            p.add_argument("--line", default="current", metavar="LINE",
                           help="the stack line to move (default current)")
            p.add_argument("--promote", action="store_true",
                           help="if every profile of the line passes: write the carried settings, the "
                                "candidate's record, the moved stacks' locks, and render")
            p.add_argument("--report", type=Path, metavar="FILE", action="append",
                           help="also append the report (markdown) to FILE; repeatable")
