"""The GitHub workflows: valid against GitHub's schema, and every command they run is
a make target or build.py command that this suite runs here too."""

from __future__ import annotations

import http.server
import json
import re
import shlex
import shutil
import subprocess
import threading

import pytest
import yaml

from gptoss_images.cli.main import parser
from tests.conftest import REPO, run_build
from tests.test_profiles import ALL

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
# make targets the workflows use, and where this suite runs each of them
MAKE_TARGETS = {
    "deps": ".ci/run (make test depends on it)",
    "validate": "test_make_targets_run_here",
    "check-render": "test_make_targets_run_here",
    "lint": "test_make_targets_run_here",
    "unit": "the suite itself (make test runs a superset)",
    "runner-space": "test_runner_space_would_remove_only_a_hosted_runners_toolchains",
    "compose-cli": "test_make_targets_run_here",
    "fuzz": "test_generated_input.py (the suite runs it with fewer examples)",
}
# build.py commands the workflows use, and the tests that run them
BUILD_COMMANDS = {
    "list": "test_github_output_lists_the_matrix",
    "pins": "test_pins.py::test_pins_try_promote_carries_the_current_line_across_a_release (try --promote), "
            "test_pins.py::test_pins_check_lists_newer_releases (check)",
    "release": "test_publish.py::test_make_nightly_from_a_clean_clone (scripts/nightly.sh)",
    "gpu-test": "test_publish.py::test_gpu_test_serves_chats_and_measures_with_a_stub_server",
    "promote": "test_publish.py::test_make_nightly_from_a_clean_clone",
    "stacks": "test_publish.py::test_make_nightly_from_a_clean_clone (scripts/nightly.sh)",
    "summary": "test_publish.py::test_make_nightly_from_a_clean_clone",
    "gpu-runners": "test_gpu_runners_holds_the_profiles_no_online_runner_serves",
}
SAMPLE = {"matrix.profile": "h100", "join(fromJSON(needs.plan.outputs.profiles), ' ')": "h100 h200",
          "matrix.stack": "cuda-current", "inputs.profiles": "",
          "steps.check.outputs.newer": "0.34.0"}


def _runs() -> list[tuple[str, str]]:
    found = []
    for path in WORKFLOWS:
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            found += [(path.name, step["run"]) for step in job["steps"] if "run" in step]
    return found


def test_workflows_pass_githubs_schema():
    tool = shutil.which("check-jsonschema")
    assert tool, "check-jsonschema missing: pip install -e '.[dev]'"
    result = subprocess.run([tool, "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {p.name for p in WORKFLOWS} == {"ci.yml", "nightly.yml"}


@pytest.mark.parametrize("workflow,command", _runs())
def test_every_run_step_is_a_make_target_or_build_py_command(workflow, command):
    line = re.sub(r"\$\{\{\s*(.+?)\s*\}\}", lambda m: SAMPLE.get(m.group(1), "x"), command.strip())
    words = shlex.split(line.replace('"$REGISTRY_REPO"', "127.0.0.1:5000/gptoss")
                        .replace('"$GITHUB_REPOSITORY"', "acme/gptoss-images")
                        .replace('"$GITHUB_STEP_SUMMARY"', "/tmp/summary.md"))
    assert "\n" not in command.strip(), f"{workflow}: one command per step"
    if words[0] == "make":
        assert len(words) == 2 and words[1] in MAKE_TARGETS, f"{workflow}: {command}"
        assert subprocess.run(["make", "-n", words[1]], cwd=REPO, capture_output=True).returncode == 0
    else:
        assert words[:2] == ["python", "build.py"], f"{workflow}: {command}"
        args = parser().parse_args(words[2:])  # the real CLI accepts it
        assert args.command in BUILD_COMMANDS, f"{workflow}: {args.command} is run by no test"


def test_nightly_shape():
    nightly = yaml.safe_load((REPO / ".github/workflows/nightly.yml").read_text())
    triggers = nightly[True]  # YAML reads the key `on` as true
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    assert nightly["concurrency"]["group"] == "nightly-images"
    assert nightly["concurrency"]["cancel-in-progress"] is False
    jobs = nightly["jobs"]
    assert jobs["image"]["strategy"]["fail-fast"] is False
    assert jobs["gpu"]["runs-on"][:2] == ["self-hosted", "gpu"]
    assert jobs["publish"]["needs"] == ["plan", "image", "runners", "gpu"]
    assert jobs["gpu"]["strategy"]["matrix"]["profile"] == "${{ fromJSON(needs.runners.outputs.profiles) }}"
    steps = {s.get("name", ""): s for s in jobs["image"]["steps"]}
    release = steps["Build, smoke-test, tag, push the immutable tag (its provenance signed with the project's key)"]
    assert release["if"] == "env.PUBLISH == 'true'" and "--hold-floating" in release["run"]
    assert release["env"]["GPTOSS_SIGNING_KEY"] == "${{ secrets.GPTOSS_SIGNING_KEY }}"
    promote = next(s for s in jobs["publish"]["steps"] if "build.py promote" in s.get("run", ""))
    assert promote["env"]["GPTOSS_VERIFY_KEY"] == "${{ vars.GPTOSS_VERIFY_KEY }}"  # verified before a tag moves
    assert "refs/heads/{0}" in nightly["env"]["PUBLISH"]  # pushes only from the default branch
    logins = [s for j in jobs.values() for s in j["steps"] if s.get("uses", "").startswith("docker/login")]
    assert logins and all("secrets." in s["with"]["password"] for s in logins)


def test_make_targets_run_here():
    for target in ("validate", "check-render", "lint", "compose-cli"):
        result = subprocess.run(["make", target], cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 0, f"make {target}: {result.stdout[-500:]}{result.stderr[-1000:]}"


def test_runner_space_would_remove_only_a_hosted_runners_toolchains():
    """Read with `make -n`, never run: it deletes system folders, which only a throw-away CI runner may lose."""
    planned = subprocess.run(["make", "-n", "runner-space"], cwd=REPO, capture_output=True, text=True, check=True)
    removed = {word for line in planned.stdout.splitlines() if "rm -rf" in line for word in line.split()
               if word.startswith("/")}
    assert removed == {"/usr/share/dotnet", "/usr/local/lib/android", "/opt/ghc", "/opt/hostedtoolcache/CodeQL"}


def test_github_output_lists_the_matrix(tmp_path, monkeypatch):
    out = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    assert run_build("list", "--github-output", "profiles").returncode == 0
    assert out.read_text() == f"profiles={json.dumps(ALL)}\n"
    bad = run_build("list", "--github-output", "profiles", "h1000")
    assert bad.returncode == 2 and "unknown profile 'h1000'" in bad.stderr


class _Runners(http.server.BaseHTTPRequestHandler):
    """GitHub's runner list for a repository: h100's runner online, h200's offline, a busy b200 one."""

    RUNNERS = [{"name": "gpu-1", "status": "online", "busy": False,
                "labels": [{"name": n} for n in ("self-hosted", "Linux", "gpu", "h100")]},
               {"name": "gpu-2", "status": "offline", "labels": [{"name": n} for n in ("self-hosted", "gpu", "h200")]},
               {"name": "gpu-3", "status": "online", "busy": True,
                "labels": [{"name": n} for n in ("self-hosted", "gpu", "b200")]}]

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != "Bearer sekrit":
            self.send_error(401)
            return
        page = int(self.path.rsplit("page=", 1)[1])
        body = json.dumps({"total_count": 3, "runners": self.RUNNERS if page == 1 else []}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_gpu_runners_holds_the_profiles_no_online_runner_serves(tmp_path, monkeypatch):
    """The nightly's runner check against a stand-in of GitHub's API: jobs only where a runner is online,
    a held result (and so no promotion, and a reason in the summary) for the others."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Runners)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    output = tmp_path / "github-output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("RUNNERS_TOKEN", "sekrit")
    done = run_build("gpu-runners", "h100", "h200", "b200", "a100", "--repository", "acme/gptoss-images",
                     "--api-url", url, "--results", str(tmp_path / "results"), "--github-output", "gpu_profiles")
    assert done.returncode == 0, done.stderr
    assert output.read_text() == 'gpu_profiles=["h100", "b200"]\n'
    held = {p.name: json.loads(p.read_text()) for p in (tmp_path / "results").glob("*.gpu.json")}
    assert sorted(held) == ["a100.gpu.json", "h200.gpu.json"]
    assert held["h200.gpu.json"]["status"] == "not run"
    assert "no online self-hosted runner labelled self-hosted, gpu, h200" in held["h200.gpu.json"]["detail"]
    monkeypatch.setenv("RUNNERS_TOKEN", "wrong")
    refused = run_build("gpu-runners", "h100", "--repository", "acme/gptoss-images", "--api-url", url,
                        "--github-output", "gpu_profiles")
    assert refused.returncode == 0 and "HTTP 401: give a token that may read the repository's runners" in refused.stderr
    assert "sekrit" not in refused.stderr + refused.stdout and output.read_text().endswith('gpu_profiles=[]\n')
    server.shutdown()
