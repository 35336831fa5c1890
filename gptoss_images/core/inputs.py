"""The launcher's knobs: each one a command-line option and a GPTOSS_* variable.

The option wins over the variable, the variable over the profile. Values are
parsed here, once; a bad one is a `BadInput` naming the variable and what is
allowed.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

PREFIX = "GPTOSS_"
TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


class BadInput(Exception):
    """One line for the user; the launcher exits with code 2."""


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (raised as `failure`, exit code 2), no abbreviations, and whose help
    keeps its examples' layout: the one parser class of the launcher, the measuring tools and build.py."""

    failure: type[Exception] = BadInput

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise self.failure(self.say(message))

    def say(self, message: str) -> str:
        return message


_BREAKS = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7f, 0x85]} | {0x2028: "\\u2028", 0x2029: "\\u2029"}


_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")


def hide_credentials(text: str) -> str:
    """`text` with the user info of every URL in it hidden (https://user:PASS@mirror/simple)."""
    return _USERINFO.sub(r"\1<hidden>@", text)


def one_line(text: str) -> str:
    """`text` with every character that would break a line (or a terminal) escaped."""
    return text.translate(_BREAKS)


@dataclass(frozen=True)
class Knob:
    option: str
    help: str
    parse: Callable[[str], Any] = str
    metavar: str = "VALUE"
    flag: bool = False

    @property
    def env(self) -> str:
        return PREFIX + self.option.upper().replace("-", "_")

    @property
    def dest(self) -> str:
        return self.option.replace("-", "_")


def integer(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not re.fullmatch(r"-?[0-9]+", text):  # ASCII digits, no space, no '_', no line break: as written
            raise ValueError(f"an integer from {low} to {high}")
        value = int(text)
        if not low <= value <= high:
            raise ValueError(f"an integer from {low} to {high}")
        return value
    return parse


def fraction(text: str) -> float:
    if not re.fullmatch(r"[0-9]*\.?[0-9]+", text):
        raise ValueError("a number above 0 and at most 1, e.g. 0.9")
    value = float(text)
    if not 0 < value <= 1:
        raise ValueError("a number above 0 and at most 1, e.g. 0.9")
    return value


def secret(text: str) -> str:
    if not text.strip():
        raise ValueError("a non-empty key: an empty one would start vLLM without authentication; "
                         "unset the variable to serve without a key")
    return text


def boolean(text: str) -> bool:
    if text.lower() in TRUE:
        return True
    if text.lower() in FALSE:
        return False
    raise ValueError("1/0, true/false, yes/no or on/off")


KNOBS = [
    Knob("model", "openai/gpt-oss-20b, openai/gpt-oss-120b or a local model folder "
                  "(default: the profile's)", metavar="MODEL"),
    Knob("tensor-parallel-size", "GPUs per replica to shard over: one of the model's TP sizes on this card "
                                 "(default: the machine's plan)", integer(1, 64), "N"),
    Knob("data-parallel-size", "replicas of TP GPUs each, one server balancing over them (default: as many as "
                               "the GPUs found hold)", integer(1, 64), "N"),
    Knob("scenario", "default, max-throughput, min-latency or balanced", metavar="NAME"),
    Knob("host", "address to listen on (vLLM's default: all)", metavar="ADDR"),
    Knob("port", "port to listen on (default 8000)", integer(1, 65535), "PORT"),
    Knob("max-model-len", "tokens per request, prompt and output together",
         integer(1, 10_000_000), "N"),
    Knob("max-num-seqs", "sequences per batch", integer(1, 100_000), "N"),
    Knob("gpu-memory-utilization", "share of each GPU's memory vLLM may use", fraction, "F"),
    Knob("served-model-name", "model name clients send", metavar="NAME"),
    Knob("api-key", "require this bearer token (passed as VLLM_API_KEY, never in argv or output)",
         secret, "KEY"),
    Knob("function-calling", "--tool-call-parser openai --enable-auto-tool-choice",
         boolean, flag=True),
    Knob("tool-server", "built-in tools: 'demo' or MCP servers HOST:PORT[,HOST:PORT...]",
         metavar="SPEC"),
    Knob("structured-output", "serve structured output: turns async scheduling off "
                              "(incompatible in this vLLM)", boolean, flag=True),
    Knob("skip-checks", "machine checks to skip: 'all' or names, e.g. gpu,memory",
         metavar="NAMES"),
    Knob("profile", "the profile to serve: a name this image holds (h200) or a profile JSON (default: the "
                    "image's one, or the one this machine's GPUs fit)", metavar="NAME|FILE"),
    Knob("cache-dir", "where the model and compiled graphs are cached (default /cache: mount a volume there "
                      "to keep them across restarts)", metavar="DIR"),
]
LAUNCHER_ONLY = {"skip-checks", "profile", "cache-dir"}
SECRET = {"api-key", "hf-token"}
"""vLLM's flags that carry a secret: never in argv, never shown, in any spelling."""
SECRET_VARIABLES = {"api-key": "VLLM_API_KEY", "hf-token": "HF_TOKEN"}
"""The variable each secret travels in to vLLM instead (vLLM and huggingface_hub read them)."""


def add_options(parser: argparse.ArgumentParser, option_names: list[str]) -> None:
    """Register every knob, plus the profile's hardware options (e.g. moe-activation)."""
    for knob in KNOBS + [option_knob(name) for name in option_names]:
        kwargs: dict[str, Any] = {"help": f"{knob.help} [env {knob.env}]", "default": None}
        if knob.flag:
            parser.add_argument(f"--{knob.option}", dest=knob.dest,
                                action=argparse.BooleanOptionalAction, **kwargs)
        else:
            parser.add_argument(f"--{knob.option}", dest=knob.dest, metavar=knob.metavar, **kwargs)


def option_knob(name: str) -> Knob:
    return Knob(name, "hardware option of this profile (see --help's list)", metavar="CHOICE")


def collect(ns: argparse.Namespace, environ: Mapping[str, str], option_names: list[str],
            extra: list[tuple[str, Any]]) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """Values by option name: the command line over GPTOSS_* over nothing. A knob given in
    another spelling among the extra vLLM flags (`--tensor_parallel_size 3`, `-tp 3`,
    `--api_key K`) counts as the knob itself. Returns the values and the other extra flags."""
    knobs = KNOBS + [option_knob(name) for name in option_names]
    known = {k.env for k in knobs}
    for var in environ:
        if var.startswith(PREFIX) and var not in known:
            raise BadInput(f"{var}: unknown variable; allowed: {', '.join(sorted(known))}")
    by_option = {k.option: k for k in knobs if k.option not in LAUNCHER_ONLY}
    spelled: dict[str, Any] = {}
    rest = []
    for name, value in extra:
        if name not in by_option:
            rest.append((name, value))
            continue
        if getattr(ns, by_option[name].dest, None) is not None or name in spelled:
            raise BadInput(f"--{name}: given twice (in two spellings); give it once")
        if isinstance(value, list):
            if len(value) != 1:
                raise BadInput(f"--{name}: give one value" + ("" if name in SECRET else f"; got {len(value)}"))
            value = value[0]
        spelled[name] = value
    values: dict[str, Any] = {}
    for knob in knobs:
        given = getattr(ns, knob.dest, None)
        source = f"--{knob.option}"
        if given is None and knob.option in spelled:
            given = spelled[knob.option]
        if given is None and knob.env in environ:
            given, source = environ[knob.env], knob.env
        if given is None:
            continue
        if isinstance(given, bool):
            values[knob.option] = given
            continue
        shown = "<hidden>" if knob.option in SECRET else repr(given)
        try:
            values[knob.option] = knob.parse(given)
        except ValueError as exc:
            raise BadInput(f"{source}={shown}: must be {exc}") from None
    return values, rest
