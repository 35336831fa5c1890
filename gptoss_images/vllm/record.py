"""Record what a vLLM release accepts under vllm-api/<version>/, read from its own Python.

`serve.json`: every `vllm serve` flag, from the release's own parser; `envs.txt`: the
variables its `vllm.envs` defines; `metrics.txt`: the Prometheus metrics its engine
declares (introspect.py record, under a venv or an image).
The launcher and profile validation read them back (gptoss_images.core.vllm_api);
the test suite compares them with the releases they came from.
"""

from __future__ import annotations

import json
from pathlib import Path

from gptoss_images.core.vllm_api import RECORDS
from gptoss_images.render import tree
from gptoss_images.vllm import install


def read(python: install.Python) -> dict[str, bytes]:
    """The record files of the vLLM under `python`, as they are written."""
    found = json.loads(install.introspect(python, "record"))
    version, envs, metrics = found["version"], found.pop("envs"), found.pop("metrics")
    again = f"Regenerate: python build.py pins record {version}"
    serve = {"_generated": f"GENERATED FILE: do not edit. From vLLM {version}'s own parser. {again}", **found}
    header = f"# GENERATED FILE: do not edit. From vLLM {version}'s vllm/envs.py. {again}\n"
    return {"serve.json": (json.dumps(serve, indent=1, sort_keys=True) + "\n").encode(),
            "envs.txt": (header + "\n".join(envs) + "\n").encode(),
            "metrics.txt": (f"# GENERATED FILE: do not edit. The Prometheus metrics vLLM {version} declares in "
                            f"vllm/v1/metrics/ (counters are exported with _total added). {again}\n"
                            + "\n".join(metrics) + "\n").encode()}


def write(python: install.Python, version: str, records: Path = RECORDS) -> Path:
    """Record the vLLM under `python` (release `version`) in vllm-api/<version>/."""
    folder = records / version
    tree.write_folder(folder, read(python))
    return folder
