"""The profile JSON's shape: the image's contract (profile.json), declared once and checked from the declaration.

The build side's pydantic model (`profiles/schema.py`) produces exactly this, in one place
(`profiles/catalog.py`'s `to_dict`; a test holds the two to the same keys); the image
reads it with `problem()`, which walks these declarations, so a damaged or foreign file is
one line naming the first key that is wrong. (No postponed annotations here: `NotRequired`
must be seen when the classes are made.)
"""

import types
import typing
from typing import Any, Literal, NotRequired, TypedDict, Union

ArgValue = bool | int | float | str | list | dict
"""A vLLM flag's value."""


class EnvVarJson(TypedDict):
    value: str
    read_by: str


class GpuJson(TypedDict):
    vendor: Literal["nvidia", "amd"]
    model: str
    match: list[str]
    arch: str
    also_arch: NotRequired[list[str]]
    memory_gib: int
    driver_min: str | None
    node_label: str
    products: list[str]


class StackJson(TypedDict):
    source: str
    vllm: str
    cuda: str | None
    cuda_home: str | None
    packages: list[str]
    installer: str | None


class HarmonyJson(TypedDict):
    sha256: str
    vocab_wheel: str | None


class TpRuleJson(TypedDict):
    tp: int
    args: dict[str, ArgValue]


class ModelJson(TypedDict):
    weights_gib: int | float
    tp: list[int]
    default_tp: int
    rules: list[TpRuleJson]


class ScenarioJson(TypedDict):
    description: str
    tp: int | None
    goal: NotRequired[Literal["throughput", "latency"]]
    """Absent in profiles rendered before scenarios had goals: throughput."""
    args: dict[str, ArgValue]


class ChoiceJson(TypedDict):
    description: str
    env: dict[str, EnvVarJson]
    args: dict[str, ArgValue]
    models: list[str]


class OptionJson(TypedDict):
    description: str
    default: str
    choices: dict[str, ChoiceJson]


class ServeJson(TypedDict):
    scenarios: dict[str, ScenarioJson]
    config: dict[str, ArgValue]


class ProfileJson(TypedDict):
    description: str
    family: Literal["cuda", "rocm"]
    base_image: str
    stack: StackJson
    gpu: GpuJson
    harmony: HarmonyJson
    sbom_tool: str
    models: dict[str, ModelJson]
    default_model: str
    serve: ServeJson
    env: dict[str, EnvVarJson]
    options: dict[str, OptionJson]
    name: str
    accelerator: str
    line: str
    chain: list[str]


def problem(value: Any, shape: Any = ProfileJson, path: str = "") -> str | None:
    """Where `value` differs from `shape` first (a key missing or of another type), or None."""
    where = path or "the file"
    if typing.is_typeddict(shape):
        if not isinstance(value, dict):
            return f"{where} must be a mapping"
        for key, inner in typing.get_type_hints(shape).items():
            if key not in value:
                if key in shape.__required_keys__:
                    return f"{path + '.' if path else ''}{key} is missing"
                continue
            found = problem(value[key], inner, f"{path + '.' if path else ''}{key}")
            if found:
                return found
        return None
    origin, args = typing.get_origin(shape), typing.get_args(shape)
    if origin is Literal:
        return None if value in args else f"{where} must be one of {', '.join(map(str, args))}"
    if origin in (Union, types.UnionType):
        fits = [problem(value, arg, path) is None for arg in args]
        return None if any(fits) else f"{where} has the wrong type"
    if origin is dict:
        if not isinstance(value, dict):
            return f"{where} must be a mapping"
        return next((p for k, v in value.items() if (p := problem(v, args[1], f"{path}.{k}"))), None)
    if origin is list:
        if not isinstance(value, list):
            return f"{where} must be a list"
        return next((p for i, v in enumerate(value) if (p := problem(v, args[0], f"{path}[{i}]"))), None)
    if shape is type(None):
        return None if value is None else f"{where} has the wrong type"
    if shape in (int, float) and isinstance(value, bool):
        return f"{where} has the wrong type"
    if shape is float and isinstance(value, int):
        return None
    return None if isinstance(value, shape) else f"{where} has the wrong type"
