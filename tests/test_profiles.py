"""Profiles: inheritance, the resolved settings, and one precise line per bad input."""

from __future__ import annotations

import hashlib
import re
import typing
from pathlib import Path

import pytest

from gptoss_images.core import profile_json
from gptoss_images.profiles import catalog
from tests.conftest import REPO, run_build

ACCELERATORS = ["a100", "b200", "h100", "h200", "mi300x", "mi325x", "mi355x", "r9700"]
LINES = {"cuda": ["current", "cu128"], "rocm": ["current", "preview"]}
ALL = sorted(a + ("" if line == "current" else f"-{line}") for a in ACCELERATORS
             for line in LINES["rocm" if a.startswith(("mi", "r9")) else "cuda"])


def test_every_accelerator_has_a_profile_per_line_inheriting_its_family():
    loaded = catalog.load()
    assert list(loaded) == ALL
    for name, p in loaded.items():
        assert p.chain[0] == f"profiles/{p.accelerator}.yaml"
        assert p.chain[1:] == (f"profiles/{p.family}.yaml", "profiles/gpt-oss.yaml")
        assert name == catalog.profile_name(p.accelerator, p.line) and p.line in LINES[p.family]


def test_the_cu128_line_keeps_the_recipes_detailed_settings():
    p = catalog.load()
    assert p["h100-cu128"].base_image == "nvidia/cuda:12.8.1-devel-ubuntu24.04"
    assert (p["h100-cu128"].stack.vllm, p["h100-cu128"].stack.cuda, p["h100-cu128"].gpu.driver_min) == \
        ("0.10.2", "12.8", "570.26")
    assert p["h100-cu128"].serve.config == {"async-scheduling": True, "no-enable-prefix-caching": True,
                                            "cuda-graph-sizes": 2048, "max-num-batched-tokens": 8192,
                                            "max-model-len": 10240}
    assert "compilation-config" not in p["h200-cu128"].serve.config  # Blackwell only
    assert p["b200-cu128"].serve.config["compilation-config"]["cudagraph_mode"] == "FULL_AND_PIECEWISE"
    assert p["b200-cu128"].stack.packages == ["flashinfer-python==0.3.0"]
    assert p["b200-cu128"].options["moe-activation"].default == "bf16"
    assert p["mi300x-preview"].base_image == "rocm/vllm-dev:open-mi300-08052025"
    assert p["mi355x-preview"].base_image == "rocm/vllm-dev:open-mi355-08052025"
    assert p["r9700-preview"].base_image == "rocm/vllm-dev:open-r9700-08052025"
    assert p["mi355x-preview"].serve.config["block-size"] == 64
    assert p["mi300x-preview"].env["VLLM_ROCM_USE_AITER_MHA"].value == "0"
    assert p["h100-cu128"].harmony.vocab_wheel == "quicktok-v1==0.4.0"
    for line in ("h100", "h100-cu128"):
        rules = {r.tp: r.args for r in p[line].models["openai/gpt-oss-120b"].rules}
        assert rules[1] == {"gpu-memory-utilization": 0.95, "max-num-batched-tokens": 1024}
        assert rules[2]["gpu-memory-utilization"] < 0.95
    assert p["r9700"].models["openai/gpt-oss-120b"].tp == [4, 8]


def test_the_current_line_takes_the_recipes_current_settings():
    p = catalog.load()
    h100 = p["h100"]
    assert h100.base_image == "nvidia/cuda:13.0.2-base-ubuntu24.04"
    assert (h100.stack.vllm, h100.stack.cuda, h100.stack.cuda_home, h100.gpu.driver_min) == \
        ("0.33.0", "13.0", "pip", "580.65.06")
    assert h100.serve.config == {"no-enable-prefix-caching": True, "max-num-batched-tokens": 8192}  # as measured
    assert h100.serve.scenarios["max-throughput"].args == {"max-num-seqs": 512, "stream-interval": 20}
    assert h100.serve.scenarios["min-latency"].goal == "latency"
    assert p["b200"].serve.config["kv-cache-dtype"] == "fp8"
    assert p["b200"].options["moe-activation"].default == "mxfp8"
    assert "speculative" in h100.options and "speculative" not in p["a100"].options
    assert h100.harmony.vocab_wheel == "quicktok-v1==0.4.0"  # for the self-test: oss-harmony carries its own
    assert p["mi300x"].base_image == "vllm/vllm-openai-rocm:v0.33.0"
    assert p["mi355x"].default_model == "amd/gpt-oss-120b-w-mxfp4-a-fp8"


def test_cli_list_show_validate():
    listing = run_build("list")
    assert listing.returncode == 0
    assert "h100" in listing.stdout and "rocm/vllm-dev:open-mi355-08052025" in listing.stdout
    shown = run_build("show", "b200-cu128")
    assert "flashinfer-python==0.3.0" in shown.stdout and "chain:" in shown.stdout
    assert run_build("validate").stdout.startswith("16 profiles valid")


H100_GPU = "gpu: {model: H100, match: [H100], arch: '9.0', memory_gib: 80, products: [NVIDIA-H100-80GB-HBM3]}\n"
BAD = [
    ("h100.yaml", "gpu: [unclosed\n", "profiles/h100.yaml: malformed YAML: line 2"),
    ("h100.yaml", "extends: cuda\ncolour: red\n", "profiles/h100.yaml: colour: unknown key; allowed:"),
    ("h100.yaml", "extends: cuda\ngpu: {memory_gib: lots}\n",
     "profiles/h100.yaml: gpu.memory_gib: input should be a valid integer; got str 'lots'"),
    ("h100.yaml", "extends: cudaa\n",
     "profiles/h100.yaml: extends: unknown parent 'cudaa'; allowed: cuda, gpt-oss, rocm"),
    ("h100.yaml", "extends: cuda\ngpu: {model: H100, match: [H100], memory_gib: 80}\n",
     "profiles/h100.yaml: gpu.arch: missing required key"),
    ("h100.yaml", "extends: cuda\nserve: {scenarios: {fast: {description: x}}}\n",
     "profiles/h100.yaml: serve.scenarios.fast: unknown value str 'fast'; "
     "allowed: default, max-throughput, min-latency, balanced"),
    ("h100.yaml", "extends: cuda\nmodels: {openai/gpt-oss-20b: {tp: [1, 3]}}\n",
     "profiles/h100.yaml: models.openai/gpt-oss-20b.tp[1]: unknown value int 3; allowed: 1, 2, 4, 8"),
    ("cuda.yaml", "abstract: true\nextends: a100\n", "inheritance cycle"),
    # Serve settings are read with the record of the pinned vLLM's own parser.
    ("h100.yaml", "extends: cuda\nserve: {config: {no-such-flag: true}}\n",
     "profiles/h100.yaml: serve.config.no-such-flag: --no-such-flag: unknown flag for vLLM"),
    ("h100.yaml", "extends: cuda\nserve: {config: {max-num-batched-tokens: lots}}\n",
     "serve.config.max-num-batched-tokens: --max-num-batched-tokens='lots': must be an integer"),
    ("h100.yaml", "extends: cuda\nserve: {config: {max-num-seq: 256}}\n",
     "serve.config.max-num-seq: --max-num-seq: abbreviations are not accepted (vLLM would guess); "
     "write the full name: --max-num-seqs"),
    ("h100.yaml", "extends: cuda\nserve: {config: {compilation-config: {pass_confg: {enable_noop: true}}}}\n",
     "serve.config.compilation-config: --compilation-config: unknown key 'pass_confg'; did you mean pass_config?"),
    ("h100.yaml", "extends: cuda\nlines: {current: {serve: {config: {compilation-config: {pass_config: 5}}}}}\n",
     "lines.current.serve.config.compilation-config: --compilation-config.pass_config=5: vLLM takes a JSON object"),
    ("h100.yaml",
     "extends: cuda\nlines: {current: {serve: {scenarios: {balanced: {args: {max-num-batched-tokens: 0}}}}}}\n",
     "--max-num-batched-tokens='0': vLLM takes an integer (8192, 8k) ≥ 1"),
    ("h100.yaml",
     "extends: cuda\nmodels: {openai/gpt-oss-120b: {rules: [{tp: 2, args: {gpu-memory-utilization: 1.5}}]}}\n",
     "models.openai/gpt-oss-120b.rules[0].args.gpu-memory-utilization: --gpu-memory-utilization='1.5': "
     "vLLM takes a number ≤ 1.0"),
    ("h100.yaml", "extends: cuda\nserve: {config: {tensor-parallel-size: 2}}\n",
     "serve.config.tensor-parallel-size: the launcher sets --tensor-parallel-size: give it through models"),
    # What validate passes, the image starts: the launcher plans every model and scenario.
    ("h100.yaml", "extends: cuda\noptions: {model: {description: m, default: a, choices: {a: {description: a}}}}\n",
     "profiles/h100.yaml: options.model: --model is the launcher's own option; name the hardware option otherwise"),
    ("h100.yaml", "extends: cuda\noptions: {speculative: {default: eagle3}}\n",
     "options.speculative.default: 'eagle3' is for openai/gpt-oss-120b only, so every start of openai/gpt-oss-20b "
     "would be refused"),
    # Text that reaches a Dockerfile.
    ("h100.yaml", "extends: cuda\ndescription: \"two\\nlines\"\n", "description: free text of 1 to 200 characters"),
    ("h100.yaml", "extends: cuda\nbase_image: nvidia/cuda:12.8 $(id)\n", "base_image: must be an image reference"),
    ("h100.yaml", "extends: cuda\nbase_image: Nvidia/CUDA\n", "base_image: must be an image reference"),
    ("h100.yaml", "extends: cuda\nmodels: {openai/gpt-oss-120b: {weights_gib: -13}}\n",
     "models.openai/gpt-oss-120b.weights_gib: input should be greater than 0; got int -13"),
    ("h100.yaml", "extends: cuda\ngpu: {memory_gib: 0}\n", "gpu.memory_gib: input should be greater than 0"),
    ("gpt-oss.yaml", "abstract: true\nharmony: {vocab_wheel: quicktok-v1==0.4.0, sha256: abc}\n",
     "profiles/gpt-oss.yaml: harmony.sha256: must be a SHA-256: 64 lowercase hex digits"),
    ("h100.yaml", "extends: cuda\nextends: rocm\n",
     "profiles/h100.yaml: malformed YAML: line 2: duplicate key 'extends'"),
    ("h100.yaml", b"extends: cuda\ndescription: caf\xe9\n", "profiles/h100.yaml: line 2: not valid UTF-8 (byte 0xe9)"),
]


def _write_bad(directory: Path, file: str, text: str | bytes) -> None:
    target = directory / file
    if isinstance(text, bytes):
        target.write_bytes(text + H100_GPU.encode())
        return
    if file == "h100.yaml" and "gpu:" not in text and "extends: cuda" in text:
        text += H100_GPU
    target.write_text(text)


@pytest.mark.parametrize("file,text,expected", BAD)
def test_bad_profile_gives_one_precise_line(profiles_dir, file, text, expected):
    _write_bad(profiles_dir, file, text)
    docker_before = _tree_hash(REPO / "docker")
    result = run_build("--profiles-dir", str(profiles_dir), "render")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert any(expected.replace("profiles/", f"{profiles_dir}/") in line
               or expected in line for line in lines), result.stderr
    assert all(line.startswith("error: ") for line in lines)
    assert _tree_hash(REPO / "docker") == docker_before


def test_recipe_b200_quickstart_variable_is_flagged_in_the_line_it_was_written_for(profiles_dir):
    text = (profiles_dir / "b200.yaml").read_text()
    text = text.replace("VLLM_USE_FLASHINFER_MOE_MXFP4_BF16:", "VLLM_USE_FLASHINFER_MXFP4_BF16_MOE:")
    text = text.replace("VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8:", "VLLM_USE_FLASHINFER_MXFP4_MOE:")
    (profiles_dir / "b200.yaml").write_text(text)
    result = run_build("--profiles-dir", str(profiles_dir), "validate")
    assert result.returncode == 2
    assert "lines.cu128.options.moe-activation.choices.bf16.env.VLLM_USE_FLASHINFER_MXFP4_BF16_MOE: unknown " \
           "environment variable: not in vLLM 0.10.2's vllm/envs.py; did you mean " \
           "VLLM_USE_FLASHINFER_MOE_MXFP4_BF16?" in result.stderr
    assert "VLLM_USE_FLASHINFER_MXFP4_MOE: unknown environment variable" in result.stderr


def test_all_problems_of_a_run_are_reported_at_once(profiles_dir):
    (profiles_dir / "a100.yaml").write_text("extends: cuda\ncolour: red\n")
    (profiles_dir / "h200.yaml").write_text(
        (profiles_dir / "h200.yaml").read_text() + "env: {VLLM_NOT_A_VARIABLE: '1'}\n")
    (profiles_dir / "mi300x.yaml").write_text("extends: rocm\n")
    result = run_build("--profiles-dir", str(profiles_dir), "validate")
    assert result.returncode == 2
    assert "a100.yaml: colour: unknown key" in result.stderr
    assert "h200.yaml: env.VLLM_NOT_A_VARIABLE: unknown environment variable" in result.stderr
    assert "mi300x.yaml: gpu.arch: missing required key" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_child_can_remove_an_inherited_key(profiles_dir):
    (profiles_dir / "h100.yaml").write_text(
        (profiles_dir / "h100.yaml").read_text() + "lines: {cu128: {serve: {config: {cuda-graph-sizes: null}}}}\n")
    p = catalog.load(profiles_dir)["h100-cu128"]
    assert "cuda-graph-sizes" not in p.serve.config and "async-scheduling" in p.serve.config


def test_a_file_sets_keys_for_one_line_only(profiles_dir):
    (profiles_dir / "h100.yaml").write_text(
        (profiles_dir / "h100.yaml").read_text() + "lines: {cu128: {serve: {config: {max-model-len: 4096}}}}\n")
    loaded = catalog.load(profiles_dir)
    assert loaded["h100-cu128"].serve.config["max-model-len"] == 4096
    assert "max-model-len" not in loaded["h100"].serve.config


def test_a_setting_is_checked_against_its_own_lines_release(profiles_dir):
    (profiles_dir / "h200.yaml").write_text(
        (profiles_dir / "h200.yaml").read_text() + "serve: {config: {cuda-graph-sizes: 2048}}\n")
    result = run_build("--profiles-dir", str(profiles_dir), "validate")
    assert result.returncode == 2
    assert "h200.yaml: serve.config.cuda-graph-sizes: --cuda-graph-sizes: unknown flag for vLLM 0.33.0" \
        in result.stderr
    assert "0.10.2" not in result.stderr  # the cu128 line still has it


def test_content_hash_follows_settings(profiles_dir):
    before = catalog.content_hash(catalog.load(profiles_dir)["h100"])
    assert before == catalog.content_hash(catalog.load(profiles_dir)["h100"])
    (profiles_dir / "h100.yaml").write_text(
        (profiles_dir / "h100.yaml").read_text() + "serve: {config: {max-model-len: 32768}}\n")
    assert catalog.content_hash(catalog.load(profiles_dir)["h100"]) != before


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(str(path).encode() + path.read_bytes() + str(path.stat().st_mtime_ns).encode())
    return digest.hexdigest()


def test_every_command_of_every_line_is_planned():
    """The matrix the pinned parsers judge (test_vllm_real.py, pins try): every profile x model x scenario x TP x
    tools x option choice the launcher accepts, with each option's model restrictions."""
    from gptoss_images.vllm import matrix

    commands = matrix.commands(list(catalog.load().values()))
    ids = [c["id"] for c in commands]
    assert len(ids) == len(set(ids)) > 4000
    assert not [i for i in ids if "gpt-oss-20b" in i and "'eagle3'" in i]


def test_the_readme_table_of_lines_is_true():
    """Each row of the README's lines table says what the profiles of that family and line say."""
    rows = [line.split(" | ") for line in (REPO / "README.md").read_text().splitlines()
            if line.startswith(("| current (", "| cu128 (", "| preview ("))]
    assert len(rows) == 4
    for row in rows:
        line, family = row[0].removeprefix("| ").split(" (")
        family = {"NVIDIA)": "cuda", "AMD)": "rocm"}[family]
        members = [p for p in catalog.load().values() if p.family == family and p.line == line]
        assert members, row
        assert {p.stack.vllm for p in members} == {row[2].split()[0].rstrip(",").removesuffix("'s")}, row
        bases = {p.base_image for p in members}
        written = row[5].strip(" |`")
        assert all(re.fullmatch(written.replace("*", ".*"), b) for b in bases), (written, bases)
        if family == "cuda":
            assert {p.stack.cuda for p in members} == {row[3].split()[1]}, row
            assert {p.gpu.driver_min for p in members} == {row[4]}, row


def _keys_match(value, shape, path=""):
    """Every mapping the model made has exactly the keys its TypedDict declares (optional ones may be absent)."""
    if typing.is_typeddict(shape):
        hints = typing.get_type_hints(shape)
        assert shape.__required_keys__ <= set(value) <= set(hints), path
        for key, inner in hints.items():
            if key in value:
                _keys_match(value[key], inner, f"{path}.{key}")
    elif typing.get_origin(shape) is dict:
        for key, inner in value.items():
            _keys_match(inner, typing.get_args(shape)[1], f"{path}.{key}")
    elif typing.get_origin(shape) is list:
        for i, inner in enumerate(value):
            _keys_match(inner, typing.get_args(shape)[0], f"{path}[{i}]")


def test_the_pydantic_model_makes_exactly_the_profile_json_the_core_declares():
    for name, p in catalog.load().items():
        data = catalog.to_dict(p)
        assert profile_json.problem(data) is None, name
        _keys_match(data, profile_json.ProfileJson, name)
