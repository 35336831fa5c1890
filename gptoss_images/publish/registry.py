"""Push an image's tags, immutable first, and check the registry's digest of each."""

from __future__ import annotations

import subprocess
import sys
import time

import docker

from gptoss_images.errors import UserError
from gptoss_images.image import tags


class PushFailed(UserError):
    pass


def push(client: docker.DockerClient, image_id: str, refs: list[str], quiet: bool = False) -> dict[str, str]:
    """Push `refs` in order; each must land with the digest the engine computed.

    The floating tag comes last: if anything before it fails, it is not moved.
    """
    digests: dict[str, str] = {}
    image = client.images.get(image_id)
    for ref in refs:
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
    """Push one tag; its digest, read back from the registry."""
    started, digest, layers = time.monotonic(), None, {"pushed": 0, "exists": 0}
    try:
        for chunk in client.api.push(repo, tag, stream=True, decode=True):
            if "error" in chunk:
                raise PushFailed(f"push of {ref} failed: {chunk['error'].strip()}")
            status = chunk.get("status", "")
            if status == "Pushed":
                layers["pushed"] += 1
            elif status == "Layer already exists":
                layers["exists"] += 1
            digest = (chunk.get("aux") or {}).get("Digest", digest)
    except docker.errors.APIError as exc:
        raise PushFailed(f"push of {ref} failed: {exc.explanation or exc}") from None
    if digest is None:
        raise PushFailed(f"push of {ref} ended without a digest")
    remote = registry_digest(client, ref)
    if remote != digest:
        raise PushFailed(f"push of {ref}: the registry has {remote}, the engine pushed {digest}")
    if not quiet:
        print(f"pushed {ref} {digest} ({layers['pushed']} layers sent, {layers['exists']} already "
              f"there, {time.monotonic() - started:.1f} s)", file=sys.stderr, flush=True)
    return digest


def promote(client: docker.DockerClient, immutable: str, floating: str) -> str:
    """Point `floating` at what `immutable` holds, inside the registry (skopeo: no pull, no
    layer upload), and check that both tags now serve the same digest."""
    expected = registry_digest(client, immutable)
    host = immutable.split("/", 1)[0]
    insecure = host.startswith(("localhost", "127.")) or host == "[::1]"
    command = ["skopeo", "copy", "--preserve-digests", f"docker://{immutable}", f"docker://{floating}"]
    if insecure:
        command[2:2] = ["--src-tls-verify=false", "--dest-tls-verify=false"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        raise PushFailed("skopeo not found: apt-get install skopeo") from None
    if done.returncode != 0:
        raise PushFailed(f"moving {floating} failed: {done.stderr.strip().splitlines()[-1:]}")
    moved = registry_digest(client, floating)
    if moved != expected:
        raise PushFailed(f"{floating} serves {moved}, {immutable} serves {expected}")
    return moved


def registry_digest(client: docker.DockerClient, ref: str) -> str:
    """The manifest digest the registry serves for `ref`, read back through the engine."""
    try:
        return client.images.get_registry_data(ref).id
    except docker.errors.APIError as exc:
        raise PushFailed(f"cannot read {ref} back from the registry: {exc.explanation or exc}") from None
