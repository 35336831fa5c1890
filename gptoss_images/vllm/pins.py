"""Track new releases of the pinned stack, and try one against a line before promoting it.

`check` lists releases on the package index newer than the pins. `try_candidate`
installs a candidate vLLM, records what it accepts, carries the line's settings
across with the rename table, and runs every serve command of the line through the
candidate's own parser and every variable through its envs.py; `promote` writes a
trial that passed.
"""

from __future__ import annotations

import html.parser
import re
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from packaging import utils
from packaging.version import InvalidVersion, Version

from gptoss_images.core import vllm_api
from gptoss_images.core.inputs import hide_credentials
from gptoss_images.errors import UserError
from gptoss_images.profiles import catalog
from gptoss_images.profiles.schema import Profile
from gptoss_images.render import context, tree
from gptoss_images.vllm import carry, install, matrix, record

DEFAULT_INDEX = "https://pypi.org/simple"


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.files: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a" and not any(k == "data-yanked" for k, _ in attrs):
            href = dict(attrs).get("href") or ""
            self.files.append(href.split("#", 1)[0].rsplit("/", 1)[-1])


class NotListed(UserError):
    """The index answers but has no page for the package (a partial mirror)."""


def releases(package: str, index_url: str = DEFAULT_INDEX) -> list[str]:
    """Final releases of `package` on a PEP 503 index, oldest first (yanked ones left out)."""
    name = re.sub(r"[-_.]+", "-", package).lower()
    url = f"{index_url.rstrip('/')}/{name}/"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            page = response.read().decode()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise NotListed(package) from None
        raise UserError(hide_credentials(f"--index-url {index_url}: cannot read {url} ({exc})")) from None
    except (urllib.error.URLError, OSError) as exc:
        raise UserError(hide_credentials(f"--index-url {index_url}: cannot read {url} ({exc})")) from None
    links = _Links()
    links.feed(page)
    versions: set[Version] = set()
    for file in links.files:
        try:
            found = (utils.parse_wheel_filename(file)[:2] if file.endswith(".whl")
                     else utils.parse_sdist_filename(file))
        except (utils.InvalidWheelFilename, utils.InvalidSdistFilename, InvalidVersion):
            continue
        if found[0] == utils.canonicalize_name(package) and not (found[1].is_prerelease or found[1].is_postrelease
                                                                   or found[1].is_devrelease or found[1].local):
            versions.add(found[1])
    return [str(v) for v in sorted(versions)]


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
        current = max(versions, key=Version)
        try:
            found = releases(package, index_url)
        except NotListed:
            lines.append(f"{package:18} pinned {current:8} not on this index")
            continue
        newer = [v for v in found if Version(v) > Version(current)]
        state = f"{len(newer)} newer: {', '.join(newer[-8:])}" if newer else "up to date"
        lines.append(f"{package:18} pinned {current:8} {state}")
    return lines


def newer_vllm(loaded: dict[str, Profile], index_url: str = DEFAULT_INDEX) -> str | None:
    """The newest vLLM release newer than the current line's pin, if any."""
    pinned = max((p.stack.vllm for p in loaded.values() if p.line == catalog.CURRENT), key=Version)
    newer = [v for v in releases("vllm", index_url) if Version(v) > Version(pinned)]
    return newer[-1] if newer else None


@dataclass
class Trial:
    """A candidate vLLM judged for one line: the settings carried across, what it refuses."""

    line: str
    old: str
    new: str
    profiles: list[str]
    changes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """What stops the candidate: settings it refuses with no known mapping (its record, its envs.py), a CUDA change."""
    rejected: dict[str, list[str]] = field(default_factory=dict)
    """Per profile, what the candidate's own parser refuses."""
    files: dict[str, bytes] = field(default_factory=dict)
    """The profile files as carried across, by name (those that changed)."""
    record: dict[str, bytes] = field(default_factory=dict)
    commands: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems and not any(self.rejected.values())


def try_candidate(profiles_dir: Path, line: str, version: str, index_url: str | None = None,
                  extra_index_url: str | None = None) -> Trial:
    """Install vLLM `version`, record what it accepts, carry `line`'s settings to it with the rename
    table, and judge every command and variable of the line with its own code."""
    members = [p for p in catalog.load(profiles_dir).values() if p.line == line]
    if not members:
        raise UserError(f"--line {line}: no profile is on that line")
    old = max((p.stack.vllm for p in members), key=Version)
    python = install.ensure(version, index_url, extra_index_url)
    trial = Trial(line, old, version, [p.name for p in members], record=record.read(python))
    runtime = install.cuda_runtime(python)
    for cuda in sorted({p.stack.cuda for p in members if p.stack.source == "pypi" and p.stack.cuda}):
        if runtime and runtime != cuda:
            trial.problems.append(f"vLLM {version}'s torch runs on CUDA {runtime}; the line is built for CUDA "
                                  f"{cuda} (stack.cuda, its base image and CUDA pins): move those by hand first")
    packages = {pin.partition("==")[0].lower() for p in members for pin in p.stack.packages}
    follow = {name: v for name in packages if (v := install.required_version(python, name))}
    with tempfile.TemporaryDirectory() as tmp:
        records, copied = Path(tmp, "records"), Path(tmp, "profiles")
        shutil.copytree(vllm_api.RECORDS, records)
        tree.write_folder(records / version, trial.record)
        shutil.copytree(profiles_dir, copied)
        api = vllm_api.load(version, records)
        trial.changes = carry.carry(copied, line, old, version, api, follow).changes
        trial.files = {path.name: path.read_bytes() for path in sorted(copied.glob("*.yaml"))
                       if path.read_bytes() != (profiles_dir / path.name).read_bytes()}
        try:
            candidates = catalog.load(copied, records)
        except UserError as exc:
            trial.problems = [str(problem) for problem in exc.problems]
            return trial
        commands = matrix.commands([candidates[name] for name in trial.profiles], records)
    trial.commands = len(commands)
    for command, result in zip(commands, install.check_commands(python, commands), strict=True):
        name = command["id"].split(" ", 1)[0]
        message = _setting(result["error"]) if not result["ok"] else None
        trial.rejected.setdefault(name, [])
        if message and message not in trial.rejected[name]:
            trial.rejected[name].append(message)
    return trial


def promote(trial: Trial, profiles_dir: Path = catalog.PROFILES_DIR, records: Path = vllm_api.RECORDS) -> list[str]:
    """Write a passing trial: the carried profile files and the candidate's record."""
    written = []
    for name, data in trial.files.items():
        tree.write_file(profiles_dir / name, data)
        written.append(tree.display(profiles_dir / name))
    tree.write_folder(records / trial.new, trial.record)
    return written + [tree.display(records / trial.new)]


def carried_profile(profiles_dir: Path, name: str, version: str, records: Path = vllm_api.RECORDS) -> bytes:
    """Profile `name`'s profile.json with its line's settings carried to vLLM `version` (recorded under
    `records`) by the rename table and validated against that record: to run it on another release."""
    loaded = catalog.load(profiles_dir, records)
    if name not in loaded:
        raise UserError(f"{name}: no such profile; allowed: {', '.join(loaded)}")
    profile = loaded[name]
    api = vllm_api.load(version, records)
    if api is None:
        raise UserError(f"vllm-api/{version}: no record of vLLM {version}; first: python build.py pins record "
                        f"{version}")
    with tempfile.TemporaryDirectory() as tmp:
        copied = Path(tmp, "profiles")
        copied.mkdir()
        for file in profile.chain:  # its own files only: another profile may not pass on that release
            shutil.copyfile(profiles_dir / Path(file).name, copied / Path(file).name)
        carry.carry(copied, profile.line, profile.stack.vllm, version, api, {})
        carried = catalog.load(copied, records)[name].model_copy(update={"chain": profile.chain})
    return context.profile_json(carried, f"python build.py pins carry {version} {name}")


def _setting(error: str) -> str:
    """The setting a parser error is about, as briefly as the error allows."""
    error = error.split("error: ", 1)[-1]
    return error if len(error) <= 300 else error[:297] + "..."


def report(trial: Trial) -> str:
    """The trial in markdown: a pull request's body as much as a terminal's report."""
    verdict = "passes" if trial.ok else "does not pass"
    lines = [f"## vLLM {trial.new} for the {trial.line} line (now {trial.old}): {verdict}", "",
             f"Judged with vLLM {trial.new}'s own parser ({trial.commands} commands) and its envs.py; "
             f"profiles: {', '.join(trial.profiles)}.", ""]
    if trial.changes:
        lines += ["Carried across:", ""] + [f"- {change}" for change in trial.changes] + [""]
    if trial.problems:
        lines += ["What stops it (settings with no known mapping; changes to make by hand):", ""]
        lines += [f"- {problem}" for problem in trial.problems] + [""]
    for profile, rejected in sorted(trial.rejected.items()):
        lines += [f"- {profile}: " + ("accepted" if not rejected else "REJECTED: " + "; ".join(rejected))]
    return "\n".join(lines).rstrip() + "\n"
