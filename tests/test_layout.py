"""The package is laid out by stage, and imports flow one way: a stage uses earlier ones only."""

from __future__ import annotations

import ast
import sys

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "gptoss_images"
STAGES = ["core", "launcher", "measure", "profiles", "render", "vllm", "image", "publish", "cli"]
STANDALONE = {"vllm/introspect.py": {"vllm"}, "image/vocab.py": set(), "image/layers.py": set(),
              "image/probe.py": {"torch"}, "measure/checkpoint.py": {"torch", "safetensors", "numpy"},
              "measure/tokenizer.py": {"tiktoken", "tiktoken_ext", "tokenizers", "transformers"},
              "measure/synthetic.py": {"gptoss_images"}}
"""Files that run on their own (under vLLM's Python, in a build stage or beside vLLM in the image): the
standard library and what the image's stack holds (vLLM, torch, safetensors, tiktoken, transformers) only."""
MODULES = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py"))


def _rank(module: str) -> int:
    """A module's stage: errors and the package root sit below every stage but the launcher."""
    first = module.split(".")[1] if module.count(".") else ""
    return STAGES.index(first) if first in STAGES else 0


def _imports(path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
    return found


@pytest.mark.parametrize("rel", MODULES)
def test_imports_flow_one_way(rel):
    stage = rel.split("/")[0] if "/" in rel else ""
    rank = STAGES.index(stage) if stage in STAGES else 0
    ours = {m for m in _imports(PACKAGE / rel) if m.split(".")[0] == "gptoss_images"}
    if rel in STANDALONE:
        allowed = set(sys.stdlib_module_names) | STANDALONE[rel] | {"__future__"}
        assert {m.split(".")[0] for m in _imports(PACKAGE / rel)} <= allowed
        return
    if stage in ("core", "launcher", "measure"):  # runs inside the image: the core and the standard library only
        inside = ("gptoss_images.core",) + {"core": (), "launcher": ("gptoss_images.launcher",),
                                            "measure": ("gptoss_images.launcher", "gptoss_images.measure")}[stage]
        assert all(m.startswith(inside) for m in ours), ours
        third = {m.split(".")[0] for m in _imports(PACKAGE / rel)} - set(sys.stdlib_module_names)
        assert third <= {"gptoss_images", "__future__"}, third
        return
    for module in ours:
        parts = module.split(".")
        target = parts[1] if len(parts) > 1 and parts[1] in STAGES else ""
        assert (STAGES.index(target) if target else 0) <= rank, f"{rel} imports {module}, a later stage"


@pytest.mark.parametrize("rel", MODULES)
def test_every_module_says_its_one_job_first(rel):
    text = (PACKAGE / rel).read_text()
    if rel.endswith("__main__.py"):
        return
    doc = ast.get_docstring(ast.parse(text))
    assert doc and len(doc.splitlines()[0]) <= 110 and doc.splitlines()[0].endswith((".", ":")), rel


def test_stages_are_subpackages():
    assert sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__") == sorted(STAGES)
    assert {p.name for p in PACKAGE.glob("*.py")} == {"__init__.py", "errors.py"}
