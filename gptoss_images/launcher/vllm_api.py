"""What a vLLM release accepts, read from its record under vllm-api/<version>/.

The records are generated from each release's own wheel (gptoss_images.vllm.record).
The launcher reads them inside the image (/opt/gptoss/vllm-api), profile validation
and pins on the build side: checking a setting needs no vLLM install.
"""

from __future__ import annotations

from pathlib import Path

RECORDS = Path(__file__).resolve().parents[2] / "vllm-api"


def env_names(version: str, records: Path = RECORDS) -> set[str] | None:
    """The variables vLLM `version`'s envs.py defines, or None if there is no record."""
    path = records / version / "envs.txt"
    if not path.is_file():
        return None
    return {line.strip() for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")}
