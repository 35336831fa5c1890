#!/usr/bin/env bash
# The self-test on the device tool's H200 (no Docker there): vLLM 0.20.2 (the release that pins the
# machine's torch 2.11), staged in /root/stage by ../shared/device/stage-wheels.sh, serving the h200
# profile carried to 0.20.2 (tests/fixtures/gpus/h200-vllm0.20.2-profile.json, `build.py pins carry`),
# run from this checkout. The transcript and the report come back under $OUT/LABEL/.
# usage (repository root, on the device): scripts/h200-self-test.sh VOCAB_DIR LABEL [SELF-TEST OPTIONS...]
set -uo pipefail
vocab=$(cd "$1" && pwd) label=$2
shift 2
[ -d /root/wheels ] || cat /root/stage/part.* | tar -xf - -C /root
[ -d /tmp/site/vllm ] || python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site /root/wheels/*.whl
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH TIKTOKEN_ENCODINGS_BASE=$vocab PYTHONUNBUFFERED=1
export GPTOSS_PROFILE=$PWD/tests/fixtures/gpus/h200-vllm0.20.2-profile.json
report=/tmp/self-test/$label
rm -rf "$report" && mkdir -p "$report" "$OUT/$label"
{
  echo "\$ nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv,noheader"
  nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv,noheader
  echo "\$ python3 -c 'import torch, vllm; ...'"
  python3 -c 'import torch, vllm; print("torch", torch.__version__, "vllm", vllm.__version__)' 2>/dev/null
  echo "\$ gptoss-self-test $*"
  python3 bin/gptoss-self-test --report-dir "$report" "$@"
  echo "exit $?"
} 2>&1 | tee "$OUT/$label/transcript.txt"
cp "$report"/*.json "$report"/*.log "$OUT/$label/"
