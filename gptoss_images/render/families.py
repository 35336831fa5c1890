"""The vendor images: every profile of a family and line in one image that picks its profile at start.

A vendor image holds the profiles that share one parent (the line's stack image, or the
base image a ROCm line runs on) and need nothing baked per profile: gptoss-cuda (a100,
b200, h100, h200 of the current line), gptoss-cuda-cu128 (those on the shared cu128
stack), gptoss-rocm. The per-GPU images stay.
"""

from __future__ import annotations

from dataclasses import dataclass

from gptoss_images.profiles.schema import Profile
from gptoss_images.render import stacks
from gptoss_images.render.stacks import Stack


@dataclass(frozen=True)
class Family:
    name: str
    """cuda, cuda-cu128, rocm: the family, and the line unless it is the current one."""
    members: tuple[Profile, ...]
    stack: Stack | None

    @property
    def dockerfile(self) -> str:
        return f"docker/family/{self.name}/Dockerfile"

    @property
    def first(self) -> Profile:
        return self.members[0]


def group(loaded: dict[str, Profile], all_stacks: list[Stack]) -> list[Family]:
    """One vendor image per family and line whose profiles (two or more) share a parent."""
    by_parent: dict[tuple[str, str, str], list[Profile]] = {}
    for p in loaded.values():
        stack = stacks.of(p.name, all_stacks)
        by_parent.setdefault((p.family, p.line, stack.name if stack else p.base_image), []).append(p)
    chosen: dict[tuple[str, str], list[Profile]] = {}
    for (family, line, _), members in sorted(by_parent.items()):
        if len(members) > len(chosen.get((family, line), [])) and len(members) > 1:
            chosen[(family, line)] = members
    return [Family(family if line == "current" else f"{family}-{line}", tuple(members),
                   stacks.of(members[0].name, all_stacks)) for (family, line), members in sorted(chosen.items())]
