"""Where the model and the compiled artefacts are kept: one cache folder, any user, warm restarts.

The image's /cache is writable by group 0 (OpenShift's arbitrary UIDs run in it). The
Hugging Face cache and vLLM's, Triton's, torch inductor's and FlashInfer's caches all go
under it, so a volume mounted there keeps the weights and the compiled graphs: a second
start reuses the first start's work. Where it is not writable (a read-only root file
system and no volume), they go to /tmp and last as long as the container. A folder the user
names is used as it is or refused in one line, never replaced.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from gptoss_images.core.inputs import BadInput
from gptoss_images.core.runtime import CACHE as ROOT

FALLBACK = "/tmp/gptoss-cache"
FOLDERS = {"HF_HOME": "huggingface", "VLLM_CACHE_ROOT": "vllm", "TRITON_CACHE_DIR": "triton",
           "TORCHINDUCTOR_CACHE_DIR": "torchinductor", "FLASHINFER_WORKSPACE_BASE": "flashinfer",
           "XDG_CACHE_HOME": "xdg", "XDG_CONFIG_HOME": "config"}
"""Each cache's variable and its folder under the cache root."""
SYSTEM = ("/proc", "/sys", "/dev")
"""Folders of the kernel's: never a cache."""


def root(environ: Mapping[str, str], given: str | None = None, writable=os.access) -> tuple[str, bool]:
    """The cache root and whether it lasts beyond the container (a volume or a writable /cache). A folder the
    user named (`given`, from --cache-dir, else GPTOSS_CACHE_DIR) is used or refused, never replaced; /cache
    falls back to FALLBACK only where /tmp is writable. BadInput (one line) when no folder will do."""
    wanted = given or environ.get("GPTOSS_CACHE_DIR")
    if wanted:
        problem = _unusable(wanted, writable)
        if problem:
            raise BadInput(f"--cache-dir/GPTOSS_CACHE_DIR={wanted!r}: {problem}; give a writable folder, e.g. a "
                           "volume mounted at /cache")
        return wanted, _mounted(wanted)
    if not _unusable(ROOT, writable):
        return ROOT, _mounted(ROOT)
    spare = FALLBACK if os.path.isdir(FALLBACK) else os.path.dirname(FALLBACK)
    if _unusable(spare, writable):
        raise BadInput(f"no writable cache folder: {ROOT} is not writable and neither is {spare}; mount a volume at "
                       f"{ROOT} or give --cache-dir/GPTOSS_CACHE_DIR")
    return FALLBACK, False


def _unusable(path: str, writable=os.access) -> str:
    """Why `path` cannot be the cache root, in words; '' if it can."""
    if not os.path.isabs(path):
        return "not an absolute path"
    real = os.path.realpath(path)
    if real == "/":
        return "the root folder"
    if any(real == top or real.startswith(top + "/") for top in SYSTEM):
        return f"inside {next(t for t in SYSTEM if real == t or real.startswith(t + '/'))}, the kernel's"
    if not os.path.exists(path):
        return "no such folder"
    if not os.path.isdir(path):
        return "not a folder"
    if not writable(path, os.W_OK | os.X_OK):
        return f"not writable by this user (uid {os.getuid()})"
    return ""


def environment(environ: Mapping[str, str], given: str | None = None, writable=os.access) -> tuple[dict[str, str], str]:
    """The cache variables (the user's own win) and a line on where they go."""
    base, kept = root(environ, given, writable)
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
