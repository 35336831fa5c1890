"""The image's HEALTHCHECK: is vLLM's /health answering where the server really listens? Standard library.

Exit 0 when GET /health answers 200, 1 otherwise: Docker's healthy and unhealthy. The
address is the one the running server was given: the launcher execs `vllm serve`, which
becomes the container's first process, so its command line (/proc/1/cmdline) holds the
`--port` and `--host` it listens on, however they were given (GPTOSS_PORT, `--port 9000`,
`--port=9000`). Without a server's command line: GPTOSS_PORT, else port 8000.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from gptoss_images.core import runtime

SERVER_CMDLINE = Path("/proc/1/cmdline")
ANY_ADDRESS = {"", "0.0.0.0", "::", "[::]"}
"""Hosts that listen everywhere: probed on the loopback address."""


def address(cmdline: bytes | None = None, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The host and port /health is asked on: the server's own flags, else GPTOSS_PORT, else 8000."""
    environ = os.environ if environ is None else environ
    if cmdline is None:
        try:
            cmdline = SERVER_CMDLINE.read_bytes()
        except OSError:
            cmdline = b""
    argv = [word.decode(errors="replace") for word in cmdline.split(b"\0") if word]
    found: dict[str, str] = {}
    if "serve" in argv:  # vllm serve ...: the last spelling wins, as in vLLM's parser
        for i, word in enumerate(argv):
            name, eq, value = word.partition("=")
            if name in ("--port", "--host"):
                if not eq:
                    value = argv[i + 1] if i + 1 < len(argv) else ""
                found[name[2:]] = value
    host = found.get("host", "")
    port = found.get("port") or environ.get("GPTOSS_PORT") or str(runtime.PORT)
    return ("127.0.0.1" if host in ANY_ADDRESS else host), port


def probe(timeout: float = 5.0, port: int | str | None = None) -> int:
    """0 if /health answers 200 (on `port` of this host, or where the server listens), else 1."""
    host, found = ("127.0.0.1", str(port)) if port else address()
    if not (found.isascii() and found.isdigit() and 0 < int(found) < 65536):
        print(f"gptoss-serve: health: port {found!r} is not a port (1-65535); check --port or GPTOSS_PORT",
              file=sys.stderr)
        return 1
    where = f"[{host}]" if ":" in host else host
    try:
        with urllib.request.urlopen(f"http://{where}:{found}{runtime.HEALTH_PATH}", timeout=timeout) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError, ValueError):
        return 1
