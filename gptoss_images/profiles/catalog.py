"""Load profiles/*.yaml, resolve inheritance, validate into `Profile` models.

Every problem of a run is collected and raised at once as a `UserError`, each
naming the file and key path it belongs to.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml

from gptoss_images import REPO
from gptoss_images.errors import Problem, UserError
from gptoss_images.launcher import vllm_api
from gptoss_images.profiles.schema import MISSING, EnvVar, Profile, check

PROFILES_DIR = REPO / "profiles"
FILE_KEYS = {"extends", "abstract"}
NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
FLAG = re.compile(r"^[a-z][a-z0-9-]*$")
PIN = re.compile(r"^[A-Za-z0-9._-]+==[A-Za-z0-9.+!-]+$")


@dataclasses.dataclass(frozen=True)
class Source:
    """One profile file as written, before inheritance."""

    name: str
    file: str
    data: dict[str, Any]
    extends: str | None
    abstract: bool


def load(directory: Path = PROFILES_DIR) -> dict[str, Profile]:
    """All concrete profiles of `directory`, by name, in name order."""
    sources, problems = _read_sources(directory)
    broken = {p.file for p in problems}
    profiles: dict[str, Profile] = {}
    for name, source in sources.items():
        if source.abstract:
            continue
        chain, chain_problems = _chain(name, sources)
        problems += chain_problems
        if chain_problems or any(s.file in broken for s in chain):
            continue  # already reported: a file of the chain is broken
        origin: dict[str, str] = {}
        merged = _merge_all(chain, origin)
        found: list[Problem] = []
        profile = check(Profile, merged, "", False, found)
        if profile is not None:
            profile = dataclasses.replace(profile, name=name, chain=tuple(s.file for s in chain))
            found += _semantic_problems(profile)
        problems += [dataclasses.replace(p, file=source.file if p.message == MISSING
                                         else _blame(p, origin, source.file)) for p in found]
        if profile is not None and not found:
            profiles[name] = profile
    if problems:
        raise UserError(sorted(set(problems), key=lambda p: (p.file, p.path, p.message)))
    return profiles


def get(name: str, directory: Path = PROFILES_DIR) -> Profile:
    return select([name], directory)[0]


def select(names: list[str], directory: Path = PROFILES_DIR) -> list[Profile]:
    """The named profiles, in that order (all of them if none is named)."""
    loaded = load(directory)
    unknown = [n for n in names if n not in loaded]
    if unknown:
        raise UserError(f"unknown profile {', '.join(map(repr, unknown))}; allowed: {', '.join(loaded)}")
    return [loaded[n] for n in names] if names else list(loaded.values())


def to_dict(profile: Profile) -> dict[str, Any]:
    return dataclasses.asdict(profile)


def content_hash(profile: Profile) -> str:
    """SHA-256 of the resolved profile: changes exactly when its settings change."""
    text = json.dumps(to_dict(profile), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _read_sources(directory: Path) -> tuple[dict[str, Source], list[Problem]]:
    sources: dict[str, Source] = {}
    problems: list[Problem] = []
    for path in sorted(directory.glob("*.yaml")):
        file = _display(path)
        name = path.stem
        if not NAME.match(name):
            problems.append(Problem("", "profile names are lowercase letters, digits and '-'", file))
            continue
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark else ""
            reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            problems.append(Problem("", f"malformed YAML: {where}{reason}", file))
            continue
        if not isinstance(data, dict):
            problems.append(Problem("", "must be a mapping of profile keys", file))
            continue
        extends, abstract = data.pop("extends", None), data.pop("abstract", False)
        found: list[Problem] = []
        if extends is not None and not isinstance(extends, str):
            found.append(Problem("extends", f"must be a profile name; got {extends!r}"))
        if not isinstance(abstract, bool):
            found.append(Problem("abstract", f"must be true or false; got {abstract!r}"))
        check(Profile, data, "", True, found)
        problems += [dataclasses.replace(p, file=file) for p in found]
        sources[name] = Source(name, file, data, extends if isinstance(extends, str) else None,
                               abstract is True)
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
            return [], [Problem("extends", f"unknown parent {parent!r}; allowed: {allowed}",
                                    source.file)]
        current = parent
    return chain, []


def _merge_all(chain: list[Source], origin: dict[str, str]) -> dict[str, Any]:
    """The chain's data merged root first; `origin` learns which file set each key."""
    merged: dict[str, Any] = {}
    for source in reversed(chain):
        _merge(merged, source.data, origin, source.file, "")
    return merged


def _merge(base: dict, over: dict, origin: dict[str, str], file: str, path: str) -> None:
    """Mappings merge key by key; lists and scalars replace; None removes."""
    for key, value in over.items():
        sub = f"{path}.{key}" if path else str(key)
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value, origin, file, sub)
        else:
            base[key] = copy.deepcopy(value)
            origin[sub] = file


def _blame(problem: Problem, origin: dict[str, str], leaf: str) -> str:
    """The file that set the key a problem is about."""
    path = problem.path.split("[", 1)[0]
    while path:
        if path in origin:
            return origin[path]
        path = path.rpartition(".")[0] if "." in path else ""
    return leaf


def _semantic_problems(p: Profile) -> list[Problem]:
    found: list[Problem] = []
    vendor = {"cuda": "nvidia", "rocm": "amd"}[p.family]
    if p.gpu.vendor != vendor:
        found.append(Problem("gpu.vendor", f"family {p.family} needs vendor {vendor!r}"))
    if p.default_model not in p.models:
        found.append(Problem("default_model", f"unknown model {p.default_model!r}; "
                                              f"allowed: {', '.join(p.models)}"))
    for model_name, model in p.models.items():
        allowed = ", ".join(map(str, model.tp))
        if model.default_tp not in model.tp:
            found.append(Problem(f"models.{model_name}.default_tp",
                                 f"{model.default_tp} is not among this model's tp: {allowed}"))
        for i, rule in enumerate(model.rules):
            if rule.tp not in model.tp:
                found.append(Problem(f"models.{model_name}.rules[{i}].tp",
                                     f"{rule.tp} is not among this model's tp: {allowed}"))
            found += _flag_problems(rule.args, f"models.{model_name}.rules[{i}].args")
    found += _flag_problems(p.serve.config, "serve.config")
    for scenario_name, scenario in p.serve.scenarios.items():
        found += _flag_problems(scenario.args, f"serve.scenarios.{scenario_name}.args")
    for i, pin in enumerate(p.stack.packages):
        if not PIN.match(pin):
            found.append(Problem(f"stack.packages[{i}]", f"{pin!r} must be pinned as NAME==VERSION"))
    known = vllm_api.env_names(p.stack.vllm)
    if known is None:
        found.append(Problem("stack.vllm", f"no record of vLLM {p.stack.vllm}'s environment "
                                           f"variables; run: python build.py pins snapshot"))
        known = set()
    for opt_name, option in p.options.items():
        if option.default not in option.choices:
            found.append(Problem(f"options.{opt_name}.default",
                                 f"unknown choice {option.default!r}; allowed: {', '.join(option.choices)}"))
    for prefix, env in env_sources(p):
        for var, spec in env.items():
            if spec.read_by == "vllm" and var not in known:
                hint = difflib.get_close_matches(var, known, n=1, cutoff=0.75)
                maybe = f"did you mean {hint[0]}? " if hint else ""
                found.append(Problem(
                    f"{prefix}.{var}",
                    f"unknown environment variable: not in vLLM {p.stack.vllm}'s vllm/envs.py; "
                    f"{maybe}if another component reads it, declare read_by: "
                    "cuda, triton, rocm-base-image or openai-harmony"))
    return found


def env_sources(p: Profile) -> list[tuple[str, dict[str, EnvVar]]]:
    """Every environment mapping of a profile, with its key path: `env` and each option choice's."""
    return [("env", p.env)] + [(f"options.{name}.choices.{c}.env", choice.env)
                               for name, option in p.options.items() for c, choice in option.choices.items()]


def _flag_problems(args: dict[str, Any], path: str) -> list[Problem]:
    return [Problem(f"{path}.{flag}", "vLLM flags are written in kebab-case without leading dashes")
            for flag in args if not FLAG.match(str(flag))]


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
