"""Push an image's tags, immutable first, and check the registry's digest of each; move tags inside the registry.

Two clients, each for what only it can do: the Docker engine pushes an image it holds (its
layers are there and nowhere else); everything that speaks to a registry without a local
image (reading a digest, moving a floating tag, the artifacts beside an image) goes through
oras-py, one library for the OCI distribution API, with the engine's own credentials
(~/.docker/config.json). No skopeo.
"""

from __future__ import annotations

import hashlib
import re
import sys
import time

import docker
import requests

from gptoss_images.errors import UserError
from gptoss_images.image import tags
from gptoss_images.publish import artifacts

MANIFEST_TYPES = ["application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.list.v2+json",
                  "application/vnd.docker.distribution.manifest.v2+json"]


class PushFailed(UserError):
    pass


def push(client: docker.DockerClient, image_id: str, refs: list[str], quiet: bool = False,
         immutable: int = 0) -> dict[str, str]:
    """Push `refs` in order; each must land with the digest the engine computed.

    The floating tag comes last: if anything before it fails, it is not moved. The first `immutable` refs never
    move: one that already holds this image is kept as it is, one that holds another is refused.
    """
    digests: dict[str, str] = {}
    image = client.images.get(image_id)
    for number, ref in enumerate(refs):
        if number < immutable and (held := _held(ref)) is not None:
            config, digest = held
            if config != image.id:
                raise PushFailed(f"{ref} is immutable and holds another image ({digest}, config {config}); "
                                 f"this one is {image.id}: build under a new revision, never move it")
            digests[ref] = digest
            if not quiet:
                print(f"{ref} holds this image already ({digest}): kept", file=sys.stderr, flush=True)
            continue
        repo, tag = tags.split(ref)
        fresh = ref not in image.tags
        image.tag(repo, tag)
        try:
            digests[ref] = _push_one(client, ref, repo, tag, quiet)
        except PushFailed:
            if fresh:  # leave no local tag behind for what did not reach the registry
                client.images.remove(ref, noprune=True)
            raise
    return digests


def _push_one(client: docker.DockerClient, ref: str, repo: str, tag: str, quiet: bool) -> str:
    """Push one tag, saying each layer's size and rate as it lands; its digest, read back from the registry."""
    started, digest, layers = time.monotonic(), None, {"pushed": 0, "exists": 0}
    progress = _Progress(ref, quiet)
    try:
        for chunk in client.api.push(repo, tag, stream=True, decode=True):
            if "error" in chunk:
                raise PushFailed(f"push of {ref} failed: {chunk['error'].strip()}")
            status = chunk.get("status", "")
            if status == "Pushed":
                layers["pushed"] += 1
            elif status == "Layer already exists":
                layers["exists"] += 1
            progress.update(chunk.get("id", ""), status, chunk.get("progressDetail") or {})
            digest = (chunk.get("aux") or {}).get("Digest", digest)
    except docker.errors.APIError as exc:
        raise PushFailed(f"push of {ref} failed: {exc.explanation or exc}") from None
    if digest is None:
        raise PushFailed(f"push of {ref} ended without a digest")
    remote = registry_digest(ref)
    if remote != digest:
        raise PushFailed(f"push of {ref}: the registry has {remote}, the engine pushed {digest}")
    if not quiet:
        print(f"pushed {ref} {digest} ({layers['pushed']} layers sent, {layers['exists']} already "
              f"there, {progress.sent / 1e9:.2f} GB in {time.monotonic() - started:.1f} s)", file=sys.stderr,
              flush=True)
    return digest


class _Progress:
    """What the engine's push stream says, in lines a person reads: each layer sent (size, rate) when it
    lands, and the bytes so far every EVERY_S seconds while a large one goes."""

    EVERY_S = 15.0

    def __init__(self, ref: str, quiet: bool) -> None:
        self.ref, self.quiet = ref, quiet
        self.layers: dict[str, tuple[float, int]] = {}  # id -> (first seen, bytes sent)
        self.said = time.monotonic()

    @property
    def sent(self) -> int:
        return sum(done for _, done in self.layers.values())

    def update(self, layer: str, status: str, detail: dict) -> None:
        now = time.monotonic()
        if status == "Pushing" and layer:
            first, _ = self.layers.get(layer, (now, 0))
            self.layers[layer] = (first, int(detail.get("current") or 0))
            if not self.quiet and now - self.said >= self.EVERY_S:
                self.said = now
                print(f"pushing {self.ref}: {self.sent / 1e9:.2f} GB sent", file=sys.stderr, flush=True)
        elif status == "Pushed" and layer in self.layers and not self.quiet:
            first, done = self.layers[layer]
            seconds = max(now - first, 1e-3)
            print(f"pushing {self.ref}: layer {layer} sent ({done / 1e6:.1f} MB, {done / 1e6 / seconds:.1f} MB/s)",
                  file=sys.stderr, flush=True)


def promote(immutable: str, floating: str) -> str:
    """Point `floating` at what `immutable` holds, inside the registry (its manifest, byte for byte, under the
    other tag: no pull, no layer upload), and check that both tags now serve the same digest."""
    data, media, expected = _manifest(immutable)
    remote, container = artifacts.remote(floating)
    try:
        response = remote.do_request(f"{remote.prefix}://{container.manifest_url()}", "PUT", data=data,
                                     headers={"Content-Type": media})
    except requests.RequestException as exc:
        raise PushFailed(f"moving {floating} failed: {_reason(exc)}") from None
    if response.status_code not in (200, 201):
        raise PushFailed(f"moving {floating} failed: the registry answered {response.status_code} "
                         f"{response.text.strip()[:200]}")
    moved = registry_digest(floating)
    if moved != expected:
        raise PushFailed(f"{floating} serves {moved}, {immutable} serves {expected}")
    return moved


def registry_digest(ref: str) -> str:
    """The manifest digest the registry serves for `ref`."""
    return _manifest(ref)[2]


def manifest_of(ref: str) -> tuple[bytes, str, str]:
    """The registry's manifest of `ref`: its bytes, media type and digest."""
    return _manifest(ref)


def _held(ref: str) -> tuple[str, str] | None:
    """What `ref` holds in the registry, read once before a push (its errors say so): the image id (config digest;
    '' for an index or another kind of manifest) and the manifest digest; None if the tag is not there."""
    try:
        response = _get_manifest(ref)
    except requests.RequestException as exc:
        raise PushFailed(f"push of {ref}: cannot reach the registry ({_reason(exc)})") from None
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise PushFailed(f"push of {ref}: cannot read the tag from the registry (it answered "
                         f"{response.status_code})")
    try:
        config = response.json()["config"]["digest"]
    except (ValueError, KeyError, TypeError):
        config = ""
    return config, _digest(response)


def _manifest(ref: str) -> tuple[bytes, str, str]:
    """The registry's manifest of `ref`: its bytes, media type and digest."""
    try:
        response = _get_manifest(ref)
    except requests.RequestException as exc:
        raise PushFailed(f"cannot read {ref} back from the registry: {_reason(exc)}") from None
    if response.status_code != 200:
        raise PushFailed(f"cannot read {ref} back from the registry: it answered {response.status_code}")
    return response.content, response.headers.get("Content-Type", MANIFEST_TYPES[-1]).split(";")[0], \
        _digest(response)


def _get_manifest(ref: str) -> requests.Response:
    """GET `ref`'s manifest, in any of the kinds an image tag holds."""
    remote, container = artifacts.remote(ref)
    return remote.do_request(f"{remote.prefix}://{container.manifest_url()}", "GET",
                             headers={"Accept": ", ".join(MANIFEST_TYPES)})


def _digest(response: requests.Response) -> str:
    """A manifest's digest: the registry's header, else the hash of its bytes."""
    return response.headers.get("Docker-Content-Digest") or f"sha256:{hashlib.sha256(response.content).hexdigest()}"


def _reason(exc: requests.RequestException) -> str:
    """Why a request failed, in words: the operating system's reason when there is one ('connection refused')."""
    errno = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(exc))
    if errno:
        return errno.group(1).strip().lower()
    if isinstance(exc, requests.Timeout):
        return "it did not answer in time"
    return str(exc).splitlines()[0][:200]
