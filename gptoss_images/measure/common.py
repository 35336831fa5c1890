"""What gptoss-bench and gptoss-eval share: the profile and plan they measure, the server, one-line errors.

Both read the same GPTOSS_* variables as gptoss-serve (in a pod or `docker exec`, they
inherit the server's own), so by default they measure what the server serves.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from gptoss_images.core import caches, inputs, runtime, vllm_api
from gptoss_images.core import plan as planner
from gptoss_images.core.inputs import BadInput
from gptoss_images.launcher import checks
from gptoss_images.launcher import profile as profile_file

KNOBS = {k.option: k for k in inputs.KNOBS}


Parser = inputs.Parser


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """--url, --model, --scenario, --served-model-name, --profile, with the server's GPTOSS_* defaults."""
    parser.add_argument("--url", metavar="URL",
                        help=f"the server (default http://127.0.0.1:$GPTOSS_PORT, port {runtime.PORT})")
    parser.add_argument("--model", metavar="MODEL", help="the model served [env GPTOSS_MODEL; default the profile's]")
    parser.add_argument("--scenario", metavar="NAME", help="the scenario served [env GPTOSS_SCENARIO; default default]")
    parser.add_argument("--served-model-name", metavar="NAME",
                        help="the name the server answers to [env GPTOSS_SERVED_MODEL_NAME; default: asked of it]")
    parser.add_argument("--profile", metavar="NAME|FILE", help="the profile [env GPTOSS_PROFILE; default the image's]")


def value(ns: argparse.Namespace, environ: Mapping[str, str], option: str) -> Any:
    """An option: the command line's, else its GPTOSS_* variable's (checked as gptoss-serve checks it)."""
    given = getattr(ns, option.replace("-", "_"), None)
    if given is not None:
        return given
    knob = KNOBS[option]
    if knob.env not in environ:
        return None
    try:
        return knob.parse(environ[knob.env])
    except ValueError as exc:
        raise BadInput(f"{knob.env}={environ[knob.env]!r}: must be {exc}") from None


def target(ns: argparse.Namespace, environ: Mapping[str, str], ask: bool = True
           ) -> tuple[dict[str, Any], planner.Plan, str, str]:
    """The profile, the plan of the server measured, its URL and the model name it answers to.

    The model is the one given (--model, GPTOSS_MODEL); else, when `ask`, the one the server
    says it serves (GET /v1/models), if it is one of the profile's; else the profile's default.
    """
    argv = ["--profile", ns.profile] if ns.profile else []
    profile = profile_file.load(argv, environ, lambda vendor: checks.Machine().gpus(vendor)[0])
    api = vllm_api.load(profile["stack"]["vllm"])
    if api is None:
        raise BadInput(f"no record of vLLM {profile['stack']['vllm']} in {vllm_api.RECORDS}: rebuild the image")
    values = {k: v for k in ("model", "scenario", "tensor-parallel-size")
              if (v := value(ns, environ, k)) is not None}
    url = base_url(ns, environ)
    served = value(ns, environ, "served-model-name")
    if served is None and ask:
        served = _served(url, environ)
    if "model" not in values and served in profile["models"]:
        values["model"] = served
    plan = planner.build(profile, values, [], environ, api, vllm_api.behaviour(api.version))
    return profile, plan, url, served or plan.model


def base_url(ns: argparse.Namespace, environ: Mapping[str, str]) -> str:
    if ns.url:
        if not ns.url.startswith(("http://", "https://")):
            raise BadInput(f"--url {ns.url!r}: an http(s):// URL of the server, e.g. http://gptoss:8000")
        return ns.url.rstrip("/").removesuffix("/v1")
    return f"http://127.0.0.1:{value(ns, environ, 'port') or runtime.PORT}"


def api_key(environ: Mapping[str, str]) -> str | None:
    return environ.get("GPTOSS_API_KEY") or environ.get("VLLM_API_KEY") or None


def request(url: str, body: dict | None, key: str | None, timeout: float) -> dict:
    """GET (body None) or POST JSON; the parsed answer. Errors carry the status, never the key."""
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {key}"} if key else {})
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=timeout) as response:
        return json.loads(response.read())


def _served(url: str, environ: Mapping[str, str]) -> str | None:
    """The first model the server lists (GET /v1/models); None if it lists none."""
    try:
        models = request(f"{url}/v1/models", None, api_key(environ), timeout=30)
    except urllib.error.HTTPError as exc:
        raise BadInput(f"{url}/v1/models answered {exc.code}"
                       + (": give the API key as GPTOSS_API_KEY" if exc.code == 401 else "")) from None
    except (urllib.error.URLError, OSError) as exc:
        raise BadInput(f"{url}: no server answers ({getattr(exc, 'reason', exc)}); start it, or give --url") from None
    except ValueError:
        raise BadInput(f"{url}/v1/models: not a vLLM server's answer") from None
    try:
        return models["data"][0]["id"]
    except (KeyError, IndexError, TypeError):
        return None


def output_dir(given: str | None, environ: Mapping[str, str], kind: str) -> str:
    """Where results go: given, else <cache>/<kind> (a volume keeps them)."""
    folder = given or os.path.join(caches.root(environ)[0], kind)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"--result-dir {folder!r}: cannot create it ({exc.strerror})") from None
    return folder


def fail(prog: str, message: str) -> int:
    print(f"{prog}: error: {inputs.one_line(message)}", file=sys.stderr)
    return 2
