"""Feed `vllm serve` command lines to a real vLLM's own parser and validator.

Runs under the Python of an environment that has vLLM installed (no GPU needed), as
a file, so that an image needs nothing of this package to run it:

    VENV/bin/python -I gptoss_images/vllm/introspect.py < commands.json > results.json
    docker run -i --entrypoint python3 IMAGE -c "$(cat introspect.py)" < commands.json

Input: {"commands": [{"id": ..., "argv": ["vllm", "serve", ...]}]}.
Output: [{"id": ..., "ok": true|false, "error": "..."}], one per command, in one
process: importing vLLM costs ~10 s, parsing a command a few milliseconds.

    VENV/bin/python -I gptoss_images/vllm/introspect.py record > serve.json

prints the record of what `vllm serve` accepts, read from the parser itself: every
flag with its aliases, the kind of value it takes (by asking its own type function),
choices, its negations, the keys of its JSON configs (compilation-config,
speculative-config, ...) and the ranges its config classes enforce (found by asking
their own validators), every variable vllm.envs defines and every Prometheus metric
its V1 engine declares (vllm/v1/metrics/).

    VENV/bin/python -I gptoss_images/vllm/introspect.py values < values.json > results.json

asks the config classes about values of their fields, as JSON configs give them:
{"values": [{"id", "flag", "key", "value"}]} -> [{"id", "ok"}].

Standard library, vLLM and its pydantic only.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import re
import sys


def serve_parser():
    """vLLM's CLI parser with its `serve` subcommand, as the `vllm` binary builds it."""
    import vllm.platforms as platforms
    from vllm.platforms.cpu import CpuPlatform

    platforms._current_platform = CpuPlatform()  # no GPU here: parse as on a CPU machine
    import vllm.entrypoints.cli.serve as serve

    try:
        from vllm.utils.argparse_utils import FlexibleArgumentParser  # 0.11 and later
    except ImportError:
        from vllm.utils import FlexibleArgumentParser  # 0.10

    parser = FlexibleArgumentParser(description="vLLM CLI")
    subparsers = parser.add_subparsers(required=False, dest="subparser")
    (command,) = serve.cmd_init()
    command.subparser_init(subparsers)
    return parser, command


def check(parser, command, argv: list[str]) -> str | None:
    """None if vLLM accepts `argv`, else its error message."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            parsed = parser.parse_args(list(argv[1:]))  # drop "vllm"
            command.validate(parsed)
    except SystemExit as exc:
        return _message(err.getvalue()) or f"rejected with exit code {exc.code}"
    except Exception as exc:  # vLLM's validators raise plain exceptions
        return f"{type(exc).__name__}: {exc}"
    return None


def _message(stderr: str) -> str:
    """argparse's error, on one line: pydantic's details joined, links and usage dropped."""
    text = stderr.split("error: ", 1)[-1] if "error: " in stderr else ""
    lines = [re.sub(r"\s*\[type=.*\]$", "", line.strip()) for line in text.splitlines()]
    return "; ".join(line for line in lines if line and not line.startswith("For further information"))


PROBES = {"int": "3", "float": "1.5", "str": "x", "json": "{}", "human": "1k"}


def _accepts(kind_type, text: str) -> bool:
    try:
        kind_type(text)
    except Exception:  # a type function rejects with whatever it raises
        return False
    return True


def _kind(action) -> str:
    """The value an action takes: none, int, float, str, json (a mapping) or human-int (1k, 32K)."""
    if action.nargs == 0:
        return "none"
    if action.type is None:
        return "str"
    ok = {name for name, text in PROBES.items() if _accepts(action.type, text)}
    if "str" in ok:
        return "str"
    if "json" in ok:
        return "json"
    if "float" in ok:
        return "float"
    return "human-int" if "human" in ok else "int"


def _config_class(dest: str):
    """vllm.config's class for a JSON flag: compilation_config -> CompilationConfig."""
    import vllm.config as configs

    return getattr(configs, "".join(part.capitalize() for part in dest.split("_")), None)


def _keys(cls, depth: int = 0) -> dict:
    """The fields of a config class, nested where a field is itself a config class, each with the values its
    own validation takes (_values) where the class can be asked field by field."""
    import dataclasses
    import typing

    if cls is None or not isinstance(cls, type):
        return {}
    names = _field_names(cls)
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # unresolvable forward references: keys only
        hints = {}
    asked = _asks_fields(cls)
    out = {}
    for name in names:
        inner = hints.get(name)
        nested = [a for a in _flatten(inner) if isinstance(a, type)
                  and (dataclasses.is_dataclass(a) or hasattr(a, "model_fields")) and a.__module__.startswith("vllm")]
        entry = _values(cls, name, inner, bool(nested)) if asked else {}
        if nested and depth < 3:
            entry["keys"] = _keys(nested[0], depth + 1)
        out[name] = entry
    return out


def _field_names(cls) -> list[str]:
    """The fields a config class is built with."""
    import dataclasses

    if not isinstance(cls, type):
        return []
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls) if f.init]
    return list(getattr(cls, "model_fields", {}))


UNKNOWN = "zz_gptoss_probe"
"""A key no config class has: given beside the field asked about, it fails validation on purpose, so that a
class that refuses unknown keys validates each field and stops there (no __post_init__, no side effect)."""

SAMPLES = {"null": [None], "bool": [True, False], "int": [3, 1, 0, -1, 1000, 2**20], "whole-float": [3.0, 1.0, 0.0],
           "float": [2.5, 0.5], "numeric-text": ["3", "1", "0"], "text": ["x"], "list": [[], ["x"]], "object": [{}]}
"""The kinds of a JSON value (as vllm_api.json_kind names them), with values of each to ask a field about."""


@functools.cache
def _asks_fields(cls) -> bool:
    """Whether the class validates with pydantic and refuses unknown keys: then each field can be asked alone."""
    import pydantic

    try:
        cls(**{UNKNOWN: 0})
    except pydantic.ValidationError:
        return True
    except Exception:  # not pydantic's refusal: plain dataclasses, constructors that need more
        return False
    return False


def _field_takes(cls, name: str, value) -> bool:
    """Whether the class's own validation of field `name` accepts `value` (nothing past field validation runs)."""
    import pydantic

    try:
        cls(**{name: value, UNKNOWN: 0})
    except pydantic.ValidationError as exc:
        return not any(tuple(error["loc"][:1]) == (name,) for error in exc.errors())
    except Exception:  # a validator of the field raised something of its own (KeyError, ...): refused
        return False
    return False


def _values(cls, name: str, hint, nested: bool = False) -> dict:
    """What field `name` of `cls` takes, asked of its validators (_judge); for a list, what each item takes
    (`items`), for a mapping that is no config class, what each value takes (`values`)."""
    takes = functools.partial(_field_takes, cls, name)
    entry = _judge(takes, hint)
    kinds = entry.get("accepts", SAMPLES)
    if "list" in kinds:
        items = _judge(lambda v: takes([v]), _inner(hint, (list, tuple, set, frozenset), 0))
        if items.get("accepts"):  # a list of one item of some kind is taken: a list of items, not a shape
            entry["items"] = items
    if "object" in kinds and not nested:
        values = _judge(lambda v: takes({"gptoss": v}), _inner(hint, (dict,), 1))
        if values.get("accepts"):
            entry["values"] = values
    return entry


def _judge(takes, hint) -> dict:
    """What `takes` accepts: the JSON kinds, the texts it is limited to, the range of its numbers. Empty where
    it takes anything."""
    kinds = [kind for kind, samples in SAMPLES.items() if any(takes(s) for s in samples)]
    if len(kinds) == len(SAMPLES):
        return {}
    entry: dict = {"accepts": kinds}
    if "text" not in kinds:
        choices = sorted(c for c in _texts(hint) if takes(c))
        if choices:
            entry["choices"] = choices
            if all(takes(c.swapcase()) and takes(c.capitalize()) for c in choices):
                entry["any_case"] = True
    integer = "float" not in kinds
    if "int" in kinds or "float" in kinds:
        start = next(s for s in SAMPLES["int" if integer else "float"] + SAMPLES["int"] if takes(s))
        accepts = (lambda v: takes(int(v))) if integer else (lambda v: takes(float(v)))
        bounds = _edges(accepts, start, integer)
        if _interval(accepts, integer, bounds):
            entry.update(bounds)
    return entry


def _inner(hint, origins: tuple, position: int):
    """The type of a list's items (position 0) or a mapping's values (position 1) inside a type hint."""
    import typing

    for item in _flatten(hint):
        args = typing.get_args(item)
        if typing.get_origin(item) in origins and len(args) > position:
            return args[position]
    return None


def _flatten(hint) -> list:
    """The types and literal values inside a type hint (Optional, Union, Annotated, Literal opened)."""
    import typing

    args = typing.get_args(hint)
    if not args:
        return [hint]
    if typing.get_origin(hint) is typing.Annotated:
        return _flatten(args[0])
    if typing.get_origin(hint) in (typing.Union, typing.Literal) or type(hint).__name__ == "UnionType":
        return [item for arg in args for item in (_flatten(arg) if typing.get_args(arg) else [arg])]
    return [hint]


def _texts(hint) -> set:
    """The texts a field's type may take, to be asked: a Literal's strings, an Enum's names (as written and lower
    case) and string values, a switch's words."""
    import enum

    found = set()
    for item in _flatten(hint):
        if item is bool:  # the words a switch may be given as, if its validation reads them
            found |= {"true", "false", "yes", "no", "on", "off", "t", "f", "y", "n"}
        elif isinstance(item, str):
            found.add(item)
        elif isinstance(item, type) and issubclass(item, enum.Enum):
            for member in item:
                found |= {member.name, member.name.lower()} | ({member.value} if isinstance(member.value, str)
                                                               else set())
    return found


def _constructible():
    """vllm.config's config classes that build with no arguments: their validators can be asked."""
    import vllm.config as configs

    found = []
    for name in sorted(dir(configs)):
        cls = getattr(configs, name)
        if name.endswith("Config") and isinstance(cls, type) and name not in ("VllmConfig", "ModelConfig"):
            try:
                cls()
            except Exception:  # needs arguments (a model, a device): not probed
                continue
            found.append(cls)
    return found


def _bound(accepts, inside: float, outside: float, integer: bool) -> tuple[float, bool]:
    """The edge between an accepted and a rejected value, and whether it is itself accepted."""
    for _ in range(200):
        middle = (inside + outside) // 2 if integer else (inside + outside) / 2
        if abs(outside - inside) <= (1 if integer else 1e-9 * max(1.0, abs(inside))):
            break
        inside, outside = (middle, outside) if accepts(middle) else (inside, middle)
    edge = outside if integer else round(outside, 6)
    if integer:
        return (inside, True)
    return (edge, True) if accepts(edge) else (edge, False)


def _range(group, classes, dest: str, kind: str) -> dict:
    """min/max (and whether each is exclusive) that the flag's config class enforces: asked of the field's own
    validation where its class (the parser group's) can be asked field by field, else found by building the
    class with the value.

    Built whole, a bound is kept only if it holds both with the class's defaults and with its other numbers
    doubled: a limit that follows another field (max-num-batched-tokens >= max-model-len) is a relation, not a
    range, and is left to vLLM.
    """
    if kind not in ("int", "float", "human-int"):
        return {}
    integer = kind != "float"
    if group is not None and dest in _field_names(group) and _asks_fields(group):
        entry = _values(group, dest, None)
        return {k: v for k, v in entry.items() if k in ("min", "max", "min_exclusive", "max_exclusive")}
    owners = [c for c in classes if dest in _field_names(c)]
    if len(owners) != 1:
        return {}
    cls = owners[0]
    defaults = vars(cls()) if hasattr(cls(), "__dict__") else {}
    doubled = {k: v * 2 for k, v in defaults.items()
               if k != dest and isinstance(v, (int, float)) and not isinstance(v, bool) and v}
    found = [_bounds(cls, dest, integer, context) for context in ({}, doubled)]
    kept = {k: v for k, v in found[0].items() if found[1].get(k) == v}

    def accepts(value) -> bool:
        try:
            cls(**{dest: int(round(value)) if integer else value})
        except Exception:  # a hole: not an interval
            return False
        return True

    return kept if _interval(accepts, integer, kept) else {}


def _interval(accepts, integer: bool, bounds: dict) -> bool:
    """Whether values inside the bounds are accepted: a set of allowed values is no range."""
    low, high = bounds.get("min"), bounds.get("max")
    if low is None and high is None:
        return True
    low = low if low is not None else high - 1000
    high = high if high is not None else low + 1000
    inside = [low + (high - low) * f for f in (0.1, 0.37, 0.5, 0.63, 0.9)]
    return high > low and all(accepts(int(round(v)) if integer else v) for v in inside)


def _bounds(cls, dest: str, integer: bool, context: dict) -> dict:
    def accepts(value) -> bool:
        try:
            cls(**context, **{dest: int(value) if integer else float(value)})
        except Exception:  # the validator's rejection
            return False
        return True

    try:
        start = getattr(cls(**context), dest)
    except Exception:  # the doubled context itself is rejected: no bound is confirmed
        return {}
    if not isinstance(start, (int, float)) or isinstance(start, bool) or not accepts(start):
        return {}
    return _edges(accepts, start, integer)


def _edges(accepts, start: float, integer: bool) -> dict:
    """The bounds around an accepted `start`: each side's edge, and whether it is exclusive."""
    out: dict = {}
    far = 2**40
    for side, edge_at in (("max", far), ("min", -far)):
        if not accepts(edge_at):
            edge, inclusive = _bound(accepts, start, edge_at, integer)
            out[side] = int(edge) if integer else edge + 0.0  # no -0.0
            if not inclusive:
                out[f"{side}_exclusive"] = True
    return out


def _parses_to(parser, option: str, dest: str):
    """What `vllm serve MODEL OPTION` sets `dest` to, or None if the parser refuses it."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return getattr(parser.parse_args(["serve", "model", option]), dest, None)
    except SystemExit:
        return None


def record() -> dict:
    """What `vllm serve` accepts, read from its own parser and config classes."""
    import argparse

    import vllm

    parser, _ = serve_parser()
    serve = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["serve"]
    classes = _constructible()
    import vllm.config as configs

    groups = {action.dest: getattr(configs, group.title or "", None)
              for group in serve._action_groups for action in group._group_actions}
    flags = {}
    for action in serve._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if not longs or isinstance(action, argparse._HelpAction):
            continue
        name = longs[0][2:]
        kind = _kind(action)
        entry: dict = {"value": kind}
        negations = []
        if isinstance(action, argparse.BooleanOptionalAction):
            spellings = set(action.option_strings) | {f"--no-{longs[0][2:]}"}
            negations = sorted(o for o in spellings if _parses_to(parser, o, action.dest) is False)
            entry["negations"] = negations
        aliases = sorted(o for o in action.option_strings if o != longs[0] and o not in negations)
        if aliases:
            entry["aliases"] = aliases
        if action.nargs not in (None, 0):
            entry["nargs"] = action.nargs
        if action.choices is not None:
            entry["choices"] = sorted(str(c) for c in action.choices)
        if kind == "json":
            if _accepts(action.type, "3"):
                entry["int_too"] = True  # -O3: a level instead of a mapping
            keys = _keys(_config_class(action.dest))
            if keys:
                entry["keys"] = keys
        entry.update(_range(groups.get(action.dest), classes, action.dest, kind))
        flags[name] = entry
    import vllm.envs as envs

    return {"version": vllm.__version__, "flags": dict(sorted(flags.items())),
            "envs": sorted(envs.environment_variables), "metrics": metric_names(os.path.dirname(vllm.__file__))}


METRIC = re.compile(r"""["'](vllm:[a-z0-9_]+)["']""")


def metric_names(package: str) -> list[str]:
    """The Prometheus metrics the V1 engine declares, as written in its source (a counter is
    exported with _total added)."""
    folder = os.path.join(package, "v1", "metrics")
    names: set[str] = set()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), encoding="utf-8") as handle:
                names.update(METRIC.findall(handle.read()))
    return sorted(names)


def main() -> int:
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # vLLM logs to stdout: keep it for the results alone
    os.environ["HF_HUB_OFFLINE"] = "1"  # a config class that would look a model up must not wait on the network
    if sys.argv[1:] == ["record"]:
        json.dump(record(), out, indent=1, sort_keys=True)
    elif sys.argv[1:] == ["values"]:
        asked = json.loads(sys.stdin.read())["values"]
        json.dump([{"id": v["id"], "ok": _field_takes(_config_class(v["flag"].replace("-", "_")), v["key"], v["value"])}
                   for v in asked], out)
    else:
        commands = json.loads(sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read())["commands"]
        parser, command = serve_parser()
        json.dump([{"id": c["id"], "ok": (e := check(parser, command, c["argv"])) is None, "error": e}
                   for c in commands], out)
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
