"""The Docker engine, reached through the `docker` package (the engine API)."""

from __future__ import annotations

import docker
from docker.errors import DockerException

from gptoss_images.errors import UserError


def connect() -> docker.DockerClient:
    """A client for the engine at DOCKER_HOST (default the local socket), or one clear error."""
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except DockerException as exc:
        reason = str(exc).split("\n")[0][:200]
        raise UserError(f"Docker engine not reachable ({reason}): start it (`dockerd &` or "
                        "`systemctl start docker`) or set DOCKER_HOST") from None
    return client
