"""The catalog of profiles: profiles/*.yaml read, inheritance and lines resolved, every profile validated.

Each file may `extend` a parent; mappings merge key by key, lists and scalars
replace, `null` removes an inherited key. A file's `lines:` holds what it sets for
one stack line only (cu128, current, ...); every concrete file gives one profile per
line its chain declares: `h100` for the current line, `h100-cu128` for another. Every
problem of a run is collected and raised at once as a `UserError`, each naming the
file and key path it belongs to.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import typing
from pathlib import Path
from typing import Any

from gptoss_images import REPO
from gptoss_images.core import vllm_api
from gptoss_images.core.profile_json import ProfileJson
from gptoss_images.errors import Problem, UserError
from gptoss_images.profiles import files, schema, settings, startable
from gptoss_images.profiles.files import Source
from gptoss_images.profiles.schema import EnvVar, Profile

PROFILES_DIR = REPO / "profiles"
CURRENT = "current"
"""The line whose profiles carry the accelerator's bare name (h100); others add theirs (h100-cu128)."""

Origin = dict[str, tuple[str, str]]
"""Key path -> (file that set it, where in that file: '' or 'lines.<line>.')."""


def profile_name(accelerator: str, line: str) -> str:
    return accelerator if line == CURRENT else f"{accelerator}-{line}"


def load(directory: Path = PROFILES_DIR, records: Path = vllm_api.RECORDS) -> dict[str, Profile]:
    """All concrete profiles of `directory` (every line of each), by name, in name order; serve
    settings are checked against the records of vLLM releases under `records`."""
    sources, problems = _read(directory)
    broken = {p.file for p in problems}
    profiles: dict[str, Profile] = {}
    for name, source in sources.items():
        if source.abstract:
            continue
        chain, chain_problems = _chain(name, sources)
        problems += chain_problems
        if chain_problems or any(s.file in broken for s in chain):
            continue  # already reported: a file of the chain is broken
        lines = sorted({line for s in chain for line in s.lines}) or [CURRENT]
        for line in lines:
            origin: Origin = {}
            merged = _merge_all(chain, line, origin)
            merged.update(name=profile_name(name, line), accelerator=name, line=line,
                          chain=tuple(s.file for s in chain))
            profile, found = schema.validate(merged)
            if profile is not None:
                found += settings.problems(profile, records)
            if profile is not None and not found:
                shape = {k: v for k, v in to_dict(profile).items() if k != "chain"}  # the files' paths: not read
                found += _startable(json.dumps(shape, sort_keys=True), str(records))
            problems += [_blame(p, origin, source.file) for p in found]
            if profile is not None and not found:
                profiles[profile.name] = profile
    if problems:
        raise UserError(sorted(set(problems), key=lambda p: (p.file, p.path, p.message)))
    return dict(sorted(profiles.items()))


def get(name: str, directory: Path = PROFILES_DIR) -> Profile:
    return select([name], directory)[0]


def select(names: list[str], directory: Path = PROFILES_DIR) -> list[Profile]:
    """The named profiles, in that order (all of them if none is named)."""
    return pick(load(directory), names)


def pick(loaded: dict[str, Profile], names: list[str]) -> list[Profile]:
    """The named profiles of a loaded catalog, in that order (all of them if none is named)."""
    unknown = [n for n in names if n not in loaded]
    if unknown:
        raise UserError(f"unknown profile {', '.join(map(repr, unknown))}; allowed: {', '.join(loaded)}")
    return [loaded[n] for n in names] if names else list(loaded.values())


def to_dict(profile: Profile) -> ProfileJson:
    """The profile as the image reads it (profile.json): the one place the build side makes that shape."""
    return typing.cast(ProfileJson, profile.model_dump(mode="json"))


def content_hash(profile: Profile) -> str:
    """SHA-256 of the resolved profile: changes exactly when its settings change."""
    text = json.dumps(to_dict(profile), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def env_sources(p: Profile) -> list[tuple[str, dict[str, EnvVar]]]:
    """Every environment mapping of a profile, with its key path: `env` and each option choice's."""
    return settings.env_sources(p)


@functools.lru_cache(maxsize=256)
def _startable(profile_json: str, records: str) -> tuple[Problem, ...]:
    """startable.problems, once per distinct profile: a catalog of sixteen is started in 0.3 s, and a
    changed file changes only the profiles that inherit it."""
    profile = json.loads(profile_json)
    return tuple(startable.problems(profile, vllm_api.load(profile["stack"]["vllm"], Path(records))))


def _read(directory: Path) -> tuple[dict[str, Source], list[Problem]]:
    if not directory.is_dir():
        raise UserError(f"--profiles-dir {directory}: no such folder; the profiles live in profiles/")
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise UserError(f"--profiles-dir {directory}: no *.yaml profile files in it")
    sources: dict[str, Source] = {}
    problems: list[Problem] = []
    for path in paths:
        source, found = files.read(path, _display(path))
        problems += found
        if source is not None:
            sources[source.name] = source
    return sources, problems


def _chain(name: str, sources: dict[str, Source]) -> tuple[list[Source], list[Problem]]:
    """The sources `name` inherits from, itself first."""
    chain: list[Source] = []
    current: str | None = name
    while current is not None:
        source = sources[current]
        if source in chain:
            cycle = " -> ".join([s.name for s in chain] + [current])
            return [], [Problem("extends", f"inheritance cycle: {cycle}", source.file)]
        chain.append(source)
        parent = source.extends
        if parent is not None and parent not in sources:
            allowed = ", ".join(sorted(n for n, s in sources.items() if s.abstract))
            return [], [Problem("extends", f"unknown parent {parent!r}; allowed: {allowed}", source.file)]
        current = parent
    return chain, []


def _merge_all(chain: list[Source], line: str, origin: Origin) -> dict[str, Any]:
    """The chain's data merged root first, each file's line keys after its general ones."""
    merged: dict[str, Any] = {}
    for source in reversed(chain):
        _merge(merged, source.data, origin, (source.file, ""), "")
        _merge(merged, source.lines.get(line, {}), origin, (source.file, f"lines.{line}."), "")
    return merged


def _merge(base: dict, over: dict, origin: Origin, where: tuple[str, str], path: str) -> None:
    """Mappings merge key by key; lists and scalars replace; None removes."""
    for key, value in over.items():
        sub = f"{path}.{key}" if path else str(key)
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value, origin, where, sub)
        elif isinstance(value, dict):  # nothing inherited here: a removal inside removes nothing
            base[key] = {}
            _merge(base[key], value, origin, where, sub)
            origin[sub] = where
        else:
            base[key] = copy.deepcopy(value)
            origin[sub] = where


def _blame(problem: Problem, origin: Origin, leaf: str) -> Problem:
    """The problem, placed in the file (and line section) that set the key it is about; a missing
    key belongs to the concrete profile's own file."""
    path = problem.path.split("[", 1)[0] if problem.message != schema.MISSING else ""
    while path:
        if path in origin:
            file, prefix = origin[path]
            return Problem(prefix + problem.path, problem.message, file)
        path = path.rpartition(".")[0]
    return Problem(problem.path, problem.message, leaf)


def _display(path: Path) -> str:
    """The checkout's files by their path in it (rendered files are the same from any working folder)."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)
