"""--download: fill the model cache and exit (the deploy files' cache Job; a warm first start).

The served model and, when speculative decoding is on, its draft model are fetched with
the Hugging Face CLI that vLLM's own dependencies install (`hf`, or `huggingface-cli`
in older releases) into HF_HOME under the cache folder, leaving out the checkpoint
copies vLLM never reads (original/, metal/).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping

from gptoss_images.core.plan import Plan

CLIS = (["hf", "download"], ["huggingface-cli", "download"])
UNUSED = ["original/*", "metal/*"]
"""gpt-oss repositories also hold the reference implementation's and Metal's copies of the weights.
Each pattern takes its own --exclude: the CLI's option takes one value, and a second word after it
would be read as a file to fetch (the only one, then)."""


def models(plan: Plan) -> list[str]:
    """The repositories the plan serves from the Hub (a local folder needs nothing)."""
    wanted = [] if os.path.isdir(plan.model) else [plan.model]
    spec = plan.settings.get("speculative-config")
    if isinstance(spec, dict) and isinstance(spec.get("model"), str) and not os.path.isdir(spec["model"]):
        wanted.append(spec["model"])
    return wanted


def commands(plan: Plan, which: Callable[[str], str | None] = shutil.which) -> list[list[str]]:
    cli = next((c for c in CLIS if which(c[0])), CLIS[0])
    return [[*cli, repo, *(word for pattern in UNUSED for word in ("--exclude", pattern))] for repo in models(plan)]


def run(plan: Plan, environ: Mapping[str, str], dry_run: bool = False) -> int:
    """Download each model in turn; the first failure's exit code (127: no CLI)."""
    env = {k: v for k, v in environ.items() if k not in plan.unset} | plan.env
    todo = commands(plan)
    if not todo:
        print(f"gptoss-serve: {plan.model} is a local folder: nothing to download", file=sys.stderr)
    for argv in todo:
        line = " ".join(map(shlex.quote, argv))
        if dry_run:
            print(f"HF_HOME={shlex.quote(env.get('HF_HOME', ''))} {line}")
            continue
        print(f"gptoss-serve: {line}  (into {env.get('HF_HOME')})", file=sys.stderr, flush=True)
        try:
            code = subprocess.run(argv, env=env).returncode
        except FileNotFoundError:
            print(f"gptoss-serve: error: {argv[0]} not found on PATH", file=sys.stderr)
            return 127
        if code != 0:
            print(f"gptoss-serve: error: {line} failed with exit code {code}", file=sys.stderr)
            return code
    return 0
