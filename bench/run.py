#!/usr/bin/env python3
"""Benchmark: the image layout before and after, measured in one run on this machine.

    python bench/run.py            everything (about 45 minutes; needs ~45 GB of free disk)
    python bench/run.py --quick    rendering and the launcher only (seconds)
    python bench/run.py --bytecode IMAGE
                                   what the stack's bytecode costs (bytes) and saves (vLLM's import, in a
                                   read-only container), on a built image (a few minutes)

"Before" is the layout of commit d699caa (the stack in one 9.8 GB layer, built inside
every profile's image), checked out in a git worktree and built with its own build.py;
"after" is this checkout (the stack image, built once per pin, in layers of similar
size). Both build the same stack, vLLM 0.10.2 on CUDA 12.8 (the cu128 line's h100), on
the same stand-in base with the host's CA bundle. Each is built cold, pushed cold to a
fresh local registry, removed with every image that holds its layers, and pulled back.
CPU time is the machine's (all processes, from /proc/stat) during each build.

Writes bench/results.json and bench/results.md (the table the README shows).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gptoss_images.image import engine  # noqa: E402
from gptoss_images.publish import registry  # noqa: E402

BEFORE = "d699caa"
BASE = "gptoss-test/cuda:12.8.1-devel"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
LINE = ["h100-cu128", "a100-cu128", "h200-cu128", "b200-cu128"]
"""Every CUDA profile of the cu128 line; the old layout built each one's stack in its own job."""
TARGETS = {"push": 1.8, "pull": 1.5, "build": 1.0, "largest_layer_share": 0.40}


def stats(samples: list[float]) -> dict[str, float]:
    return {"median_s": round(statistics.median(samples), 3), "min_s": round(min(samples), 3),
            "max_s": round(max(samples), 3), "runs": len(samples)}


def repeat(command: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
        out["launcher_start_to_exec"] = {**repeat([sys.executable, str(REPO / "bin/gptoss-serve")], launcher_env,
                                                  runs), "target_s": 0.3}
    return out


def cpu_seconds() -> float:
    """The machine's CPU time so far (every process, every core), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    busy = sum(int(v) for i, v in enumerate(fields) if i not in (3, 4))  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def timed(action: Callable[[], Any]) -> tuple[Any, float, float]:
    """Run `action`; its result, wall seconds and machine CPU seconds."""
    cpu, started = cpu_seconds(), time.perf_counter()
    result = action()
    return result, round(time.perf_counter() - started, 1), round(cpu_seconds() - cpu, 1)


def build(checkout: Path, profile: str, repo: str, base_args: list[str], no_cache: bool = True) -> None:
    command = [sys.executable, "build.py", "build", profile, *base_args, "--ca-bundle", str(HOST_CA), "--repo", repo,
               "--quiet"] + (["--no-cache"] if no_cache else [])
    done = subprocess.run(command, cwd=checkout, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench: {' '.join(command)} failed:\n{done.stderr[-3000:]}")


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


def layers(image) -> dict[str, Any]:
    sizes = [h["Size"] for h in image.history() if h["Size"] > 0]
    return {"image_bytes": image.attrs["Size"], "layers": len(image.attrs["RootFS"]["Layers"]),
            "largest_bytes": max(sizes), "largest_share": round(max(sizes) / image.attrs["Size"], 3),
            "sizes_mb": sorted((round(s / 1e6) for s in sizes), reverse=True)[:8]}


def push_and_pull(client, image_ref: str, remove: list[str], keep: set[str]) -> dict[str, Any]:
    """Cold push to a fresh registry; then remove `remove` (and whatever they leave dangling) and pull back.
    The pull is cold: no image left holds a layer of it but those of `keep` (the base)."""
    image = client.images.get(image_ref)
    with tempfile.TemporaryDirectory(dir=REPO / ".cache") as tmp:
        process, host = start_registry(Path(tmp))
        ref = f"{host}/bench:{image_ref.rsplit(':', 1)[1]}"
        try:
            _, push_s, push_cpu = timed(lambda: registry.push(client, image.id, [ref], quiet=True))
            stored = int(subprocess.run(["du", "-sb", f"{tmp}/data"], capture_output=True, text=True,
                                        check=True).stdout.split()[0])
            wanted = set(image.attrs["RootFS"]["Layers"]) - keep
            for tag in [ref, *remove]:
                client.images.remove(tag, force=True)
            subprocess.run(["docker", "image", "prune", "-f"], capture_output=True, check=True)
            left = [i.tags or i.id for i in client.images.list(all=True)
                    if set(i.attrs["RootFS"]["Layers"]) & wanted]
            if left:
                raise SystemExit(f"bench: the pull would not be cold: {left} hold layers of {image_ref}")
            pulled, pull_s, pull_cpu = timed(lambda: client.images.pull(ref))
            assert pulled.id == image.id
            client.images.remove(ref, force=True)
        finally:
            process.terminate()
            process.wait(timeout=30)
    return {"push_s": push_s, "push_cpu_s": push_cpu, "stored_bytes": stored, "pull_s": pull_s, "pull_cpu_s": pull_cpu}


def full() -> dict:
    client = engine.connect()
    subprocess.run([str(REPO / "scripts/test-bases.sh")], check=True, capture_output=True)
    keep = set(client.images.get(BASE).attrs["RootFS"]["Layers"])
    out: dict[str, Any] = {"before_commit": BEFORE}
    worktree = Path(tempfile.mkdtemp(prefix="gptoss-before-", dir=REPO / ".cache"))
    subprocess.run(["git", "worktree", "add", "--detach", "-f", str(worktree), BEFORE], cwd=REPO, check=True,
                   capture_output=True)
    try:
        print(f"before ({BEFORE}): cold build of h100 ...", file=sys.stderr, flush=True)
        _, wall, cpu = timed(lambda: build(worktree, "h100", "gptoss-bench-before", ["--base-image", BASE]))
        before_ref = "gptoss-bench-before:gptoss-h100"
        out["before"] = {"build_s": wall, "build_cpu_s": cpu, **layers(client.images.get(before_ref))}
        print("before: cold push and pull ...", file=sys.stderr, flush=True)
        mine = [t for i in client.images.list(name="gptoss-bench-before") for t in i.tags]
        out["before"].update(push_and_pull(client, before_ref, mine, keep))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO, capture_output=True)
    after_args = ["--base-image", f"cuda-cu128={BASE}"]
    print("after: cold build of h100-cu128 (its stack first) ...", file=sys.stderr, flush=True)
    _, wall, cpu = timed(lambda: build(REPO, "h100-cu128", "gptoss-bench-after", after_args))
    after_ref = "gptoss-bench-after:gptoss-h100-cu128"
    out["after"] = {"build_s": wall, "build_cpu_s": cpu, **layers(client.images.get(after_ref))}
    line_cpu = cpu
    for profile in LINE[1:]:
        print(f"after: {profile} (the line's stack built once per pin) ...", file=sys.stderr, flush=True)
        _, wall, cpu = timed(lambda p=profile: build(REPO, p, "gptoss-bench-after", after_args, no_cache=False))
        out["after"][f"{profile}_build_s"], line_cpu = wall, line_cpu + cpu
    out["line_cpu"] = {"before_s": round(len(LINE) * out["before"]["build_cpu_s"], 1), "after_s": round(line_cpu, 1),
                       "profiles": LINE}
    print("after: cold push and pull ...", file=sys.stderr, flush=True)
    after_tags = [t for image in client.images.list() for t in image.tags if t.startswith("gptoss-bench-after")]
    out["after"].update(push_and_pull(client, after_ref, after_tags, keep))
    b, a = out["before"], out["after"]
    out["ratios"] = {"push": round(b["push_s"] / a["push_s"], 2), "pull": round(b["pull_s"] / a["pull_s"], 2),
                     "build": round(b["build_s"] / a["build_s"], 2),
                     "line_cpu": round(out["line_cpu"]["before_s"] / out["line_cpu"]["after_s"], 2)}
    out["targets"] = TARGETS
    return out


IMPORT = ("import time; t = time.perf_counter(); import vllm.entrypoints.openai.api_server; "
          "print(round(time.perf_counter() - t, 2))")
"""What a start imports first: vLLM's OpenAI server (with torch and transformers), timed inside the container."""


def bytecode(image: str, runs: int) -> dict:
    """The image's .pyc bytes, and vLLM's import in a read-only container with them and without them (Python told
    to look for bytecode in a folder that does not exist, as it had to when the images shipped none)."""
    def run(*argv: str) -> str:
        """`docker run --read-only ... IMAGE -c SCRIPT`: argv is docker's options, the entrypoint, the script."""
        *options, entrypoint, script = argv
        return subprocess.run(["docker", "run", "--rm", "--read-only", "--tmpfs", "/tmp", *options, "--entrypoint",
                               entrypoint, image, "-c", script], capture_output=True, text=True, check=True).stdout
    size = run("sh", "find /opt/venv -name '*.pyc' -printf '%s\\n' | awk '{s+=$1; n++} END {print s, n}'").split()
    files = run("sh", "find /opt/venv -name '*.py' | wc -l").strip()
    samples: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(runs):  # alternate, so that the page cache favours neither
        samples["with"].append(float(run("python3", IMPORT).split()[-1]))
        samples["without"].append(float(run("-e", "PYTHONPYCACHEPREFIX=/nonexistent", "python3", IMPORT).split()[-1]))
    with_s, without_s = stats(samples["with"]), stats(samples["without"])
    return {"image": image, "pyc_bytes": int(size[0]), "pyc_files": int(size[1]), "py_files": int(files),
            "image_bytes": engine.connect().images.get(image).attrs["Size"], "import_with": with_s,
            "import_without": without_s, "ratio": round(without_s["median_s"] / with_s["median_s"], 2)}


def bytecode_markdown(b: dict) -> str:
    return "\n".join([
        "| vLLM's OpenAI server imported in a read-only container | without bytecode | with it | with vs without |",
        "| --- | --- | --- | --- |",
        f"| {b['image']} ({b['py_files']:,} .py files) | {b['import_without']['median_s']} s (min "
        f"{b['import_without']['min_s']}, max {b['import_without']['max_s']}) | {b['import_with']['median_s']} s "
        f"(min {b['import_with']['min_s']}, max {b['import_with']['max_s']}) | {b['ratio']}× faster, "
        f"{b['import_with']['runs']} runs each |",
        f"| what it costs | | {b['pyc_files']:,} .pyc files, {b['pyc_bytes'] / 1e6:,.0f} MB "
        f"({b['pyc_bytes'] / b['image_bytes']:.1%} of the image's {b['image_bytes'] / 1e9:.2f} GB) | |"]) + "\n"


def markdown(results: dict) -> str:
    rows = ["| measure | measured | target |", "| --- | --- | --- |"]
    for key, label in (("render_all", "render all profiles: docker/ and deploy/ (a process)"),
                       ("launcher_start_to_exec", "launcher start → exec")):
        r = results[key]
        rows.append(f"| {label} | {r['median_s']:.3f} s (min {r['min_s']:.3f}, max {r['max_s']:.3f}, "
                    f"{r['runs']} runs) | ≤ {r['target_s']} s |")
    if "before" not in results:
        return "\n".join(rows) + "\n"
    b, a, r, line = results["before"], results["after"], results["ratios"], results["line_cpu"]
    rows += ["", f"Before ({results['before_commit']}: the stack in one layer of every image) and after (the stack "
             "image, in layers of similar size), the same vLLM 0.10.2 stack, one run:", "",
             "| measure | before | after | after vs before | target |", "| --- | --- | --- | --- | --- |",
             f"| cold push to a local registry | {b['push_s']} s | {a['push_s']} s | {r['push']}× faster | ≥ 1.8× |",
             f"| cold pull from it | {b['pull_s']} s | {a['pull_s']} s | {r['pull']}× faster | ≥ 1.5× |",
             f"| cold build of h100 (cu128) | {b['build_s']} s | {a['build_s']} s | {r['build']}× as fast "
             "| no slower |",
             f"| CPU to build the line's {len(line['profiles'])} CUDA profiles | {line['before_s']} s (each job its "
             f"own stack) | {line['after_s']} s (stacks once per pin) | {r['line_cpu']}× less | |",
             f"| image size | {b['image_bytes'] / 1e9:.2f} GB | {a['image_bytes'] / 1e9:.2f} GB | | |",
             f"| stored in the registry (compressed) | {b['stored_bytes'] / 1e9:.2f} GB | "
             f"{a['stored_bytes'] / 1e9:.2f} GB | | |",
             f"| largest layer | {b['largest_bytes'] / 1e9:.2f} GB ({b['largest_share']:.0%}) | "
             f"{a['largest_bytes'] / 1e9:.2f} GB ({a['largest_share']:.0%}) | | < 40 % |",
             f"| layers over 1 MB (MB) | {', '.join(str(s) for s in b['sizes_mb'] if s > 1)} | "
             f"{', '.join(str(s) for s in a['sizes_mb'] if s > 1)} | | |"]
    return "\n".join(rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="rendering and the launcher only")
    parser.add_argument("--runs", type=int, default=15, help="runs of each cheap measure")
    parser.add_argument("--bytecode", metavar="IMAGE", help="only the bytecode's cost and saving, on IMAGE")
    args = parser.parse_args()
    if args.bytecode:
        measured = bytecode(args.bytecode, min(args.runs, 5))
        (REPO / "bench" / "bytecode.json").write_text(json.dumps(measured, indent=2) + "\n")
        (REPO / "bench" / "bytecode.md").write_text(bytecode_markdown(measured))
        print(bytecode_markdown(measured))
        return 0
    results = quick(args.runs)
    if not args.quick:
        if shutil.disk_usage(REPO).free < 45e9:
            raise SystemExit("bench: needs about 45 GB of free disk for the before and after images")
        results.update(full())
    (REPO / "bench" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (REPO / "bench" / "results.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
