"""What one build command works on: the catalog loaded once, its stacks and vendor images, each target's inputs.

A command names profiles, vendor images or stacks; the selection resolves them, picks
each one's build inputs (the --base-image precedence: family-line over family over line
over a bare image) and refuses a target whose generated files are stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gptoss_images.errors import UserError
from gptoss_images.image.build import BuildInputs
from gptoss_images.profiles import catalog
from gptoss_images.profiles.schema import Profile
from gptoss_images.render import families, outputs, stacks
from gptoss_images.render.families import Family
from gptoss_images.render.stacks import Stack

Target = Profile | Family
"""A per-GPU image's profile, or a vendor image."""


@dataclass(frozen=True)
class Options:
    """The build inputs as given on the command line, before a target picks its own."""

    base_images: tuple[str, ...] = ()
    """IMAGE or SELECTOR=IMAGE (each already checked for form)."""
    index_url: str | None = None
    ca_bundle: Path | None = None
    no_cache: bool = False
    stack_registry: str | None = None


@dataclass(frozen=True)
class Selection:
    profiles: dict[str, Profile]
    stacks: list[Stack]
    vendor_images: dict[str, Family]
    profiles_dir: Path
    docker_dir: Path

    @classmethod
    def load(cls, profiles_dir: Path, docker_dir: Path = outputs.DOCKER_DIR) -> Selection:
        loaded = catalog.load(profiles_dir)
        all_stacks = outputs.stacks_of(loaded)
        vendor = {f.name: f for f in families.group(loaded, all_stacks)}
        return cls(loaded, all_stacks, vendor, profiles_dir, docker_dir)

    def targets(self, names: list[str]) -> list[Target]:
        """The named profiles and vendor images, in that order (every profile if none is named)."""
        unknown = [n for n in names if n not in self.profiles and n not in self.vendor_images]
        if unknown:
            raise UserError(f"unknown profile {', '.join(map(repr, unknown))}; allowed: {', '.join(self.profiles)}; "
                            f"vendor images: {', '.join(self.vendor_images)}")
        return [self.profiles.get(n) or self.vendor_images[n] for n in names or list(self.profiles)]

    def profile(self, name: str) -> Profile:
        if name not in self.profiles:
            raise UserError(f"unknown profile {name!r}; allowed: {', '.join(self.profiles)}")
        return self.profiles[name]

    def stacks_named(self, names: list[str]) -> list[Stack]:
        """The named stacks, or the stacks of the named profiles (every stack if none is named)."""
        by_name = {s.name: s for s in self.stacks}
        wanted: dict[str, Stack] = {}
        for name in names or list(by_name):
            if name in by_name:
                wanted[name] = by_name[name]
            elif name in self.profiles:  # a profile: its line's stack (none for an image built on a vendor's)
                found = stacks.of(name, self.stacks)
                if found:
                    wanted[found.name] = found
            else:
                raise UserError(f"unknown stack or profile {name!r}; stacks: {', '.join(by_name)}")
        return list(wanted.values())

    def stack_of(self, target: Target) -> Stack | None:
        """The stack image `target` is built FROM, if its family is built from PyPI."""
        return target.stack if isinstance(target, Family) else stacks.of(target.name, self.stacks)

    def inputs(self, target: Target | Profile, given: Options) -> BuildInputs:
        """The build inputs of `target`: the most specific --base-image selector that matches it wins."""
        profile = target.first if isinstance(target, Family) else target
        known = {p.family for p in self.profiles.values()} | {p.line for p in self.profiles.values()} | \
            {f"{p.family}-{p.line}" for p in self.profiles.values()}
        ranks = {None: 0, profile.line: 1, profile.family: 2, f"{profile.family}-{profile.line}": 3}
        base, rank = None, -1
        for text in given.base_images:
            selector, sep, image = text.partition("=")
            chosen = selector if sep else None
            if chosen is not None and chosen not in known:
                raise UserError(f"--base-image {text!r}: unknown family or line {chosen!r}; allowed: "
                                f"{', '.join(sorted(known))}")
            if chosen in ranks and ranks[chosen] >= rank:
                base, rank = (image if sep else text), ranks[chosen]
        return BuildInputs(base, given.index_url, given.ca_bundle, given.no_cache, given.stack_registry)

    def check_fresh(self, target: Target) -> None:
        """The target's Dockerfile (and its stack's) as the profiles render them now, or one error."""
        names = [p.name for p in target.members] if isinstance(target, Family) else [target.name]
        rendered = outputs.compute(self.profiles, names, self.docker_dir, self.profiles_dir)
        stale = [line for line in outputs.stale(rendered, self.docker_dir, complete=False)
                 if "docker-bake" not in line and "profile.schema.json" not in line]
        if stale:
            raise UserError(f"{target.name}: generated files out of date ({stale[0]}): run `python build.py render`")

    def lines(self) -> dict[str, str]:
        """Each profile's line, as family/line (cuda/current)."""
        return {name: f"{p.family}/{p.line}" for name, p in self.profiles.items()}
