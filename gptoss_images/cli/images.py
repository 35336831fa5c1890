"""build.py's image commands: build, test, push, release, gpu-test, promote, summary."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from gptoss_images.cli import args as cli_args
from gptoss_images.errors import UserError
from gptoss_images.image import build, engine, pipeline, tags
from gptoss_images.image.build import BuildInputs, Built
from gptoss_images.image.pipeline import Outcome
from gptoss_images.profiles import catalog
from gptoss_images.profiles.schema import Profile
from gptoss_images.publish import gates, gpu_test, registry, release, results, runners
from gptoss_images.render import families, naming, outputs, stacks
from gptoss_images.render.families import Family
from gptoss_images.render.stacks import Stack

Add = Callable[..., argparse.ArgumentParser]
"""main's `add(name, func, help, *examples)`: a subcommand's parser."""


Target = Profile | Family
"""A per-GPU image's profile, or a vendor image."""


def _targets(args: argparse.Namespace) -> list[Target]:
    """The named profiles and vendor images, in that order (every profile if none is named)."""
    loaded = catalog.load(args.profiles_dir)
    vendor = {f.name: f for f in families.group(loaded, outputs.stacks_of(loaded))}
    names = args.profiles or list(loaded)
    unknown = [n for n in names if n not in loaded and n not in vendor]
    if unknown:
        raise UserError(f"unknown profile {', '.join(map(repr, unknown))}; allowed: {', '.join(loaded)}; "
                        f"vendor images: {', '.join(vendor)}")
    return [loaded.get(n) or vendor[n] for n in names]


def _inputs(args: argparse.Namespace, target: Target) -> BuildInputs:
    """The build inputs for `profile`; --base-image takes IMAGE or SELECTOR=IMAGE, where SELECTOR is
    the profile's line, family or family-line (family-line wins over family, family over line)."""
    profile = target.first if isinstance(target, Family) else target
    loaded = catalog.load(args.profiles_dir)
    known = {p.family for p in loaded.values()} | {p.line for p in loaded.values()} | \
        {f"{p.family}-{p.line}" for p in loaded.values()}
    ranks = {None: 0, profile.line: 1, profile.family: 2, f"{profile.family}-{profile.line}": 3}
    base, rank = None, -1
    for given in args.base_image or []:  # each checked by cli.args.base_image
        selector, sep, image = given.partition("=")
        selector = selector if sep else None
        if selector is not None and selector not in known:
            raise UserError(f"--base-image {given!r}: unknown family or line {selector!r}; allowed: "
                            f"{', '.join(sorted(known))}")
        if selector in ranks and ranks[selector] >= rank:
            base, rank = (image if sep else given), ranks[selector]
    return BuildInputs(base, args.index_url, args.ca_bundle, args.no_cache, getattr(args, "stack_registry", None))


def _stack(args: argparse.Namespace, target: Target) -> Stack | None:
    """The stack image `target` is built FROM, if its family is built from PyPI."""
    if isinstance(target, Family):
        return target.stack
    return stacks.of(target.name, outputs.stacks_of(catalog.load(args.profiles_dir)))


def _run_each(args: argparse.Namespace, step: Callable[[Target], Outcome]) -> int:
    """Run `step` for every selected profile or vendor image; one failure does not stop the others."""
    outcomes = []
    for profile in _targets(args):
        try:
            outcomes.append(step(profile))
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            if exc.detail:
                print(exc.detail, file=sys.stderr)
            outcomes.append(Outcome(profile.name, False, error=str(exc)))
    print(pipeline.table(outcomes))
    return 0 if all(o.ok for o in outcomes) else 1


def _fresh(args: argparse.Namespace, target: Target) -> None:
    """The target's Dockerfile (and its stack's) as the profiles render them now, or one error."""
    docker_dir = args.docker_dir
    names = [p.name for p in target.members] if isinstance(target, Family) else [target.name]
    rendered = outputs.compute(catalog.load(args.profiles_dir), names, docker_dir, args.profiles_dir)
    stale = [line for line in outputs.stale(rendered, docker_dir, complete=False)
             if "docker-bake.hcl" not in line and "profile.schema.json" not in line]
    if stale:
        raise UserError(f"{target.name}: generated files out of date ({stale[0]}): "
                        "run `python build.py render`")


def cmd_build(args: argparse.Namespace) -> int:
    if args.dry_run:
        return _dry_run(args)
    client = engine.connect()

    def step(profile: Profile) -> Outcome:
        _fresh(args, profile)
        return Outcome(profile.name, True, pipeline.build_and_test(client, profile, _inputs(args, profile),
                                                                   args.repo, args.quiet, args.docker_dir,
                                                                   _stack(args, profile)))
    return _run_each(args, step)


def cmd_test(args: argparse.Namespace) -> int:
    client = engine.connect()
    return _run_each(args, lambda p: Outcome(p.name, True, pipeline.test_existing(client, p, args.repo,
                                                                                   args.quiet)))


def cmd_push(args: argparse.Namespace) -> int:
    if args.dry_run:
        return _dry_run(args)
    client = engine.connect()

    def step(profile: Profile) -> Outcome:
        _, digests, _ = release.push_existing(client, profile, args.repo, args.registry, args.quiet)
        image = pipeline.local_image(client, profile, args.repo)
        return Outcome(profile.name, True, Built(profile.name, image.id, 0.0, image.attrs["Size"],
                                                 list(digests)), digests=digests)
    return _run_each(args, step)


def cmd_release(args: argparse.Namespace) -> int:
    """validate -> render --check -> build -> smoke test -> tag -> push."""
    if args.dry_run:
        return _dry_run(args)
    client = engine.connect()

    def step(profile: Profile) -> Outcome:
        _fresh(args, profile)
        result, built = release.release(client, profile, _inputs(args, profile), args.repo, args.registry,
                                        args.hold_floating, args.quiet, args.docker_dir, _stack(args, profile))
        if args.results:
            results.write(args.results, result)
        if not result.ok:
            raise UserError(result.error)
        return Outcome(profile.name, True, built)
    return _run_each(args, step)


def cmd_gpu_test(args: argparse.Namespace) -> int:
    profile = catalog.select([args.profile], args.profiles_dir)[0]
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
    bad = [item for item in args.env if "=" not in item]
    if bad:
        raise UserError(f"--env {bad[0]!r}: expected NAME=VALUE")
    env = dict(item.split("=", 1) for item in args.env)
    carried = None
    if args.against_defaults == "new-release":
        if not args.registry:
            raise UserError("--against-defaults new-release: give --registry, where the last published image's "
                            "measurements are")
        carried = gpu_test.measured_versus(tags.floating(args.registry, profile.name), profile.stack.vllm)
    compare = args.against_defaults == "always" or (args.against_defaults == "new-release" and carried is None)
    outcome = gpu_test.run(client, image, profile, with_gpu=not args.without_gpu, env=env,
                           measure=not args.no_measure, hf_cache=args.hf_cache, eval_data=args.eval_data,
                           against_defaults=compare)
    versus = outcome.versus or carried or {}
    if outcome.selftest:
        print(f"[{profile.name}] self-test {'passed' if outcome.selftest['passed'] else 'FAILED'}: "
              f"{results.startup_text(outcome.selftest)}")
    if versus:
        print(f"[{profile.name}] against vLLM's defaults: {results.versus_text(versus)}")
    print(f"[{profile.name}] gpu-test {'passed' if outcome.ok else 'FAILED'}: {outcome.detail}")
    if outcome.bench:
        print(f"[{profile.name}] bench: {outcome.bench['output_throughput_per_gpu']:.0f} output tok/s per GPU, "
              f"TTFT p50 {outcome.bench['median_ttft_ms']:.0f} ms, TPOT p50 {outcome.bench['median_tpot_ms']:.1f} ms")
    for o in outcome.evals:
        print(f"[{profile.name}] eval: {o['eval']} {o['score']:.1f} (recipe {o['recipe']}, {o['samples']} answers)")
    if args.results:
        results.write(args.results, results.GpuResult(profile.name, "passed" if outcome.ok else "failed",
                                                      outcome.detail, outcome.bench, outcome.evals, outcome.selftest,
                                                      versus))
    return 0 if outcome.ok else 1


def cmd_gpu_runners(args: argparse.Namespace) -> int:
    """The profiles whose GPU job can run now; the others get a GPU result saying why they are held."""
    names = [p.name for p in catalog.select(args.profiles, args.profiles_dir)]
    token = os.environ.get("RUNNERS_TOKEN") or os.environ.get("GITHUB_TOKEN") or ""
    try:
        served, held = runners.split(names, runners.online(args.api_url, args.repository, token))
    except UserError as exc:
        print(f"warning: {exc}; every GPU job is held", file=sys.stderr)
        served, held = [], names
    for name in held:
        print(f"[{name}] {runners.missing_reason(name)}")
        if args.results:
            results.write(args.results, results.GpuResult(name, "not run", runners.missing_reason(name)))
    if args.github_output:
        cli_args.github_output(args.github_output, json.dumps(served))
    return 0


def cmd_stacks(args: argparse.Namespace) -> int:
    """Each stack image: the local one, the registry's, or built; with --registry, pushed there for the
    nightly's image jobs to pull instead of building it."""
    loaded = catalog.load(args.profiles_dir)
    all_stacks = outputs.stacks_of(loaded)
    if args.github_output:
        cli_args.github_output(args.github_output, json.dumps([s.name for s in all_stacks]))
        return 0
    by_name = {s.name: s for s in all_stacks}
    wanted: dict[str, Stack] = {}
    for name in args.stacks or list(by_name):
        if name in by_name:
            wanted[name] = by_name[name]
        elif name in loaded:  # a profile: its line's stack (none for an image built on a vendor's)
            found = stacks.of(name, all_stacks)
            if found:
                wanted[found.name] = found
        else:
            raise UserError(f"unknown stack or profile {name!r}; stacks: {', '.join(by_name)}")
    client = engine.connect()
    args.stack_registry = args.registry
    for stack in wanted.values():
        ref = build.build_stack(client, stack, _inputs(args, stack.spec), args.repo, args.quiet)
        if not args.registry:
            print(f"[stack {stack.name}] {ref}")
            continue
        remote = build.remote_stack(args.registry, ref)
        try:
            registry.registry_digest(client, remote)
            print(f"[stack {stack.name}] {remote} is in the registry already")
        except UserError:
            digests = registry.push(client, client.images.get(ref).id, [remote], args.quiet)
            print(f"[stack {stack.name}] pushed {remote} {digests[remote]}")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    loaded = catalog.load(args.profiles_dir)
    unknown = sorted(set(args.accept_settings) - set(loaded))
    if unknown:
        raise UserError(f"--accept-settings {','.join(unknown)}: no such profile; allowed: {', '.join(loaded)}")
    lines = {name: f"{p.family}/{p.line}" for name, p in loaded.items()}
    published = release.promote_all(engine.connect(), args.results, args.registry, args.allow_no_gpu_check,
                                    args.max_throughput_drop, lines, set(args.accept_settings))
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


def _dry_run(args: argparse.Namespace) -> int:
    for profile in _targets(args):
        planned = pipeline.release_of(profile)
        if args.command == "push":
            print(f"[{profile.name}] would push {tags.floating(args.repo, profile.name)} as "
                  f"{', '.join(tags.all_tags(args.registry, planned))} (the immutable tag from the image's labels)")
            continue
        inputs = _inputs(args, profile)
        first = profile.first if isinstance(profile, Family) else profile
        dockerfile = profile.dockerfile if isinstance(profile, Family) else f"docker/{profile.name}/Dockerfile"
        print(f"[{profile.name}] would build {dockerfile} "
              f"(base {inputs.base_image or first.base_image}, vLLM {first.stack.vllm}"
              f"{', CA bundle ' + str(inputs.ca_bundle) if inputs.ca_bundle else ''}"
              f"{', index ' + inputs.index_url if inputs.index_url else ''}{', no cache' if inputs.no_cache else ''})")
        print(f"[{profile.name}] would smoke-test it, then tag {', '.join(tags.all_tags(args.repo, planned))}")
        if getattr(args, "registry", None):
            print(f"[{profile.name}] would push {', '.join(tags.all_tags(args.registry, planned))}")
    return 0


EXAMPLES = {
    "build": ["python build.py build h100",
              "python build.py build cuda             (the vendor image: every current-line CUDA profile)",
              "python build.py build h100 h200 --quiet",
              "python build.py build h100 --base-image mirror.local/nvidia/cuda:12.8.1-devel-ubuntu24.04 \\",
              "    --index-url https://pypi.mirror.local/simple --ca-bundle corp-ca.pem",
              "python build.py build h100 h100-cu128 \\",
              "    --base-image current=mirror.local/nvidia/cuda:13.0.2-base-ubuntu24.04 \\",
              "    --base-image cu128=mirror.local/nvidia/cuda:12.8.1-devel-ubuntu24.04",
              "python build.py build mi300x --base-image rocm-current=mirror.local/vllm/vllm-openai-rocm:v0.33.0",
              "python build.py build h100 --dry-run"],
    "test": ["python build.py test h100", "python build.py test h100 --repo my/gptoss"],
    "push": ["python build.py push h100 --registry localhost:5000/gptoss-images",
             "python build.py push h100 h200 --registry ghcr.io/acme/gptoss-images --dry-run"],
    "release": ["python build.py release h100 --registry ghcr.io/acme/gptoss-images",
                "python build.py release --registry ghcr.io/acme/gptoss-images --hold-floating --results results",
                "python build.py release h100 --dry-run"],
    "gpu-test": ["python build.py gpu-test h100 --results results",
                 "python build.py gpu-test h100 --results results --against-defaults new-release --registry R",
                 "python build.py gpu-test h100 --results results --hf-cache /mnt/hf --eval-data /mnt/evals",
                 "python build.py gpu-test h100 --image ghcr.io/acme/gptoss-images:gptoss-h100"],
    "gpu-runners": ["RUNNERS_TOKEN=... python build.py gpu-runners --repository acme/gptoss-images --results results "
                    "--github-output gpu_profiles"],
    "stacks": ["python build.py stacks", "python build.py stacks cuda-current --registry ghcr.io/acme/gptoss-images",
               "python build.py stacks --github-output stacks"],
    "promote": ["python build.py promote --results results --registry ghcr.io/acme/gptoss-images",
                "python build.py promote --results results --registry R --max-throughput-drop 0.05",
                "python build.py promote --results results --registry R --accept-settings h100,h200"],
    "summary": ["python build.py summary --results results",
                "python build.py summary --results results --output \"$GITHUB_STEP_SUMMARY\""],
}


def _folder(text: str) -> Path:
    if not Path(text).is_dir():
        raise UserError(f"{text!r}: no such folder")
    return Path(text)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise UserError(f"--max-throughput-drop {text!r}: a fraction from 0 to below 1, e.g. 0.1")
    return value


def add_commands(add: Add) -> None:
    for name, func, text in [
        ("build", cmd_build, "build images, smoke-test them, and only then tag them"),
        ("test", cmd_test, "smoke-test the images tagged REPO:gptoss-<profile>"),
        ("push", cmd_push, "push REPO:gptoss-<profile> to a registry: immutable tag, then floating"),
        ("release", cmd_release, "validate, render --check, build, test, tag and push"),
    ]:
        p = add(name, func, text, *EXAMPLES[name])
        p.add_argument("profiles", nargs="+" if name != "release" else "*", metavar="PROFILE",
                       help="profiles (h100, h100-cu128) or vendor images (cuda, cuda-cu128, rocm) to work on"
                            + (" (default: every profile)" if name == "release" else ""))
        p.add_argument("--repo", default=naming.DEFAULT_REPO, type=cli_args.repository,
                       help=f"local image repository (default {naming.DEFAULT_REPO})")
        p.add_argument("--quiet", action="store_true", help="print only errors and the closing table")
        if name in ("push", "release"):
            p.add_argument("--registry", required=name == "push", metavar="HOST/REPO", type=cli_args.repository,
                           help="the repository to push to, e.g. localhost:5000/gptoss-images or "
                                "ghcr.io/acme/gptoss-images (tags: REGISTRY:gptoss-<profile>)")
        if name == "release":
            p.add_argument("--hold-floating", action="store_true",
                           help="push the immutable tag only; `promote` moves the floating tag later")
            p.add_argument("--results", type=Path, metavar="DIR", help="write <profile>.json results here")
        if name in ("build", "release"):
            p.add_argument("--base-image", metavar="[SELECTOR=]IMAGE", action="append", type=cli_args.base_image,
                           help="replace the base image (a private mirror, a test base); SELECTOR=IMAGE for "
                                "one family (cuda), line (cu128) or both (cuda-cu128) only; repeatable")
            p.add_argument("--index-url", metavar="URL", type=cli_args.index_url,
                           help="Python package index for the build")
            p.add_argument("--ca-bundle", type=cli_args.ca_bundle, metavar="PEM",
                           help="extra CA bundle for the build stages; absent from the final image")
            p.add_argument("--no-cache", action="store_true", help="build every layer anew")
        if name in ("build", "release"):
            p.add_argument("--stack-registry", metavar="HOST/REPO", type=cli_args.repository,
                           help="pull the stack image from HOST/REPO-stack:<name>-<hash> if it is there, "
                                "instead of building it (the nightly's image jobs)")
        if name in ("build", "release", "push"):
            p.add_argument("--dry-run", action="store_true", help="print what would be done, do nothing")
    p = add("stacks", cmd_stacks, "build each stack image once (or pull it from --registry) and push it there",
            *EXAMPLES["stacks"])
    p.add_argument("stacks", nargs="*", metavar="STACK|PROFILE",
                   help="stacks to build, or the profiles whose stacks to build (default: every stack)")
    p.add_argument("--registry", metavar="HOST/REPO", type=cli_args.repository,
                   help="push each stack to HOST/REPO-stack:<name>-<hash> (nothing if it is there already)")
    p.add_argument("--repo", default=naming.DEFAULT_REPO, type=cli_args.repository)
    p.add_argument("--base-image", metavar="[SELECTOR=]IMAGE", action="append", type=cli_args.base_image)
    p.add_argument("--index-url", metavar="URL", type=cli_args.index_url)
    p.add_argument("--ca-bundle", type=cli_args.ca_bundle, metavar="PEM")
    p.add_argument("--no-cache", action="store_true", help="build every layer anew")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--github-output", metavar="NAME",
                   help="only write NAME=<JSON list of stacks> to $GITHUB_OUTPUT (a workflow's matrix)")
    p = add("gpu-runners", cmd_gpu_runners, "the profiles with an online GPU runner (self-hosted, gpu, PROFILE); "
                                            "the others get a GPU result saying their image is held",
            *EXAMPLES["gpu-runners"])
    p.add_argument("profiles", nargs="*", metavar="PROFILE", help="profiles (default: all)")
    p.add_argument("--repository", required=True, metavar="OWNER/NAME", type=cli_args.github_repository,
                   help="the GitHub repository (in a workflow: ${{ github.repository }})")
    p.add_argument("--api-url", default=os.environ.get("GITHUB_API_URL", "https://api.github.com"), metavar="URL",
                   type=cli_args.api_url, help="GitHub's REST API (default $GITHUB_API_URL or api.github.com)")
    p.add_argument("--results", type=Path, metavar="DIR", help="write <profile>.gpu.json of each held profile here")
    p.add_argument("--github-output", metavar="NAME", help="write NAME=<JSON list of the served profiles>")
    p = add("gpu-test", cmd_gpu_test, "on a GPU machine: the image's --check, its --self-test (no weights), serve "
                                      "gpt-oss-20b, ask /v1/models and one chat completion, then run gptoss-bench "
                                      "and gptoss-eval in it",
            *EXAMPLES["gpu-test"])
    p.add_argument("profile", metavar="PROFILE")
    p.add_argument("--image", metavar="REF", help="image to test (default: the pushed immutable tag in "
                                                  "--results, else REPO:gptoss-<profile>)")
    p.add_argument("--results", type=Path, metavar="DIR", help="read the pushed image from, and write "
                                                               "<profile>.gpu.json to, this folder")
    p.add_argument("--repo", default=naming.DEFAULT_REPO, type=cli_args.repository)
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="extra environment for the container")
    p.add_argument("--without-gpu", action="store_true",
                   help="request no GPU and skip --check (to test the probe against a stub server)")
    p.add_argument("--no-measure", action="store_true", help="serve and chat only: no bench, no evals")
    p.add_argument("--against-defaults", choices=["never", "always", "new-release"], default="never",
                   help="gptoss-bench --synthetic --against-defaults --scenario all on the GPUs, before any weights: "
                        "never (default), always, or new-release: only when the image's vLLM is not the one "
                        "the published image was measured on (read beside its floating tag in --registry)")
    p.add_argument("--registry", metavar="HOST/REPO", type=cli_args.repository,
                   help="where the published images and their measurements are (for --against-defaults "
                        "new-release)")
    p.add_argument("--hf-cache", type=_folder, metavar="DIR",
                   help="the Hugging Face cache to mount (default ~/.cache/huggingface)")
    p.add_argument("--eval-data", type=_folder, metavar="DIR",
                   help="the eval datasets (gpqa_diamond.csv, aime2025-I/II.jsonl; default: downloaded)")
    p = add("promote", cmd_promote, "move the floating tag of each profile whose image and GPU check passed",
            *EXAMPLES["promote"])
    p.add_argument("--results", type=Path, required=True, metavar="DIR")
    p.add_argument("--registry", required=True, metavar="HOST/REPO", type=cli_args.repository)
    p.add_argument("--allow-no-gpu-check", action="store_true",
                   help="also publish profiles whose GPU check did not run (no GPU here)")
    p.add_argument("--accept-settings", type=_names, default=[], metavar="PROFILE[,PROFILE...]",
                   help="a person accepts that these profiles' settings measured worse than the new vLLM's "
                        "defaults: their line is published anyway")
    p.add_argument("--max-throughput-drop", type=_fraction, default=gates.MAX_THROUGHPUT_DROP, metavar="F",
                   help="refuse an image whose output tok/s per GPU fell more than F from the last published "
                        f"one (default {gates.MAX_THROUGHPUT_DROP})")
    p = add("summary", cmd_summary, "markdown table of a run: profile, digest, size, build time, result",
            *EXAMPLES["summary"])
    p.add_argument("--results", type=Path, required=True, metavar="DIR")
    p.add_argument("--output", metavar="FILE", help="append it to FILE too (e.g. $GITHUB_STEP_SUMMARY)")
