"""Read the baked profile JSON and check the shape the launcher relies on: one line when it is wrong.

The file is rendered from a validated profile, so a wrong shape means a wrong file
(GPTOSS_PROFILE pointing elsewhere, a damaged image), not a wrong setting.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gptoss_images.launcher.inputs import BadInput

DEFAULT = "/opt/gptoss/profile.json"
NUMBER = (int, float)
SHAPE: dict[str, Any] = {
    "name": str, "description": str, "default_model": str, "env": dict, "options": dict,
    "stack": {"vllm": str}, "harmony": {"sha256": str},
    "gpu": {"vendor": str, "model": str, "match": list, "arch": str, "memory_gib": int},
    "serve": {"config": dict, "scenarios": dict},
    "models": {"*": {"weights_gib": NUMBER, "tp": list, "default_tp": int, "rules": list}},
}


def path_of(argv: list[str], environ: Mapping[str, str]) -> str:
    """--profile FILE, else GPTOSS_PROFILE, else the image's own."""
    path = environ.get("GPTOSS_PROFILE", DEFAULT)
    for i, arg in enumerate(argv):
        if arg == "--profile" and i + 1 < len(argv):
            path = argv[i + 1]
        elif arg.startswith("--profile="):
            path = arg.split("=", 1)[1]
    return path


def load(argv: list[str], environ: Mapping[str, str]) -> dict[str, Any]:
    path = path_of(argv, environ)
    where = f"GPTOSS_PROFILE/--profile={path!r}"
    if not path.strip():
        raise BadInput(f"{where}: empty; unset it to use the image's profile ({DEFAULT})")
    try:
        data = json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise BadInput(f"{where}: no such file; give a rendered docker/<profile>/profile.json") from None
    except IsADirectoryError:
        raise BadInput(f"{where}: a folder; give a rendered docker/<profile>/profile.json") from None
    except OSError as exc:
        raise BadInput(f"{where}: cannot read it ({exc.strerror})") from None
    except ValueError as exc:
        raise BadInput(f"{where}: not JSON ({str(exc).splitlines()[0][:120]})") from None
    wrong = _shape(data, SHAPE, "")
    if wrong:
        raise BadInput(f"{where}: not a gpt-oss profile ({wrong})")
    return data


def _shape(value: Any, shape: Any, path: str) -> str | None:
    """Where `value` differs from `shape` first, or None."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return f"{path or 'the file'} must be a mapping"
        for key, inner in shape.items():
            items = value.items() if key == "*" else [(key, value.get(key, _MISSING))]
            for name, item in items:
                where = f"{path}.{name}" if path else str(name)
                if item is _MISSING:
                    return f"{where} is missing"
                if (problem := _shape(item, inner, where)) is not None:
                    return problem
        return None
    if isinstance(value, bool) or not isinstance(value, shape):
        return f"{path} has the wrong type"
    return None


_MISSING = object()
