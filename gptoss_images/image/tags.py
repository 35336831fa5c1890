"""Tags of an image: small pure functions of its release."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gptoss_images.errors import UserError
from gptoss_images.profiles import schema
from gptoss_images.render import naming

REPOSITORY = re.compile(rf"(?:{schema.REPOSITORY})\Z")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")


@dataclass(frozen=True)
class Release:
    """What makes an image's tags: profile, pinned vLLM, build date, commit."""

    profile: str
    vllm: str
    date: str  # YYYYMMDD
    revision: str  # full git sha


def check_repository(repo: str) -> str:
    if not REPOSITORY.match(repo) or len(repo) > 255:
        raise UserError(f"--registry/--repo {repo!r}: not a valid image repository; expected "
                        "[HOST[:PORT]/]NAME[/NAME...] in lowercase, e.g. localhost:5000/gptoss")
    return repo


def floating(repo: str, profile: str) -> str:
    """The tag users run, moved by every successful release: REPO:gptoss-<profile>."""
    return f"{check_repository(repo)}:{naming.title(profile)}"


def immutable(repo: str, release: Release) -> str:
    """REPO:gptoss-<profile>-vllm<version>-<YYYYMMDD>-<sha12>: never moved."""
    tag = f"{naming.title(release.profile)}-vllm{release.vllm}-{release.date}-{release.revision[:12]}"
    if not TAG.match(tag):
        raise UserError(f"cannot make a tag of {tag!r}: only letters, digits, '_', '.' and '-'")
    return f"{check_repository(repo)}:{tag}"


def all_tags(repo: str, release: Release) -> list[str]:
    """Immutable first: it is pushed and verified before the floating tag moves."""
    return [immutable(repo, release), floating(repo, release.profile)]


def split(reference: str) -> tuple[str, str]:
    """'host:5000/a/b:tag' -> ('host:5000/a/b', 'tag')."""
    repo, _, tag = reference.rpartition(":")
    if "/" in tag or not repo:
        return reference, "latest"
    return repo, tag
