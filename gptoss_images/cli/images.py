"""build.py's image commands: build, test, push, release, verify, gpu-test, promote, summary."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from gptoss_images.cli import args as cli_args
from gptoss_images.errors import UserError
from gptoss_images.image import engine, pipeline
from gptoss_images.image.pipeline import Outcome
from gptoss_images.image.selection import Options, Selection, Target
from gptoss_images.profiles import catalog
from gptoss_images.publish import gates, gpu_test, provenance, release, results, runners, signing
from gptoss_images.render import naming

Add = Callable[..., argparse.ArgumentParser]
"""main's `add(name, func, help, *examples)`: a subcommand's parser."""


def _selection(args: argparse.Namespace) -> Selection:
    return Selection.load(args.profiles_dir, args.docker_dir)


def _options(args: argparse.Namespace, stack_registry: str | None = None) -> Options:
    return Options(tuple(args.base_image or ()), args.index_url, args.ca_bundle, args.no_cache,
                   stack_registry or getattr(args, "stack_registry", None))


def _run_each(targets: list[Target], step: Callable[[Target], Outcome]) -> int:
    """Run `step` for every selected profile or vendor image; one failure does not stop the others."""
    outcomes = []
    for target in targets:
        try:
            outcomes.append(step(target))
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            if exc.detail:
                print(exc.detail, file=sys.stderr)
            outcomes.append(Outcome(target.name, False, error=str(exc)))
    print(pipeline.table(outcomes))
    return 0 if all(o.ok for o in outcomes) else 1


def cmd_build(args: argparse.Namespace) -> int:
    chosen = _selection(args)
    targets = chosen.targets(args.profiles)
    if args.dry_run:
        return _dry_run(args, chosen, targets)
    client = engine.connect()
    return _run_each(targets, lambda t: Outcome(t.name, True, pipeline.build_target(
        client, chosen, t, _options(args), args.repo, args.quiet)))


def cmd_test(args: argparse.Namespace) -> int:
    targets = _selection(args).targets(args.profiles)
    client = engine.connect()
    return _run_each(targets, lambda t: Outcome(t.name, True, pipeline.test_existing(client, t, args.repo,
                                                                                     args.quiet)))


def cmd_push(args: argparse.Namespace) -> int:
    chosen = _selection(args)
    targets = chosen.targets(args.profiles)
    if args.dry_run:
        return _dry_run(args, chosen, targets)
    key = signing.signer(args.signing_key)
    client = engine.connect()
    return _run_each(targets, lambda t: release.push_outcome(client, t, args.repo, args.registry, args.quiet, key))


def cmd_release(args: argparse.Namespace) -> int:
    """validate -> render --check -> build -> smoke test -> tag -> push."""
    chosen = _selection(args)
    targets = chosen.targets(args.profiles)
    if args.dry_run:
        return _dry_run(args, chosen, targets)
    key = signing.signer(args.signing_key) if args.registry else None
    client = engine.connect()
    return _run_each(targets, lambda t: release.release_outcome(
        client, chosen, t, _options(args), args.repo, args.registry, args.hold_floating, args.quiet, args.results,
        key))


def cmd_verify(args: argparse.Namespace) -> int:
    """The image's provenance beside it in the registry: signature, subject, tag, SBOM."""
    key = signing.public_key(args.key)
    if key is None:
        raise UserError(f"verify: no public key: give --key PUBLIC.pem or {signing.VERIFY_VARIABLE} (the PEM text)")
    checks = provenance.verify(args.ref, key)
    for check in checks:
        print(check)
    verified = len(checks) == len(provenance.CHECKS) and all(check.ok for check in checks)
    print(f"{args.ref}: {'verified' if verified else 'NOT verified'}")
    return 0 if verified else 1


def cmd_gpu_test(args: argparse.Namespace) -> int:
    profile = _selection(args).profile(args.profile)
    bad = [item for item in args.env if "=" not in item]
    if bad:
        raise UserError(f"--env {bad[0]!r}: expected NAME=VALUE")
    check = gpu_test.Check(args.image, args.repo, args.results, dict(item.split("=", 1) for item in args.env),
                           not args.without_gpu, not args.no_measure, args.hf_cache, args.eval_data,
                           args.against_defaults, args.registry)
    result = gpu_test.job(engine.connect(), profile, check)
    return 0 if result.status == "passed" else 1


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
    """Each stack image: the local one, the registry's, or built; with --registry, pushed there."""
    chosen = _selection(args)
    if args.github_output:
        cli_args.github_output(args.github_output, json.dumps([s.name for s in chosen.stacks]))
        return 0
    wanted = chosen.stacks_named(args.stacks)
    release.publish_stacks(engine.connect(), chosen, wanted, _options(args, args.registry), args.repo,
                           args.registry, args.quiet)
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    chosen = _selection(args)
    for name in args.accept_settings:
        chosen.profile(name)  # an unknown one is refused in one line
    key = signing.public_key(args.key)
    published = release.promote_all(engine.connect(), args.results, args.registry, args.allow_no_gpu_check,
                                    args.max_throughput_drop, chosen.lines(), set(args.accept_settings), key)
    for p in published:
        print(f"{p.profile:8} {'published' if p.ok else 'not published'}{': ' + p.detail if p.detail else ''}")
    return 0 if published and all(p.ok for p in published) else 1


def cmd_summary(args: argparse.Namespace) -> int:
    table = results.markdown(args.results)
    if args.output:  # appended in one write, as $GITHUB_STEP_SUMMARY expects
        try:
            with open(args.output, "a", encoding="utf-8") as handle:
                handle.write("## gptoss-images\n\n" + table)
        except OSError as exc:
            raise UserError(f"--output {args.output}: cannot write it ({exc.strerror})") from None
    print(table, end="")
    return 0


def _dry_run(args: argparse.Namespace, chosen: Selection, targets: list[Target]) -> int:
    for target in targets:
        inputs = None if args.command == "push" else chosen.inputs(target, _options(args))
        for line in pipeline.plan_lines(target, inputs, args.repo, getattr(args, "registry", None)):
            print(f"[{target.name}] {line}")
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
             "python build.py push h100 --registry ghcr.io/acme/gptoss-images --signing-key signing.pem",
             "python build.py push h100 h200 --registry ghcr.io/acme/gptoss-images --dry-run"],
    "verify": ["python build.py verify ghcr.io/acme/gptoss-images:gptoss-h100 --key signing.pub",
               "GPTOSS_VERIFY_KEY=\"$(cat signing.pub)\" python build.py verify REGISTRY/REPO@sha256:...",
               "openssl genpkey -algorithm ed25519 -out signing.pem && openssl pkey -in signing.pem -pubout -out "
               "signing.pub   (a key pair)"],
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
        if name in ("push", "release"):
            p.add_argument("--signing-key", metavar="PEM",
                           help="sign each image's provenance with this private key (Ed25519, ECDSA or RSA; "
                                f"default ${signing.SIGNING_VARIABLE}, the PEM text; never printed)")
        if name in ("build", "release", "push"):
            p.add_argument("--dry-run", action="store_true", help="print what would be done, do nothing")
    p = add("verify", cmd_verify, "check a pushed image's signed provenance: the digest its tag resolves to, the "
                                  "signature, the subject, the tag and the SBOM beside it", *EXAMPLES["verify"])
    p.add_argument("ref", metavar="REF", type=cli_args.image_reference,
                   help="HOST/REPO:TAG or HOST/REPO@sha256:DIGEST of a pushed image")
    p.add_argument("--key", metavar="PEM", help=f"the signer's public key (default ${signing.VERIFY_VARIABLE}, "
                                               "the PEM text)")
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
    p.add_argument("--key", metavar="PEM", help="verify each image's provenance against this public key before "
                                               f"moving its tag (default ${signing.VERIFY_VARIABLE})")
    p.add_argument("--max-throughput-drop", type=_fraction, default=gates.MAX_THROUGHPUT_DROP, metavar="F",
                   help="refuse an image whose output tok/s per GPU fell more than F from the last published "
                        f"one (default {gates.MAX_THROUGHPUT_DROP})")
    p = add("summary", cmd_summary, "markdown table of a run: profile, digest, size, build time, result",
            *EXAMPLES["summary"])
    p.add_argument("--results", type=Path, required=True, metavar="DIR")
    p.add_argument("--output", metavar="FILE", help="append it to FILE too (e.g. $GITHUB_STEP_SUMMARY)")
