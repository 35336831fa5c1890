"""Where the model and the compiled artefacts are kept: one cache folder, any user, warm restarts.

The image's /cache is writable by group 0 (OpenShift's arbitrary UIDs run in it). The
Hugging Face cache and vLLM's, Triton's, torch inductor's and FlashInfer's caches all go
under it, so a volume mounted there keeps the weights and the compiled graphs: a second
start reuses the first start's work. Where it is not writable (a read-only root file
system and no volume), they go to /tmp and last as long as the container.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from gptoss_images.core.runtime import CACHE as ROOT

FALLBACK = "/tmp/gptoss-cache"
FOLDERS = {"HF_HOME": "huggingface", "VLLM_CACHE_ROOT": "vllm", "TRITON_CACHE_DIR": "triton",
           "TORCHINDUCTOR_CACHE_DIR": "torchinductor", "FLASHINFER_WORKSPACE_BASE": "flashinfer",
           "XDG_CACHE_HOME": "xdg", "XDG_CONFIG_HOME": "config"}
"""Each cache's variable and its folder under the cache root."""


def root(environ: Mapping[str, str], writable=os.access) -> tuple[str, bool]:
    """The cache root and whether it lasts beyond the container (a volume or a writable /cache)."""
    wanted = environ.get("GPTOSS_CACHE_DIR") or ROOT
    if os.path.isdir(wanted) and writable(wanted, os.W_OK | os.X_OK):
        return wanted, _mounted(wanted)
    return FALLBACK, False


def environment(environ: Mapping[str, str], writable=os.access) -> tuple[dict[str, str], str]:
    """The cache variables (the user's own win) and a line on where they go."""
    base, kept = root(environ, writable)
    env = {var: os.path.join(base, folder) for var, folder in FOLDERS.items() if var not in environ}
    where = (f"caches in {base}" + (" (a volume: kept across restarts)" if kept else
             " (not a volume: lost with the container; mount one at /cache to keep the weights and "
             "compiled graphs)"))
    return env, where


def _mounted(path: str) -> bool:
    """Whether `path` is a mount point of its own (a volume), from /proc/self/mountinfo."""
    try:
        with open("/proc/self/mountinfo") as handle:
            return any(line.split()[4] == path for line in handle if len(line.split()) > 4)
    except OSError:
        return False
