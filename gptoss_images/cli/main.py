"""build.py's command line: one small function per command."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ruamel.yaml import YAML

from gptoss_images.cli import args as cli_args
from gptoss_images.cli import deploy as cli_deploy
from gptoss_images.cli import images as cli_images
from gptoss_images.cli import pins as cli_pins
from gptoss_images.core import inputs, text
from gptoss_images.errors import UserError
from gptoss_images.profiles import catalog
from gptoss_images.render import locks, outputs

EXAMPLES = """\
examples:
  python build.py list                     the profiles, their GPUs and base images
  python build.py show h100                the h100 profile after inheritance
  python build.py validate                 check every profile, report all problems
  python build.py render                   regenerate docker/ and deploy/ for all profiles
  python build.py render --check           exit 1 if docker/, deploy/ or a stack's lock is stale (CI does this)
  python build.py lock                     resolve every stack into locks/ (pinned, with hashes), then render
  python build.py build h100               build, smoke-test, then tag gptoss-images:gptoss-h100
  python build.py build h100 --base-image mirror.local/nvidia/cuda:12.8.1-devel-ubuntu24.04 \\
      --index-url https://pypi.mirror.local/simple --ca-bundle corp-ca.pem
  python build.py push h100 --registry localhost:5000/gptoss
  python build.py release h100 h200 --registry ghcr.io/acme/gptoss
  python build.py deploy h100 --model 120b --registry ghcr.io/acme/gptoss --out my-gptoss

Profiles live in profiles/*.yaml; `extends` names the parent (cuda, rocm,
gpt-oss). Run `python build.py COMMAND --help` for a command's options.
"""


def cmd_list(args: argparse.Namespace) -> int:
    chosen = [p for p in catalog.select(args.profiles, args.profiles_dir)
              if args.family in (None, p.family) and args.line in (None, p.line)]
    if args.github_output:
        cli_args.github_output(args.github_output, json.dumps([p.name for p in chosen]))
        return 0
    if args.names:
        print("\n".join(p.name for p in chosen))
        return 0
    rows = [("PROFILE", "LINE", "GPU", "VLLM", "CUDA", "DRIVER", "BASE IMAGE")]
    for p in chosen:
        name = p.name
        vllm = p.stack.vllm if p.stack.source == "pypi" else f"{p.stack.vllm} (base image's)"
        rows.append((name, p.line, f"{p.gpu.model} {p.gpu.memory_gib}GB ({p.gpu.arch})", vllm,
                     p.stack.cuda or "-", f">= {p.gpu.driver_min}" if p.gpu.driver_min else "-", p.base_image))
    print(text.columns(rows))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    profile = catalog.get(args.profile, args.profiles_dir)
    dump = YAML(typ="safe", pure=True)
    dump.default_flow_style, dump.width, dump.sort_base_mapping_type_on_output = False, 100, False
    dump.dump(catalog.to_dict(profile), sys.stdout)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    loaded = catalog.load(args.profiles_dir)
    print(f"{len(loaded)} profiles valid: {', '.join(loaded)}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    loaded = catalog.load(args.profiles_dir)
    names = [p.name for p in catalog.pick(loaded, args.profiles)] if args.profiles else None
    rendered = outputs.compute(loaded, names, args.docker_dir, args.profiles_dir)  # in memory before any write
    if args.check:
        problems = outputs.stale(rendered, args.docker_dir, complete=names is None)
        problems += locks.stale([s for s in outputs.stacks_of(loaded) if names is None or set(s.profiles) & set(names)])
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print(f"generated files are out of date ({len(problems)}): run `python build.py render`",
                  file=sys.stderr)
            return 1
        print(f"generated files are up to date for {len(names or loaded)} profiles")
        return 0
    changed = outputs.write(rendered, args.docker_dir, complete=names is None)
    for line in changed:
        print(f"wrote {line}")
    print(f"rendered {len(names or loaded)} profiles, {len(changed)} outputs changed "
          f"in {time.perf_counter() - started:.2f} s")
    return 0


def parser() -> argparse.ArgumentParser:
    top = cli_args.Parser(prog="build.py", description="Build vLLM images for gpt-oss, tuned per accelerator.",
                      epilog=EXAMPLES)
    top.add_argument("--profiles-dir", type=Path, default=catalog.PROFILES_DIR, metavar="DIR",
                     help="where the profile YAML files are (default: profiles/)")
    top.add_argument("--docker-dir", type=Path, default=outputs.DOCKER_DIR, metavar="DIR",
                     help="where the rendered build contexts are (default: docker/)")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help: str, *example: str) -> cli_args.Parser:
        p = sub.add_parser(name, help=help, description=help, epilog=cli_args.examples(*example))
        p.set_defaults(func=func)
        return p

    p = add("list", cmd_list, "table of profiles: line, GPU, vLLM, CUDA, minimum driver, base image",
            "python build.py list", "python build.py list --line cu128",
            "python build.py list --names --family rocm", "python build.py list --github-output profiles h100 h200")
    p.add_argument("profiles", nargs="*", metavar="PROFILE", help="these only (default: all)")
    p.add_argument("--family", choices=["cuda", "rocm"], help="one family only")
    p.add_argument("--line", metavar="LINE", help="one stack line only (current, cu128, preview)")
    p.add_argument("--names", action="store_true", help="the profile names only, one per line")
    p.add_argument("--github-output", metavar="NAME",
                   help="write NAME=<JSON list of profiles> to $GITHUB_OUTPUT (a workflow's matrix)")
    add("show", cmd_show, "print a profile as resolved after inheritance",
        "python build.py show h100", "python build.py show mi355x").add_argument("profile", metavar="PROFILE")
    add("validate", cmd_validate, "validate every profile; report every problem at once",
        "python build.py validate", "python build.py --profiles-dir my-profiles validate")
    p = add("render", cmd_render, "render docker/<profile>/ and deploy/<profile>/ from profiles/ and templates/",
            "python build.py render", "python build.py render h100", "python build.py render --check")
    p.add_argument("profiles", nargs="*", metavar="PROFILE", help="default: every profile")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 and name every stale or missing file")
    cli_images.add_commands(add)
    cli_pins.add_commands(add)
    cli_deploy.add_commands(add)
    return top


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)  # a killed build cleans up as after Ctrl-C
    try:
        parsed = parser().parse_args(argv)
        return parsed.func(parsed)
    except UserError as exc:
        for problem in exc.problems:
            print(f"error: {inputs.hide_credentials(str(problem))}", file=sys.stderr)  # a URL's password, say
        return 2
    except KeyboardInterrupt:
        return 130
