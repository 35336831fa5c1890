#!/usr/bin/env bash
# Records what a GPU machine shows (nvidia-smi) and what the launcher makes of it (selection,
# --check, --list-profiles) into $OUT: the source of tests/fixtures/gpus/. Run from the repository root.
set -u
nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv,noheader,nounits > $OUT/nvidia-smi.csv
nvidia-smi > $OUT/nvidia-smi.txt
python3 --version
mkdir -p /tmp/fam && for p in a100 b200 h100 h200; do cp docker/$p/profile.json /tmp/fam/$p.json; done
PYTHONPATH=. python3 - <<'PY' > $OUT/session.txt 2>&1
import os, subprocess, sys
from gptoss_images.launcher import profile as pf, checks
m = checks.Machine()
chosen = pf.load([], {}, lambda v: m.gpus(v)[0], folder="/tmp/fam", default="/nonexistent")
print("selected:", chosen["name"])
PY
for p in h100 h200 b200 h100-cu128; do echo "== $p --check (20b TP1)"; GPTOSS_PROFILE=docker/$p/profile.json GPTOSS_MODEL=openai/gpt-oss-20b GPTOSS_TENSOR_PARALLEL_SIZE=1 TIKTOKEN_ENCODINGS_BASE= PYTHONPATH=. python3 -m gptoss_images.launcher --check; echo "exit $?"; done >> $OUT/session.txt 2>&1
for p in h100 h200; do echo "== $p --list-profiles"; GPTOSS_PROFILE=docker/$p/profile.json PYTHONPATH=. python3 -m gptoss_images.launcher --list-profiles; done >> $OUT/session.txt 2>&1
cat $OUT/nvidia-smi.csv; tail -50 $OUT/session.txt
