"""The stack images: each distinct pinned stack of a PyPI-built line, built once, the parent of its profiles.

Profiles of one family and line that pin the same base image, vLLM, packages and
vocabulary share one stack (a100, h100 and h200 of a line; b200-cu128, which adds
FlashInfer, has its own). A stack is named by the line and tagged by a hash of its
declared inputs: the profile data that decides it (base image, stack pins, vocabulary,
SBOM tool), the templates its Dockerfile is rendered from and the files it copies, its
locks (locks/<stack>/) among them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from gptoss_images import REPO
from gptoss_images.profiles.schema import Profile
from gptoss_images.render import locks

REPOSITORY = "gptoss-images-stack"
"""The stacks of the default repository (gptoss-images): a repository's stacks are REPO-stack."""
PARTS = 4
"""Layers the virtual environment is cut into: push and pull handle them side by side."""
COPIED = ["build-certs/with-ca.sh", "build-certs/README", "gptoss_images/image/layers.py",
          "gptoss_images/image/settle.py", "gptoss_images/image/vocab.py"]
"""The files a stack Dockerfile copies besides the CA bundle: part of its hash."""
TEMPLATES = ["templates/stack.Dockerfile.j2", "templates/_common.j2"]
"""What its Dockerfile is rendered from: part of its hash."""


@dataclass(frozen=True)
class Stack:
    name: str
    """cuda-cu128, or cuda-cu128-b200 for a profile whose stack differs from its line's."""
    profiles: tuple[str, ...]
    spec: Profile
    """A profile of the stack: its base image, stack and vocabulary are the stack's."""
    digest: str = ""

    @property
    def image(self) -> str:
        return f"{REPOSITORY}:{self.name}-{self.digest[:12]}"

    @property
    def dockerfile(self) -> str:
        return f"docker/stacks/{self.name}/Dockerfile"


def _key(p: Profile) -> str:
    return "|".join([p.family, p.line, p.base_image, p.stack.model_dump_json(), p.harmony.model_dump_json()])


def group(loaded: dict[str, Profile]) -> list[Stack]:
    """The stacks of every profile built from PyPI, before their hashes are known."""
    by_key: dict[str, list[Profile]] = {}
    for p in loaded.values():
        if p.stack.source == "pypi":
            by_key.setdefault(_key(p), []).append(p)
    stacks = []
    lines: dict[tuple[str, str], list[list[Profile]]] = {}
    for members in by_key.values():
        lines.setdefault((members[0].family, members[0].line), []).append(members)
    for (family, line), groups in sorted(lines.items()):
        groups.sort(key=lambda g: (-len(g), g[0].name))
        for i, members in enumerate(groups):
            name = f"{family}-{line}" if i == 0 else f"{family}-{line}-{members[0].accelerator}"
            stacks.append(Stack(name, tuple(p.name for p in members), members[0]))
    return stacks


def inputs(stack: Stack) -> dict:
    """The profile data a stack's image is made of (nothing else of the profile reaches it)."""
    p = stack.spec
    return {"family": p.family, "line": p.line, "base_image": p.base_image, "stack": p.stack.model_dump(mode="json"),
            "harmony": p.harmony.model_dump(mode="json"), "sbom_tool": p.sbom_tool, "parts": PARTS}


def with_digests(stacks: list[Stack]) -> list[Stack]:
    """The stacks with their hashes: of their declared inputs, the templates and the files they copy."""
    files = b"".join(path.encode() + (REPO / path).read_bytes() for path in TEMPLATES + COPIED)
    return [Stack(s.name, s.profiles, s.spec, hashlib.sha256(
        json.dumps(inputs(s), sort_keys=True).encode() + files + _locks(s)).hexdigest()) for s in stacks]


def _locks(stack: Stack) -> bytes:
    """The stack's locks, as its Dockerfile copies them (a missing one is reported by `render --check`)."""
    return b"".join(lock.name.encode() + lock.read_bytes() for lock in locks.files(stack) if lock.is_file())


def of(profile: str, stacks: list[Stack]) -> Stack | None:
    return next((s for s in stacks if profile in s.profiles), None)
