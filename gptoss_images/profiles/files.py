"""Read one profile file strictly: UTF-8, YAML without duplicate keys, a mapping; one line per problem.

A problem names the file and, where YAML knows it, the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from gptoss_images.core import files
from gptoss_images.errors import Problem

NAME = re.compile(r"[a-z0-9][a-z0-9-]*\Z")
FILE_KEYS = ("extends", "abstract", "lines")
LINE = re.compile(r"[a-z][a-z0-9]*\Z")


@dataclass(frozen=True)
class Source:
    """One profile file as written, before inheritance."""

    name: str
    file: str
    data: dict[str, Any]
    """The profile keys the file sets for every line."""
    lines: dict[str, dict[str, Any]]
    """The keys it sets for one line only, by line name."""
    extends: str | None
    abstract: bool


_YAML = YAML(typ="safe", pure=True)
"""YAML 1.2 (what the YAML language server reads): a key given twice in one mapping is refused."""


def _duplicate(text: str, exc: DuplicateKeyError) -> str:
    """'duplicate key 'x' (first at line N)': ruamel names the key; the first line is found in the text."""
    key = re.search(r'duplicate key "(.*?)"', exc.problem or "")
    name = key.group(1) if key else "?"
    lines = text.splitlines()
    line = exc.problem_mark.line
    indent = len(lines[line]) - len(lines[line].lstrip()) if line < len(lines) else 0
    first = next((i for i in range(exc.context_mark.line if exc.context_mark else 0, line)
                  if re.match(rf"^ {{{indent}}}['\"]?{re.escape(name)}['\"]?\s*:", lines[i])), None)
    return f"duplicate key {name!r}" + (f" (first at line {first + 1})" if first is not None else "")


def read(path: Path, display: str) -> tuple[Source | None, list[Problem]]:
    """The file's contents, or the problems that keep it from being read."""
    def problem(message: str, key: str = "") -> tuple[None, list[Problem]]:
        return None, [Problem(key, message, display)]

    if not NAME.match(path.stem):
        return problem("profile names are lowercase letters, digits and '-'")
    try:
        text = files.read_text(path, files.MiB)
    except FileNotFoundError:
        return problem("no such file")
    except files.Unreadable as exc:
        return problem(exc.reason)
    try:
        data = _YAML.load(text)
    except DuplicateKeyError as exc:
        return problem(f"malformed YAML: line {exc.problem_mark.line + 1}: {_duplicate(text, exc)}")
    except (YAMLError, RecursionError) as exc:
        mark = exc.problem_mark if isinstance(exc, MarkedYAMLError) else None
        where = f"line {mark.line + 1}: " if mark else ""
        reason = (getattr(exc, "problem", None) or str(exc).splitlines()[0]) if not isinstance(
            exc, RecursionError) else "nested too deeply"
        return problem(f"malformed YAML: {where}{reason}")
    data = {} if data is None else data
    if not isinstance(data, dict):
        return problem(f"must be a mapping of profile keys; got {type(data).__name__}")
    found: list[Problem] = []
    extends, abstract, lines = data.pop("extends", None), data.pop("abstract", False), data.pop("lines", {})
    if extends is not None and not (isinstance(extends, str) and NAME.match(extends)):
        found.append(Problem("extends", f"must be a profile name; got {extends!r}", display))
    if not isinstance(abstract, bool):
        found.append(Problem("abstract", f"must be true or false; got {abstract!r}", display))
    if not isinstance(lines, dict) or not all(isinstance(v, dict) for v in lines.values()):
        found.append(Problem("lines", "must map line names to the keys they set", display))
        lines = {}
    for line in lines:
        if not (isinstance(line, str) and LINE.match(line)):
            found.append(Problem(f"lines.{line}", "line names are lowercase letters and digits", display))
    for key in list(data) + [k for v in lines.values() for k in v]:
        if not isinstance(key, str):
            found.append(Problem(str(key), "keys must be strings", display))
    if found:
        return None, found
    return Source(path.stem, display, data, lines, extends, abstract), []
