"""From profile and inputs to the exact `vllm serve` command and its environment.

The order of precedence is profile config -> scenario -> model/TP rules -> the
user's options -> the user's extra flags. A later layer replaces a flag (whatever
its spelling: `--x`, `--no-x`, an alias) instead of repeating it, and the whole
command is read back with the record of the profile's vLLM before it runs.

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

from gptoss_images.core import caches, files, fit, vllm_api
from gptoss_images.core.inputs import SECRET_VARIABLES, BadInput
from gptoss_images.core.vendors import Gpu

USER_FLAGS = ["max-model-len", "max-num-seqs", "gpu-memory-utilization", "served-model-name",
              "host", "port"]
MODEL_TYPE = "gpt_oss"
LAYERS = {24: "20b", 36: "120b"}
"""gpt-oss's sizes by num_hidden_layers in config.json."""


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
    dp: int = 1
    """Data-parallel replicas of TP GPUs each: one server over TP x DP GPUs."""
    layout: dict[str, Any] = field(default_factory=dict)
    """The machine's plan (fit.Layout): model, TP, DP, the GPUs found and used, why."""
    secret_flags: frozenset[str] = frozenset()
    """The release's credential flags: a value of one that stays in argv (vLLM reads it nowhere else) is shown
    hidden."""

    def shown_argv(self) -> list[str]:
        """argv with the value of every credential flag hidden."""
        shown, hiding = [], False
        for word in self.argv:
            name, eq, _ = word.partition("=")
            if hiding and not word.startswith("--"):
                shown.append("<hidden>")
                continue
            hiding = name.startswith("--") and name[2:] in self.secret_flags
            shown.append(f"{name}=<hidden>" if hiding and eq else word)
            hiding = hiding and not eq
        return shown

    def shell(self) -> str:
        """A copy-pasteable line: environment, then the command; secrets hidden."""
        env = [f"{k}=<hidden>" if k in self.secrets else f"{k}={shlex.quote(v)}"
               for k, v in self.env.items()]
        unset = [f"-u {shlex.quote(k)}" for k in self.unset]
        return " ".join(["env", *unset, *env, *map(shlex.quote, self.shown_argv())])

    def as_json(self) -> str:
        env = {k: "<hidden>" if k in self.secrets else v for k, v in self.env.items()}
        return json.dumps({"profile": self.profile, "model": self.model, "tensor_parallel_size": self.tp,
                           "data_parallel_size": self.dp, "plan": self.layout, "scenario": self.scenario,
                           "argv": self.shown_argv(), "env": env, "unset": self.unset, "notes": self.notes},
                          indent=2)


def build(profile: dict[str, Any], values: dict[str, Any], extra: list[tuple[str, Any]],
          environ: Mapping[str, str], api: vllm_api.Api, behaviour: dict[str, bool],
          found: list[Gpu] | None = None) -> Plan:
    """`extra`: the user's other vLLM flags, as vllm_api.parse read them; `found`: the machine's GPUs, which
    the model, TP and DP are fitted to (none: the profile's own plan)."""
    scenario_name = values.get("scenario") or "default"
    scenarios = profile["serve"]["scenarios"]
    if scenario_name not in scenarios:
        raise BadInput(f"GPTOSS_SCENARIO/--scenario={scenario_name!r}: unknown scenario; "
                       f"allowed: {', '.join(scenarios)}")
    scenario = scenarios[scenario_name]
    given = values.get("model")
    model, kind = _model(profile, given) if given else (None, None)
    if kind is not None and values.get("tensor-parallel-size") is not None:
        tensor_parallel(profile, kind, scenario_name, values["tensor-parallel-size"], shown=model)
    layout = fit.plan(profile, scenario_name, found or [], kind, values.get("tensor-parallel-size"),
                      values.get("data-parallel-size"))
    if kind is None:
        model = kind = layout.model
        if values.get("tensor-parallel-size") is not None:
            tensor_parallel(profile, kind, scenario_name, values["tensor-parallel-size"], shown=model)
    spec = profile["models"][kind]
    tp, dp = layout.tp, layout.dp

    args: dict[str, Any] = {}
    notes: list[str] = []
    chosen = _choices(profile, values, model)
    layers = [profile["serve"]["config"], scenario["args"]] + [r["args"] for r in spec["rules"] if r["tp"] == tp]
    layers += [choice.get("args", {}) for choice in chosen.values()]
    layers.append({k: values[k] for k in USER_FLAGS if k in values})
    if values.get("function-calling"):
        layers.append({"tool-call-parser": "openai", "enable-auto-tool-choice": True})
    if values.get("tool-server"):
        layers.append({"tool-server": _tool_server(values["tool-server"])})
    for layer in layers:
        for key, value in layer.items():
            _set(api, args, key, value)

    user = {name for name, _ in extra}
    if values.get("structured-output") and not behaviour.get("async-scheduling-with-structured-output"):
        if "async-scheduling" in user:
            raise BadInput(f"GPTOSS_STRUCTURED_OUTPUT=1 with --async-scheduling: vLLM {api.version} cannot "
                           "combine them; drop one")
        if any(_name(api, k) == "async-scheduling" and v is True for k, v in args.items()):
            _drop(api, args, "async-scheduling")
            notes.append(f"async scheduling is off: vLLM {api.version} does not support it with structured output")
    hidden: dict[str, str] = {}
    for name, value in extra:
        if name in SECRET_VARIABLES and isinstance(value, str):  # --hf-token T: to HF_TOKEN, out of argv
            hidden[SECRET_VARIABLES[name]] = value
            continue
        _apply(api, args, name, True if name in SECRET_VARIABLES and value is None else value)

    argv = ["vllm", "serve", model, "--tensor-parallel-size", str(tp)]
    if dp > 1:  # one server, vLLM's own load balancing over the replicas
        argv += ["--data-parallel-size", str(dp)]
    for key, value in args.items():
        argv += vllm_api.argv_of(key, value)
    try:
        vllm_api.parse(api, argv[3:])
    except vllm_api.Rejected as exc:
        raise BadInput(f"vLLM {api.version} would refuse this command: {exc}") from None
    env, unset, secrets = _environment(profile, values, environ, chosen)
    env.update(hidden)
    secrets |= set(hidden) | {var for var in SECRET_VARIABLES.values() if var in env}
    cache_env, where = caches.environment(environ, values.get("cache-dir"))
    env.update(cache_env)
    notes.append(where)
    notes.insert(0, f"plan: {layout.describe()}")
    return Plan(profile["name"], model, spec, tp, scenario_name, args, argv, env, unset, notes, secrets, dp,
                layout.as_dict(), api.secrets)


def _model(profile: dict[str, Any], given: str | None) -> tuple[str, str]:
    """The model to serve and which of the profile's models it is (a local folder: by its config)."""
    models = profile["models"]
    model = given or profile["default_model"]
    if model in models:
        return model, model
    if os.path.isdir(model):
        return model, _local_model_kind(model, models)
    raise BadInput(f"GPTOSS_MODEL/--model={model!r}: unknown model and no such folder; "
                   f"allowed: {', '.join(models)} or a local model folder")


def _local_model_kind(path: str, models: dict[str, Any]) -> str:
    """Which gpt-oss a local folder holds, from its config.json: model_type and layer count."""
    where = f"GPTOSS_MODEL/--model={path!r}"
    try:
        config = json.loads(files.read_bytes(Path(path, "config.json"), files.MiB))
    except FileNotFoundError:
        raise BadInput(f"{where}: the folder has no config.json; give a gpt-oss checkout") from None
    except files.Unreadable as exc:
        raise BadInput(f"{where}: its config.json: {exc.reason}") from None
    except (ValueError, RecursionError):
        raise BadInput(f"{where}: its config.json is not JSON") from None
    kind = config.get("model_type") if isinstance(config, dict) else None
    if kind != MODEL_TYPE:
        raise BadInput(f"{where}: config.json says model_type {kind!r}; this image serves {MODEL_TYPE} "
                       f"({', '.join(models)})")
    size = LAYERS.get(config.get("num_hidden_layers"))
    match = [name for name in models if size and name.endswith(f"-{size}")]
    if not match:
        raise BadInput(f"{where}: a gpt_oss config with num_hidden_layers {config.get('num_hidden_layers')!r}; "
                       f"expected 24 (20b) or 36 (120b)")
    return match[0]


def tensor_parallel(profile: dict[str, Any], model: str, scenario: str, given: int | None = None,
                    shown: str | None = None) -> int:
    """The TP one of the profile's models runs at in a scenario: the user's, else the nearest the
    model allows to the scenario's (else the model's default); the deploy files request this many GPUs."""
    spec = profile["models"][model]
    allowed = spec["tp"]
    if given is not None:
        if given not in allowed:
            raise BadInput(f"GPTOSS_TENSOR_PARALLEL_SIZE/--tensor-parallel-size={given}: {shown or model} on "
                           f"{profile['name']} allows {', '.join(map(str, allowed))}")
        return given
    wanted = profile["serve"]["scenarios"][scenario].get("tp") or spec["default_tp"]
    return min((t for t in allowed if t >= wanted), default=max(allowed))


def _tool_server(spec: str) -> str:
    if spec == "demo":
        return spec
    for server in spec.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not (port.isascii() and port.isdigit()):
            raise BadInput(f"GPTOSS_TOOL_SERVER/--tool-server={spec!r}: must be 'demo' or "
                           "HOST:PORT[,HOST:PORT...] of MCP servers")
    return spec


def _name(api: vllm_api.Api, key: str) -> str:
    """The record's name of a setting as written (a negation spelling maps to its flag)."""
    try:
        return vllm_api.resolve(api, f"--{key}")[0]
    except vllm_api.Rejected:
        return key


def _drop(api: vllm_api.Api, args: dict, name: str) -> None:
    for key in [k for k in args if _name(api, k) == name]:
        del args[key]


def _set(api: vllm_api.Api, args: dict, key: str, value: Any) -> None:
    _drop(api, args, _name(api, key))
    args[key] = value


def _apply(api: vllm_api.Api, args: dict, name: str, value: Any) -> None:
    """One of the user's flags, as parsed: a switch's False is its negation; a dotted config key
    merges into the profile's JSON config."""
    if isinstance(value, dict):  # -cc.pass_config.x=y
        merged = {k: v for k, v in args.items() if _name(api, k) == name}
        base = next(iter(merged.values()), {})
        config = json.loads(json.dumps(base)) if isinstance(base, dict) else {}
        for path, text in value.items():
            node = config
            *parents, leaf = path.split(".")
            for part in parents:
                if not isinstance(node.get(part), dict):
                    node[part] = {}
                node = node[part]
            node[leaf] = True if text is None else vllm_api.dotted_value(api, text)
        _set(api, args, name, config)
    elif value is False:
        negations = api.spec(name).get("negations", [])
        spelling = f"--no-{name}" if f"--no-{name}" in negations else negations[0]
        _set(api, args, spelling[2:], True)
    else:
        _set(api, args, name, value)


def _choices(profile: dict, values: dict, model: str) -> dict[str, dict]:
    """The chosen choice of each hardware option: the user's, else the default."""
    chosen = {}
    for name, option in profile["options"].items():
        choice = values.get(name) or option["default"]
        where = f"GPTOSS_{name.upper().replace('-', '_')}/--{name}={choice!r}"
        if choice not in option["choices"]:
            raise BadInput(f"{where}: unknown choice; allowed: {', '.join(option['choices'])}")
        if not serves(option["choices"][choice], model):
            raise BadInput(f"{where}: for {', '.join(option['choices'][choice]['models'])} only, not {model}")
        chosen[name] = option["choices"][choice]
    return chosen


def serves(choice: dict, model: str) -> bool:
    """Whether an option's choice applies to `model` (a choice may name the only models it is for)."""
    models = choice.get("models") or []
    return not models or model in models


def _environment(profile: dict, values: dict, environ: Mapping[str, str], chosen: dict[str, dict]
                 ) -> tuple[dict[str, str], list[str], set[str]]:
    """The profile's variables (the user's own values win), the chosen options', the API key."""
    env = {k: environ.get(k, v["value"]) for k, v in profile["env"].items()}
    unset: list[str] = []
    for name, option in profile["options"].items():
        variables = {var for choice in option["choices"].values() for var in choice["env"]}
        if values.get(name) is None and variables & environ.keys():
            continue  # the user set this option's variables directly
        picked = {k: v["value"] for k, v in chosen[name]["env"].items()}
        env.update(picked)
        unset += sorted(v for v in variables - picked.keys() if v in environ)
    secrets = set()
    if "api-key" in values:
        env["VLLM_API_KEY"] = values["api-key"]
        secrets.add("VLLM_API_KEY")
    return env, unset, secrets
