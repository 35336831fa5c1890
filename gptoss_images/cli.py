"""build.py's command line: one small function per command."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from gptoss_images import engine, pipeline, profiles, render, tags
from gptoss_images.build import BuildInputs, Built
from gptoss_images.errors import UserError
from gptoss_images.pipeline import Outcome
from gptoss_images.schema import Profile

EXAMPLES = """\
examples:
  python build.py list                     the profiles, their GPUs and base images
  python build.py show h100                the h100 profile after inheritance
  python build.py validate                 check every profile, report all problems
  python build.py render                   regenerate docker/<profile>/ for all
  python build.py render --check           exit 1 if docker/ is stale (CI does this)
  python build.py build h100               build, smoke-test, then tag gptoss-images:gptoss-h100
  python build.py build h100 --base-image mirror.local/nvidia/cuda:12.8.1-devel-ubuntu24.04 \\
      --index-url https://pypi.mirror.local/simple --ca-bundle corp-ca.pem
  python build.py push h100 --registry localhost:5000/gptoss
  python build.py release h100 h200 --registry ghcr.io/acme/gptoss

Profiles live in profiles/*.yaml; `extends` names the parent (cuda, rocm,
gpt-oss). Run `python build.py COMMAND --help` for a command's options.
"""


def cmd_list(args: argparse.Namespace) -> int:
    rows = [("PROFILE", "FAMILY", "GPU", "BASE IMAGE", "VLLM")]
    for name, p in profiles.load(args.profiles_dir).items():
        vllm = p.stack.vllm if p.stack.source == "pypi" else f"base image's (flags: {p.stack.vllm})"
        rows.append((name, p.family, f"{p.gpu.model} {p.gpu.memory_gib}GB ({p.gpu.arch})",
                     p.base_image, vllm))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    profile = profiles.get(args.profile, args.profiles_dir)
    print(yaml.safe_dump(profiles.to_dict(profile), sort_keys=False, width=100), end="")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    loaded = profiles.load(args.profiles_dir)
    print(f"{len(loaded)} profiles valid: {', '.join(loaded)}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    selected = _select(args.profiles, args.profiles_dir)
    rendered = {p.name: render.render(p) for p in selected}  # all in memory before any write
    if args.check:
        problems = [line for name, files in rendered.items() for line in render.stale(name, files, args.docker_dir)]
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print(f"docker/ is out of date ({len(problems)} files): run `python build.py render`",
                  file=sys.stderr)
            return 1
        print(f"docker/ is up to date for {len(rendered)} profiles")
        return 0
    changed = [line for name, files in rendered.items() for line in render.write(name, files, args.docker_dir)]
    for line in changed:
        print(f"wrote {line}")
    print(f"rendered {len(rendered)} profiles, {len(changed)} files changed "
          f"in {time.perf_counter() - started:.2f} s")
    return 0


def _inputs(args: argparse.Namespace) -> BuildInputs:
    return BuildInputs(args.base_image, args.index_url, args.ca_bundle, args.no_cache)


def _run_each(args: argparse.Namespace, step: Callable[[Profile], Outcome]) -> int:
    """Run `step` for every selected profile; one failure does not stop the others."""
    outcomes = []
    for profile in _select(args.profiles, args.profiles_dir):
        try:
            outcomes.append(step(profile))
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            outcomes.append(Outcome(profile.name, False, error=str(exc)))
    print(pipeline.table(outcomes))
    return 0 if all(o.ok for o in outcomes) else 1


def _fresh(profile: Profile, docker_dir: Path) -> None:
    stale = render.stale(profile.name, render.render(profile), docker_dir)
    if stale:
        raise UserError(f"{docker_dir / profile.name} is out of date ({stale[0]}): "
                        "run `python build.py render`")


def cmd_build(args: argparse.Namespace) -> int:
    if args.dry_run:
        return _dry_run(args)
    client = engine.connect()

    def step(profile: Profile) -> Outcome:
        _fresh(profile, args.docker_dir)
        return Outcome(profile.name, True, pipeline.build_and_test(client, profile, _inputs(args),
                                                                   args.repo, args.quiet, args.docker_dir))
    return _run_each(args, step)


def cmd_test(args: argparse.Namespace) -> int:
    client = engine.connect()
    return _run_each(args, lambda p: Outcome(p.name, True, pipeline.test_existing(client, p, args.repo,
                                                                                   args.quiet)))


def cmd_push(args: argparse.Namespace) -> int:
    tags.check_repository(args.registry)
    client = engine.connect()

    def step(profile: Profile) -> Outcome:
        digests = pipeline.push_existing(client, profile, args.repo, args.registry, args.quiet)
        image = pipeline.local_image(client, profile, args.repo)
        return Outcome(profile.name, True, Built(profile.name, image.id, 0.0, image.attrs["Size"],
                                                 list(digests)), digests=digests)
    return _run_each(args, step)


def cmd_release(args: argparse.Namespace) -> int:
    """validate -> render --check -> build -> smoke test -> tag -> push."""
    if args.registry:
        tags.check_repository(args.registry)
    if args.dry_run:
        return _dry_run(args)
    client = engine.connect()

    def step(profile: Profile) -> Outcome:
        _fresh(profile, args.docker_dir)
        built = pipeline.build_and_test(client, profile, _inputs(args), args.repo, args.quiet,
                                        args.docker_dir)
        digests = {}
        if args.registry:
            digests = pipeline.push_existing(client, profile, args.repo, args.registry, args.quiet)
            built.tags += list(digests)
        return Outcome(profile.name, True, built, digests=digests)
    return _run_each(args, step)


def _dry_run(args: argparse.Namespace) -> int:
    inputs = _inputs(args)
    for profile in _select(args.profiles, args.profiles_dir):
        release = pipeline.release_of(profile)
        print(f"[{profile.name}] would build docker/{profile.name} "
              f"(base {inputs.base_image or profile.base_image}, vLLM {profile.stack.vllm}"
              f"{', CA bundle ' + str(inputs.ca_bundle) if inputs.ca_bundle else ''}"
              f"{', index ' + inputs.index_url if inputs.index_url else ''}{', no cache' if inputs.no_cache else ''})")
        print(f"[{profile.name}] would smoke-test it, then tag {', '.join(tags.all_tags(args.repo, release))}")
        if getattr(args, "registry", None):
            print(f"[{profile.name}] would push {', '.join(tags.all_tags(args.registry, release))}")
    return 0


def _select(names: list[str], directory: Path) -> list[Profile]:
    loaded = profiles.load(directory)
    unknown = [n for n in names if n not in loaded]
    if unknown:
        raise UserError(f"unknown profile {', '.join(map(repr, unknown))}; allowed: {', '.join(loaded)}")
    return [loaded[n] for n in names] if names else list(loaded.values())


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="build.py", description="Build vLLM images for gpt-oss, tuned per accelerator.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--profiles-dir", type=Path, default=profiles.PROFILES_DIR, metavar="DIR",
                     help="where the profile YAML files are (default: profiles/)")
    top.add_argument("--docker-dir", type=Path, default=render.DOCKER_DIR, metavar="DIR",
                     help="where the rendered build contexts are (default: docker/)")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    add("list", cmd_list, "table of profiles: family, GPU, base image, vLLM version")
    add("show", cmd_show, "print a profile as resolved after inheritance").add_argument(
        "profile", metavar="PROFILE")
    add("validate", cmd_validate, "validate every profile; report every problem at once")
    p = add("render", cmd_render, "render docker/<profile>/ from profiles/ and templates/")
    p.add_argument("profiles", nargs="*", metavar="PROFILE", help="default: every profile")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 and name every stale or missing file")
    for name, func, text in [
        ("build", cmd_build, "build images, smoke-test them, and only then tag them"),
        ("test", cmd_test, "smoke-test the images tagged REPO:gptoss-<profile>"),
        ("push", cmd_push, "push REPO:gptoss-<profile> to a registry: immutable tag, then floating"),
        ("release", cmd_release, "validate, render --check, build, test, tag and push"),
    ]:
        p = add(name, func, text)
        p.add_argument("profiles", nargs="+" if name != "release" else "*", metavar="PROFILE",
                       help="profiles to work on" + (" (default: all)" if name == "release" else ""))
        p.add_argument("--repo", default=pipeline.DEFAULT_REPO, type=tags.check_repository,
                       help=f"local image repository (default {pipeline.DEFAULT_REPO})")
        p.add_argument("--quiet", action="store_true", help="print only errors and the closing table")
        if name in ("push", "release"):
            p.add_argument("--registry", required=name == "push", metavar="HOST/REPO",
                           help="where to push, e.g. localhost:5000/gptoss or ghcr.io/acme/gptoss")
        if name in ("build", "release"):
            p.add_argument("--base-image", metavar="IMAGE",
                           help="replace the profile's base image (a private mirror, a test base)")
            p.add_argument("--index-url", metavar="URL", help="Python package index for the build")
            p.add_argument("--ca-bundle", type=Path, metavar="PEM",
                           help="extra CA bundle for the build stages; absent from the final image")
            p.add_argument("--no-cache", action="store_true", help="build every layer anew")
            p.add_argument("--dry-run", action="store_true", help="print what would be built and tagged")
    return top


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        return args.func(args)
    except UserError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
