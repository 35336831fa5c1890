"""vLLM's `--config FILE`, read as the pinned release reads it, so that its settings meet every rule a flag does.

vLLM turns a YAML mapping into flags placed before the command line's (so the command line
wins): `key: value` is `--key value`, `true` the bare switch, a list the flag and its items.
Releases differ, and vllm-api/behaviour.json records how (read from each wheel's
argparse_utils): from 0.20.2 a mapping becomes JSON text (before, Python's own text, which
vLLM's JSON parser refuses), from 0.33.0 `false` becomes `--no-key` (before, the key was
dropped). The launcher expands the file into flags before it parses anything, so the file
adds nothing the rules do not see, and the command it prints and runs has no `--config`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from gptoss_images.core import files, vllm_api
from gptoss_images.core.inputs import BadInput

LIMIT = files.MiB
MAX_DEPTH = 20
READER = """
import json, sys
try:
    import yaml
except ImportError:
    print(json.dumps({"error": "PyYAML, which vLLM reads it with, is not installed here"})); sys.exit()
try:
    data = yaml.safe_load(sys.stdin)
except yaml.YAMLError as exc:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}: " if mark else ""
    print(json.dumps({"error": f"malformed YAML: {where}{getattr(exc, 'problem', None) or exc}"})); sys.exit()
except RecursionError:
    print(json.dumps({"error": "nested too deep"})); sys.exit()
print(json.dumps({"data": data}, default=str))
"""
"""PyYAML's safe_load, as vLLM's load_config_file calls it, its answer as JSON (dates as vLLM's str() gives them)."""


def expand(argv: list[str], api: vllm_api.Api, behaviour: dict[str, bool]) -> list[str]:
    """argv with `--config FILE` (or `--config=FILE`) replaced by the file's flags, put first."""
    at = [i for i, word in enumerate(argv) if word == "--config" or word.startswith("--config=")]
    if not at:
        return argv
    if len(at) > 1:
        raise BadInput("--config: given twice; vLLM reads one config file")
    i = at[0]
    word = argv[i]
    if word == "--config":
        if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
            raise BadInput("--config: needs a YAML file (.yaml or .yml)")
        path, rest = argv[i + 1], argv[:i] + argv[i + 2:]
    else:
        path, rest = word.split("=", 1)[1], argv[:i] + argv[i + 1:]
    return flags(path, read(path), api, behaviour) + rest


def read(path: str) -> dict[str, Any]:
    """The file's mapping: a regular .yaml/.yml file of at most 1 MiB, UTF-8, nested at most 20 deep."""
    where = f"--config {path}"
    if path.rsplit(".", 1)[-1] not in ("yaml", "yml"):
        raise BadInput(f"{where}: vLLM reads a YAML file named .yaml or .yml")
    try:
        text = files.read_bytes(path, LIMIT).decode("utf-8")
    except FileNotFoundError:
        raise BadInput(f"{where}: no such file") from None
    except files.Unreadable as exc:
        raise BadInput(f"{where}: {exc}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{where}: not UTF-8 text") from None
    try:  # parsed by the stack's own PyYAML, vLLM's reader, in a process of its own: this module stays standard
        done = subprocess.run([sys.executable, "-c", READER], input=text, capture_output=True, text=True,
                              timeout=60)
        answer = json.loads(done.stdout)
    except (subprocess.TimeoutExpired, ValueError, RecursionError):
        raise BadInput(f"{where}: unreadable as YAML within a minute") from None
    if "error" in answer:
        raise BadInput(f"{where}: {answer['error']}")
    data = answer.get("data")
    if not isinstance(data, dict):
        raise BadInput(f"{where}: must be a mapping of settings (key: value), not {type(data).__name__}")
    if _depth(data) > MAX_DEPTH:
        raise BadInput(f"{where}: nested deeper than {MAX_DEPTH} levels")
    return data


def flags(path: str, data: dict[str, Any], api: vllm_api.Api, behaviour: dict[str, bool]) -> list[str]:
    """The flags vLLM makes of the mapping, refusing what that release would drop or mangle without a word."""
    out: list[str] = []
    for key, value in data.items():
        where = f"--config {path}: key {key!r}"
        if not isinstance(key, str) or not key or key.startswith("-"):
            raise BadInput(f"{where}: a key is a flag's name without dashes, e.g. max-num-seqs")
        switch = _is_switch(api, key)
        if isinstance(value, bool):
            if switch is False:
                raise BadInput(f"{where}: {str(value).lower()} for a flag that takes a value; write the value")
            if value:
                out.append(f"--{key}")
            elif behaviour.get("config-file-false-as-negation"):
                out.append(f"--no-{key}")
            else:
                raise BadInput(f"{where}: vLLM {api.version} drops a key set to false; leave it out, or give "
                               f"--no-{key} on the command line")
        elif isinstance(value, list):
            if value:
                out += [f"--{key}", *(json.dumps(v) if isinstance(v, (dict, list)) else str(v) for v in value)]
        elif isinstance(value, dict):
            if not behaviour.get("config-file-dicts-as-json"):
                raise BadInput(f"{where}: vLLM {api.version} passes a mapping as Python text, which its JSON "
                               "parser refuses; write it as a JSON string in quotes")
            out += [f"--{key}", json.dumps(value)]
        elif value is None:
            raise BadInput(f"{where}: no value; vLLM would pass the word None")
        else:
            out += [f"--{key}", str(value)]
    try:  # every value checked here, where the message can name the file; the launcher's own flags later
        vllm_api.parse(api, out, secret=api.secrets)
    except vllm_api.Rejected as exc:
        raise BadInput(f"--config {path}: {exc}") from None
    return out


def _is_switch(api: vllm_api.Api, key: str) -> bool | None:
    """Whether the flag is a switch (None: not a flag of this release; the parser says so later)."""
    try:
        name = vllm_api.resolve(api, f"--{key}")[0]
    except vllm_api.Rejected:
        return None
    return not api.takes_value(name)


def _depth(value: Any, level: int = 0) -> int:
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level
