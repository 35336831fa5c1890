"""profile -> image -> tags -> registry, one profile at a time, never tagging a broken image."""

from __future__ import annotations

import datetime
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import docker

from gptoss_images import build, profiles, registry, render, results, smoke, tags
from gptoss_images.errors import UserError
from gptoss_images.schema import Profile

DEFAULT_REPO = "gptoss-images"


@dataclass
class Outcome:
    profile: str
    ok: bool
    built: build.Built | None = None
    error: str = ""
    digests: dict[str, str] = field(default_factory=dict)


def release_of(profile: Profile, today: datetime.date | None = None) -> tags.Release:
    """This checkout's release of `profile`: pinned vLLM, today's date (UTC), HEAD's sha."""
    day = today or datetime.datetime.now(datetime.timezone.utc).date()
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=profiles.REPO, capture_output=True,
                             text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        raise UserError("cannot read the git revision: run from a git checkout of gptoss-images") from None
    return tags.Release(profile.name, profile.stack.vllm, day.strftime("%Y%m%d"), sha)


def release_from_labels(labels: dict[str, str]) -> tags.Release:
    """The release an image was built as, read back from its labels."""
    version = labels.get("org.opencontainers.image.version", "")
    return tags.Release(labels["io.gptoss.profile"], labels["io.gptoss.vllm-version"],
                        version.rsplit("-", 1)[-1], labels["org.opencontainers.image.revision"])


def build_and_test(client: docker.DockerClient, profile: Profile, inputs: build.BuildInputs,
                   repo: str, quiet: bool = False, docker_dir: Path = render.DOCKER_DIR) -> build.Built:
    """Build, smoke-test, then tag. A failure leaves no new tag and removes the new image."""
    release = release_of(profile)
    refs = tags.all_tags(repo, release)
    labels = tags.labels(
        release, title=f"gptoss-{profile.name}", description=f"gpt-oss with vLLM on {profile.description}",
        created=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        profile_hash=profiles.content_hash(profile), base_image=inputs.base_image or profile.base_image)
    built = build.build(client, profile, inputs, labels, quiet, docker_dir)
    try:
        smoke.run(client, built.image_id, profile, quiet)
    except smoke.SmokeFailed:
        _discard(client, built.image_id)
        raise
    image = client.images.get(built.image_id)
    for ref in refs:
        image.tag(*tags.split(ref))
    built.tags = refs
    return built


def test_existing(client: docker.DockerClient, profile: Profile, repo: str, quiet: bool = False) -> build.Built:
    image = local_image(client, profile, repo)
    smoke.run(client, image.id, profile, quiet)
    return build.Built(profile.name, image.id, 0.0, image.attrs["Size"], sorted(image.tags))


def push_existing(client: docker.DockerClient, profile: Profile, repo: str, registry_repo: str,
                  quiet: bool = False, hold_floating: bool = False) -> tuple[list[str], dict[str, str]]:
    """Push the image tagged REPO:gptoss-<profile> as REGISTRY_REPO's immutable, then floating tag
    (with `hold_floating`, the immutable tag alone: the floating one moves at `promote`).

    Returns both registry tags, read from the image's own labels, and the digests pushed."""
    tags.check_repository(registry_repo)
    image = local_image(client, profile, repo)
    refs = tags.all_tags(registry_repo, release_from_labels(image.labels))
    return refs, registry.push(client, image.id, refs[:1] if hold_floating else refs, quiet)


def release(client: docker.DockerClient, profile: Profile, inputs: build.BuildInputs, repo: str,
            registry_repo: str | None, hold_floating: bool, quiet: bool = False,
            docker_dir: Path = render.DOCKER_DIR) -> tuple[results.ImageResult, build.Built | None]:
    """Build, test, tag and (given a registry) push one profile. Failures are results, not raised."""
    try:
        built = build_and_test(client, profile, inputs, repo, quiet, docker_dir)
    except UserError as exc:
        return results.ImageResult(profile.name, False, error=str(exc)), None
    result = results.ImageResult(profile.name, True, size=built.size, build_s=round(built.seconds, 1))
    if registry_repo:
        try:
            refs, digests = push_existing(client, profile, repo, registry_repo, quiet, hold_floating)
        except UserError as exc:
            result.ok, result.error = False, str(exc)
            return result, built
        result.immutable, result.floating = refs
        result.digest = digests[result.immutable]
        built.tags += list(digests)
    return result, built


def promote_all(client: docker.DockerClient, directory: Path, registry_repo: str,
                allow_no_gpu_check: bool) -> list[results.PublishResult]:
    """Move the floating tag of each profile whose image was pushed to `registry_repo` and whose
    GPU check passed."""
    published = []
    for name in results.profiles_in(directory):
        image, gpu = results.read(directory, name, "image"), results.read(directory, name, "gpu")
        status = gpu.status if gpu else "not run"
        if not image.ok or not image.immutable:
            outcome = results.PublishResult(name, False, "no image was pushed")
        elif not image.immutable.startswith(f"{registry_repo}:"):
            outcome = results.PublishResult(name, False, f"pushed to {tags.split(image.immutable)[0]}, "
                                                         f"not {registry_repo}")
        elif status != "passed" and not (status == "not run" and allow_no_gpu_check):
            outcome = results.PublishResult(name, False, f"GPU check {status}")
        else:
            try:
                registry.promote(client, image.immutable, image.floating)
                outcome = results.PublishResult(name, True, "" if status == "passed" else "without GPU check")
            except UserError as exc:
                outcome = results.PublishResult(name, False, str(exc))
        results.write(directory, outcome)
        published.append(outcome)
    return published


def local_image(client: docker.DockerClient, profile: Profile, repo: str):
    ref = tags.floating(repo, profile.name)
    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        raise UserError(f"no image {ref}: build it first (python build.py build {profile.name})") from None


def _discard(client: docker.DockerClient, image_id: str) -> None:
    """Remove an untagged failed image, keeping its parent layers as build cache."""
    try:
        client.images.remove(image_id, force=True, noprune=True)
    except docker.errors.APIError as exc:
        print(f"note: could not remove failed image {image_id[:19]}: {exc}", file=sys.stderr)


def table(outcomes: list[Outcome]) -> str:
    rows = [("PROFILE", "RESULT", "IMAGE", "SIZE", "BUILD", "TAGS")]
    for o in outcomes:
        b = o.built
        rows.append((o.profile, "ok" if o.ok else "FAILED",
                     b.image_id.split(":")[-1][:12] if b else "-",
                     f"{b.size / 1e9:.2f} GB" if b else "-",
                     f"{b.seconds:.1f} s" if b and b.seconds else "-",
                     ", ".join(dict.fromkeys(t.rsplit(":", 1)[-1] for t in b.tags)) if b and o.ok
                     else o.error.split("\n")[0][:80]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
