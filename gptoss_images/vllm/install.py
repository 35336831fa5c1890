"""Reach a vLLM release's own Python: a virtual environment of its own, or an image that holds it.

A `Python` is the command that starts that interpreter: a venv's bin/python, or
`docker run ... --entrypoint python3 IMAGE`. introspect.py runs under it to ask the
release's own parser, config classes and envs.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from gptoss_images import REPO
from gptoss_images.errors import UserError

CACHE = Path(os.environ.get("GPTOSS_CACHE", REPO / ".cache"))
INTROSPECT = Path(__file__).with_name("introspect.py")
Python = list[str]


def ensure(version: str, index_url: str | None = None, extra_index_url: str | None = None) -> Python:
    """The Python of a venv with vllm==`version`, created with uv if missing (~1 min, 9 GB)."""
    venv = CACHE / f"vllm-{version}"
    python = venv / "bin" / "python"
    if (venv / ".complete").is_file():
        return [str(python)]
    uv = shutil.which("uv")
    if uv is None:
        raise UserError("uv not found: pip install uv (make deps installs it)")
    print(f"installing vllm=={version} into {venv} (once; about a minute)", file=sys.stderr)
    subprocess.run([uv, "venv", "-q", "--clear", "-p", sys.executable, str(venv)], check=True)
    command = [uv, "pip", "install", "-q", "--python", str(python), f"vllm=={version}"]
    if index_url:
        command += ["--index-url", index_url]
    if extra_index_url:
        command += ["--extra-index-url", extra_index_url]
    if subprocess.run(command).returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)  # nothing half-installed stays behind
        raise UserError(f"vllm=={version}: installation failed (see uv's output above); nothing was kept")
    (venv / ".complete").write_text(version + "\n")
    return [str(python)]


def in_image(image: str) -> Python:
    """The Python of an image (network off, removed after), reading stdin."""
    return ["docker", "run", "--rm", "-i", "--network", "none", "--entrypoint", "python3", image]


def introspect(python: Python, *args: str, stdin: str = "") -> str:
    """introspect.py's output under `python` (isolated mode: nothing of this checkout on its path)."""
    done = subprocess.run([*python, "-I", "-c", INTROSPECT.read_text(), *args], input=stdin, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError("introspect.py failed:\n" + "\n".join(done.stderr.splitlines()[-5:]))
    return done.stdout


def check_commands(python: Python, commands: list[dict]) -> list[dict]:
    """Each command as the release's own parser and validator judge it."""
    return json.loads(introspect(python, stdin=json.dumps({"commands": commands})))


def check_values(python: Python, values: list[dict]) -> list[dict]:
    """Each value of a JSON config key as the release's own config class judges it."""
    return json.loads(introspect(python, "values", stdin=json.dumps({"values": values})))


def required_version(python: Python, package: str) -> str | None:
    """The exact version the installed vLLM pins `package` to (base or extra requirement)."""
    code = ("import importlib.metadata as m, re, sys\n"
            "for r in m.requires('vllm') or []:\n"
            "    x = re.match(r'([A-Za-z0-9_.-]+)\\s*==\\s*([^;\\s]+)', r)\n"
            "    if x and x.group(1).lower() == sys.argv[1]: print(x.group(2)); break\n")
    out = subprocess.run([*python, "-c", code, package.lower()], capture_output=True, text=True,
                         check=True).stdout.strip()
    return out or None


def cuda_runtime(python: Python) -> str | None:
    """The CUDA runtime the installed torch is built on (major.minor), from the runtime wheel's version."""
    code = ("import importlib.metadata as m\n"
            "for name in ('nvidia-cuda-runtime', 'nvidia-cuda-runtime-cu12', 'nvidia-cuda-runtime-cu13'):\n"
            "    try:\n"
            "        print('.'.join(m.version(name).split('.')[:2])); break\n"
            "    except m.PackageNotFoundError:\n"
            "        pass\n")
    out = subprocess.run([*python, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    return out or None
