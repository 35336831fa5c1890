"""Argument types and the parser class of build.py: every value checked before any work, one line each."""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path

from gptoss_images.core import inputs
from gptoss_images.errors import UserError
from gptoss_images.image import context, tags
from gptoss_images.profiles import schema


class Parser(inputs.Parser):
    """The core's parser, its errors raised as the build side's UserError and pointing at --help."""

    failure = UserError

    def say(self, message: str) -> str:
        return f"{self.prog}: {message}; see {self.prog} --help"


def index_url(text: str) -> str:
    """--index-url / --extra-index-url: an http(s) or file URL of a package index."""
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https", "file") or (parts.scheme != "file" and not parts.netloc):
        raise UserError(f"--index-url {text!r}: not a package index URL; expected http(s)://HOST/PATH, "
                        "e.g. https://pypi.org/simple")
    return text


def api_url(text: str) -> str:
    """--api-url: GitHub's REST API, an http(s) URL."""
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(f"--api-url {text!r}: not an http(s) URL; expected e.g. https://api.github.com")
    return text


def github_repository(text: str) -> str:
    """--repository: OWNER/NAME of a GitHub repository."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}", text):
        raise UserError(f"--repository {text!r}: expected OWNER/NAME of a GitHub repository, e.g. acme/gptoss-images")
    return text


def ca_bundle(text: str) -> Path:
    """--ca-bundle: a readable PEM bundle."""
    context.read_ca(Path(text))
    return Path(text)


def base_image(text: str) -> str:
    """--base-image [SELECTOR=]IMAGE: SELECTOR is a family (cuda), a line (cu128) or both (cuda-cu128)."""
    selector, sep, image = text.partition("=")
    if sep and not re.fullmatch(r"[a-z][a-z0-9-]*", selector):
        raise UserError(f"--base-image {text!r}: {selector!r} is no family or line; e.g. cuda=IMAGE, "
                        "cu128=IMAGE, cuda-current=IMAGE")
    if not re.match(schema.IMAGE_REFERENCE, image if sep else text):
        raise UserError(f"--base-image {text!r}: {schema.PATTERN_MESSAGES[schema.IMAGE_REFERENCE]}")
    return text


def repository(text: str) -> str:
    """--repo / --registry: an image repository, [HOST[:PORT]/]NAME[/NAME...]."""
    return tags.check_repository(text)


def image_reference(text: str) -> str:
    """verify's REF: REPO:TAG or REPO@sha256:<64 hex digits>."""
    repo, at, digest = text.partition("@")
    if at:
        if re.fullmatch(r"sha256:[0-9a-f]{64}", digest) and tags.REPOSITORY.match(repo):
            return text
    else:
        repo, tag = tags.split(text)
        if repo != text and tags.REPOSITORY.match(repo) and tags.TAG.match(tag):
            return text
    raise UserError(f"REF {text!r}: expected HOST/REPO:TAG or HOST/REPO@sha256:<64 hex digits>, e.g. "
                    "ghcr.io/acme/gptoss-images:gptoss-h100")


def release(text: str) -> str:
    """A vLLM release: a PEP 440 version such as 0.13.0 (nothing else reaches a path or an installer)."""
    if not re.match(schema.VERSION, text):
        raise UserError(f"VERSION {text!r}: not a release version; expected e.g. 0.13.0 or 0.14.0rc1")
    return text


def github_output(name: str, value: str) -> None:
    """Write NAME=VALUE to $GITHUB_OUTPUT (a workflow step's output) and print it."""
    line = f"{name}={value}\n"
    target = os.environ.get("GITHUB_OUTPUT")
    if target:
        with open(target, "a") as handle:
            handle.write(line)
    print(line, end="")


def examples(*lines: str) -> str:
    """A subcommand's epilog: its examples, one per line."""
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)
