"""Provenance of a pushed image: an in-toto statement with a SLSA v1 predicate, signed, kept beside it; verify.

The statement's subject is the digest the registry holds the image under. What it was
built from comes from the image's own labels (source revision, profile and its hash, vLLM,
base image) and its SBOM, whose digest it records as a byproduct (the SBOM itself is kept
at <immutable tag>.sbom). The signed envelope is kept at <repo>:sha256-<hex>.att, cosign's
place for an attestation of a digest, as an OCI artifact whose subject is the image.

`verify` checks, in order: the digest the reference resolves to, the attestation beside
it, the signature, the subject, the tag (one the image was pushed under: a digest copied
under another tag fails), the SBOM kept beside it against the digest recorded, and the
packages of the stack's virtual environment the SBOM lists against the lock the statement
records (the image's /opt/gptoss/requirements.lock, every pin signed).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import oras.oci
from securesystemslib.signer import CryptoSigner, SSlibKey

from gptoss_images.errors import UserError
from gptoss_images.image import sbom, tags
from gptoss_images.publish import artifacts, registry, signing
from gptoss_images.render import locks, naming

STATEMENT = "https://in-toto.io/Statement/v1"
SLSA = "https://slsa.dev/provenance/v1"
BUILD_TYPE = f"{naming.SOURCE}/blob/main/README.md#supply-chain"
LOCAL_BUILDER = f"{naming.SOURCE}/build.py"
CHECKS = ("digest", "provenance", "signature", "subject", "tag", "sbom", "lock")
LOCK = "requirements.lock"


def attestation_ref(repo: str, digest: str) -> str:
    return f"{repo}:{digest.replace(':', '-')}.att"


def statement(repo: str, digest: str, pushed: list[str], labels: Mapping[str, str], sbom_document: bytes,
              sbom_at: str, lock: bytes = b"", environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The in-toto statement for the image `repo@digest`, pushed under the tags `pushed`, installed from `lock`
    (none for an image built on a vendor's)."""
    revision = labels.get("org.opencontainers.image.revision", "")
    source = labels.get("org.opencontainers.image.source", naming.SOURCE)
    base = labels.get("io.gptoss.base-image", "")
    dependencies: list[dict[str, Any]] = [{"uri": f"git+{source}@{revision}", "digest": {"gitCommit": revision}}]
    if base:
        name, _, base_digest = base.partition("@sha256:")
        dependencies.append({"uri": f"pkg:docker/{name}", "name": "base image"}
                            | ({"digest": {"sha256": base_digest}} if base_digest else {}))
    if labels.get("io.gptoss.profile-hash"):
        dependencies.append({"name": "profile.json", "digest": {"sha256": labels["io.gptoss.profile-hash"]}})
    if lock:
        dependencies.append({"name": LOCK, "uri": f"file://{sbom.LOCK_PATH}",
                             "digest": {"sha256": hashlib.sha256(lock).hexdigest()},
                             "annotations": {"pins": [f"{n}=={v}" for n, v in
                                                      sorted(locks.pins(lock.decode(errors="replace")).items())]}})
    workflow = environ.get("GITHUB_WORKFLOW_REF")
    run = (f"{environ.get('GITHUB_SERVER_URL', 'https://github.com')}/{environ['GITHUB_REPOSITORY']}/actions/runs/"
           f"{environ['GITHUB_RUN_ID']}") if environ.get("GITHUB_RUN_ID") and environ.get("GITHUB_REPOSITORY") else ""
    metadata = {"startedOn": labels["org.opencontainers.image.created"]} \
        if labels.get("org.opencontainers.image.created") else {}
    return {
        "_type": STATEMENT,
        "subject": [{"name": repo, "digest": {"sha256": digest.removeprefix("sha256:")}}],
        "predicateType": SLSA,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"profile": labels.get("io.gptoss.profile", ""),
                                       "tags": [tags.split(ref)[1] for ref in pushed]},
                "internalParameters": {"vllm": labels.get("io.gptoss.vllm-version", "")},
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {"id": f"https://github.com/{workflow}" if workflow else LOCAL_BUILDER},
                "metadata": metadata | ({"invocationId": run} if run else {}),
                "byproducts": [{"name": sbom.FILE, "uri": sbom_at, "mediaType": sbom.MEDIA_TYPE,
                                "digest": {"sha256": hashlib.sha256(sbom_document).hexdigest()}}],
            },
        },
    }


def attest(pushed: list[str], digest: str, labels: Mapping[str, str], sbom_document: bytes, sbom_at: str,
           key: CryptoSigner | None, lock: bytes = b"") -> str:
    """Sign the image's statement (unsigned without a key) and keep it beside the image; its reference."""
    repo = tags.split(pushed[0])[0]
    envelope = signing.sign(statement(repo, digest, pushed, labels, sbom_document, sbom_at, lock), key)
    data, media, _ = registry.manifest_of(pushed[0])
    where = attestation_ref(repo, digest)
    artifacts.push_attestation(where, envelope, oras.oci.Subject(media, digest, len(data)))
    return where


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str

    def __str__(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name:11} {self.message}"


def verify(ref: str, key: SSlibKey) -> list[Check]:
    """Each check of `ref` in order, up to the first that fails."""
    name, at, given = ref.partition("@")
    repo, tag = (name, "") if at else tags.split(ref)
    try:
        digest = registry.registry_digest(ref)
    except UserError as exc:
        return [Check("digest", False, str(exc))]
    if at and digest != given:
        return [Check("digest", False, f"the registry serves {digest} for {ref}")]
    done = [Check("digest", True, f"{ref} is {digest}")]
    where = attestation_ref(repo, digest)
    envelope = artifacts.pull_attestation(where)
    if envelope is None:
        return [*done, Check("provenance", False, f"no attestation at {where}: pushed without one, or not by "
                                                  "build.py")]
    done.append(Check("provenance", True, where))
    try:
        claim = signing.open_envelope(envelope, key)
    except UserError as exc:
        return [*done, Check("signature", False, str(exc))]
    done.append(Check("signature", True, f"signed by key {key.keyid[:12]}"))
    subjects = [s.get("digest", {}).get("sha256") for s in claim.get("subject") or [] if isinstance(s, dict)]
    if claim.get("_type") != STATEMENT or claim.get("predicateType") != SLSA:
        return [*done, Check("subject", False, "not an in-toto statement of SLSA v1 provenance")]
    if digest.removeprefix("sha256:") not in subjects:
        return [*done, Check("subject", False, f"the statement is about {', '.join(f'sha256:{s}' for s in subjects)}"
                                               f", not {digest}")]
    done.append(Check("subject", True, f"the statement is about {digest}"))
    predicate = claim["predicate"]
    built_for = predicate.get("buildDefinition", {}).get("externalParameters", {}).get("tags") or []
    if tag and tag not in built_for:
        return [*done, Check("tag", False, f"{tag} is not a tag this image was pushed under "
                                           f"({', '.join(built_for) or 'none recorded'}): the digest was copied")]
    done.append(Check("tag", True, f"{tag}: pushed under it" if tag else "a digest reference: no tag to check"))
    checked, document = _sbom(predicate)
    done.append(checked)
    return done if not checked.ok else [*done, _lock(predicate, document)]


def _sbom(predicate: dict[str, Any]) -> tuple[Check, dict[str, Any]]:
    """The SBOM check, and the SBOM (empty unless it passed)."""
    recorded = next((b for b in predicate.get("runDetails", {}).get("byproducts") or []
                     if isinstance(b, dict) and b.get("name") == sbom.FILE), None)
    if not recorded or not recorded.get("uri"):
        return Check("sbom", False, "the statement records no SBOM"), {}
    document = artifacts.pull_sbom_bytes(recorded["uri"])
    if document is None:
        return Check("sbom", False, f"no SBOM at {recorded['uri']}"), {}
    held = hashlib.sha256(document).hexdigest()
    if held != recorded.get("digest", {}).get("sha256"):
        return Check("sbom", False, f"{recorded['uri']} is sha256:{held}, the statement recorded "
                                    f"sha256:{recorded.get('digest', {}).get('sha256')}: it was changed"), {}
    parsed = sbom.parse(document)
    if parsed is None:
        return Check("sbom", False, f"{recorded['uri']} is not an SPDX document"), {}
    return Check("sbom", True, f"{recorded['uri']} as recorded ({sbom.summary(parsed)})"), parsed


def _lock(predicate: dict[str, Any], document: dict[str, Any]) -> Check:
    """The packages of the stack's virtual environment the SBOM lists are the signed lock's, each at its version."""
    recorded = next((d for d in predicate.get("buildDefinition", {}).get("resolvedDependencies") or []
                     if isinstance(d, dict) and d.get("name") == LOCK), None)
    if recorded is None:
        return Check("lock", True, "none recorded: an image built on a vendor's, whose stack that image holds")
    locked = dict(pin.split("==", 1) for pin in (recorded.get("annotations") or {}).get("pins") or [])
    differences = sbom.lock_differences(document, locked)
    if differences:
        return Check("lock", False, f"the SBOM's packages differ from the lock: {'; '.join(differences)}")
    return Check("lock", True, f"the SBOM's {len(locked)} packages of /opt/venv are the lock's "
                               f"(sha256:{recorded.get('digest', {}).get('sha256', '')[:12]}), each at its version")
