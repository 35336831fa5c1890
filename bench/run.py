#!/usr/bin/env python3
"""Benchmarks of what users feel: rendering, and the launcher from start to `exec`.

    python bench/run.py [--runs N]    writes bench/results.json and prints a table

Each figure is the median of N runs, with min and max.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(command: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - started)
    return {"median_s": round(statistics.median(samples), 4), "min_s": round(min(samples), 4),
            "max_s": round(max(samples), 4), "runs": runs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    results = {}
    env = dict(os.environ)
    results["render_all_profiles"] = {**timed([sys.executable, "build.py", "render", "--check"], env, args.runs),
                                      "target_s": 1.0}
    with tempfile.TemporaryDirectory() as stub_dir:
        stub = Path(stub_dir, "vllm")
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
        launcher_env = {**env, "PATH": f"{stub_dir}:{env['PATH']}", "GPTOSS_SKIP_CHECKS": "all",
                        "GPTOSS_PROFILE": str(REPO / "docker/h100/profile.json"),
                        "GPTOSS_CONFIG_DIR": str(Path(stub_dir, "config"))}
        # The image's entrypoint script, run from the build context (it finds its package beside it),
        # ending in exec of a stub `vllm`: start -> exec.
        results["launcher_start_to_exec"] = {
            **timed([sys.executable, str(REPO / "docker/h100/gptoss-serve")], launcher_env, args.runs),
            "target_s": 0.3}
    out = REPO / "bench" / "results.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print("| benchmark | median | min | max | target |\n| --- | --- | --- | --- | --- |")
    for name, r in results.items():
        print(f"| {name} | {r['median_s']:.3f} s | {r['min_s']:.3f} s | {r['max_s']:.3f} s | "
              f"≤ {r['target_s']} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
