"""From profile and inputs to the exact `vllm serve` command and its environment.

The order of precedence is profile config -> scenario -> model/TP rules -> the
user's options -> the user's extra flags. A later layer replaces a flag instead
of repeating it.

Every setting goes on the command line (no config file), so the printed command is
the whole truth and runs as it is, and the launcher writes nothing.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gptoss_images.launcher import vllm_api
from gptoss_images.launcher.inputs import BadInput

USER_FLAGS = ["max-model-len", "max-num-seqs", "gpu-memory-utilization", "served-model-name",
              "host", "port"]


@dataclass
class Plan:
    profile: str
    model: str
    model_spec: dict[str, Any]
    tp: int
    scenario: str
    settings: dict[str, Any]
    """Every flag's final value, in command-line order."""
    argv: list[str]
    env: dict[str, str]
    unset: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)

    def shell(self) -> str:
        """A copy-pasteable line: environment, then the command; secrets hidden."""
        env = [f"{k}=<hidden>" if k in self.secrets else f"{k}={shlex.quote(v)}"
               for k, v in self.env.items()]
        unset = [f"-u {shlex.quote(k)}" for k in self.unset]
        return " ".join(["env", *unset, *env, *map(shlex.quote, self.argv)])

    def as_json(self) -> str:
        env = {k: "<hidden>" if k in self.secrets else v for k, v in self.env.items()}
        return json.dumps({"profile": self.profile, "model": self.model, "tensor_parallel_size": self.tp,
                           "scenario": self.scenario, "argv": self.argv, "env": env,
                           "unset": self.unset, "notes": self.notes}, indent=2)


def build(profile: dict[str, Any], values: dict[str, Any], extra: list[str],
          environ: Mapping[str, str]) -> Plan:
    model, spec = _model(profile, values.get("model"))
    scenario_name = values.get("scenario") or "default"
    scenarios = profile["serve"]["scenarios"]
    if scenario_name not in scenarios:
        raise BadInput(f"GPTOSS_SCENARIO/--scenario={scenario_name!r}: unknown scenario; "
                       f"allowed: {', '.join(scenarios)}")
    scenario = scenarios[scenario_name]
    tp = _tp(profile, model, spec, scenario, values.get("tensor-parallel-size"))

    args: dict[str, Any] = dict(profile["serve"]["config"])
    notes: list[str] = []
    layers = [scenario["args"]] + [r["args"] for r in spec["rules"] if r["tp"] == tp]
    layers.append({k: values[k] for k in USER_FLAGS if k in values})
    if values.get("function-calling"):
        layers.append({"tool-call-parser": "openai", "enable-auto-tool-choice": True})
    if values.get("tool-server"):
        layers.append({"tool-server": _tool_server(values["tool-server"])})
    for layer in layers:
        for key, value in layer.items():
            _set(args, key, value)

    extra_names = _flag_names(extra)
    if values.get("structured-output"):
        if "async-scheduling" in extra_names:
            raise BadInput("GPTOSS_STRUCTURED_OUTPUT=1 with --async-scheduling: vLLM "
                           f"{profile['stack']['vllm']} cannot combine them; drop one")
        if args.pop("async-scheduling", None) is not None:
            notes.append("async scheduling is off: this vLLM does not support it with structured output")
    for name in extra_names:
        _drop(args, name)

    argv = ["vllm", "serve", model, "--tensor-parallel-size", str(tp)]
    for key, value in args.items():
        argv += vllm_api.argv_of(key, value)
    argv += extra

    env, unset, secrets = _environment(profile, values, environ)
    return Plan(profile["name"], model, spec, tp, scenario_name, args, argv, env, unset, notes, secrets)


def _model(profile: dict[str, Any], given: str | None) -> tuple[str, dict[str, Any]]:
    models = profile["models"]
    model = given or profile["default_model"]
    if model in models:
        return model, models[model]
    if os.path.isdir(model):
        return model, models[_local_model_kind(model, models)]
    raise BadInput(f"GPTOSS_MODEL/--model={model!r}: unknown model and no such folder; "
                   f"allowed: {', '.join(models)} or a local model folder")


def _local_model_kind(path: str, models: dict[str, Any]) -> str:
    """Which gpt-oss a local folder holds: its config's layer count, else its name."""
    layers = {24: "20b", 36: "120b"}
    try:
        size = layers.get(json.loads(Path(path, "config.json").read_text()).get("num_hidden_layers"))
    except (OSError, ValueError, AttributeError):
        size = None
    for name in models:
        if (size and name.endswith(f"-{size}")) or (not size and name.rsplit("-", 1)[-1] in path):
            return name
    raise BadInput(f"GPTOSS_MODEL/--model={path!r}: cannot tell which gpt-oss this folder holds "
                   "(no config.json with num_hidden_layers 24 or 36, no 20b/120b in its name)")


def _tp(profile: dict, model: str, spec: dict, scenario: dict, given: int | None) -> int:
    allowed = spec["tp"]
    if given is not None:
        if given not in allowed:
            raise BadInput(f"GPTOSS_TENSOR_PARALLEL_SIZE/--tensor-parallel-size={given}: {model} on "
                           f"{profile['name']} allows {', '.join(map(str, allowed))}")
        return given
    wanted = scenario.get("tp") or spec["default_tp"]
    return min((t for t in allowed if t >= wanted), default=max(allowed))


def _tool_server(spec: str) -> str:
    if spec == "demo":
        return spec
    for server in spec.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit():
            raise BadInput(f"GPTOSS_TOOL_SERVER/--tool-server={spec!r}: must be 'demo' or "
                           "HOST:PORT[,HOST:PORT...] of MCP servers")
    return spec


def _negation(name: str) -> str:
    return name[3:] if name.startswith("no-") else f"no-{name}"


def _drop(args: dict, name: str) -> None:
    args.pop(name, None)
    args.pop(_negation(name), None)


def _set(args: dict, key: str, value: Any) -> None:
    _drop(args, key)
    args[key] = value


def _flag_names(extra: list[str]) -> list[str]:
    """Long-option names in the user's extra argv, as vLLM spells them."""
    return [arg[2:].split("=", 1)[0].replace("_", "-") for arg in extra if arg.startswith("--")]


def _environment(profile: dict, values: dict, environ: Mapping[str, str]
                 ) -> tuple[dict[str, str], list[str], set[str]]:
    """The profile's variables (the user's own values win), the chosen options', the API key."""
    env = {k: environ.get(k, v["value"]) for k, v in profile["env"].items()}
    unset: list[str] = []
    for name, option in profile["options"].items():
        chosen = values.get(name)
        variables = {var for choice in option["choices"].values() for var in choice["env"]}
        if chosen is None and variables & environ.keys():
            continue  # the user set this option's variables directly
        choice = chosen or option["default"]
        if choice not in option["choices"]:
            raise BadInput(f"GPTOSS_{name.upper().replace('-', '_')}/--{name}={choice!r}: unknown "
                           f"choice; allowed: {', '.join(option['choices'])}")
        picked = {k: v["value"] for k, v in option["choices"][choice]["env"].items()}
        env.update(picked)
        unset += sorted(v for v in variables - picked.keys() if v in environ)
    secrets = set()
    if "api-key" in values:
        env["VLLM_API_KEY"] = values["api-key"]
        secrets.add("VLLM_API_KEY")
    return env, unset, secrets
