"""The machine's plan on every recorded machine: every GPU serves, the weights fit, the command parses.

Each machine is replayed through its vendor image as a user runs it (`docker run --gpus all IMAGE`):
the image picks the profile its GPUs fit (the line whose driver they have), plans each scenario, and
prints the command; the command is read back with the record of the profile's vLLM.
"""

from __future__ import annotations

import json

import pytest

from gptoss_images.core import fit, select, vendors, vllm_api
from gptoss_images.launcher import checks
from gptoss_images.launcher.main import main
from tests.conftest import REPO

FIXTURES = REPO / "tests/fixtures/gpus"
MACHINES = {
    "1 x H100": ("nvidia", "nvidia-smi-h100.csv"), "2 x H100": ("nvidia", "nvidia-smi-2xh100.csv"),
    "1 x H200": ("nvidia", "nvidia-smi-h200.csv"),
    "2 x H200": ("nvidia", "nvidia-smi-2xh200.csv"), "4 x A100": ("nvidia", "nvidia-smi-a100.csv"),
    "8 x H200": ("nvidia", "nvidia-smi-8xh200.csv"), "8 x B200": ("nvidia", "nvidia-smi-b200.csv"),
    "8 x MI300X": ("amd", "amd-smi-8xmi300x.json"), "8 x MI355X": ("amd", "amd-smi-8xmi355x-gpu_data.json"),
}
VENDOR_IMAGES = {"nvidia": ["cuda", "cuda-cu128"], "amd": ["rocm", "rocm-preview"]}
"""docker/family/<image>/: the vendor images, the current line first."""
PLANS = {  # machine: scenario -> (model, TP, DP)
    "1 x H100": {s: ("openai/gpt-oss-20b", 1, 1) for s in ("default", "max-throughput", "min-latency", "balanced")},
    "2 x H100": {"default": ("openai/gpt-oss-120b", 2, 1)},
    "1 x H200": {s: ("openai/gpt-oss-120b", 1, 1) for s in ("default", "max-throughput", "min-latency", "balanced")},
    "2 x H200": {"default": ("openai/gpt-oss-120b", 2, 1), "max-throughput": ("openai/gpt-oss-120b", 1, 2)},
    "8 x H200": {"default": ("openai/gpt-oss-120b", 2, 4), "max-throughput": ("openai/gpt-oss-120b", 1, 8),
                 "min-latency": ("openai/gpt-oss-120b", 4, 2), "balanced": ("openai/gpt-oss-120b", 2, 4)},
}
"""The issue's examples, and what the recorded machines plan."""


def _found(machine: str) -> list[vendors.Gpu]:
    vendor, file = MACHINES[machine]
    text = (FIXTURES / file).read_text()
    return vendors.nvidia.parse_smi(text) if vendor == "nvidia" else vendors.amd.parse_amd_smi(text)


def _profile(machine: str) -> dict:
    """The profile the machine's vendor image picks (the current line's, else the line its driver runs), else
    the image made for its GPU (b200-cu128 has a stack of its own, so no vendor image holds it)."""
    found = _found(machine)
    profiles = {p.parent.name: json.loads(p.read_text()) for p in sorted((REPO / "docker").glob("*/profile.json"))}
    for image in VENDOR_IMAGES[found[0].vendor]:
        held = [profile for name, profile in profiles.items()
                if f"docker/{name}/profile.json" in (REPO / f"docker/family/{image}/Dockerfile").read_text()]
        chosen = select.choose(held, found)
        if chosen:
            return chosen
    chosen = select.choose(sorted(profiles.values(), key=lambda p: p["line"] != "current"), found)
    assert chosen, f"no image serves {machine}"
    return chosen


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_every_gpu_serves_the_weights_fit_and_the_command_parses(machine, capsys):
    found, profile = _found(machine), _profile(machine)
    api = vllm_api.load(profile["stack"]["vllm"])
    box = checks.Machine(gpus=lambda vendor: (found, "fixture"), shm_bytes=lambda: 2**37)
    for scenario in profile["serve"]["scenarios"]:
        layout = fit.plan(profile, scenario, found)
        assert layout.used == len(found), (machine, scenario, layout.describe())
        assert layout.status == "compatible", (machine, scenario, layout.describe())
        environ = {"GPTOSS_PROFILE": str(REPO / f"docker/{profile['name']}/profile.json"),
                   "GPTOSS_SCENARIO": scenario}
        assert main(["--dry-run", "--json"], environ, machine=box) == 0
        plan = json.loads(capsys.readouterr().out)
        assert (plan["model"], plan["tensor_parallel_size"], plan["data_parallel_size"]) == (
            layout.model, layout.tp, layout.dp)
        vllm_api.parse(api, plan["argv"][3:])  # the pinned release's record of its parser takes it
        assert ("--data-parallel-size" in plan["argv"]) == (layout.dp > 1)
        if scenario in PLANS.get(machine, {}):
            assert (layout.model, layout.tp, layout.dp) == PLANS[machine][scenario], (machine, scenario)


def test_the_readme_shows_the_plan_of_every_recorded_machine():
    """The README's plan table is what the planner makes of each machine, row for row, in MACHINES' order."""
    scenarios = ["default", "max-throughput", "min-latency", "balanced"]
    rows = []
    for machine in MACHINES:
        profile, found = _profile(machine), _found(machine)
        cells = []
        for scenario in scenarios:
            layout = fit.plan(profile, scenario, found)
            cells.append(f"{layout.model.split('/')[-1]} TP {layout.tp} × DP {layout.dp}")
        rows.append(f"| {machine} | {profile['name']} | " + " | ".join(cells) + " |")
    readme = (REPO / "README.md").read_text()
    header = "| machine | profile | " + " | ".join(scenarios) + " |"
    shown = readme[readme.index(header):].split("\n\n", 1)[0].splitlines()[2:]
    assert shown == rows


def test_what_the_user_sets_wins_and_is_checked_against_the_machine_in_one_line(capsys, tmp_path):
    found = _found("8 x H200")
    box = checks.Machine(gpus=lambda vendor: (found, "fixture"), shm_bytes=lambda: 2**37)
    environ = {"GPTOSS_PROFILE": str(REPO / "docker/h200/profile.json"), "GPTOSS_CACHE_DIR": str(tmp_path)}
    assert main(["--dry-run", "--json", "--tensor-parallel-size", "2"], environ, machine=box) == 0
    plan = json.loads(capsys.readouterr().out)
    assert (plan["tensor_parallel_size"], plan["data_parallel_size"]) == (2, 4)  # TP given, DP fills the GPUs
    assert main(["--dry-run", "--json", "-dp", "2", "--model", "openai/gpt-oss-20b"], environ, machine=box) == 0
    plan = json.loads(capsys.readouterr().out)
    assert (plan["model"], plan["data_parallel_size"]) == ("openai/gpt-oss-20b", 2)
    assert main(["--check", "--tensor-parallel-size", "4", "--data-parallel-size", "4"],
                environ | {"TIKTOKEN_ENCODINGS_BASE": str(tmp_path)}, machine=box) == 1
    out = capsys.readouterr().out
    assert ("FAIL  count   8 GPUs, TP 4 x DP 4 needs 16; set GPTOSS_TENSOR_PARALLEL_SIZE / GPTOSS_DATA_PARALLEL_SIZE "
            "or unset them for the machine's plan") in out
    assert main(["--dry-run", "--data-parallel-size", "0"], environ, machine=box) == 2
    assert "--data-parallel-size='0': must be an integer from 1 to 64" in capsys.readouterr().err


def test_the_plan_is_shown_with_why_in_dry_run_list_profiles_and_json(capsys):
    found = _found("2 x H200")
    box = checks.Machine(gpus=lambda vendor: (found, "fixture"), shm_bytes=lambda: 2**37)
    environ = {"GPTOSS_PROFILE": str(REPO / "docker/h200/profile.json"), "GPTOSS_SCENARIO": "max-throughput"}
    assert main(["--dry-run"], environ, machine=box) == 0
    err = capsys.readouterr().err
    assert ("note: plan: openai/gpt-oss-120b, TP 1 x DP 2 = 2 of 2 GPUs (61.0 GiB of weights per GPU, 119.3 GiB "
            "usable, 58.3 GiB left for the KV cache): the max-throughput scenario asks for TP 1; DP 2 uses every GPU"
            ) in err
    assert main(["--list-profiles", "--json"], environ, machine=box) == 0
    plans = json.loads(capsys.readouterr().out)["plans"]
    assert {(p["scenario"], p["tp"], p["dp"], p["gpus_used"], p["found"]) for p in plans} >= {
        ("max-throughput", 1, 2, 2, 2), ("default", 2, 1, 2, 2)}


def test_without_gpus_in_sight_the_plan_is_the_profiles_own():
    profile = json.loads((REPO / "docker/h200/profile.json").read_text())
    layout = fit.plan(profile, "default", [])
    assert (layout.model, layout.tp, layout.dp, layout.found) == ("openai/gpt-oss-120b", 2, 1, 0)
    assert "no GPU of this profile in sight" in layout.why


def _vendor_profiles(tmp_path, names):
    folder = tmp_path / "profiles"
    folder.mkdir()
    for name in names:
        (folder / f"{name}.json").write_text((REPO / "docker" / name / "profile.json").read_text())
    return folder


def test_blackwell_by_family_b300_takes_the_current_lines_b200_settings(tmp_path, capsys):
    from gptoss_images.launcher import profile as profile_file
    b300 = vendors.nvidia.parse_smi((FIXTURES / "nvidia-smi-8xb300.csv").read_text())
    folder = _vendor_profiles(tmp_path, ["a100", "h100", "h200", "b200"])
    chosen = profile_file.load([], {}, lambda vendor: b300, str(folder), "/nonexistent")
    assert chosen["name"] == "b200" and fit.plan(chosen, "max-throughput", b300).used == 8
    box = checks.Machine(gpus=lambda vendor: (b300, "fixture"), shm_bytes=lambda: 2**37)
    environ = {"GPTOSS_PROFILE": str(REPO / "docker/b200/profile.json"), "TIKTOKEN_ENCODINGS_BASE": str(tmp_path)}
    main(["--check"], environ, machine=box)
    out = capsys.readouterr().out
    assert "PASS  gpu     8 x NVIDIA B300 SXM6 AC (fixture) is a B200" in out
    assert "PASS  arch    compute capability 10.3" in out
    cu128 = json.loads((REPO / "docker/b200-cu128/profile.json").read_text())
    assert not select.gpu_matches(cu128, b300[0])  # CUDA 12.8 builds no code for 10.3


def test_an_unknown_name_of_a_known_architecture_gets_the_closest_profile_in_one_line(tmp_path):
    from gptoss_images.core.inputs import BadInput
    from gptoss_images.launcher import profile as profile_file
    b100 = vendors.nvidia.parse_smi((FIXTURES / "nvidia-smi-b100.csv").read_text())
    folder = _vendor_profiles(tmp_path, ["a100", "h100", "h200", "b200"])
    with pytest.raises(BadInput) as raised:
        profile_file.load([], {}, lambda vendor: b100, str(folder), "/nonexistent")
    message = str(raised.value)
    assert message.endswith("the closest is b200 (made for B200, the same architecture, 10.0): GPTOSS_PROFILE=b200 "
                            "serves this GPU with its settings") and "\n" not in message
