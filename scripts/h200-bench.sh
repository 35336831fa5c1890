#!/usr/bin/env bash
# The synthetic benchmark on the device tool's H200 (no Docker there): `gptoss-bench --synthetic` from this
# checkout under vLLM 0.20.2 (the release that pins the machine's torch 2.11), staged in /root/stage by
# ../shared/device/stage-wheels.sh, serving the profile of the card found (h200 or h100) carried to 0.20.2
# (tests/fixtures/gpus/<gpu>-vllm0.20.2-profile.json, `build.py pins carry`).
#
# A run outlasts one call of the device tool (10 minutes), so it runs in a process session of its own and
# calls that follow, back to back, wait for it; each wait brings back what the run has written so far
# ($OUT/LABEL.tgz: transcript, result.json, vLLM's logs, vllm bench's results).
#
# Staging: the checkout that travels with every call is about 5 MiB (locks/ included), so the wheel chunks of
# ../shared/device/stage-wheels.sh (60 MiB) no longer fit beside it under the tool's 64 MiB: split them at 52M
# (`tar -cf - -C .device-wheels wheels | split -b 52M`, one part per .device-wheels/cN), seven calls.
#
# usage (repository root, on the device):
#   scripts/h200-bench.sh start VOCAB_DIR LABEL [gptoss-bench --synthetic options...]
#   scripts/h200-bench.sh wait LABEL SECONDS     exit 0 once the run has ended, 1 while it runs on
set -uo pipefail
runs=/tmp/bench-runs
case ${1:-} in
start)
    label=$3 vocab=/tmp/bench-vocab
    # A copy outside the checkout: each later call of the device tool sends the working tree again, and an
    # ignored folder it does not carry is gone mid-run (so went the vocabulary of the 2026-12-07 run).
    rm -rf "$vocab" && cp -r "$2" "$vocab"
    shift 3
    [ -d /root/wheels ] || cat /root/stage/part.* | tar -xf - -C /root
    if [ ! -d /tmp/site/vllm ]; then
        python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site /root/wheels/*.whl
        python3 -m compileall -q -j 0 /tmp/site >/dev/null 2>&1 || true  # bytecode once, as the images now ship
    fi
    mkdir -p "$runs/$label" /cache
    export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH TIKTOKEN_ENCODINGS_BASE=$vocab PYTHONUNBUFFERED=1
    # The profile of the card that came (the tool may lend an H100 for an H200), carried to 0.20.2.
    gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1 | grep -o 'H[12]00' | tr H h)
    export GPTOSS_PROFILE=$PWD/tests/fixtures/gpus/${gpu:-h200}-vllm0.20.2-profile.json GPTOSS_CACHE_DIR=/cache
    setsid bash -c '
        { echo "\$ nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv,noheader"
          nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv,noheader
          python3 -c "import torch, vllm; print(\"torch\", torch.__version__, \"vllm\", vllm.__version__)" 2>/dev/null
          echo "\$ gptoss-bench $*"
          python3 bin/gptoss-bench "$@" --result-dir "$0"
          echo "exit $?"; } >"$0/transcript.txt" 2>&1
        touch "$0/ended"' "$runs/$label" "$@" </dev/null >/dev/null 2>&1 &
    echo "started $label"
    ;;
wait)
    label=$2 deadline=$((SECONDS + $3))
    while [ ! -e "$runs/$label/ended" ] && [ $SECONDS -lt $deadline ]; do sleep 5; done
    tar -czf "$OUT/$label.tgz" -C "$runs" "$label"
    tail -n 40 "$runs/$label/transcript.txt"
    [ -e "$runs/$label/ended" ]
    ;;
*)
    echo "usage: $0 start VOCAB_DIR LABEL [OPTIONS...] | wait LABEL SECONDS" >&2
    exit 2
    ;;
esac
