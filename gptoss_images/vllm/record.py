"""Record what a vLLM release accepts under vllm-api/<version>/, read from its installed wheel.

`serve.json`: every `vllm serve` flag, from the release's own parser (introspect.py
record); `envs.txt`: the variables its `vllm/envs.py` defines. The launcher and
profile validation read them back (gptoss_images.launcher.vllm_api); the test suite
compares them with the wheels they came from.
"""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path

from gptoss_images.launcher.vllm_api import RECORDS
from gptoss_images.render import tree
from gptoss_images.vllm import install


def env_names_from_source(source: str) -> set[str]:
    """The keys of `environment_variables` in the text of a `vllm/envs.py`."""
    for node in ast.walk(ast.parse(source)):
        target = getattr(node, "target", None) or (getattr(node, "targets", None) or [None])[0]
        if isinstance(target, ast.Name) and target.id == "environment_variables":
            value = node.value
            if isinstance(value, ast.Dict):
                return {k.value for k in value.keys if isinstance(k, ast.Constant)}
    raise ValueError("no environment_variables mapping in this envs.py")


def read(python: Path) -> dict[str, bytes]:
    """The record files of the vLLM installed under `python`, as they are written."""
    done = subprocess.run([str(python), "-I", str(install.INTROSPECT), "record"], capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError("introspect.py record failed:\n" + "\n".join(done.stderr.splitlines()[-5:]))
    serve = json.loads(done.stdout)
    version = serve["version"]
    serve = {"_generated": f"GENERATED FILE: do not edit. From vLLM {version}'s own parser. "
                           f"Regenerate: python build.py pins record {version}", **serve}
    names = sorted(env_names_from_source(install.envs_py(python).read_text()))
    envs = (f"# GENERATED FILE: do not edit. From vLLM {version}'s vllm/envs.py. "
            f"Regenerate: python build.py pins record {version}\n" + "\n".join(names) + "\n")
    return {"serve.json": (json.dumps(serve, indent=1, sort_keys=True) + "\n").encode(),
            "envs.txt": envs.encode()}


def write(python: Path, version: str, records: Path = RECORDS) -> Path:
    """Record the vLLM installed under `python` (release `version`) in vllm-api/<version>/."""
    folder = records / version
    tree.write_folder(folder, read(python))
    return folder
