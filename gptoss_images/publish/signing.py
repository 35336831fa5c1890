"""Keys and DSSE envelopes: sign a statement with a private key, verify it with a public one.

The envelope is DSSE (the in-toto attestation framework's signature wrapper), made and
checked by securesystemslib; the keys are PEM files (Ed25519, ECDSA or RSA), given as a
file or as the PEM text in a variable (a CI secret). A key is never printed: errors name
the file or the variable.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm as UnsupportedKey
from cryptography.hazmat.primitives import serialization
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import CryptoSigner, SSlibKey

from gptoss_images.core import files
from gptoss_images.errors import UserError

PAYLOAD_TYPE = "application/vnd.in-toto+json"
SIGNING_VARIABLE = "GPTOSS_SIGNING_KEY"
VERIFY_VARIABLE = "GPTOSS_VERIFY_KEY"
KEY_BYTES = 64 * 1024


def _pem(path: str | None, variable: str, environ: Mapping[str, str]) -> tuple[bytes, str] | None:
    """The PEM bytes and where they came from (the file given, else the variable), or None."""
    if path:
        try:
            return files.read_bytes(Path(path), KEY_BYTES), path
        except FileNotFoundError:
            raise UserError(f"{path}: no such file") from None
        except files.Unreadable as exc:
            raise UserError(f"{path}: {exc.reason}") from None
    text = environ.get(variable, "")
    return (text.encode(), variable) if text.strip() else None


def signer(path: str | None, environ: Mapping[str, str] = os.environ) -> CryptoSigner | None:
    """The private key of --signing-key FILE, else of $GPTOSS_SIGNING_KEY; None if neither is given."""
    return _key(path, SIGNING_VARIABLE, environ, "an unencrypted PEM private key",
                lambda data: CryptoSigner(serialization.load_pem_private_key(data, password=None)))


def public_key(path: str | None, environ: Mapping[str, str] = os.environ) -> SSlibKey | None:
    """The public key of --key FILE, else of $GPTOSS_VERIFY_KEY; None if neither is given."""
    return _key(path, VERIFY_VARIABLE, environ, "a PEM public key",
                lambda data: SSlibKey.from_crypto(serialization.load_pem_public_key(data)))


def _key(path: str | None, variable: str, environ: Mapping[str, str], what: str, load: Callable[[bytes], Any]
         ) -> Any:
    """`load` of the PEM given (file, else variable), None if none is; one line naming where it came from, never
    its text, if it is not `what`."""
    found = _pem(path, variable, environ)
    if found is None:
        return None
    data, where = found
    try:
        return load(data)
    except (ValueError, TypeError, UnsupportedKey) as exc:
        raise UserError(f"{where}: not {what} (Ed25519, ECDSA or RSA): {type(exc).__name__}") from None


def sign(statement: dict[str, Any], key: CryptoSigner | None) -> dict[str, Any]:
    """The statement in a DSSE envelope, signed by `key` (no signature without one)."""
    envelope = Envelope(json.dumps(statement, sort_keys=True, separators=(",", ":")).encode(), PAYLOAD_TYPE, {})
    if key is not None:
        envelope.sign(key)
    return envelope.to_dict()


def open_envelope(document: dict[str, Any], key: SSlibKey) -> dict[str, Any]:
    """The statement of an envelope whose signature `key` made; UserError (one line) otherwise."""
    try:
        envelope = Envelope.from_dict(document)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UserError("the attestation is not a DSSE envelope") from None
    if envelope.payload_type != PAYLOAD_TYPE:
        raise UserError(f"the attestation's payload is {envelope.payload_type!r}, not {PAYLOAD_TYPE}")
    try:
        envelope.verify([key], 1)
    except VerificationError:
        signed = ", ".join(s.keyid[:12] for s in envelope.signatures.values()) or "nobody"
        raise UserError(f"the attestation is not signed by key {key.keyid[:12]} (signed by {signed})") from None
    try:
        return json.loads(envelope.payload)
    except ValueError:
        raise UserError("the attestation's payload is not JSON") from None


def payload(document: dict[str, Any]) -> dict[str, Any]:
    """The statement of an envelope, signature unchecked (to say what it claims)."""
    try:
        return json.loads(base64.b64decode(document["payload"]))
    except (KeyError, TypeError, ValueError):
        return {}
