"""Generated garbage at every input: each GPTOSS_* variable, each launcher flag, each profile key and
each build.py argument. Whatever comes in: exit code 0, 1, 2 or 3, an error is one line, no
traceback (an exception fails the test), nothing half-written under docker/, no secret shown.

Derandomized, so CI tries the same inputs each run; `pytest --hypothesis-show-statistics` counts them.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import string
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gptoss_images.cli.main import main as build_py
from gptoss_images.cli.main import parser as build_py_parser
from gptoss_images.core import inputs, vendors, vllm_api
from gptoss_images.errors import UserError
from gptoss_images.launcher import checks
from gptoss_images.launcher.main import main as launcher
from gptoss_images.profiles import catalog
from tests.conftest import REPO

SETTINGS = settings(max_examples=int(os.environ.get("GPTOSS_EXAMPLES", "1000")), deadline=None,
                    derandomize=os.environ.get("GPTOSS_EXAMPLES") is None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROFILES = sorted(p.name for p in catalog.load().values())
API = vllm_api.load("0.10.2")
VARIABLES = sorted({k.env for k in inputs.KNOBS} | {"GPTOSS_MOE_ACTIVATION", "GPTOSS_NOT_A_KNOB", "VLLM_API_KEY",
                                                     "VLLM_USE_FLASHINFER_MXFP4_BF16_MOE", "HF_HUB_OFFLINE"})
FLAGS = sorted({f"--{k.option}" for k in inputs.KNOBS} | {f"--{f}" for f in API.flags} |
               {"--dry-run", "--json", "--check", "-tp", "-O", "--max_num_seqs", "--no-enable-prefix-caching",
                "--tensor", "--x", "-", "--"})
WORDS = st.one_of(
    st.text(max_size=24),
    st.integers(min_value=-10**12, max_value=10**12).map(str),
    st.floats().map(str),
    st.sampled_from(["", " ", "0", "1", "-1", "2", "3", "8", "0.95", "1.5", "true", "off", "demo", "all", "gpu,arch",
                     "openai/gpt-oss-20b", "openai/gpt-oss-120b", "/", "/etc/hostname", "max-throughput", "bf16",
                     '{"level": 3}', '{"pass_config": {"x": 1}}', "1e309", "nan", "8k", "a=b", "--", "\n", "é"]),
)
SECRET = st.text(alphabet=string.ascii_letters + string.digits, min_size=6, max_size=12).map(lambda s: f"sk-{s}-key")
SPELLINGS = [lambda k: ["--api-key", k], lambda k: [f"--api-key={k}"], lambda k: ["--api_key", k],
             lambda k: [f"--api_key={k}"], lambda k: [], lambda k: ["--api-key", k, k[::-1]],
             lambda k: ["--hf-token", k], lambda k: [f"--hf_token={k}"]]


class FakeMachine(checks.Machine):
    def __init__(self) -> None:
        found = vendors.nvidia.parse_smi((REPO / "tests/fixtures/gpus/nvidia-smi-h100.csv").read_text())
        super().__init__(gpus=lambda vendor: (found, "fixture"), shm_bytes=lambda: 2**34)


def _run(func, *args, **kwargs) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = func(*args, **kwargs)
        except SystemExit as exc:  # --help
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def _one_line_error(code: int, err: str, prefix: str) -> None:
    if code == 2:
        errors = [line for line in err.splitlines() if line.startswith(prefix)]
        assert len(errors) >= 1, err
        assert all(line.startswith((prefix, "gptoss-serve: warning:", "gptoss-serve: note:"))
                   for line in err.splitlines() if line.strip()), err


CURRENT = vllm_api.load("0.33.0")
CONFIG_KEYS = sorted((flag, key) for flag, spec in CURRENT.flags.items() for key in spec.get("keys", {}))
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False) |
                           st.text(max_size=12) | st.sampled_from(["FULL", "full", "eagle3", "3", "1k", "auto"]),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                      max_size=3), max_leaves=6)


@SETTINGS
@given(target=st.sampled_from(CONFIG_KEYS), value=JSON_VALUES, dotted=st.booleans())
def test_a_json_config_takes_any_value(target, value, dotted):
    """Any value at any key of any JSON config of the current line: taken, or refused with one line that names
    the flag and key, before vLLM is started."""
    flag, key = target
    text = json.dumps(value)
    argv = [f"--{flag}.{key}", text] if dotted else [f"--{flag}", json.dumps({key: value})]
    try:
        vllm_api.parse(CURRENT, argv)
    except vllm_api.Rejected as exc:
        assert "\n" not in str(exc) and f"--{flag}" in str(exc) and key in str(exc), exc


@SETTINGS
@given(profile=st.sampled_from(PROFILES), env=st.dictionaries(st.sampled_from(VARIABLES), WORDS, max_size=4),
       argv=st.lists(st.one_of(st.sampled_from(FLAGS), WORDS,
                               st.builds(lambda f, w: f"{f}={w}", st.sampled_from(FLAGS), WORDS)), max_size=6),
       mode=st.sampled_from([["--dry-run"], ["--dry-run", "--json"], ["--check"], []]),
       key=SECRET, spelling=st.sampled_from(SPELLINGS))
def test_the_launcher_takes_any_variable_and_flag(profile, env, argv, mode, key, spelling):
    environ = {"GPTOSS_PROFILE": str(REPO / "docker" / profile / "profile.json"), **env}
    code, out, err = _run(launcher, mode + argv + spelling(key), environ, execvpe=lambda *a: None,
                          machine=FakeMachine())
    assert code in (0, 1, 2, 3), (code, err)
    assert key not in out + err
    _one_line_error(code, err, "gptoss-serve: error:")


def _key_paths(data: object, prefix: tuple = ()) -> list[tuple]:
    if isinstance(data, dict):
        return [prefix] + [p for k, v in data.items() for p in _key_paths(v, prefix + (k,))]
    return [prefix]


FILES = {path.name: yaml.safe_load(path.read_text()) for path in sorted((REPO / "profiles").glob("*.yaml"))}
TARGETS = [(name, path) for name, data in FILES.items() for path in _key_paths(data) if path]
YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | WORDS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10) | WORDS, inner, max_size=3),
    max_leaves=6)


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode() + (path.read_bytes() if path.is_file() else b"/"))
    return digest.hexdigest()


@SETTINGS
@given(target=st.sampled_from(TARGETS), value=YAML_VALUES, extra_key=st.one_of(st.none(), st.text(max_size=12)),
       raw=st.one_of(st.none(), st.binary(max_size=60)))
def test_profiles_take_any_value_at_any_key(target, value, extra_key, raw):
    """Rendered in memory (`render --check`: every file computed and compared, nothing written), so an
    example costs the rules, not 300 file writes; that a refused or killed render writes nothing is
    test_render.py's."""
    file, path = target
    with tempfile.TemporaryDirectory() as tmp:
        profiles = Path(tmp, "profiles")
        shutil.copytree(REPO / "profiles", profiles)
        if raw is not None:
            (profiles / file).write_bytes(raw)
        else:
            data = yaml.safe_load((profiles / file).read_text())
            node = data
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
            if extra_key is not None and isinstance(node, dict):
                node[extra_key] = value
            (profiles / file).write_text(yaml.safe_dump(data, allow_unicode=True))
        code, _, err = _run(build_py, ["--profiles-dir", str(profiles), "render", "--check"])
        assert code in (0, 1, 2), (code, err)
        if code == 2:
            _one_line_error(code, err, "error: ")


COMMANDS = {
    "list": ["--github-output"], "show": [], "validate": [], "render": ["--check"],
    "build": ["--dry-run", "--base-image", "--index-url", "--ca-bundle", "--repo", "--quiet", "--no-cache"],
    "push": ["--dry-run", "--registry", "--repo", "--signing-key"],
    "release": ["--dry-run", "--registry", "--base-image", "--ca-bundle", "--index-url", "--hold-floating",
                "--signing-key"],
    "gpu-test": ["--image", "--env", "--without-gpu"], "promote": ["--registry", "--results", "--key"],
    "verify": ["--key"],
    "summary": ["--results", "--output"], "test": ["--repo"],
}
RUNNABLE = {"list", "show", "validate", "render", "build", "push", "release"}
"""Commands that are safe to run here with --dry-run (or that only read); the rest are parsed."""
ARG_WORDS = st.one_of(WORDS, st.sampled_from(PROFILES + ["h1000", "cuda=x", "rocm=rocm/vllm-dev:x", "Local Host/x",
                                                         "localhost:5000/g", "http://x", "not-a-url",
                                                         "/etc/ssl/certs/ca-certificates.crt", "0.13.0", "1/../x"]))


@SETTINGS
@given(command=st.sampled_from(sorted(COMMANDS) + ["pins", "frobnicate"]), data=st.data())
def test_build_py_takes_any_argument(command, data, tmp_path_factory):
    options = COMMANDS.get(command, [])
    words = data.draw(st.lists(st.one_of(st.sampled_from(options) if options else ARG_WORDS, ARG_WORDS), max_size=5))
    argv = [command] + (data.draw(st.sampled_from([["check"], ["try"], ["record"], []])) if command == "pins" else [])
    argv += words
    safe = command in RUNNABLE and (command not in ("build", "push", "release") or "--dry-run" in argv)
    if command == "render" and "--check" not in argv:
        docker = tmp_path_factory.mktemp("docker")
        argv = ["--docker-dir", str(docker)] + argv
    if safe:
        code, _, err = _run(build_py, argv)
        assert code in (0, 1, 2), (code, err)
        _one_line_error(code, err, "error: ")
        return
    try:
        build_py_parser().parse_args(argv)
    except UserError as exc:
        assert all("\n" not in str(p) for p in exc.problems)
    except SystemExit as exc:
        assert exc.code == 0  # --help


PEM_BODY = st.text(alphabet=string.ascii_letters + string.digits + "+/=\n", min_size=8, max_size=200)


@settings(SETTINGS, max_examples=min(SETTINGS.max_examples, 300))
@given(text=st.one_of(st.text(min_size=8), PEM_BODY.map(lambda b: f"-----BEGIN PRIVATE KEY-----\n{b}\n-----END PRIVATE "
                                                                  "KEY-----\n"),
                      PEM_BODY.map(lambda b: f"-----BEGIN PUBLIC KEY-----\n{b}\n-----END PUBLIC KEY-----\n")))
def test_any_key_text_is_a_key_or_one_line_that_does_not_show_it(text):
    from gptoss_images.publish import signing

    for read, variable in ((signing.signer, signing.SIGNING_VARIABLE), (signing.public_key, signing.VERIFY_VARIABLE)):
        try:
            read(None, {variable: text})
        except UserError as exc:
            message = str(exc)
            assert message.startswith(f"{variable}: not ") and "\n" not in message
            assert not any(len(line) >= 8 and line in message for line in text.splitlines())
