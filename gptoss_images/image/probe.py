"""Read what an image holds, inside it: vLLM, torch's CUDA, the base's CUDA, CUDA_HOME's nvcc, Triton.

Runs under the image's Python (standard library; torch imported if installed) and
prints one JSON object: the smoke test's view of the recipe's known issues (a CUDA
version mismatch gives garbage output, a second Triton breaks `tl.language`).
"""

import importlib.metadata as metadata
import json
import os
import re
import subprocess


def triton_distributions() -> list[str]:
    """Every installed distribution that provides the top-level `triton` package."""
    found = []
    for dist in metadata.distributions():
        if any(str(f).replace("\\", "/") == "triton/__init__.py" for f in dist.files or []):
            found.append(f"{dist.metadata['Name']} {dist.version}")
    return sorted(found)


def nvcc_release(cuda_home: str) -> str | None:
    try:
        text = subprocess.run([os.path.join(cuda_home, "bin", "nvcc"), "--version"], capture_output=True,
                              text=True, timeout=60).stdout
    except OSError:
        return None
    match = re.search(r"release (\d+\.\d+)", text)
    return match.group(1) if match else None


def main() -> None:
    out: dict = {"vllm": None, "torch_cuda": None, "base_cuda": os.environ.get("CUDA_VERSION"),
                 "cuda_home": os.environ.get("CUDA_HOME"), "nvcc": None, "triton": triton_distributions()}
    for name in ("vllm", "torch"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    try:
        import torch

        out["torch_cuda"] = torch.version.cuda
    except ImportError:
        pass
    if out["cuda_home"]:
        out["nvcc"] = nvcc_release(out["cuda_home"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
