"""The one schema of a profile: frozen dataclasses, checked by a generic walker.

The dataclasses below are both the validated model the rest of the code uses and
the schema the YAML files are checked against: `check()` walks their type hints,
so a new field is declared once.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

from gptoss_images.errors import Problem

ScenarioName = Annotated[
    Literal["default", "max-throughput", "min-latency", "balanced"], "scenario"
]
TensorParallel = Annotated[Literal[1, 2, 4, 8], "tensor-parallel size"]
ReadBy = Annotated[
    Literal["vllm", "cuda", "triton", "rocm-base-image", "openai-harmony"], "reader"
]
ArgValue = str | int | float | bool | list | dict
"""A vLLM flag's value: scalars, or JSON for flags such as compilation-config."""

MISSING = "missing required key"
SCENARIOS: tuple[str, ...] = typing.get_args(typing.get_args(ScenarioName)[0])
TP_SIZES: tuple[int, ...] = typing.get_args(typing.get_args(TensorParallel)[0])


@dataclass(frozen=True)
class EnvVar:
    """An environment variable; a bare string is shorthand for `{value: ...}`."""

    value: str
    read_by: ReadBy = "vllm"
    SHORTHAND: typing.ClassVar[str] = "value"


@dataclass(frozen=True)
class Gpu:
    vendor: Literal["nvidia", "amd"]
    model: str
    match: list[str]
    arch: str
    memory_gib: int
    driver_min: str | None = None


@dataclass(frozen=True)
class Stack:
    source: Literal["pypi", "base-image"]
    vllm: str
    packages: list[str] = field(default_factory=list)
    installer: str | None = None


@dataclass(frozen=True)
class Harmony:
    vocab_wheel: str
    sha256: str


@dataclass(frozen=True)
class TpRule:
    """Flags applied when a model runs at this tensor-parallel size."""

    tp: TensorParallel
    args: dict[str, ArgValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Model:
    weights_gib: float
    tp: list[TensorParallel]
    default_tp: TensorParallel
    rules: list[TpRule] = field(default_factory=list)


@dataclass(frozen=True)
class Scenario:
    description: str
    tp: TensorParallel | None = None
    args: dict[str, ArgValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Choice:
    description: str
    env: dict[str, EnvVar] = field(default_factory=dict)


@dataclass(frozen=True)
class Option:
    """A user-selectable hardware setting, e.g. B200's MoE activation."""

    description: str
    default: str
    choices: dict[str, Choice]


@dataclass(frozen=True)
class Serve:
    scenarios: dict[ScenarioName, Scenario]
    config: dict[str, ArgValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    """A resolved, validated profile (after inheritance)."""

    description: str
    family: Literal["cuda", "rocm"]
    base_image: str
    stack: Stack
    gpu: Gpu
    harmony: Harmony
    models: dict[str, Model]
    default_model: str
    serve: Serve
    env: dict[str, EnvVar] = field(default_factory=dict)
    options: dict[str, Option] = field(default_factory=dict)
    name: str = field(default="", metadata={"derived": "the file name"})
    chain: tuple[str, ...] = field(default=(), metadata={"derived": "the extends chain"})


def check(tp: Any, value: Any, path: str, partial: bool, problems: list[Problem]) -> Any:
    """Check `value` against type `tp`; return it converted, or None if it is wrong.

    With `partial`, required keys may be missing (one file of an inheritance
    chain) and plain dicts are returned instead of dataclasses.
    """
    def bad(message: str) -> None:
        problems.append(Problem(path=path, message=message))

    label = None
    if typing.get_origin(tp) is Annotated:
        tp, label = typing.get_args(tp)[0], typing.get_args(tp)[1]
    origin, args = typing.get_origin(tp), typing.get_args(tp)

    if dataclasses.is_dataclass(tp):
        shorthand = getattr(tp, "SHORTHAND", None)
        if shorthand and isinstance(value, (str, int)) and not isinstance(value, bool):
            value = {shorthand: value}
        if not isinstance(value, dict):
            return bad(f"must be a mapping with keys {_names(tp)}; got {_show(value)}")
        hints = _hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp) if "derived" not in f.metadata}
        out: dict[str, Any] = {}
        ok = True
        for key, item in value.items():
            if key not in fields:
                problems.append(Problem(path=_join(path, key),
                                        message=f"unknown key; allowed: {_names(tp)}"))
                ok = False
                continue
            checked = check(hints[key], item, _join(path, key), partial, problems)
            ok = ok and (checked is not None or item is None)
            out[key] = checked
        for name, f in fields.items():
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required and name not in value and not partial:
                problems.append(Problem(path=_join(path, name), message=MISSING))
                ok = False
        if partial or not ok:
            return out if ok else None
        return tp(**out)
    if origin is Literal:
        if value in args and type(value) is type(args[0]):
            return value
        allowed = ", ".join(str(a) for a in args)
        return bad(f"unknown {label or 'value'} {value!r}; allowed: {allowed}")
    if origin is dict:
        if not isinstance(value, dict):
            return bad(f"must be a mapping; got {_show(value)}")
        key_tp, val_tp = args
        result = {}
        for key, item in value.items():
            sub = _join(path, str(key))
            if key_tp is not str and check(key_tp, key, sub, partial, problems) is None:
                continue
            if not isinstance(key, (str, int)):
                problems.append(Problem(path=sub, message="keys must be strings"))
                continue
            if item is None and partial:
                result[key] = None  # removes the inherited key
                continue
            checked = check(val_tp, item, sub, partial, problems)
            if checked is not None:
                result[key] = checked
        return result
    if origin is list:
        if not isinstance(value, list):
            return bad(f"must be a list; got {_show(value)}")
        items = [check(args[0], item, f"{path}[{i}]", partial, problems)
                 for i, item in enumerate(value)]
        return items if all(i is not None for i in items) else None
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        plain = [a for a in args if a is not type(None)]
        if all(isinstance(a, type) for a in plain):
            if isinstance(value, tuple(plain)):
                return value
            return bad(f"must be {' or '.join(a.__name__ for a in plain)}; got {_show(value)}")
        return check(plain[0], value, path, partial, problems)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        return bad(f"must be a number; got {_show(value)}")
    if tp is str and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # env values such as 1 mean "1"
    if isinstance(tp, type) and isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    return bad(f"must be {getattr(tp, '__name__', tp)}; got {_show(value)}")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _names(cls: type) -> str:
    return ", ".join(f.name for f in dataclasses.fields(cls) if "derived" not in f.metadata)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    return f"{type(value).__name__} {value!r}" if not isinstance(value, (dict, list)) else type(value).__name__
