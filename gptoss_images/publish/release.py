"""image -> registry: push the immutable tag, then the floating one; promote only green profiles."""

from __future__ import annotations

import sys
from pathlib import Path

import docker
from securesystemslib.signer import CryptoSigner, SSlibKey

from gptoss_images.errors import UserError
from gptoss_images.image import build, pipeline, sbom, tags
from gptoss_images.image.pipeline import Outcome, local_image, release_from_labels
from gptoss_images.image.selection import Options, Selection, Target
from gptoss_images.profiles.schema import Profile
from gptoss_images.publish import artifacts, gates, provenance, registry, results, signing
from gptoss_images.render import outputs
from gptoss_images.render.stacks import Stack


def push_existing(client: docker.DockerClient, profile: Profile, repo: str, registry_repo: str,
                  quiet: bool = False, hold_floating: bool = False, key: CryptoSigner | None = None
                  ) -> tuple[list[str], dict[str, str], str]:
    """Push the image tagged REPO:gptoss-<profile> as REGISTRY_REPO's immutable, then floating tag
    (with `hold_floating`, the immutable tag alone: the floating one moves at `promote`), its
    SBOM beside the immutable tag and its provenance beside its digest, signed with `key`.

    Returns both registry tags, read from the image's own labels, the digests pushed and a line on
    the SBOM."""
    tags.check_repository(registry_repo)
    image = local_image(client, profile, repo)
    refs = tags.all_tags(registry_repo, release_from_labels(image.labels))
    digests = registry.push(client, image.id, refs[:1] if hold_floating else refs, quiet, immutable=1)
    document = sbom.read(client, image.id)
    parsed = sbom.parse(document)
    if parsed is None:
        raise UserError(f"{refs[0]}: the image has no SBOM at {sbom.PATH}; rebuild it")
    where = artifacts.push_sbom(refs[0], document)
    line = sbom.summary(parsed)
    if not quiet:
        print(f"SBOM beside it: {where} ({line})", file=sys.stderr, flush=True)
    lock = sbom.read(client, image.id, sbom.LOCK_PATH)  # none in an image built on a vendor's
    attested = provenance.attest(refs, digests[refs[0]], image.labels, document, where, key, lock)
    if not quiet:
        signed = f"signed by key {key.public_key.keyid[:12]}" if key else \
            f"NOT signed: give --signing-key or {signing.SIGNING_VARIABLE}"
        print(f"provenance beside it: {attested} ({signed})", file=sys.stderr, flush=True)
    return refs, digests, line


def push_outcome(client: docker.DockerClient, target: Target, repo: str, registry_repo: str,
                 quiet: bool = False, key: CryptoSigner | None = None) -> Outcome:
    """`push`: the local image's tags to the registry, as one row of the closing table."""
    _, digests, _ = push_existing(client, target, repo, registry_repo, quiet, key=key)
    image = local_image(client, target, repo)
    return Outcome(target.name, True, build.Built(target.name, image.id, 0.0, image.attrs["Size"], list(digests)),
                   digests=digests)


def release_outcome(client: docker.DockerClient, chosen: Selection, target: Target, given: Options, repo: str,
                    registry_repo: str | None, hold_floating: bool, quiet: bool, results_dir: Path | None,
                    key: CryptoSigner | None = None) -> Outcome:
    """`release`: fresh files, build, test, tag and push one target; its result written to `results_dir`."""
    chosen.check_fresh(target)
    result, built = release(client, target, chosen.inputs(target, given), repo, registry_repo, hold_floating,
                            quiet, chosen.docker_dir, chosen.stack_of(target), key)
    if results_dir:
        results.write(results_dir, result)
    if not result.ok:
        raise UserError(result.error)
    return Outcome(target.name, True, built)


def publish_stacks(client: docker.DockerClient, chosen: Selection, wanted: list[Stack], given: Options, repo: str,
                   registry_repo: str | None, quiet: bool) -> None:
    """Each stack image: the local one, the registry's, or built; given a registry, pushed there for the
    nightly's image jobs to pull instead of building it."""
    for stack in wanted:
        ref = build.build_stack(client, stack, chosen.inputs(stack.spec, given), repo, quiet)
        if not registry_repo:
            print(f"[stack {stack.name}] {ref}")
            continue
        remote = build.remote_stack(registry_repo, ref)
        try:
            registry.registry_digest(remote)
            print(f"[stack {stack.name}] {remote} is in the registry already")
        except UserError:
            digests = registry.push(client, client.images.get(ref).id, [remote], quiet)
            print(f"[stack {stack.name}] pushed {remote} {digests[remote]}")


def release(client: docker.DockerClient, profile: Profile, inputs: build.BuildInputs, repo: str,
            registry_repo: str | None, hold_floating: bool, quiet: bool = False,
            docker_dir: Path = outputs.DOCKER_DIR, stack: Stack | None = None, key: CryptoSigner | None = None
            ) -> tuple[results.ImageResult, build.Built | None]:
    """Build, test, tag and (given a registry) push one profile. Failures are results, not raised."""
    try:
        built = pipeline.build_and_test(client, profile, inputs, repo, quiet, docker_dir, stack)
    except UserError as exc:
        return results.ImageResult(profile.name, False, error=str(exc)), None
    result = results.ImageResult(profile.name, True, size=built.size, build_s=round(built.seconds, 1))
    if registry_repo:
        try:
            refs, digests, result.sbom = push_existing(client, profile, repo, registry_repo, quiet, hold_floating,
                                                       key)
        except UserError as exc:
            result.ok, result.error = False, str(exc)
            return result, built
        result.immutable, result.floating = refs
        result.digest = digests[result.immutable]
        built.tags += list(digests)
    return result, built


def promote_all(client: docker.DockerClient, directory: Path, registry_repo: str, allow_no_gpu_check: bool,
                max_drop: float = gates.MAX_THROUGHPUT_DROP, lines: dict[str, str] | None = None,
                accepted: set[str] = frozenset(), key: SSlibKey | None = None) -> list[results.PublishResult]:
    """Move the floating tag of each profile whose image was pushed to `registry_repo`, whose GPU
    check passed, whose measurements pass the gates and, given a `key`, whose provenance verifies
    against it; keep those measurements beside it. `lines` maps each profile to its line
    (cuda/current): a line whose settings lost to vLLM's defaults is held whole, unless its losing
    profiles are `accepted`."""
    lines = lines or {}
    measured = {name: (lines.get(name, name), gpu.versus) for name in results.profiles_in(directory)
                if (gpu := results.read(directory, name, "gpu")) and gpu.versus}
    held = gates.held_lines(measured, set(accepted))
    published = []
    for name in results.profiles_in(directory):
        image, gpu = results.read(directory, name, "image"), results.read(directory, name, "gpu")
        status = gpu.status if gpu else "not run"
        if lines.get(name, name) in held:
            outcome = results.PublishResult(name, False, f"line {lines.get(name, name)} held: "
                                                         f"{held[lines.get(name, name)]}")
        elif not image.ok or not image.immutable:
            outcome = results.PublishResult(name, False, "no image was pushed")
        elif not image.immutable.startswith(f"{registry_repo}:"):
            outcome = results.PublishResult(name, False, f"pushed to {tags.split(image.immutable)[0]}, "
                                                         f"not {registry_repo}")
        elif status != "passed" and not (status == "not run" and allow_no_gpu_check):
            outcome = results.PublishResult(name, False, f"GPU check {status}"
                                            + (f": {gpu.detail}" if gpu and gpu.detail else ""))
        else:
            outcome = _promote_verified(client, directory, image, gpu, max_drop, key)
        results.write(directory, outcome)
        published.append(outcome)
    return published


def _promote_verified(client: docker.DockerClient, directory: Path, image: results.ImageResult,
                      gpu: results.GpuResult | None, max_drop: float, key: SSlibKey | None) -> results.PublishResult:
    if key is not None:
        checks = provenance.verify(image.immutable, key)
        if not all(check.ok for check in checks):
            return results.PublishResult(image.profile, False, f"not verified: {checks[-1].name}: "
                                                               f"{checks[-1].message}")
    try:
        previous = artifacts.pull_measured(image.floating)
    except UserError as exc:  # fails closed: no baseline read, no promotion
        return results.PublishResult(image.profile, False, f"the published measurements could not be read: {exc}")
    if previous:
        results.write_previous(directory, image.profile, previous)
    refused = gates.refusals(gpu.bench, gpu.evals, previous, max_drop, gpu.selftest) if gpu else []
    if refused:
        return results.PublishResult(image.profile, False, "; ".join(refused))
    try:
        registry.promote(image.immutable, image.floating)
    except UserError as exc:
        return results.PublishResult(image.profile, False, str(exc))
    detail = "" if gpu else "without GPU check"
    if gpu and (gpu.bench or gpu.evals or gpu.versus):
        try:
            artifacts.push_measured(image.floating, {"immutable": image.immutable, "digest": image.digest,
                                                     "history": gates.carried_history(previous, gpu.bench),
                                                     "bench": gpu.bench, "evals": gpu.evals, "versus": gpu.versus})
        except UserError as exc:
            detail = f"measurements not kept: {exc}"
    return results.PublishResult(image.profile, True, detail)
