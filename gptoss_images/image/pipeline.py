"""profile -> image -> tags: build, smoke-test, and only then tag; never a tag on a broken image."""

from __future__ import annotations

import datetime
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import docker

from gptoss_images import REPO
from gptoss_images.core import inputs as inputs_
from gptoss_images.core import text
from gptoss_images.errors import UserError
from gptoss_images.image import build, smoke, tags
from gptoss_images.image.selection import Options, Selection, Target
from gptoss_images.profiles.schema import Profile
from gptoss_images.render import naming, outputs
from gptoss_images.render.families import Family
from gptoss_images.render.stacks import Stack


@dataclass
class Outcome:
    profile: str
    ok: bool
    built: build.Built | None = None
    error: str = ""
    digests: dict[str, str] = field(default_factory=dict)


def release_of(profile: Profile | Family, today: datetime.date | None = None) -> tags.Release:
    """This checkout's release of `profile`: pinned vLLM, today's date (UTC), HEAD's sha."""
    day = today or datetime.datetime.now(datetime.timezone.utc).date()
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        raise UserError("cannot read the git revision: run from a git checkout of gptoss-images") from None
    vllm = (profile.first if isinstance(profile, Family) else profile).stack.vllm
    return tags.Release(profile.name, vllm, day.strftime("%Y%m%d"), sha)


def release_from_labels(labels: dict[str, str]) -> tags.Release:
    """The release an image was built as, read back from its labels."""
    version = labels.get("org.opencontainers.image.version", "")  # naming.version
    return tags.Release(labels["io.gptoss.profile"], labels["io.gptoss.vllm-version"],
                        version.rsplit("-", 1)[-1], labels["org.opencontainers.image.revision"])


def build_and_test(client: docker.DockerClient, target: Profile | Family, inputs: build.BuildInputs,
                   repo: str, quiet: bool = False, docker_dir: Path = outputs.DOCKER_DIR,
                   stack: Stack | None = None) -> build.Built:
    """Build, smoke-test (a vendor image: every profile it holds), then tag. A failure leaves no new
    tag and removes the new image."""
    release = release_of(target)
    refs = tags.all_tags(repo, release)
    created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    labels = naming.build_labels(target.name, release.vllm, release.date, release.revision, created)
    built = build.build(client, target, inputs, labels, quiet, docker_dir, repo, stack)
    try:
        smoke_all(client, built.image_id, target, quiet)
    except smoke.SmokeFailed:
        _discard(client, built.image_id)
        raise
    image = client.images.get(built.image_id)
    for ref in refs:
        image.tag(*tags.split(ref))
    built.tags = refs
    return built


def smoke_all(client: docker.DockerClient, image_id: str, target: Profile | Family, quiet: bool) -> None:
    if isinstance(target, Family):
        for member in target.members:
            smoke.run(client, image_id, member, quiet, env={"GPTOSS_PROFILE": member.name})
    else:
        smoke.run(client, image_id, target, quiet)


def build_target(client: docker.DockerClient, chosen: Selection, target: Target, given: Options, repo: str,
                 quiet: bool = False) -> build.Built:
    """`build`: refuse stale generated files, then build, smoke-test and tag with the target's own inputs."""
    chosen.check_fresh(target)
    return build_and_test(client, target, chosen.inputs(target, given), repo, quiet, chosen.docker_dir,
                          chosen.stack_of(target))


def plan_lines(target: Target, inputs: build.BuildInputs | None, repo: str, registry: str | None) -> list[str]:
    """What `--dry-run` says would happen: the build with its inputs and tags (or, without inputs, the push)."""
    planned = release_of(target)
    if inputs is None:
        return [f"would push {tags.floating(repo, target.name)} as {', '.join(tags.all_tags(registry, planned))} "
                "(the immutable tag from the image's labels)"]
    first = target.first if isinstance(target, Family) else target
    dockerfile = target.dockerfile if isinstance(target, Family) else f"docker/{target.name}/Dockerfile"
    index = f", index {inputs_.hide_credentials(inputs.index_url)}" if inputs.index_url else ""
    lines = [f"would build {dockerfile} (base {inputs.base_image or first.base_image}, vLLM {first.stack.vllm}"
             f"{', CA bundle ' + str(inputs.ca_bundle) if inputs.ca_bundle else ''}"
             f"{index}{', no cache' if inputs.no_cache else ''})",
             f"would smoke-test it, then tag {', '.join(tags.all_tags(repo, planned))}"]
    if registry:
        lines.append(f"would push {', '.join(tags.all_tags(registry, planned))}")
    return lines


def test_existing(client: docker.DockerClient, target: Profile | Family, repo: str, quiet: bool = False
                  ) -> build.Built:
    image = local_image(client, target, repo)
    smoke_all(client, image.id, target, quiet)
    return build.Built(target.name, image.id, 0.0, image.attrs["Size"], sorted(image.tags))


def local_image(client: docker.DockerClient, profile: Profile | Family, repo: str):
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
    return text.columns(rows)
