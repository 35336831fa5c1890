"""The profiles' base images in their registries: pinned by digest, and whether each tag still holds that digest.

A profile may name its base by tag and digest (`nvidia/cuda:13.0.2-base-ubuntu24.04@sha256:...`),
so that a build gets the same base whatever the tag holds by then (and the stack's tag, made
of that reference, names its content). `pins check` reads each tag's digest now: a base pinned
to another digest has moved (a rebuild of the same pin would get the digest it pins, not the
new one, until a person moves the pin); a base named by tag alone is shown the digest to pin.
"""

from __future__ import annotations

import socket

import oras.container

from gptoss_images.errors import UserError
from gptoss_images.profiles.schema import Profile
from gptoss_images.publish import registry

HUB = {"docker.io": "registry-1.docker.io"}
"""Where a registry's API answers, for the registries whose name is not their host."""


def check(loaded: dict[str, Profile]) -> list[str]:
    """One line per distinct base image of the profiles."""
    lines = []
    for base in sorted({p.base_image for p in loaded.values()}):
        name, _, pinned = base.partition("@")
        host = oras.container.Container(name).registry
        try:
            socket.getaddrinfo(HUB.get(host, host).rsplit(":", 1)[0], None)  # the client would retry for a minute
        except OSError as exc:
            lines.append(f"base {name}: not read (cannot resolve {HUB.get(host, host)}: {exc.strerror or exc})")
            continue
        try:
            now = registry.registry_digest(name)
        except UserError as exc:
            lines.append(f"base {name}: not read ({exc})")
            continue
        if not pinned:
            lines.append(f"base {name}: not pinned by digest; the tag holds {now} (pin: {name}@{now})")
        elif now != pinned:
            lines.append(f"base {name}: MOVED: pinned {pinned}, the tag now holds {now}")
        else:
            lines.append(f"base {name}: {pinned}, as pinned")
    return lines
