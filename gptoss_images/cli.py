"""build.py's command line: one small function per command."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from gptoss_images import engine, gpu_test, pins, pipeline, profiles, render, results, tags, vllm_api, vllm_env
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
    if args.github_output:
        names = [p.name for p in _select(args.profiles, args.profiles_dir)]
        line = f"{args.github_output}={json.dumps(names)}\n"
        target = os.environ.get("GITHUB_OUTPUT")
        if target:
            with open(target, "a") as handle:
                handle.write(line)
        print(line, end="")
        return 0
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


def _inputs(args: argparse.Namespace, profile: Profile) -> BuildInputs:
    """The build inputs for `profile`; --base-image takes IMAGE or FAMILY=IMAGE."""
    base = None
    for given in args.base_image or []:
        family, sep, image = given.partition("=")
        if not sep:
            base = given
        elif family not in ("cuda", "rocm"):
            raise UserError(f"--base-image {given}: unknown family {family!r}; allowed: cuda, rocm")
        elif family == profile.family:
            base = image
    return BuildInputs(base, args.index_url, args.ca_bundle, args.no_cache)


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
        return Outcome(profile.name, True, pipeline.build_and_test(client, profile, _inputs(args, profile),
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
        result, built = pipeline.release(client, profile, _inputs(args, profile), args.repo, args.registry,
                                         args.hold_floating, args.quiet, args.docker_dir)
        if args.results:
            results.write(args.results, result)
        if not result.ok:
            raise UserError(result.error)
        return Outcome(profile.name, True, built)
    return _run_each(args, step)


def cmd_gpu_test(args: argparse.Namespace) -> int:
    profile = _select([args.profile], args.profiles_dir)[0]
    client = engine.connect()
    image = args.image
    if image is None and args.results:
        pushed = results.read(args.results, profile.name, "image")
        image = pushed.immutable if pushed and pushed.ok else None
        if image is None:
            print(f"error: {args.results}: no pushed image of {profile.name} to check", file=sys.stderr)
            results.write(args.results, results.GpuResult(profile.name, "failed", "no image"))
            return 1
    image = image or tags.floating(args.repo, profile.name)
    env = dict(item.split("=", 1) for item in args.env)
    outcome = gpu_test.run(client, image, profile, with_gpu=not args.without_gpu, env=env)
    print(f"[{profile.name}] gpu-test {'passed' if outcome.ok else 'FAILED'}: {outcome.detail}")
    if args.results:
        results.write(args.results, results.GpuResult(profile.name, "passed" if outcome.ok else "failed",
                                                      outcome.detail))
    return 0 if outcome.ok else 1


def cmd_promote(args: argparse.Namespace) -> int:
    tags.check_repository(args.registry)
    published = pipeline.promote_all(engine.connect(), args.results, args.allow_no_gpu_check)
    for p in published:
        print(f"{p.profile:8} {'published' if p.ok else 'not published'}{': ' + p.detail if p.detail else ''}")
    return 0 if published and all(p.ok for p in published) else 1


def cmd_summary(args: argparse.Namespace) -> int:
    table = results.markdown(args.results)
    if args.output:
        with open(args.output, "a") as handle:
            handle.write("## gptoss-images\n\n" + table)
    print(table, end="")
    return 0


def cmd_pins_check(args: argparse.Namespace) -> int:
    for line in pins.check(profiles.load(args.profiles_dir), args.index_url):
        print(line)
    return 0


def cmd_pins_snapshot(args: argparse.Namespace) -> int:
    python = vllm_env.ensure(args.version, args.index_url, args.extra_index_url)
    print(f"wrote {vllm_api.snapshot(vllm_env.envs_py(python), args.version)}")
    return 0


def cmd_pins_try(args: argparse.Namespace) -> int:
    loaded = profiles.load(args.profiles_dir)
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
        python = vllm_env.ensure(args.version, args.index_url, args.extra_index_url)
        print(f"wrote {vllm_api.snapshot(vllm_env.envs_py(python), args.version)}")
        print("now run: python build.py render")
    else:
        print(f"every profile passes with vLLM {args.version}: --promote pins it")
    return 0


def _dry_run(args: argparse.Namespace) -> int:
    for profile in _select(args.profiles, args.profiles_dir):
        inputs = _inputs(args, profile)
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

    p = add("list", cmd_list, "table of profiles: family, GPU, base image, vLLM version")
    p.add_argument("profiles", nargs="*", metavar="PROFILE", help="with --github-output: these only")
    p.add_argument("--github-output", metavar="NAME",
                   help="write NAME=<JSON list of profiles> to $GITHUB_OUTPUT (a workflow's matrix)")
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
        if name == "release":
            p.add_argument("--hold-floating", action="store_true",
                           help="push the immutable tag only; `promote` moves the floating tag later")
            p.add_argument("--results", type=Path, metavar="DIR", help="write <profile>.json results here")
        if name in ("build", "release"):
            p.add_argument("--base-image", metavar="[FAMILY=]IMAGE", action="append",
                           help="replace the base image (a private mirror, a test base); "
                                "FAMILY=IMAGE for one family only; repeatable")
            p.add_argument("--index-url", metavar="URL", help="Python package index for the build")
            p.add_argument("--ca-bundle", type=Path, metavar="PEM",
                           help="extra CA bundle for the build stages; absent from the final image")
            p.add_argument("--no-cache", action="store_true", help="build every layer anew")
            p.add_argument("--dry-run", action="store_true", help="print what would be built and tagged")
    p = add("gpu-test", cmd_gpu_test, "on a GPU machine: the image's --check, then serve gpt-oss-20b "
                                      "and ask /v1/models and one chat completion")
    p.add_argument("profile", metavar="PROFILE")
    p.add_argument("--image", metavar="REF", help="image to test (default: the pushed immutable tag in "
                                                  "--results, else REPO:gptoss-<profile>)")
    p.add_argument("--results", type=Path, metavar="DIR", help="read the pushed image from, and write "
                                                               "<profile>.gpu.json to, this folder")
    p.add_argument("--repo", default=pipeline.DEFAULT_REPO, type=tags.check_repository)
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="extra environment for the container")
    p.add_argument("--without-gpu", action="store_true",
                   help="request no GPU and skip --check (to test the probe against a stub server)")
    p = add("promote", cmd_promote, "move the floating tag of each profile whose image and GPU check passed")
    p.add_argument("--results", type=Path, required=True, metavar="DIR")
    p.add_argument("--registry", required=True, metavar="HOST/REPO")
    p.add_argument("--allow-no-gpu-check", action="store_true",
                   help="also publish profiles whose GPU check did not run (no GPU here)")
    p = add("summary", cmd_summary, "markdown table of a run: profile, digest, size, build time, result")
    p.add_argument("--results", type=Path, required=True, metavar="DIR")
    p.add_argument("--output", metavar="FILE", help="append it to FILE too (e.g. $GITHUB_STEP_SUMMARY)")
    pins_parser = add("pins", lambda a: a.pins_parser.print_help() or 2,
                      "track releases of vLLM and FlashInfer newer than the pins")
    pins_sub = pins_parser.add_subparsers(dest="pins_command", metavar="ACTION")
    pins_parser.set_defaults(pins_parser=pins_parser)
    for name, func, text in [
        ("check", cmd_pins_check, "list releases on the package index newer than the pins"),
        ("try", cmd_pins_try, "judge every profile's settings with a candidate vLLM's own parser and envs.py"),
        ("snapshot", cmd_pins_snapshot, "record a vLLM release's environment variables (vllm-api/VERSION)"),
    ]:
        p = pins_sub.add_parser(name, help=text, description=text)
        p.set_defaults(func=func)
        if name != "check":
            p.add_argument("version", metavar="VERSION", help="a vLLM release, e.g. 0.13.0")
        p.add_argument("--index-url", default=pins.DEFAULT_INDEX if name == "check" else None, metavar="URL",
                       help="package index (default PyPI)")
        if name != "check":
            p.add_argument("--extra-index-url", metavar="URL",
                           help="a second index for the candidate's dependencies")
        if name == "try":
            p.add_argument("--promote", action="store_true",
                           help="if every profile passes, pin VERSION in the profiles")
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
