"""The Jinja environment of every template under templates/: strict, deterministic, the runtime contract."""

from __future__ import annotations

import json

import jinja2

from gptoss_images import REPO
from gptoss_images.core import runtime

TEMPLATES = REPO / "templates"

env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
env.globals["contract"] = runtime
env.filters["env_block"] = lambda variables: " \\\n    ".join(
    f"{name}={json.dumps(var.value).replace('$', chr(92) + '$')}" for name, var in variables.items())
env.filters["label_block"] = lambda labels: " \\\n      ".join(
    f"{name}={json.dumps(value)}" for name, value in labels.items())
env.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False)
"""A YAML scalar, list or mapping written as JSON (a subset of YAML): always quoted right."""
