"""The image's HEALTHCHECK: is vLLM's /health answering on this container's port? Standard library.

Exit 0 when GET /health answers 200, 1 otherwise: Docker's healthy and unhealthy. The
port is GPTOSS_PORT's (default 8000), the one the launcher gave vLLM.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request

from gptoss_images.core import runtime


def probe(timeout: float = 5.0, port: int | str | None = None) -> int:
    """0 if /health answers 200 on `port` (default GPTOSS_PORT's), else 1."""
    port = port or os.environ.get("GPTOSS_PORT", str(runtime.PORT))
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{runtime.HEALTH_PATH}", timeout=timeout) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError, ValueError):
        return 1
