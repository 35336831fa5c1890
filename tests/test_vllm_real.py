"""The pinned vLLM's own code is the judge: its serve parser and its envs.py.

The pinned vLLM is installed into .cache/ on first use (about a minute); these
tests never skip.
"""

from __future__ import annotations

from gptoss_images.launcher import vllm_api
from gptoss_images.profiles import catalog
from gptoss_images.vllm import install, matrix, record
from tests.conftest import PINNED_VLLM

RECIPE_TYPOS = ["VLLM_USE_FLASHINFER_MXFP4_BF16_MOE", "VLLM_USE_FLASHINFER_MXFP4_MOE"]


def test_every_launcher_command_is_accepted_by_vllms_own_parser(vllm_python):
    loaded = list(catalog.load().values())
    commands = matrix.commands(loaded)
    assert len(commands) > 1000
    assert {c["argv"][2] for c in commands} == {"openai/gpt-oss-20b", "openai/gpt-oss-120b"}
    wrong = {"id": "wrong flag", "config": None,
             "argv": ["vllm", "serve", "openai/gpt-oss-20b", "--async-scheduling", "--tensor-paralel-size", "2"]}
    wrong_value = {"id": "wrong value", "config": None,
                   "argv": ["vllm", "serve", "openai/gpt-oss-20b", "--max-num-seqs", "many"]}
    results = {r["id"]: r for r in install.check_commands(vllm_python, commands + [wrong, wrong_value])}
    rejected = [f"{key}: {r['error']}" for key, r in results.items() if not r["ok"]
                and key not in ("wrong flag", "wrong value")]
    assert rejected == []
    assert not results["wrong flag"]["ok"] and "--tensor-paralel-size" in results["wrong flag"]["error"]
    assert not results["wrong value"]["ok"]


def test_the_record_is_what_the_pinned_wheel_says(vllm_python):
    """vllm-api/<version>/ as committed equals a fresh record from the installed wheel."""
    fresh = record.read(vllm_python)
    for name, data in fresh.items():
        assert (vllm_api.RECORDS / PINNED_VLLM / name).read_bytes() == data, name
    real = record.env_names_from_source(install.envs_py(vllm_python).read_text())
    assert vllm_api.env_names(PINNED_VLLM) == real


def test_every_profile_variable_is_read_by_someone(vllm_python):
    real = record.env_names_from_source(install.envs_py(vllm_python).read_text())
    for p in catalog.load().values():
        for path, env in catalog.env_sources(p):
            for name, var in env.items():
                assert var.read_by != "vllm" or name in real, f"{p.name}: {path}.{name}"
    for typo in RECIPE_TYPOS:
        assert typo not in real
    assert {"VLLM_USE_FLASHINFER_MOE_MXFP4_BF16", "VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8"} <= real
