"""Track new releases of the pinned stack, and try one against every profile before promoting it.

`check` lists releases on the package index newer than the pins. `try_candidate`
installs a candidate vLLM, renders every profile with it, and runs every serve
command and environment variable through the candidate's own parser and
`envs.py`, reporting per profile what it rejects or no longer defines.
"""

from __future__ import annotations

import dataclasses
import difflib
import html.parser
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from gptoss_images.errors import UserError
from gptoss_images.profiles import catalog
from gptoss_images.profiles.schema import Profile
from gptoss_images.render import context
from gptoss_images.vllm import install, matrix, record

DEFAULT_INDEX = "https://pypi.org/simple"
RELEASE = re.compile(r"^\d+(\.\d+)*$")


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.files: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a" and not any(k == "data-yanked" for k, _ in attrs):
            href = dict(attrs).get("href") or ""
            self.files.append(href.split("#", 1)[0].rsplit("/", 1)[-1])


def releases(package: str, index_url: str = DEFAULT_INDEX) -> list[str]:
    """Final releases of `package` on a PEP 503 index, oldest first (yanked ones left out)."""
    name = re.sub(r"[-_.]+", "-", package).lower()
    url = f"{index_url.rstrip('/')}/{name}/"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            page = response.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        raise UserError(f"--index-url {index_url}: cannot read {url} ({exc})") from None
    links = _Links()
    links.feed(page)
    prefix = name.replace("-", "_")
    versions = set()
    for file in links.files:
        stem = file.removesuffix(".tar.gz").removesuffix(".zip")
        parts = stem.split("-")
        if len(parts) >= 2 and parts[0].lower().replace("-", "_") == prefix and RELEASE.match(parts[1]):
            versions.add(parts[1])
    return sorted(versions, key=version_key)


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def pinned(loaded: dict[str, Profile]) -> dict[str, set[str]]:
    """Each tracked package and the versions profiles pin it to."""
    pins: dict[str, set[str]] = {"vllm": set()}
    for p in loaded.values():
        if p.stack.source == "pypi":
            pins["vllm"].add(p.stack.vllm)
        for pin in p.stack.packages:
            name, _, version = pin.partition("==")
            pins.setdefault(name, set()).add(version)
    return pins


def check(loaded: dict[str, Profile], index_url: str = DEFAULT_INDEX) -> list[str]:
    """One line per tracked package: its pin and the newer releases on the index."""
    lines = []
    for package, versions in pinned(loaded).items():
        current = max(versions, key=version_key)
        newer = [v for v in releases(package, index_url) if version_key(v) > version_key(current)]
        state = f"{len(newer)} newer: {', '.join(newer[-8:])}" if newer else "up to date"
        lines.append(f"{package:18} pinned {current:8} {state}")
    return lines


@dataclass
class Verdict:
    profile: str
    rejected: list[str] = field(default_factory=list)
    unknown_env: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected and not self.unknown_env


def candidate_profiles(loaded: dict[str, Profile], version: str, python: Path) -> dict[str, Profile]:
    """The profiles as they would be with vLLM `version`: packages it pins follow it."""
    candidates = {}
    for name, p in loaded.items():
        packages = []
        for pin in p.stack.packages:
            package = pin.partition("==")[0]
            packages.append(f"{package}=={install.required_version(python, package) or pin.partition('==')[2]}")
        stack = dataclasses.replace(p.stack, vllm=version, packages=packages)
        candidates[name] = dataclasses.replace(p, stack=stack)
    return candidates


def try_candidate(loaded: dict[str, Profile], version: str, index_url: str | None = None,
                  extra_index_url: str | None = None) -> tuple[list[Verdict], dict[str, bytes]]:
    """Judge every profile's settings with vLLM `version`'s own code."""
    python = install.ensure(version, index_url, extra_index_url)
    candidates = candidate_profiles(loaded, version, python)
    dockerfiles = {name: context.files(p)["Dockerfile"] for name, p in candidates.items()}
    commands = matrix.commands(list(candidates.values()))
    results = install.check_commands(python, commands)
    real_env = record.env_names_from_source(install.envs_py(python).read_text())
    verdicts = {name: Verdict(name) for name in candidates}
    for command, result in zip(commands, results, strict=True):
        if not result["ok"]:
            name = command["id"].split(" ", 1)[0]
            message = _setting(result["error"])
            if message not in verdicts[name].rejected:
                verdicts[name].rejected.append(message)
    for name, p in candidates.items():
        envs = {var: spec for _, env in catalog.env_sources(p) for var, spec in env.items()}
        for var, spec in envs.items():
            if spec.read_by == "vllm" and var not in real_env:
                hint = difflib.get_close_matches(var, real_env, n=1, cutoff=0.75)
                verdicts[name].unknown_env.append(var + (f" (renamed {hint[0]}?)" if hint else " (gone)"))
    return list(verdicts.values()), dockerfiles


def _setting(error: str) -> str:
    """The setting a parser error is about, as briefly as the error allows."""
    error = error.split("error: ", 1)[-1]
    return error if len(error) <= 300 else error[:297] + "..."


def promote(version: str, old: str, directory: Path = catalog.PROFILES_DIR) -> list[Path]:
    """Write the new pin into every profile file that pins `old`."""
    changed = []
    for path in sorted(directory.glob("*.yaml")):
        text = path.read_text()
        new = re.sub(rf'(\n\s*vllm:\s*)"{re.escape(old)}"', rf'\g<1>"{version}"', text)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed
