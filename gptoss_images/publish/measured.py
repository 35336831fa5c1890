"""What a published image measured on a GPU, kept beside it in the registry as an OCI artifact.

`<repo>:<floating tag>.measured` holds one JSON file: the bench summary and eval outcomes
of the night that published the floating tag, and the digest they were measured on. The
next night's promote reads it back to compare.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import oras.client
import requests

from gptoss_images.errors import UserError
from gptoss_images.image import tags

MEDIA_TYPE = "application/vnd.gptoss.measured.v1+json"
FILE = "measured.json"


def ref(floating: str) -> str:
    """The artifact's reference beside a floating tag: REPO:gptoss-h100 -> REPO:gptoss-h100.measured."""
    return f"{floating}.measured"


def push(floating: str, data: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, FILE)
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        try:
            _client(floating).push(target=ref(floating), files=[f"{path}:{MEDIA_TYPE}"],
                                   disable_path_validation=True)
        except (requests.RequestException, ValueError, OSError) as exc:
            raise UserError(f"cannot push {ref(floating)}: {exc}") from None


def pull(floating: str) -> dict[str, Any] | None:
    """The last published night's measurements, or None (never measured, or not published yet)."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            files = _client(floating).pull(target=ref(floating), outdir=folder)
        except (requests.RequestException, ValueError, OSError):
            return None
        found = [Path(f) for f in files if Path(f).name == FILE]
        return json.loads(found[0].read_text()) if found else None


def _client(floating: str) -> oras.client.OrasClient:
    host = tags.split(floating)[0].split("/", 1)[0]
    return oras.client.OrasClient(insecure=host.startswith(("localhost", "127.")) or host == "[::1]")
