"""Record what a vLLM release accepts under vllm-api/<version>/, read from its installed wheel.

`envs.txt` lists the environment variables the release's `vllm/envs.py` defines;
gptoss_images.launcher.vllm_api reads the records back.
"""

from __future__ import annotations

import ast
from pathlib import Path

from gptoss_images.launcher.vllm_api import RECORDS


def env_names_from_source(source: str) -> set[str]:
    """The keys of `environment_variables` in the text of a `vllm/envs.py`."""
    for node in ast.walk(ast.parse(source)):
        target = getattr(node, "target", None) or (getattr(node, "targets", None) or [None])[0]
        if isinstance(target, ast.Name) and target.id == "environment_variables":
            value = node.value
            if isinstance(value, ast.Dict):
                return {k.value for k in value.keys if isinstance(k, ast.Constant)}
    raise ValueError("no environment_variables mapping in this envs.py")


def snapshot(envs_py: Path, version: str) -> Path:
    """Record the variables of `envs_py` (from vLLM `version`'s wheel)."""
    names = sorted(env_names_from_source(envs_py.read_text()))
    out = RECORDS / version / "envs.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    header = (f"# Generated from vLLM {version}'s vllm/envs.py by `python build.py pins snapshot`."
              " Do not edit.\n")
    out.write_text(header + "\n".join(names) + "\n")
    return out
