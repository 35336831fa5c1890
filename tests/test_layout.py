"""The package is laid out by stage, and imports flow one way: a stage uses earlier ones only."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "gptoss_images"
STAGES = ["core", "launcher", "measure", "profiles", "render", "vllm", "image", "publish", "cli"]
STANDALONE = {"vllm/introspect.py": {"vllm", "pydantic"}, "image/vocab.py": set(), "image/layers.py": set(),
              "image/settle.py": set(),
              "image/probe.py": {"torch"}, "measure/checkpoint.py": {"torch", "safetensors", "numpy"},
              "measure/tokenizer.py": {"tiktoken", "tiktoken_ext", "tokenizers", "transformers"},
              "measure/synthetic.py": {"gptoss_images"}}
"""Files that run on their own (under vLLM's Python, in a build stage or beside vLLM in the image): the
standard library and what the image's stack holds (vLLM, pydantic, torch, safetensors, tiktoken, transformers) only."""
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


def _import_problems(rel: str) -> list[str]:
    """What module `rel` imports against the layout: a later stage, or beyond what its place allows."""
    stage = rel.split("/")[0] if "/" in rel else ""
    rank = STAGES.index(stage) if stage in STAGES else 0
    everything = _imports(PACKAGE / rel)
    ours = {m for m in everything if m.split(".")[0] == "gptoss_images"}
    if rel in STANDALONE:
        beyond = {m.split(".")[0] for m in everything} - set(sys.stdlib_module_names) - STANDALONE[rel] - {"__future__"}
        return [f"{rel} imports {m}: it runs on its own" for m in sorted(beyond)]
    if stage in ("core", "launcher", "measure"):  # runs inside the image: the core and the standard library only
        inside = ("gptoss_images.core",) + {"core": (), "launcher": ("gptoss_images.launcher",),
                                            "measure": ("gptoss_images.launcher", "gptoss_images.measure")}[stage]
        third = {m.split(".")[0] for m in everything} - set(sys.stdlib_module_names) - {"gptoss_images", "__future__"}
        return ([f"{rel} imports {m}: not inside the image's code" for m in sorted(ours) if not m.startswith(inside)]
                + [f"{rel} imports {m}: not the standard library" for m in sorted(third)])
    problems = []
    for module in sorted(ours):
        parts = module.split(".")
        target = parts[1] if len(parts) > 1 and parts[1] in STAGES else ""
        if (STAGES.index(target) if target else 0) > rank:
            problems.append(f"{rel} imports {module}, a later stage")
    return problems


def test_imports_flow_one_way():
    assert [p for rel in MODULES for p in _import_problems(rel)] == []


def test_every_module_says_its_one_job_first():
    unsaid = []
    for rel in MODULES:
        if rel.endswith("__main__.py"):
            continue
        doc = ast.get_docstring(ast.parse((PACKAGE / rel).read_text()))
        if not (doc and len(doc.splitlines()[0]) <= 110 and doc.splitlines()[0].endswith((".", ":"))):
            unsaid.append(rel)
    assert unsaid == [], "first docstring line missing, over 110 characters or unfinished"


def test_stages_are_subpackages():
    assert sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__") == sorted(STAGES)
    assert {p.name for p in PACKAGE.glob("*.py")} == {"__init__.py", "errors.py"}


@pytest.mark.network
def test_pip_install_gives_a_working_build_py(tmp_path):
    """Every runtime import is declared: `pip install .` into a fresh environment, no dev extras, then
    build.py's offline commands from the checkout under that environment's Python (PYTHONPATH unset)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    installed = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(REPO)],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-2000:]
    for command in (["list"], ["validate"], ["render", "--check"]):
        done = subprocess.run([python, str(REPO / "build.py"), *command], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path, env=environ)
        assert done.returncode == 0, (command, done.stderr[-2000:])
