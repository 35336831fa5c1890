"""Install a vLLM release into a virtual environment of its own, and run its real code there."""

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


def ensure(version: str, index_url: str | None = None, extra_index_url: str | None = None) -> Path:
    """The Python of a venv with vllm==`version`, created with uv if missing (~1 min, 9 GB)."""
    venv = CACHE / f"vllm-{version}"
    python = venv / "bin" / "python"
    if (venv / ".complete").is_file():
        return python
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
    return python


def check_commands(python: Path, commands: list[dict]) -> list[dict]:
    """Run vllm/introspect.py under `python` (a vLLM venv, isolated mode) on `commands`."""
    result = subprocess.run([str(python), "-I", str(INTROSPECT)],
                            input=json.dumps({"commands": commands}), capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.splitlines()[-5:])
        raise RuntimeError(f"introspect.py failed:\n{tail}")
    return json.loads(result.stdout)


def envs_py(python: Path) -> Path:
    """The installed vllm/envs.py of a venv."""
    out = subprocess.run([str(python), "-c", "import importlib.util as u; "
                          "print(u.find_spec('vllm').submodule_search_locations[0])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    return Path(out) / "envs.py"


def required_version(python: Path, package: str) -> str | None:
    """The exact version the installed vLLM pins `package` to (base or extra requirement)."""
    code = ("import importlib.metadata as m, re, sys\n"
            "for r in m.requires('vllm') or []:\n"
            "    x = re.match(r'([A-Za-z0-9_.-]+)\\s*==\\s*([^;\\s]+)', r)\n"
            "    if x and x.group(1).lower() == sys.argv[1]: print(x.group(2)); break\n")
    out = subprocess.run([str(python), "-c", code, package.lower()], capture_output=True, text=True,
                         check=True).stdout.strip()
    return out or None
