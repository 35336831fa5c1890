#!/usr/bin/env python3
"""Build benchmark: every figure against the floor, measured in one run on this machine.

    python bench/run.py            everything (about 20 minutes; needs ~30 GB of free disk)
    python bench/run.py --quick    rendering and the launcher only (seconds)

Writes bench/results.json and bench/results.md (the table the README shows). Cheap
figures are the median of several runs, with min and max. Docker figures use the
debootstrap base (--base-image) and the host's CA bundle, as `make demo` does.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gptoss_images.image import build, engine  # noqa: E402
from gptoss_images.profiles import catalog  # noqa: E402
from gptoss_images.publish import registry  # noqa: E402
from gptoss_images.render import outputs  # noqa: E402

BASE = "gptoss-test/debian:bookworm"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
BENCH_REPO = "gptoss-bench"


def stats(samples: list[float]) -> dict[str, float]:
    return {"median_s": round(statistics.median(samples), 3), "min_s": round(min(samples), 3),
            "max_s": round(max(samples), 3), "runs": len(samples)}


def repeat(command: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - started)
    return stats(samples)


def quick(runs: int) -> dict:
    env = dict(os.environ)
    out = {"render_all": {**repeat([sys.executable, "build.py", "render", "--check"], env, runs), "target_s": 1.0}}
    with tempfile.TemporaryDirectory() as stub_dir:
        stub = Path(stub_dir, "vllm")
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
        launcher_env = {**env, "PATH": f"{stub_dir}:{env['PATH']}", "GPTOSS_SKIP_CHECKS": "all",
                        "GPTOSS_PROFILE": str(REPO / "docker/h100/profile.json"), "PYTHONPATH": str(REPO)}
        # The image's entrypoint script, ending in exec of a stub `vllm`.
        out["launcher_start_to_exec"] = {
            **repeat([sys.executable, str(REPO / "bin/gptoss-serve")], launcher_env, runs),
            "target_s": 0.3}
    return out


def du(path: Path) -> int:
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True)
               .stdout.split()[0])


def floor() -> dict:
    """The same pinned stack, same installer, fresh venv and cold cache, no Docker."""
    pin = catalog.load()["h100"].stack
    with tempfile.TemporaryDirectory(dir=REPO / ".cache") as tmp:
        venv, cache = Path(tmp, "venv"), Path(tmp, "uv-cache")
        env = {**os.environ, "UV_CACHE_DIR": str(cache), "SSL_CERT_FILE": str(HOST_CA)}
        started = time.perf_counter()
        subprocess.run(["uv", "venv", "-q", "-p", "python3", str(venv)], env=env, check=True)
        subprocess.run(["uv", "pip", "install", "-q", "--python", str(venv / "bin/python"), "--link-mode=copy",
                        f"vllm=={pin.vllm}", *pin.packages], env=env, check=True)
        seconds = time.perf_counter() - started
        return {"install_s": round(seconds, 1), "venv_bytes": du(venv)}


def build_once(client, name: str, inputs: build.BuildInputs, docker_dir: Path = outputs.DOCKER_DIR,
               directory: Path = catalog.PROFILES_DIR) -> build.Built:
    profile = catalog.load(directory)[name]
    built = build.build(client, profile, inputs, {"io.gptoss.bench": "1"}, quiet=True, docker_dir=docker_dir)
    client.images.get(built.image_id).tag(BENCH_REPO, name)
    return built


def own_bytes(image, parent) -> int:
    seen = {h["Id"] for h in parent.history()}
    return sum(h["Size"] for h in image.history() if h["Id"] not in seen)


def start_registry(root: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (root / "config.yml").write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\n"
                                     f"http:\n  addr: 127.0.0.1:{port}\n")
    process = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    return process, f"127.0.0.1:{port}"


def full(runs: int) -> dict:
    client = engine.connect()
    out: dict = {}
    print("floor: uv pip install into a fresh venv ...", file=sys.stderr)
    out["floor"] = floor()
    for image in client.images.list(name=BENCH_REPO):
        for tag in image.tags:
            client.images.remove(tag, force=True)
    subprocess.run(["docker", "image", "prune", "-f"], capture_output=True)
    inputs = build.BuildInputs(base_image=BASE, ca_bundle=HOST_CA)
    print("cold build of h100 (no cache) ...", file=sys.stderr)
    cold = build_once(client, "h100", dataclasses.replace(inputs, no_cache=True))
    ratio = round(cold.seconds / out["floor"]["install_s"], 2)
    out["cold_build"] = {"seconds": round(cold.seconds, 1), "ratio_to_floor": ratio, "target_ratio": 1.5}
    h100 = client.images.get(cold.image_id)
    base_bytes = client.images.get(BASE).attrs["Size"]
    floor_bytes = out["floor"]["venv_bytes"] + base_bytes
    out["image_size"] = {"bytes": h100.attrs["Size"], "floor_bytes": floor_bytes,
                         "ratio_to_floor": round(h100.attrs["Size"] / floor_bytes, 3), "target_ratio": 1.1,
                         "largest_layers": [{"bytes": h["Size"], "created_by": h["CreatedBy"][-110:]}
                                            for h in sorted(h100.history(), key=lambda h: -h["Size"])[:5]]}
    print("one-line serve-setting change: render + build ...", file=sys.stderr)
    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        prof_dir, docker_dir = Path(tmp, "profiles"), Path(tmp, "docker")
        shutil.copytree(catalog.PROFILES_DIR, prof_dir)
        source = (prof_dir / "h100.yaml").read_text()
        for i in range(runs):
            (prof_dir / "h100.yaml").write_text(source + f"serve: {{config: {{max-model-len: {20000 + i}}}}}\n")
            started = time.perf_counter()
            profile = catalog.load(prof_dir)["h100"]
            outputs.write(outputs.compute({"h100": profile}, None, docker_dir), docker_dir)
            build_once(client, "h100", inputs, docker_dir, prof_dir)
            samples.append(time.perf_counter() - started)
    out["one_line_rebuild"] = {**stats(samples), "share_of_cold": round(statistics.median(samples) / cold.seconds, 4),
                               "target_s": 5.0, "target_share": 0.05}
    print("sibling h200 after h100 ...", file=sys.stderr)
    sibling = build_once(client, "h200", inputs)
    h200 = client.images.get(sibling.image_id)
    out["sibling_build"] = {"seconds": round(sibling.seconds, 2), "own_bytes": own_bytes(h200, h100),
                            "target_s": 3.0, "target_bytes": 1_000_000}
    print("cold push of h100, then h200 ...", file=sys.stderr)
    with tempfile.TemporaryDirectory(dir=REPO / ".cache") as tmp:
        process, host = start_registry(Path(tmp))
        try:
            started = time.perf_counter()
            registry.push(client, h100.id, [f"{host}/bench:h100"], quiet=True)
            cold_push = time.perf_counter() - started
            pushed = du(Path(tmp, "data"))
            started = time.perf_counter()
            registry.push(client, h200.id, [f"{host}/bench:h200"], quiet=True)
            sibling_push = time.perf_counter() - started
        finally:
            process.terminate()
        for ref in (f"{host}/bench:h100", f"{host}/bench:h200"):
            client.images.remove(ref, noprune=True)
    out["push"] = {"cold_s": round(cold_push, 1), "bytes_stored": pushed,
                   "mb_per_s": round(pushed / 1e6 / cold_push, 1), "sibling_s": round(sibling_push, 2),
                   "sibling_target_s": 2.0}
    return out


def markdown(results: dict) -> str:
    rows = ["| measure | measured | target |", "| --- | --- | --- |"]
    for key, label in (("render_all", "render all 8 profiles (process)"),
                       ("launcher_start_to_exec", "launcher start → exec")):
        r = results[key]
        rows.append(f"| {label} | {r['median_s']:.3f} s (min {r['min_s']:.3f}, max {r['max_s']:.3f}, "
                    f"{r['runs']} runs) | ≤ {r['target_s']} s |")
    if "floor" in results:
        f, c, s = results["floor"], results["cold_build"], results["image_size"]
        rows.append(f"| floor: uv install of the stack, fresh venv, cold cache | {f['install_s']} s, "
                    f"{f['venv_bytes'] / 1e9:.2f} GB | |")
        rows.append(f"| cold h100 build (no cache) | {c['seconds']} s = {c['ratio_to_floor']}× floor | ≤ 1.5× |")
        o = results["one_line_rebuild"]
        rows.append(f"| one-line serve change: render + build | {o['median_s']:.2f} s (min {o['min_s']:.2f}, max "
                    f"{o['max_s']:.2f}) = {o['share_of_cold'] * 100:.1f} % of cold | ≤ 5 s, ≤ 5 % |")
        b = results["sibling_build"]
        rows.append(f"| sibling h200 after h100 | {b['seconds']} s, {b['own_bytes'] / 1e3:.1f} kB of own layers "
                    f"| ≤ 3 s, ≤ 1 MB |")
        p = results["push"]
        rows.append(f"| cold push of h100 to a local registry | {p['cold_s']} s, {p['bytes_stored'] / 1e9:.2f} GB "
                    f"stored, {p['mb_per_s']} MB/s | |")
        rows.append(f"| push of the h200 sibling | {p['sibling_s']} s | ≤ 2 s |")
        rows.append(f"| h100 image size | {s['bytes'] / 1e9:.2f} GB = {s['ratio_to_floor']}× floor (venv + base "
                    f"{s['floor_bytes'] / 1e9:.2f} GB) | ≤ 1.1× |")
        rows.append("\nLargest layers of the h100 image:\n\n| size | instruction |\n| --- | --- |")
        rows += [f"| {layer['bytes'] / 1e6:.0f} MB | `{layer['created_by'].strip()}` |"
                 for layer in s["largest_layers"]]
    return "\n".join(rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="rendering and the launcher only")
    parser.add_argument("--runs", type=int, default=15, help="runs of each cheap measure (rebuild: a fifth)")
    args = parser.parse_args()
    results = quick(args.runs)
    if not args.quick:
        results.update(full(max(3, args.runs // 5)))
    (REPO / "bench" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (REPO / "bench" / "results.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
