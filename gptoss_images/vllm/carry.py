"""Carry a line's settings to another vLLM release: the pin moved and the rename table applied, in the files.

Only what a file sets for that line (its `lines.<line>:` section) is edited, with
comments and layout kept (ruamel.yaml round-trip); a setting shared with other lines
is left as it is and, if the candidate refuses it, reported. A rename applies where
the candidate no longer accepts the old name and accepts the new one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from gptoss_images.core import vllm_api

RENAMES = vllm_api.RECORDS / "renames.json"


@dataclass
class Carried:
    """What moving a line to a release changed, file by file."""

    changes: list[str] = field(default_factory=list)


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def carry(profiles: Path, line: str, old: str, new: str, api: vllm_api.Api,
          pins: dict[str, str]) -> Carried:
    """Edit every file of `profiles` so that `line` pins vLLM `new` (was `old`), its packages follow
    `pins` (package -> version vLLM `new` pins) and its settings use `new`'s names."""
    table = json.loads(RENAMES.read_text())
    done = Carried()
    yaml = _yaml()
    for path in sorted(profiles.glob("*.yaml")):
        data = yaml.load(path)
        section = ((data or {}).get("lines") or {}).get(line)
        if section is None:
            continue
        where = f"{path.name}: lines.{line}"
        changed = _pin(section, old, new, pins, where, done)
        for kind, mapping in _settings(section):
            for key in list(mapping):
                changed |= _rename(mapping, key, kind, table, api, f"{where}.{kind}", done)
        if changed:
            with path.open("w") as handle:
                yaml.dump(data, handle)
    return done


def _pin(section: Any, old: str, new: str, pins: dict[str, str], where: str, done: Carried) -> bool:
    changed = False
    stack = section.get("stack") or {}
    if stack.get("vllm") == old:
        stack["vllm"] = DoubleQuotedScalarString(new)
        done.changes.append(f"{where}.stack.vllm: {old} -> {new}")
        changed = True
    packages = stack.get("packages") or []
    for i, pin in enumerate(packages):
        name, _, version = str(pin).partition("==")
        if pins.get(name.lower()) and pins[name.lower()] != version:
            packages[i] = f"{name}=={pins[name.lower()]}"
            done.changes.append(f"{where}.stack.packages: {pin} -> {packages[i]} (vLLM {new} pins it)")
            changed = True
    image = section.get("base_image")
    if isinstance(image, str) and image.endswith(f":v{old}"):
        section["base_image"] = f"{image[:-len(old) - 2]}:v{new}"
        done.changes.append(f"{where}.base_image: {image} -> {section['base_image']}")
        changed = True
    return changed


def _settings(section: Any) -> list[tuple[str, Any]]:
    """Every mapping of a line section that holds serve flags or variables, with its kind."""
    found: list[tuple[str, Any]] = []
    serve = section.get("serve") or {}
    if serve.get("config"):
        found.append(("serve.config", serve["config"]))
    for name, scenario in (serve.get("scenarios") or {}).items():
        if scenario and scenario.get("args"):
            found.append((f"serve.scenarios.{name}.args", scenario["args"]))
    for model, spec in (section.get("models") or {}).items():
        for i, rule in enumerate((spec or {}).get("rules") or []):
            found.append((f"models.{model}.rules[{i}].args", rule.get("args") or {}))
    for name, option in (section.get("options") or {}).items():
        for choice_name, choice in ((option or {}).get("choices") or {}).items():
            if choice and choice.get("args"):
                found.append((f"options.{name}.choices.{choice_name}.args", choice["args"]))
            if choice and choice.get("env"):
                found.append((f"options.{name}.choices.{choice_name}.env", choice["env"]))
    if section.get("env"):
        found.append(("env", section["env"]))
    return found


def _rename(mapping: Any, key: str, kind: str, table: dict, api: vllm_api.Api, where: str, done: Carried) -> bool:
    if kind.endswith("env"):
        rule = table["envs"].get(key)
        if rule and key not in api.envs and rule["to"] in api.envs:
            _replace_key(mapping, key, rule["to"], mapping[key])
            done.changes.append(f"{where}: {key} -> {rule['to']} (renamed in vLLM {rule['since']})")
            return True
        return False
    changed = False
    rule = table["flags"].get(key)
    if rule and key not in api.flags and rule["to"] in api.flags:
        value = mapping[key]
        if rule.get("value") == "largest" and isinstance(value, list):
            value = max(value)
        _replace_key(mapping, key, rule["to"], value)
        done.changes.append(f"{where}: {key} -> {rule['to']} (renamed in vLLM {rule['since']})")
        key, changed = rule["to"], True
    if isinstance(mapping.get(key), dict) and key in api.flags:
        changed |= _rename_config(mapping[key], key, api.spec(key), table["config-keys"], where, done)
    return changed


def _rename_config(config: Any, prefix: str, spec: dict, table: dict, where: str, done: Carried) -> bool:
    changed = False
    keys = spec.get("keys") or {}
    for key in list(config):
        path = f"{prefix}.{key}"
        rule = table.get(path)
        if rule and key not in keys and rule["to"] in keys:
            _replace_key(config, key, rule["to"], config[key])
            done.changes.append(f"{where}.{path}: -> {rule['to']} (renamed in vLLM {rule['since']})")
            key, changed = rule["to"], True
        if isinstance(config.get(key), dict) and keys.get(key, {}).get("keys"):
            changed |= _rename_config(config[key], path, keys[key], table, where, done)
    return changed


def _replace_key(mapping: Any, old: str, new: str, value: Any) -> None:
    """Rename a key in place, keeping its position (and the map's comments)."""
    position = list(mapping).index(old)
    del mapping[old]
    mapping.insert(position, new, value)
