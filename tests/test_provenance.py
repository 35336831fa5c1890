"""Signed provenance beside a pushed image, in a real registry: `build.py verify` passes on what push made and
fails, in one line, on a wrong key, a tampered SBOM, a digest copied under another tag, an attestation
copied from another image and an SBOM whose packages are not the signed lock's."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from gptoss_images.publish import artifacts, provenance, signing
from gptoss_images.publish import registry as oci
from tests.conftest import run_build

LABELS = {"org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
          "org.opencontainers.image.source": "https://github.com/gptoss-images/gptoss-images",
          "org.opencontainers.image.created": "2026-12-02T00:00:00Z", "io.gptoss.profile": "h100",
          "io.gptoss.profile-hash": "ab" * 32, "io.gptoss.vllm-version": "0.33.0",
          "io.gptoss.base-image": "nvidia/cuda:13.0.2-base-ubuntu24.04"}
SITE = "acquired package info from installed python package manifest file: /opt/venv/lib/python3.12/site-packages"
SBOM = {"spdxVersion": "SPDX-2.3", "packages": [
    {"name": "vllm", "versionInfo": "0.33.0", "sourceInfo": f"{SITE}/vllm-0.33.0.dist-info/METADATA"},
    {"name": "torch", "versionInfo": "2.14.0", "sourceInfo": f"{SITE}/torch-2.14.0.dist-info/METADATA"},
    {"name": "jaraco.text", "versionInfo": "4.0.0",  # vendored inside a locked package: not the lock's to hold
     "sourceInfo": f"{SITE}/setuptools/_vendor/jaraco.text-4.0.0.dist-info/METADATA"},
    {"name": "bash", "versionInfo": "5.2.15"}]}
LOCK = b"""# resolved from: vllm==0.33.0
torch==2.14.0 \\
    --hash=sha256:00
    # via vllm
vllm==0.33.0 \\
    --hash=sha256:11
"""


def _pair(folder: Path, name: str, private_key) -> tuple[Path, Path]:
    private, public = folder / f"{name}.pem", folder / f"{name}.pub"
    private.write_bytes(private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    public.write_bytes(private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def _lines(result) -> list[str]:
    return result.stdout.splitlines()


@pytest.mark.docker
def test_verify_passes_on_what_push_made_and_fails_on_each_tampering(client, base, registry, tmp_path):
    key, public = _pair(tmp_path, "signing", ed25519.Ed25519PrivateKey.generate())
    _, other = _pair(tmp_path, "other", ec.generate_private_key(ec.SECP256R1()))
    made, repo = [], f"{registry}/provenance"
    try:
        for label in ("one", "two"):
            image, _ = client.images.build(fileobj=io.BytesIO(
                f"FROM {base}\nLABEL io.gptoss.test={label}\n".encode()), rm=True)
            made.append(image.id)
        refs = [f"{repo}:gptoss-h100-vllm0.33.0-20261202-0123456789ab", f"{repo}:gptoss-h100"]
        digests = oci.push(client, made[0], refs, quiet=True, immutable=1)
        document = json.dumps(SBOM).encode()
        sbom_at = artifacts.push_sbom(refs[0], document)
        where = provenance.attest(refs, digests[refs[0]], LABELS, document, sbom_at,
                                  signing.signer(str(key), {}), LOCK)
        assert where == f"{repo}:{digests[refs[0]].replace(':', '-')}.att"

        good = run_build("verify", refs[1], "--key", str(public))
        assert good.returncode == 0, good.stdout + good.stderr
        assert [line.split()[:2] for line in _lines(good)[:-1]] == [["PASS", c] for c in provenance.CHECKS]
        assert _lines(good)[-1] == f"{refs[1]}: verified" and "4 packages: vllm 0.33.0, torch 2.14.0" in good.stdout
        assert "PASS  lock        the SBOM's 2 packages of /opt/venv are the lock's" in good.stdout
        by_digest = run_build("verify", f"{repo}@{digests[refs[0]]}", "--key", str(public))
        assert by_digest.returncode == 0 and "a digest reference" in by_digest.stdout
        claim = signing.payload(artifacts.pull_attestation(where))
        assert claim["predicate"]["buildDefinition"]["resolvedDependencies"][0] == {
            "uri": f"git+{LABELS['org.opencontainers.image.source']}@{LABELS['org.opencontainers.image.revision']}",
            "digest": {"gitCommit": LABELS["org.opencontainers.image.revision"]}}

        def failed(ref: str, public_key: Path) -> str:
            result = run_build("verify", ref, "--key", str(public_key))
            fails = [line for line in _lines(result) if line.startswith("FAIL")]
            assert result.returncode == 1 and len(fails) == 1 and _lines(result)[-1] == f"{ref}: NOT verified"
            return fails[0]

        assert failed(refs[1], other).startswith("FAIL  signature   the attestation is not signed by key ")
        oci.promote(refs[0], f"{repo}:gptoss-h200")  # the same digest copied under another tag
        assert failed(f"{repo}:gptoss-h200", public).startswith(
            "FAIL  tag         gptoss-h200 is not a tag this image was pushed under (gptoss-h100-vllm0.33.0-")
        second = oci.push(client, made[1], [f"{repo}:gptoss-h100-copy"], quiet=True)[f"{repo}:gptoss-h100-copy"]
        artifacts.push_attestation(provenance.attestation_ref(repo, second), artifacts.pull_attestation(where),
                                   None)  # another image's attestation beside this one
        assert failed(f"{repo}:gptoss-h100-copy", public) == (
            f"FAIL  subject     the statement is about {digests[refs[0]]}, not {second}")
        artifacts.push_sbom(refs[0], json.dumps({**SBOM, "packages": []}).encode())  # the SBOM replaced
        assert "it was changed" in failed(refs[1], public)
        drifted = f"{repo}:gptoss-h100-copy"  # signed, but installed other than its lock says
        provenance.attest([drifted], second, LABELS, document, artifacts.push_sbom(drifted, document),
                          signing.signer(str(key), {}), LOCK.replace(b"torch==2.14.0", b"torch==2.13.0"))
        assert failed(drifted, public) == ("FAIL  lock        the SBOM's packages differ from the lock: "
                                           "other versions: torch 2.14.0 (locked 2.13.0)")
    finally:
        for image_id in made:
            client.images.remove(image_id, force=True)


@pytest.mark.parametrize(("args", "environ", "wanted"), [
    (["verify", "localhost:5000/x:gptoss-h100"], {}, "error: verify: no public key: give --key PUBLIC.pem or "
                                                     "GPTOSS_VERIFY_KEY (the PEM text)"),
    (["verify", "localhost:5000/x:gptoss-h100"], {"GPTOSS_VERIFY_KEY": "-----BEGIN PUBLIC KEY-----\nAAAA\n"},
     "error: GPTOSS_VERIFY_KEY: not a PEM public key (Ed25519, ECDSA or RSA): ValueError"),
    (["verify", "x@sha256:abc", "--key", "k.pub"], {}, "error: REF 'x@sha256:abc': expected "
                                                       "HOST/REPO:TAG or HOST/REPO@sha256:<64 hex digits>"),
    (["verify", "localhost:5000/x:gptoss-h100", "--key", "/nonexistent.pub"], {},
     "error: /nonexistent.pub: no such file"),
    (["push", "h100", "--registry", "localhost:5000/x", "--signing-key", "/dev/null"], {},
     "error: /dev/null: a character device, not a regular file"),
])
def test_bad_keys_and_references_are_one_line_and_no_key_is_printed(args, environ, wanted, monkeypatch):
    for name in (signing.SIGNING_VARIABLE, signing.VERIFY_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    result = run_build(*args)
    assert result.returncode == 2 and result.stderr.startswith(wanted), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "AAAA" not in result.stderr


def test_a_private_key_in_the_variable_signs_and_its_text_is_never_shown(tmp_path):
    key, public = _pair(tmp_path, "signing", ed25519.Ed25519PrivateKey.generate())
    signer = signing.signer(None, {signing.SIGNING_VARIABLE: key.read_text()})
    envelope = signing.sign({"_type": provenance.STATEMENT}, signer)
    assert signing.open_envelope(envelope, signing.public_key(str(public), {})) == {"_type": provenance.STATEMENT}
    with pytest.raises(Exception) as refused:
        signing.signer(None, {signing.SIGNING_VARIABLE: key.read_text()[:-40]})
    assert str(refused.value).startswith("GPTOSS_SIGNING_KEY: not an unencrypted PEM private key")
    assert key.read_text()[40:80] not in str(refused.value)
