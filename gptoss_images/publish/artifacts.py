"""What is kept beside an image in the registry, as OCI artifacts: its SBOM, provenance and what it measured.

`<repo>:<immutable tag>.sbom` holds the image's SPDX SBOM (the file baked into it);
`<repo>:sha256-<hex>.att` the signed provenance of the image of that digest (its subject);
`<repo>:<floating tag>.measured` holds the bench summary and eval outcomes of the night that
published the floating tag, which the next night's promote reads back to compare.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import oras.client
import oras.container
import oras.oci
import oras.provider
import requests

from gptoss_images.errors import UserError
from gptoss_images.image import sbom, tags

MEASURED_TYPE = "application/vnd.gptoss.measured.v1+json"
ATTESTATION_TYPE = "application/vnd.dsse.envelope.v1+json"
ATTESTATION_FILE = "provenance.intoto.json"


def sbom_ref(immutable: str) -> str:
    return f"{immutable}.sbom"


def measured_ref(floating: str) -> str:
    return f"{floating}.measured"


def push_sbom(immutable: str, document: bytes) -> str:
    _push(sbom_ref(immutable), sbom.FILE, document, sbom.MEDIA_TYPE)
    return sbom_ref(immutable)


def pull_sbom(immutable: str) -> dict[str, Any] | None:
    data = _pull(sbom_ref(immutable), sbom.FILE)
    return json.loads(data) if data else None


def pull_sbom_bytes(ref: str) -> bytes | None:
    """The SBOM kept at `ref`, byte for byte (what a provenance statement records the digest of)."""
    return _pull(ref, sbom.FILE)


def push_attestation(ref: str, envelope: dict[str, Any], subject: oras.oci.Subject) -> None:
    _push(ref, ATTESTATION_FILE, (json.dumps(envelope, sort_keys=True) + "\n").encode(), ATTESTATION_TYPE, subject)


def pull_attestation(ref: str) -> dict[str, Any] | None:
    data = _pull(ref, ATTESTATION_FILE)
    try:
        return json.loads(data) if data else None
    except ValueError:
        return {}


def push_measured(floating: str, data: dict[str, Any]) -> None:
    _push(measured_ref(floating), "measured.json", (json.dumps(data, indent=2, sort_keys=True) + "\n").encode(),
          MEASURED_TYPE)


def pull_measured(floating: str) -> dict[str, Any] | None:
    """The last published night's measurements, or None where none were ever kept (a 404). A registry that cannot
    be read, or an artifact that is not JSON, is a UserError: a gate that reads it fails closed."""
    ref = measured_ref(floating)
    client, container = remote(ref)
    try:
        response = client.do_request(f"{client.prefix}://{container.manifest_url()}", "GET",
                                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    except requests.RequestException as exc:
        raise UserError(f"cannot read {ref}: {type(exc).__name__}") from None
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise UserError(f"cannot read {ref}: the registry answered {response.status_code}")
    data = _pull(ref, "measured.json")
    try:
        return json.loads(data or b"")
    except ValueError:
        raise UserError(f"cannot read {ref}: not the JSON push_measured writes") from None


def _push(ref: str, name: str, data: bytes, media_type: str, subject: oras.oci.Subject | None = None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, name)
        path.write_bytes(data)
        try:
            _client(ref).push(target=ref, files=[f"{path}:{media_type}"], disable_path_validation=True,
                              subject=subject)
        except (requests.RequestException, ValueError, OSError) as exc:
            raise UserError(f"cannot push {ref}: {exc}") from None


def _pull(ref: str, name: str) -> bytes | None:
    with tempfile.TemporaryDirectory() as folder:
        try:
            files = _client(ref).pull(target=ref, outdir=folder)
        except (requests.RequestException, ValueError, OSError):
            return None
        found = [Path(f) for f in files if Path(f).name == name]
        return found[0].read_bytes() if found else None


def _client(ref: str) -> oras.client.OrasClient:
    host = tags.split(ref)[0].split("/", 1)[0]
    return oras.client.OrasClient(insecure=host.startswith(("localhost", "127.")) or host == "[::1]")


def remote(ref: str) -> tuple[oras.provider.Registry, oras.container.Container]:
    """oras-py's registry client for `ref`, with the engine's credentials loaded, and the reference parsed."""
    client = _client(ref)  # an oras.provider.Registry
    container = client.get_container(ref)
    client.auth.load_configs(container)
    return client, container
