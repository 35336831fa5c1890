"""What a vLLM release accepts, read from its record under vllm-api/<version>/, and argv checked by it.

The records are generated from each release's own wheel (gptoss_images.vllm.record):
`serve.json` holds every serve flag (aliases, value kind, choices, negatable, nargs,
JSON config keys, ranges its config classes enforce), `envs.txt` the variables its
envs.py defines. The launcher reads them inside the image (/opt/gptoss/vllm-api),
profile validation and pins on the build side: a check costs milliseconds and needs
no vLLM install. `parse` reads argv the way vLLM's parser does (underscores,
`--flag=value`, aliases, `--no-` negations, dotted config keys) but refuses what it
only guesses at: abbreviated flags, a flag given twice.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RECORDS = Path(__file__).resolve().parents[2] / "vllm-api"


class Rejected(ValueError):
    """vLLM would refuse this: one line naming the flag and what it takes."""


UNREAD = {"config": "a config file inside a config file (or one left where the launcher does not expand it); "
                     "vLLM reads one, given to the launcher as --config FILE"}
"""Flags that would carry settings past the rules, and what to give instead (the launcher expands the one
`--config FILE` it is given into flags first: core/config_file.py)."""


@dataclass(frozen=True)
class Api:
    version: str
    flags: dict[str, dict[str, Any]]
    envs: frozenset[str]

    def spec(self, name: str) -> dict[str, Any]:
        return self.flags[name]

    def takes_value(self, name: str) -> bool:
        return self.flags[name]["value"] != "none"

    @functools.cached_property
    def aliases(self) -> dict[str, str]:
        """Every alias (`-tp`, `--max_num_seqs`) -> its flag, longest first."""
        found = {alias: name for name, spec in self.flags.items() for alias in spec.get("aliases", [])}
        return dict(sorted(found.items(), key=lambda item: -len(item[0])))

    @functools.cached_property
    def sizes_in_configs(self) -> bool:
        """Whether this release reads sizes (80m, 1K) as numbers inside JSON configs and dotted keys."""
        return behaviour(self.version).get("config-values-human-readable", False)

    @functools.cached_property
    def secrets(self) -> frozenset[str]:
        """The flags of this release that carry a credential: named like one and taking a value."""
        return frozenset(name for name, spec in self.flags.items()
                         if credential_name(name) and spec.get("value") != "none")

    @functools.cached_property
    def negations(self) -> dict[str, str]:
        """Every negated spelling (`--no-enable-prefix-caching`) -> its flag."""
        return {spelling: name for name, spec in self.flags.items() for spelling in spec.get("negations", [])}


SECRET_WORDS = frozenset({"key", "token", "secret", "password", "passwd", "credential", "credentials"})


def credential_name(name: str) -> bool:
    """Named like a credential, a flag (`--api-key`) or a variable (`S3_SECRET_ACCESS_KEY`): its last word is one of
    SECRET_WORDS, a word of it is secret or password, or it ends in KEY_ID. `--ssl-keyfile` (a path) and
    `..._TOKEN_THRESHOLD` (a number) are not."""
    words = re.split(r"[-_]", name.lower())
    return words[-1] in SECRET_WORDS or bool({"secret", "password", "passwd"} & set(words)) or \
        words[-2:] == ["key", "id"]


@functools.cache
def recorded_secrets(records: Path = RECORDS) -> frozenset[str]:
    """The credential flags of every recorded release (what output is redacted of before a release is known)."""
    return frozenset().union(*(api.secrets for folder in sorted(records.iterdir())
                               if folder.is_dir() and (api := load(folder.name, records))))


def load(version: str, records: Path = RECORDS) -> Api | None:
    """The record of vLLM `version`, or None if there is none."""
    folder = records / version
    if not (folder / "serve.json").is_file() or not (folder / "envs.txt").is_file():
        return None
    flags = json.loads((folder / "serve.json").read_text())["flags"]
    envs = frozenset(line.strip() for line in (folder / "envs.txt").read_text().splitlines()
                     if line.strip() and not line.startswith("#"))
    return Api(version, flags, envs)


def env_names(version: str, records: Path = RECORDS) -> set[str] | None:
    """The variables vLLM `version`'s envs.py defines, or None if there is no record."""
    api = load(version, records)
    return set(api.envs) if api else None


def metric_names(version: str, records: Path = RECORDS) -> set[str] | None:
    """The Prometheus metrics vLLM `version` declares, or None if there is no record of them."""
    path = records / version / "metrics.txt"
    if not path.is_file():
        return None
    return {line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")}


def similar_env(api: Api, name: str) -> str | None:
    """The real variable a misspelt or reordered one most likely means."""
    words = set(name.split("_"))
    same_words = [e for e in api.envs if set(e.split("_")) == words]
    if same_words:
        return same_words[0]
    close = difflib.get_close_matches(name, api.envs, n=1, cutoff=0.8)
    return close[0] if close else None


def resolve(api: Api, token: str) -> tuple[str, bool, str | None, str | None]:
    """A flag as typed (`--max_num_seqs`, `-tp`, `-O3`, `--no-enable-prefix-caching`, `-O.level`) ->
    its record name, whether negated, a dotted config key path and a value attached to a short alias."""
    aliases = api.aliases
    if not token.startswith("--"):
        for alias, name in aliases.items():
            if alias.startswith("--") or not token.startswith(alias):
                continue
            rest = token[len(alias):]
            if not rest:
                return name, False, None, None
            if rest.startswith("."):
                return name, False, rest[1:], None
            if len(alias) == 2:  # argparse's -O3
                return name, False, None, rest
        raise Rejected(f"{token}: unknown flag for vLLM {api.version}")
    body, _, keypath = token[2:].partition(".")
    body = body.replace("_", "-")
    negated = api.negations.get(f"--{body}")
    if negated:
        return negated, True, None, None
    body = aliases.get(f"--{body}", body)
    if body in api.flags:
        if keypath and api.spec(body)["value"] != "json":
            raise Rejected(f"--{body}.{keypath}: --{body} takes no config keys")
        return body, False, keypath or None, None
    longer = sorted(f for f in api.flags if f.startswith(body))
    if longer:
        raise Rejected(f"{token}: abbreviations are not accepted (vLLM would guess); write the full name: "
                       f"{', '.join('--' + f for f in longer[:4])}")
    close = difflib.get_close_matches(body, api.flags, n=1, cutoff=0.75)
    hint = f"; did you mean --{close[0]}?" if close else ""
    raise Rejected(f"--{body}: unknown flag for vLLM {api.version}{hint}")


def _optimization_level(api: Api, argv: list[str]) -> list[str]:
    """`-O3`, `-O=3` and `-O 3` as the release's own FlexibleArgumentParser reads them: --optimization-level N
    where the release has it (0.20 on), else the compilation config's level (`-O.level=N`, 0.10.2)."""
    modern = "optimization-level" in api.flags
    out: list[str] = []
    for i, word in enumerate(argv):
        if word.startswith("-O") and word != "-O" and word[2] != ".":
            level = word[3:] if word[2] == "=" else word[2:]
            out += ["--optimization-level", level] if modern else [f"-O.level={level}"]
        elif word == "-O" and i + 1 < len(argv) and argv[i + 1] in {"0", "1", "2", "3"}:
            out.append("--optimization-level" if modern else "-O.level")
        else:
            out.append(word)
    return out


def parse(api: Api, argv: list[str], secret: set[str] = frozenset()) -> list[tuple[str, Any]]:
    """vLLM flags from argv, as (name, value) in order: True/False for switches, a string, a list
    (nargs) or a dict (dotted config keys). Raises `Rejected`; values of `secret` flags never
    appear in a message."""
    argv = _optimization_level(api, argv)
    out: list[tuple[str, Any]] = []
    seen: dict[str, str] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        if not token.startswith("-") or token == "-" or _number(token):
            after = f" after {argv[i - 1]}" if i and argv[i - 1].startswith("-") else ""
            shown = "a value" if out and out[-1][0] in secret else repr(token)
            raise Rejected(f"{shown}{after}: a stray value with no flag of its own (vLLM takes one model, "
                           "given by the launcher)")
        flag, eq, inline = token.partition("=")
        name, negated, keypath, attached = resolve(api, flag)
        if attached is not None:
            eq, inline = "=", attached
        spec = api.spec(name)
        if name in UNREAD:
            raise Rejected(f"--{name}: {UNREAD[name]}")
        shown = f"--{name}" + (f".{keypath}" if keypath else "")
        key = f"{name}.{keypath}" if keypath else name
        if key in seen or (keypath is None and any(k.startswith(name + ".") for k in seen)):
            raise Rejected(f"{shown}: given twice ({seen.get(key, token)} and {token}); give it once")
        seen[key] = token
        i += 1
        if spec["value"] == "none":
            if eq:
                raise Rejected(f"{shown} is a switch and takes no value; drop '={inline}'")
            out.append((name, not negated))
            continue
        values = [inline] if eq else []
        if not eq:
            many = spec.get("nargs") in ("+", "*")
            while i < len(argv) and (not argv[i].startswith("-") or _number(argv[i])) and (many or not values):
                values.append(argv[i])
                i += 1
        if not values and spec.get("nargs") not in ("?", "*"):
            raise Rejected(f"{shown} needs a value ({describe(spec)})")
        if keypath is not None:
            item = _check_keys(spec, keypath.split("."), shown)
            if values:
                check_item(item, dotted_value(api, values[0]), shown, hidden=name in secret)
            out.append((name, {keypath: values[0] if values else None}))
            continue
        for value in values:
            check_value(spec, value, shown, hidden=name in secret, human=api.sizes_in_configs)
        out.append((name, values if spec.get("nargs") in ("+", "*") else (values[0] if values else None)))
    return out


def check_value(spec: dict[str, Any], text: str, shown: str, hidden: bool = False, human: bool = False) -> None:
    """One value of a flag, as typed on a command line; `human`: the release reads sizes (80m) inside JSON."""
    kind, given = spec["value"], "the value" if hidden else repr(text)
    if kind != "json" and any(c in text for c in "\r\n\0"):
        raise Rejected(f"{shown}={given}: a line break or NUL; give the value on one line")
    if "choices" in spec and text not in spec["choices"]:
        raise Rejected(f"{shown}={given}: allowed: {', '.join(spec['choices'])}")
    if kind == "int" and not re.fullmatch(r"-?[0-9]+", text.strip()):
        raise Rejected(f"{shown}={given}: must be an integer")
    if kind == "human-int" and not _reads(human_readable_int, text):
        raise Rejected(f"{shown}={given}: must be an integer such as 8192, or 8k / 32K")
    if kind == "float":
        try:
            if not text.isascii() or "_" in text:
                raise ValueError(text)
            number = float(text)
        except ValueError:
            raise Rejected(f"{shown}={given}: must be a number") from None
        if not math.isfinite(number):
            raise Rejected(f"{shown}={given}: must be a finite number")
    if kind == "json":
        _check_json(spec, expand_human_numbers(text) if human else text, shown, given, hidden)
    if kind in ("int", "float", "human-int"):
        _check_range(spec, text, shown, given)


def describe(spec: dict[str, Any]) -> str:
    """What a flag takes, in words."""
    if "choices" in spec:
        return "one of " + ", ".join(spec["choices"])
    words = {"int": "an integer", "human-int": "an integer (8192, 8k)", "float": "a number",
             "str": "a text", "json": "a JSON object", "none": "nothing"}[spec["value"]]
    bounds = [f"{'>' if spec.get('min_exclusive') else '≥'} {spec['min']}" if "min" in spec else "",
              f"{'<' if spec.get('max_exclusive') else '≤'} {spec['max']}" if "max" in spec else ""]
    return " ".join([words, *filter(None, bounds)])


def _check_range(spec: dict[str, Any], text: str, shown: str, given: str) -> None:
    if _outside(spec, float(text) if spec["value"] == "float" else human_readable_int(text)):
        raise Rejected(f"{shown}={given}: vLLM takes {describe(spec)}")


def _outside(spec: dict[str, Any], number: float) -> bool:
    """Whether `number` is outside the record's min/max (each inclusive unless marked exclusive)."""
    low, high = spec.get("min"), spec.get("max")
    return (low is not None and (number <= low if spec.get("min_exclusive") else number < low)) or \
        (high is not None and (number >= high if spec.get("max_exclusive") else number > high))


def human_readable_int(text: str) -> int:
    """`8k` -> 8,000, `8K` -> 8,192, `25.6k` -> 25,600, as vLLM's argparse_utils.human_readable_int reads
    them (decimals with binary suffixes refused). Raises ValueError."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([kKmMgGtT])", text.strip())
    if not match:
        return int(text)
    number, suffix = match.groups()
    if suffix.islower():
        return int(float(number) * 10 ** (3 * "kmgt".index(suffix) + 3))
    return int(number) * 2 ** (10 * "KMGT".index(suffix) + 10)


def _reads(read: Any, text: str) -> bool:
    try:
        read(text)
    except ValueError:
        return False
    return True


HUMAN_IN_JSON = re.compile(r"\b\d+(?:\.\d+)?[kKmMgGtT]\b")


def expand_human_numbers(text: str) -> str:
    """A JSON config as releases with `config-values-human-readable` read it: bare sizes outside strings
    (`{"cpu_bytes_to_use": 80m}`) become numbers (vLLM's engine/arg_utils._expand_json_human_readable_numbers)."""
    parts = re.split(r'("(?:[^"\\]|\\.)*")', text)
    parts[::2] = [HUMAN_IN_JSON.sub(lambda m: str(human_readable_int(m.group())), part) for part in parts[::2]]
    return "".join(parts)


def dotted_value(api: Api, text: str) -> Any:
    """A dotted key's value (`--compilation-config.mode 3`) as the release's FlexibleArgumentParser reads it:
    JSON if it parses, else a size (`1k`) where the release reads sizes there, else the text (`True` and
    `FALSE` as booleans: the config classes read them so)."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if api.sizes_in_configs:
        try:
            return human_readable_int(text)
        except ValueError:
            pass
    return text


def _check_json(spec: dict[str, Any], text: str, shown: str, given: str, hidden: bool) -> None:
    try:
        value = json.loads(text)
    except ValueError:
        raise Rejected(f"{shown}={given}: must be a JSON object") from None
    if isinstance(value, int) and not isinstance(value, bool) and spec.get("int_too"):
        return
    if not isinstance(value, dict):
        raise Rejected(f"{shown}={given}: must be a JSON object")
    _check_mapping(spec, value, shown, hidden)


def _check_mapping(spec: dict[str, Any], value: dict, shown: str, hidden: bool = False) -> None:
    keys = spec.get("keys")
    if not keys:
        return
    for key, item in value.items():
        if key not in keys:
            close = difflib.get_close_matches(str(key), keys, n=1, cutoff=0.75)
            hint = f"did you mean {close[0]}? " if close else ""
            raise Rejected(f"{shown}: unknown key {key!r}; {hint}allowed: {', '.join(keys)}")
        check_item(keys[key], item, f"{shown}.{key}", hidden)


def check_item(spec: dict[str, Any], item: Any, shown: str, hidden: bool = False) -> None:
    """A value inside a JSON config, against what its config class's own validation takes (the record's
    `accepts`: JSON kinds, `choices`, `min`/`max`; `items` of a list, `values` of a mapping; recorded where the
    release can be asked field by field)."""
    kind = json_kind(item)
    accepts = spec.get("accepts")
    if accepts is not None:
        given = "the value" if hidden else json.dumps(item, ensure_ascii=False)[:80]
        choice = kind == "text" and "choices" in spec and _chosen(spec, item)
        if kind not in accepts and not choice:
            raise Rejected(f"{shown}={given}: vLLM takes {describe_item(spec)}")
        if kind in NUMERIC and ("int" in accepts or "float" in accepts) and _outside(spec, float(item)):
            raise Rejected(f"{shown}={given}: vLLM takes {describe_item(spec)}")
    if isinstance(item, list) and "items" in spec:
        for i, element in enumerate(item):
            check_item(spec["items"], element, f"{shown}[{i}]", hidden)
    if isinstance(item, dict) and "values" in spec:
        for key, element in item.items():
            check_item(spec["values"], element, f"{shown}.{key}", hidden)
    if isinstance(item, dict):
        _check_mapping(spec, item, shown, hidden)


NUMERIC = ("bool", "int", "whole-float", "float", "numeric-text")


def json_kind(value: Any) -> str:
    """The kind of a JSON value, as the record's `accepts` names them (gptoss_images/vllm/introspect.py)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "whole-float" if value.is_integer() else "float"
    if isinstance(value, str):
        return "numeric-text" if re.fullmatch(r"\s*-?[0-9]+(\.[0-9]+)?\s*", value) else "text"
    return "list" if isinstance(value, list) else "object"


def _chosen(spec: dict[str, Any], text: str) -> bool:
    if spec.get("any_case"):
        return text.casefold() in {c.casefold() for c in spec["choices"]}
    return text in spec["choices"]


def describe_item(spec: dict[str, Any]) -> str:
    """What a value inside a JSON config may be, in words."""
    accepts = spec["accepts"]
    number = "a number" if "float" in accepts else "an integer" if "int" in accepts else None
    switch = "bool" in accepts and (number is None or (spec.get("min"), spec.get("max")) == (0, 1))
    parts = ["one of " + ", ".join(sorted({c.lower() for c in spec["choices"]}) if spec.get("any_case")
                                   else spec["choices"])] if "choices" in spec and not switch else []
    parts += ["true or false"] if switch else [number + _bounds_in_words(spec)] if number else []
    parts += [words for kind, words in (("text", "a text"), ("list", "a JSON list"), ("object", "a JSON object"),
                                        ("null", "null")) if kind in accepts]
    return " or ".join(parts or ["nothing"])


def _bounds_in_words(spec: dict[str, Any]) -> str:
    low, high = spec.get("min"), spec.get("max")
    if low is not None and high is not None and not spec.get("min_exclusive") and not spec.get("max_exclusive"):
        return f" from {low} to {high}"
    terms = [f"{'>' if spec.get('min_exclusive') else '≥'} {low}"] if low is not None else []
    terms += [f"{'<' if spec.get('max_exclusive') else '≤'} {high}"] if high is not None else []
    return " " + " and ".join(terms) if terms else ""


def _check_keys(spec: dict[str, Any], path: list[str], shown: str) -> dict[str, Any]:
    """The record of a dotted config key (`--compilation-config.mode`), refused if the release has no such key."""
    current = spec
    for part in path:
        keys = current.get("keys")
        if not keys:
            return {}
        if part not in keys:
            raise Rejected(f"{shown}: unknown key {part!r}; allowed: {', '.join(keys)}")
        current = keys[part]
    return current


def _number(token: str) -> bool:
    return bool(re.fullmatch(r"-[0-9]+(\.[0-9]+)?", token))


def behaviour(version: str, records: Path = RECORDS) -> dict[str, bool]:
    """What vLLM `version` does that its parser does not show (vllm-api/behaviour.json, hand-kept:
    each behaviour with the first release that has it)."""
    path = records / "behaviour.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    return {name: version_key(version) >= version_key(entry["since"])
            for name, entry in data.items() if isinstance(entry, dict)}


def version_key(version: str) -> tuple[int, ...]:
    """0.10.2 -> (0, 10, 2): release versions in order (pre-release and post suffixes ignored)."""
    return tuple(int(part) for part in re.findall(r"\d+", version.split("rc")[0].split(".post")[0])[:4])


def argv_of(name: str, value: Any) -> list[str]:
    """A setting as vLLM's command line takes it: True is the bare switch, False leaves it out,
    a mapping is JSON, a list is one value per word."""
    if value is True:
        return [f"--{name}"]
    if value is False or value is None:
        return []
    if isinstance(value, dict):
        return [f"--{name}", json.dumps(value, separators=(",", ":"))]
    if isinstance(value, list):
        return [f"--{name}", *map(str, value)]
    return [f"--{name}", str(value)]
