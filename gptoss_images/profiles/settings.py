"""Checks beyond the schema: rules across fields, serve settings and variables against vLLM's record.

Serve settings (the base config, each scenario's, each model/TP rule's) are turned into
the command-line words the launcher will emit and read by the same parser the launcher
uses (gptoss_images.core.vllm_api): exact names, value kinds, choices and the ranges
vLLM enforces, in milliseconds and without installing vLLM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gptoss_images.core import vendors, vllm_api
from gptoss_images.errors import Problem
from gptoss_images.profiles.schema import EnvVar, Profile

LAUNCHER_FLAGS = {"model": "models and default_model", "tensor-parallel-size": "models.*.tp and default_tp",
                  "data-parallel-size": "the machine's plan (GPTOSS_DATA_PARALLEL_SIZE at run time)",
                  "api-key": "GPTOSS_API_KEY at run time (a secret never goes into a profile)",
                  "hf-token": "HF_TOKEN at run time (a secret never goes into a profile)"}
"""vLLM flags the launcher sets itself, and where a profile says what they hold."""


def problems(p: Profile, records: Path = vllm_api.RECORDS) -> list[Problem]:
    found = _structure(p)
    api = vllm_api.load(p.stack.vllm, records)
    if api is None:
        return found + [Problem("stack.vllm", f"no record of what vLLM {p.stack.vllm} accepts (vllm-api/"
                                              f"{p.stack.vllm}/); run: python build.py pins record {p.stack.vllm}")]
    for path, args in serve_settings(p):
        for key, value in args.items():
            found += setting_problems(api, f"{path}.{key}", key, value)
    for prefix, env in env_sources(p):
        for var, spec in env.items():
            if vllm_api.credential_name(var):  # a profile is baked into an image and printed by --dry-run
                found.append(Problem(f"{prefix}.{var}", "a credential's variable: a profile is baked into the image "
                                                        "and shown by --dry-run, so it holds no secret; give it at "
                                                        "run time (docker run -e, a Kubernetes Secret)"))
                continue
            if spec.read_by == "vllm" and var not in api.envs:
                hint = vllm_api.similar_env(api, var)
                maybe = f"did you mean {hint}? " if hint else ""
                found.append(Problem(
                    f"{prefix}.{var}",
                    f"unknown environment variable: not in vLLM {api.version}'s vllm/envs.py; {maybe}if another "
                    "component reads it, declare read_by: cuda, triton, rocm-base-image, rocm-runtime or "
                    "openai-harmony"))
    return found


def setting_problems(api: vllm_api.Api, path: str, key: str, value: Any) -> list[Problem]:
    """One serve setting (`max-num-seqs: 512`) as vLLM `api` would read it."""
    if key in LAUNCHER_FLAGS:
        return [Problem(path, f"the launcher sets --{key}: give it through {LAUNCHER_FLAGS[key]}")]
    words = vllm_api.argv_of(key, value)
    if not words:
        return []
    try:
        ((name, _),) = vllm_api.parse(api, words)
    except vllm_api.Rejected as exc:
        message = str(exc)
        return [Problem(path, message if api.version in message else f"{message} (vLLM {api.version})")]
    if words[0] != f"--{name}" and words[0] not in api.spec(name).get("negations", []):
        return [Problem(path, f"write vLLM's own name: {name}")]
    return []


def serve_settings(p: Profile) -> list[tuple[str, dict[str, Any]]]:
    """Every mapping of serve flags in a profile, with its key path."""
    found = [("serve.config", p.serve.config)]
    found += [(f"serve.scenarios.{name}.args", s.args) for name, s in p.serve.scenarios.items()]
    found += [(f"models.{model}.rules[{i}].args", rule.args) for model, spec in p.models.items()
              for i, rule in enumerate(spec.rules)]
    found += [(f"options.{name}.choices.{c}.args", choice.args) for name, option in p.options.items()
              for c, choice in option.choices.items()]
    return found


def env_sources(p: Profile) -> list[tuple[str, dict[str, EnvVar]]]:
    """Every environment mapping of a profile, with its key path: `env` and each option choice's."""
    return [("env", p.env)] + [(f"options.{name}.choices.{c}.env", choice.env)
                               for name, option in p.options.items() for c, choice in option.choices.items()]


def _structure(p: Profile) -> list[Problem]:
    found: list[Problem] = []
    vendor = vendors.BY_FAMILY[p.family].name
    if p.gpu.vendor != vendor:
        found.append(Problem("gpu.vendor", f"family {p.family} needs vendor {vendor!r}"))
    if p.default_model not in p.models:
        found.append(Problem("default_model", f"unknown model {p.default_model!r}; allowed: {', '.join(p.models)}"))
    for model_name, model in p.models.items():
        allowed = ", ".join(map(str, model.tp))
        if len(set(model.tp)) != len(model.tp):
            found.append(Problem(f"models.{model_name}.tp", "a size is listed twice"))
        if model.default_tp not in model.tp:
            found.append(Problem(f"models.{model_name}.default_tp",
                                 f"{model.default_tp} is not among this model's tp: {allowed}"))
        for i, rule in enumerate(model.rules):
            if rule.tp not in model.tp:
                found.append(Problem(f"models.{model_name}.rules[{i}].tp",
                                     f"{rule.tp} is not among this model's tp: {allowed}"))
    for name, option in p.options.items():
        if option.default not in option.choices:
            found.append(Problem(f"options.{name}.default",
                                 f"unknown choice {option.default!r}; allowed: {', '.join(option.choices)}"))
        for c, choice in option.choices.items():
            found += [Problem(f"options.{name}.choices.{c}.models", f"unknown model {m!r}; allowed: "
                              f"{', '.join(p.models)}") for m in choice.models if m not in p.models]
    return found
