"""Find the profile to serve and read it: the image's one, the one named, or the one these GPUs fit.

A per-GPU image holds /opt/gptoss/profile.json; a vendor image holds every profile of
its family and line under /opt/gptoss/profiles/ and picks the one made for the GPUs it
finds (GPTOSS_PROFILE=h200 forces one). The files are rendered from validated profiles,
so a wrong shape means a wrong file (GPTOSS_PROFILE pointing elsewhere, a damaged
image), not a wrong setting: one line says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gptoss_images.core import files, profile_json, select, vendors
from gptoss_images.core.inputs import BadInput

DEFAULT = "/opt/gptoss/profile.json"
FOLDER = "/opt/gptoss/profiles"
LIMIT = files.MiB  # a rendered profile is a few KiB
def given(argv: list[str], environ: Mapping[str, str]) -> str | None:
    """--profile NAME|FILE, else GPTOSS_PROFILE, else nothing."""
    value = environ.get("GPTOSS_PROFILE")
    for i, arg in enumerate(argv):
        if arg == "--profile" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--profile="):
            value = arg.split("=", 1)[1]
    return value


def available(folder: str = FOLDER, default: str = DEFAULT) -> list[dict[str, Any]]:
    """Every profile this image holds."""
    if Path(default).is_file():
        return [read(default)]
    return [read(str(path)) for path in sorted(Path(folder).glob("*.json"))]


def load(argv: list[str], environ: Mapping[str, str], detect: Callable[[str], list[vendors.Gpu]],
         folder: str = FOLDER, default: str = DEFAULT) -> dict[str, Any]:
    """The profile to serve: named (a name this image holds, or a file), the image's only one, or
    the one made for the GPUs that `detect` finds."""
    name = given(argv, environ)
    if name is not None:
        if not name.strip():
            raise BadInput(f"GPTOSS_PROFILE/--profile={name!r}: empty; unset it to use the image's profile")
        held = Path(folder, f"{name}.json")
        return read(str(held) if "/" not in name and held.is_file() else name)
    if Path(default).is_file() or not Path(folder).is_dir():
        return read(default)
    profiles = available(folder, default)
    if not profiles:
        raise BadInput(f"{folder}: no profile in this image; give GPTOSS_PROFILE=FILE")
    found = detect(profiles[0]["gpu"]["vendor"])
    chosen = select.choose(profiles, found)
    if chosen is None:
        near = select.closest(profiles, found)
        hint = (f"; the closest is {near['name']} (made for {near['gpu']['model']}, the same architecture, "
                f"{found[0].arch}): GPTOSS_PROFILE={near['name']} serves this GPU with its settings" if near else
                ". GPTOSS_PROFILE=NAME forces one")
        raise BadInput(f"no profile of this image fits this machine: found {select.describe(found)}; "
                       f"the profiles need {'; '.join(select.needs(p) for p in profiles)}{hint}")
    return chosen


def read(path: str) -> dict[str, Any]:
    where = f"GPTOSS_PROFILE/--profile={path!r}"
    try:
        data = json.loads(files.read_bytes(path, LIMIT))
    except FileNotFoundError:
        names = [p.stem for p in sorted(Path(FOLDER).glob("*.json"))]
        hint = f"; this image holds {', '.join(names)}" if names else "; give a rendered docker/<profile>/profile.json"
        raise BadInput(f"{where}: no such file or profile{hint}") from None
    except files.Unreadable as exc:
        raise BadInput(f"{where}: {exc.reason}; give a rendered docker/<profile>/profile.json") from None
    except (ValueError, RecursionError) as exc:
        raise BadInput(f"{where}: not JSON ({str(exc).splitlines()[0][:120]})") from None
    wrong = profile_json.problem(data)
    if wrong:
        raise BadInput(f"{where}: not a gpt-oss profile ({wrong})")
    return data
