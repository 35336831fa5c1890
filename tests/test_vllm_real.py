"""Each pinned vLLM release's own code is the judge: its serve parser and validator, and its envs.

The releases are the ones the images hold: every command of the profiles pinned to a
release goes through that release's parser inside the image built for it, and the
records under vllm-api/ equal what each release says of itself. Nothing is skipped.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gptoss_images.core import vllm_api
from gptoss_images.profiles import catalog
from gptoss_images.vllm import install, matrix, record

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("remove_test_tags")]
RELEASES = {"0.33.0": "h100", "0.10.2": "h100_cu128"}
"""Each pinned release and the image fixture that holds it."""
RECIPE_TYPOS = ["VLLM_USE_FLASHINFER_MXFP4_BF16_MOE", "VLLM_USE_FLASHINFER_MXFP4_MOE"]


@pytest.mark.parametrize("version", sorted(RELEASES))
def test_every_command_of_every_profile_is_accepted_by_its_releases_own_parser(request, version):
    python = install.in_image(request.getfixturevalue(RELEASES[version])[0].id)
    pinned = [p for p in catalog.load().values() if p.stack.vllm == version]
    assert {p.line for p in pinned} == ({"current"} if version == "0.33.0" else {"cu128", "preview"})
    commands = matrix.commands(pinned)
    assert len(commands) > 1000
    wrong = {"id": "wrong flag", "argv": ["vllm", "serve", "openai/gpt-oss-20b", "--tensor-paralel-size", "2"]}
    wrong_value = {"id": "wrong value", "argv": ["vllm", "serve", "openai/gpt-oss-20b", "--max-num-seqs", "many"]}
    results = {r["id"]: r for r in install.check_commands(python, commands + [wrong, wrong_value])}
    rejected = [f"{key}: {r['error']}" for key, r in results.items()
                if not r["ok"] and key not in ("wrong flag", "wrong value")]
    assert rejected == []
    assert not results["wrong flag"]["ok"] and "--tensor-paralel-size" in results["wrong flag"]["error"]
    assert not results["wrong value"]["ok"]


@pytest.mark.parametrize("version", sorted(RELEASES))
def test_the_record_is_what_the_release_says(request, version):
    """vllm-api/<version>/ as committed equals a fresh record from the release in the image."""
    fresh = record.read(install.in_image(request.getfixturevalue(RELEASES[version])[0].id))
    for name, data in fresh.items():
        assert (vllm_api.RECORDS / version / name).read_bytes() == data, name


@pytest.mark.parametrize("version", sorted(RELEASES))
def test_a_config_value_is_refused_only_where_the_release_refuses_it(request, version):
    """Generated values at every JSON config key the record can check, judged by the launcher's check and by the
    release's own config class in its image: nothing vLLM takes is refused. (The other way, what the check takes
    and vLLM refuses is rare: 4 of 3,000 on 0.33.0 when measured, keys of a mapping vLLM limits and huge numbers.)"""
    from tests.test_generated_input import JSON_VALUES

    api = vllm_api.load(version)
    keys = sorted((flag, key) for flag, spec in api.flags.items() for key, item in spec.get("keys", {}).items()
                  if "accepts" in item)
    asked: list[dict] = []

    @settings(max_examples=1000, derandomize=True, deadline=None, database=None)
    @given(target=st.sampled_from(keys), value=JSON_VALUES)
    def draw(target, value):
        asked.append({"id": len(asked), "flag": target[0], "key": target[1], "value": value})

    draw()
    release = {r["id"]: r["ok"] for r in install.check_values(
        install.in_image(request.getfixturevalue(RELEASES[version])[0].id), asked)}
    refused_but_taken = []
    for value in asked:
        try:
            vllm_api.check_item(api.flags[value["flag"]]["keys"][value["key"]], value["value"], value["flag"])
        except vllm_api.Rejected as exc:
            if release[value["id"]]:
                refused_but_taken.append(str(exc))
    assert refused_but_taken == []
    assert sum(release.values()) > 10 and len(release) - sum(release.values()) > 100  # both kinds were asked


def test_the_recipes_quick_start_variables_exist_in_no_pinned_release():
    for version in RELEASES:
        envs = vllm_api.env_names(version)
        assert not set(RECIPE_TYPOS) & envs
    assert {"VLLM_USE_FLASHINFER_MOE_MXFP4_BF16", "VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8"} <= vllm_api.env_names("0.10.2")
    assert "VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8" not in vllm_api.env_names("0.33.0")  # the recipe still sets it
