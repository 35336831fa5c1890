"""Smoke test of a built image, without a GPU, before it gets any tag.

Each check runs in a fresh container, network off, always removed:
  dry-run       the launcher prints a command for every model x scenario
  parser        the image's own vLLM parser accepts every one of them
  version       the installed vLLM is the pinned release (CUDA: installed from PyPI)
  cuda          torch's CUDA, the base image's CUDA and CUDA_HOME's nvcc agree (the recipe's
                "garbage output" and `+cu128` troubleshooting)
  triton        exactly one distribution provides Triton (its `tl.language` troubleshooting)
  vocab         harmony loads its vocabulary with the network off
  env           the launcher gives vLLM the profile's environment; each option sets exactly its
                default choice's variables (the Blackwell sinks troubleshooting on cu128)
  sbom          the SPDX SBOM baked in lists vLLM and torch at the versions installed
  no-gpu        starting without a GPU ends with the launcher's message, no traceback
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker

from gptoss_images.errors import UserError
from gptoss_images.image import sbom
from gptoss_images.profiles.schema import Profile
from gptoss_images.render import locks
from gptoss_images.vllm import install

PROBE = Path(__file__).with_name("probe.py")
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


def run(client: docker.DockerClient, image_id: str, profile: Profile, quiet: bool = False,
        env: dict[str, str] | None = None) -> list[Check]:
    """Every check of one profile in the image (`env`: GPTOSS_PROFILE=<profile> in a vendor image)."""
    def _run(*args, **kwargs) -> tuple[int, str]:
        return _container(client, *args, env=env, **kwargs)

    say: Callable[[str], None] = (lambda s: None) if quiet else (
        lambda s: print(f"[{profile.name}] smoke {s}", file=sys.stderr, flush=True))
    checks: list[Check] = []

    def record(check: Check, started: float) -> None:
        checks.append(check)
        say(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail} ({time.monotonic() - started:.1f} s)")

    started = time.monotonic()
    commands, plans = [], []
    for model in profile.models:
        for scenario in profile.serve.scenarios:
            code, out = _run(image_id, ["--dry-run", "--json", "--model", model, "--scenario", scenario],
                             stdout_only=True)
            if code != 0:
                record(Check("dry-run", False, f"{model} {scenario}: exit {code}: {out[-300:]}"), started)
                raise SmokeFailed(_summary(profile, checks))
            plans.append(json.loads(out))
            commands.append({"id": f"{model} {scenario}", "argv": plans[-1]["argv"]})
    record(Check("dry-run", True, f"{len(commands)} commands"), started)

    started = time.monotonic()
    code, out = _run(image_id, ["-I", "-c", install.INTROSPECT.read_text(), json.dumps({"commands": commands})],
                     entrypoint="python3", stdout_only=True)
    try:
        rejected = [f"{r['id']}: {r['error']}" for r in json.loads(out) if not r["ok"]]
        record(Check("parser", not rejected, "; ".join(rejected) or f"vLLM's parser accepts all {len(commands)}"),
               started)
    except ValueError:
        record(Check("parser", False, f"exit {code}: {out[-300:]}"), started)

    started = time.monotonic()
    # `vllm --version` itself needs a GPU in 0.10.2 ("Failed to infer device type"): the probe asks
    # the installed distribution instead, which is what it prints.
    code, out = _run(image_id, ["-c", PROBE.read_text()], entrypoint="python3", stdout_only=True)
    try:
        held = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        held = {}
        record(Check("probe", False, f"exit {code}: {out[-300:]}"), started)
    version = held.get("vllm") or ""
    pinned = profile.stack.source != "pypi" or version == profile.stack.vllm
    record(Check("version", bool(version) and pinned, f"vLLM {version or 'missing'}"
                 + ("" if pinned else f", expected {profile.stack.vllm}")), started)
    if profile.stack.cuda:
        record(_cuda(profile, held), started)
    tritons = held.get("triton", [])
    record(Check("triton", len(tritons) == 1, f"{len(tritons)} distributions provide triton: "
                 f"{', '.join(tritons) or 'none'}" + ("" if len(tritons) == 1 else "; exactly one may")), started)

    started = time.monotonic()
    code, out = _run(image_id, ["-c", HARMONY], entrypoint="python3")
    record(Check("vocab", code == 0, "harmony's vocabulary loads offline" if code == 0 else out[-300:]), started)

    started = time.monotonic()
    planned = plans[0]["env"]
    missing = [k for k, v in profile.env.items() if planned.get(k) != v.value]
    wrong = _options(profile, planned)
    record(Check("env", not missing and not wrong, "; ".join(
        ([f"missing or different: {', '.join(missing)}"] if missing else []) + wrong)
        or f"{len(profile.env)} variables set; options set their default's"), started)

    started = time.monotonic()
    record(_sbom(client, image_id, profile, held), started)

    started = time.monotonic()
    code, out = _run(image_id, [])
    clear = code == 3 and "machine check failed" in out and "Traceback" not in out
    record(Check("no-gpu", clear, "the launcher stops with its message (exit 3)" if clear
                 else f"exit {code}: {out[-300:]}"), started)

    if not all(c.ok for c in checks):
        raise SmokeFailed(_summary(profile, checks))
    return checks


def _cuda(profile: Profile, held: dict) -> Check:
    """torch's CUDA, the base image's ($CUDA_VERSION) and CUDA_HOME's nvcc: one major.minor."""
    found = {"torch": held.get("torch_cuda"), "base image": held.get("base_cuda"),
             f"CUDA_HOME ({held.get('cuda_home')}) nvcc": held.get("nvcc")}
    minor = {name: ".".join(str(v).split(".")[:2]) if v else None for name, v in found.items()}
    ok = all(v == profile.stack.cuda for v in minor.values())
    text = ", ".join(f"{name} {value or 'missing'}" for name, value in minor.items())
    return Check("cuda", ok, f"CUDA {profile.stack.cuda}: {text}" + ("" if ok else "; they must agree"))


def _sbom(client: docker.DockerClient, image_id: str, profile: Profile, held: dict) -> Check:
    """The SBOM baked in lists vLLM and torch at the versions the image holds, and (a stack of ours) the packages
    of its lock and no other in the venv."""
    document = sbom.parse(sbom.read(client, image_id))
    if document is None:
        return Check("sbom", False, f"no SPDX document at {sbom.PATH}")
    listed = sbom.packages(document)
    wrong = [f"{name} {held.get(key)} (listed: {', '.join(sorted(listed.get(name, []))) or 'none'})"
             for name, key in (("vllm", "vllm"), ("torch", "torch")) if held.get(key)
             and held[key] not in listed.get(name, set())]
    if profile.stack.source == "pypi":  # a stack of ours: the venv is its lock, each package at its version
        wrong += sbom.lock_differences(document, locks.pins(sbom.read(client, image_id, sbom.LOCK_PATH).decode()))
    return Check("sbom", not wrong, sbom.summary(document) if not wrong else f"missing or wrong: {'; '.join(wrong)}")


def _options(profile: Profile, env: dict[str, str]) -> list[str]:
    """Each option sets its default choice's variables and none of the others'."""
    wrong = []
    for name, option in profile.options.items():
        chosen = option.choices[option.default].env
        others = {var for c, choice in option.choices.items() if c != option.default for var in choice.env}
        if any(env.get(var) != spec.value for var, spec in chosen.items()) or (others - chosen.keys()) & env.keys():
            wrong.append(f"option {name}: the default {option.default!r} must set {', '.join(chosen) or 'nothing'} "
                         f"and none of {', '.join(sorted(others))}")
    return wrong


def _summary(profile: Profile, checks: list[Check]) -> str:
    failed = [f"{c.name} ({c.detail})" for c in checks if not c.ok]
    return f"[{profile.name}] smoke test failed: {'; '.join(failed)}"


def _container(client: docker.DockerClient, image_id: str, command: list[str], entrypoint: str | None = None,
               stdout_only: bool = False, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run a container with the network off; return its exit code and output (`stdout_only`:
    stdout alone when it succeeds, both streams when it fails)."""
    container = client.containers.create(image_id, command, entrypoint=entrypoint, environment=env,
                                         network_mode="none")
    try:
        container.start()
        code = container.wait(timeout=600)["StatusCode"]
        out = container.logs(stdout=True, stderr=not stdout_only or code != 0).decode(errors="replace")
    finally:
        container.remove(force=True)
    return code, out
