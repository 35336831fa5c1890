"""Smoke test of a built image, without a GPU, before it gets any tag.

Each check runs in a fresh container that is always removed:
  dry-run       the launcher prints a command for every model x scenario
  parser        the image's own vLLM parser accepts every one of them
  version       the installed vLLM is the pinned release (CUDA: installed from PyPI)
  vocab         harmony loads its vocabulary with the network off
  env           the profile's hardware environment is in the image
  no-gpu        starting without a GPU ends with the launcher's message, no traceback
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import docker

from gptoss_images.errors import UserError
from gptoss_images.profiles.schema import Profile
from gptoss_images.vllm import install

VERSION = re.compile(r"^\d+\.\d+\S*$")
HARMONY = ("from openai_harmony import HarmonyEncodingName, load_harmony_encoding; "
           "enc = load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS); "
           "print(len(enc.encode('hello world')))")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


class SmokeFailed(UserError):
    pass


def run(client: docker.DockerClient, image_id: str, profile: Profile, quiet: bool = False) -> list[Check]:
    say: Callable[[str], None] = (lambda s: None) if quiet else (
        lambda s: print(f"[{profile.name}] smoke {s}", file=sys.stderr, flush=True))
    checks: list[Check] = []

    def record(check: Check, started: float) -> None:
        checks.append(check)
        say(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail} ({time.monotonic() - started:.1f} s)")

    started = time.monotonic()
    commands = []
    for model in profile.models:
        for scenario in profile.serve.scenarios:
            code, out = _run(client, image_id, ["--dry-run", "--json", "--model", model, "--scenario", scenario])
            if code != 0:
                record(Check("dry-run", False, f"{model} {scenario}: exit {code}: {out[-300:]}"), started)
                raise SmokeFailed(_summary(profile, checks))
            plan = json.loads(out)
            commands.append({"id": f"{model} {scenario}", "argv": plan["argv"]})
    record(Check("dry-run", True, f"{len(commands)} commands"), started)

    started = time.monotonic()
    code, out = _run(client, image_id, ["-c", install.INTROSPECT.read_text(), json.dumps({"commands": commands})],
                     entrypoint="python3", stdout_only=True)
    try:
        rejected = [f"{r['id']}: {r['error']}" for r in json.loads(out) if not r["ok"]]
        record(Check("parser", not rejected, "; ".join(rejected) or f"vLLM's parser accepts all {len(commands)}"),
               started)
    except ValueError:
        record(Check("parser", False, f"exit {code}: {out[-300:]}"), started)

    started = time.monotonic()
    # `vllm --version` itself needs a GPU in 0.10.2 ("Failed to infer device type"): ask the
    # installed distribution instead, which is what it prints.
    code, out = _run(client, image_id, ["-c", "import importlib.metadata as m; print(m.version('vllm'))"],
                     entrypoint="python3", stdout_only=True)
    version = next((line for line in reversed(out.splitlines()) if VERSION.match(line)), "")
    pinned = profile.stack.source != "pypi" or version == profile.stack.vllm
    record(Check("version", code == 0 and pinned, f"vLLM {version or out[-200:]}"
                 + ("" if pinned else f", expected {profile.stack.vllm}")), started)

    started = time.monotonic()
    code, out = _run(client, image_id, ["-c", HARMONY], entrypoint="python3")
    record(Check("vocab", code == 0, "harmony's vocabulary loads offline" if code == 0 else out[-300:]), started)

    started = time.monotonic()
    env = dict(item.split("=", 1) for item in client.images.get(image_id).attrs["Config"]["Env"])
    missing = [k for k, v in profile.env.items() if env.get(k) != v.value]
    record(Check("env", not missing, f"missing or different: {', '.join(missing)}" if missing
                 else f"{len(profile.env)} variables set"), started)

    started = time.monotonic()
    code, out = _run(client, image_id, [])
    clear = code == 3 and "machine check failed" in out and "Traceback" not in out
    record(Check("no-gpu", clear, "the launcher stops with its message (exit 3)" if clear
                 else f"exit {code}: {out[-300:]}"), started)

    if not all(c.ok for c in checks):
        raise SmokeFailed(_summary(profile, checks))
    return checks


def _summary(profile: Profile, checks: list[Check]) -> str:
    failed = [f"{c.name} ({c.detail})" for c in checks if not c.ok]
    return f"[{profile.name}] smoke test failed: {'; '.join(failed)}"


def _run(client: docker.DockerClient, image_id: str, command: list[str], entrypoint: str | None = None,
         stdout_only: bool = False) -> tuple[int, str]:
    """Run a container with the network off; return its exit code and output."""
    container = client.containers.create(image_id, command, entrypoint=entrypoint,
                                         network_mode="none")
    try:
        container.start()
        code = container.wait(timeout=600)["StatusCode"]
        out = container.logs(stdout=True, stderr=not stdout_only).decode(errors="replace")
    finally:
        container.remove(force=True)
    return code, out
