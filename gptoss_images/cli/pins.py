"""build.py pins: track releases of the pinned stack and try candidates against every profile."""

from __future__ import annotations

import argparse

from gptoss_images.cli import args as cli_args
from gptoss_images.cli.images import Add
from gptoss_images.profiles import catalog
from gptoss_images.vllm import install, pins, record


def cmd_pins_check(args: argparse.Namespace) -> int:
    for line in pins.check(catalog.load(args.profiles_dir), args.index_url):
        print(line)
    return 0


def cmd_pins_record(args: argparse.Namespace) -> int:
    python = install.ensure(args.version, args.index_url, args.extra_index_url)
    print(f"wrote {record.write(python, args.version)}")
    return 0


def cmd_pins_try(args: argparse.Namespace) -> int:
    loaded = catalog.load(args.profiles_dir)
    verdicts, dockerfiles = pins.try_candidate(loaded, args.version, args.index_url, args.extra_index_url)
    print(f"vLLM {args.version} against {len(verdicts)} profiles, with its own parser and envs.py:")
    for v in verdicts:
        stack = next((line.strip() for line in dockerfiles[v.profile].decode().splitlines()
                      if line.strip().startswith("vllm==")), "vLLM from the base image")
        print(f"{v.profile:8} {'ok' if v.ok else 'REJECTED':8} candidate stack: {stack}")
        for problem in v.rejected:
            print(f"           parser: {problem}")
        for var in v.unknown_env:
            print(f"           env:    {var} is not in its vllm/envs.py")
    failed = [v.profile for v in verdicts if not v.ok]
    if failed:
        print(f"not promoted: {len(failed)} of {len(verdicts)} profiles have settings vLLM "
              f"{args.version} rejects ({', '.join(failed)})")
        return 1
    if args.promote:
        old = max(pins.pinned(loaded)["vllm"], key=pins.version_key)
        for path in pins.promote(args.version, old, args.profiles_dir):
            print(f"pinned vLLM {args.version} in {path}")
        python = install.ensure(args.version, args.index_url, args.extra_index_url)
        print(f"wrote {record.write(python, args.version)}")
        print("now run: python build.py render")
    else:
        print(f"every profile passes with vLLM {args.version}: --promote pins it")
    return 0


EXAMPLES = {
    "check": ["python build.py pins check", "python build.py pins check --index-url https://pypi.mirror.local/simple"],
    "try": ["python build.py pins try 0.13.0", "python build.py pins try 0.14.0 --promote"],
    "record": ["python build.py pins record 0.10.2"],
}


def add_commands(add: Add) -> None:
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
    ]:
        p = pins_sub.add_parser(name, help=text, description=text, epilog=cli_args.examples(*EXAMPLES[name]))
        p.set_defaults(func=func)
        if name != "check":
            p.add_argument("version", metavar="VERSION", type=cli_args.release, help="a vLLM release, e.g. 0.13.0")
        p.add_argument("--index-url", default=pins.DEFAULT_INDEX if name == "check" else None, metavar="URL",
                       type=cli_args.index_url, help="package index (default PyPI)")
        if name != "check":
            p.add_argument("--extra-index-url", metavar="URL", type=cli_args.index_url,
                           help="a second index for the candidate's dependencies")
        if name == "try":
            p.add_argument("--promote", action="store_true",
                           help="if every profile passes, pin VERSION in the profiles")
