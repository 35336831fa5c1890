#!/usr/bin/env bash
# A stand-in for AMD's rocm/vllm-dev images on a machine that cannot pull them: an
# image that already holds Python and vLLM (made FROM a built CUDA-profile image),
# passed to ROCm profiles through --base-image rocm=... . Usage: rocm-standin.sh SOURCE [TAG]
set -euo pipefail
source_image=${1:?usage: rocm-standin.sh SOURCE_IMAGE [TAG]}
tag=${2:-gptoss-test/rocm-vllm-dev:standin}
# vLLM's ROCm images have pip; our CUDA images' venv holds its lock and nothing else, so pip comes from the
# interpreter's own bundled wheel (ensurepip, offline).
printf 'FROM %s\nRUN python3 -m ensurepip >/dev/null\nENTRYPOINT []\nCMD ["bash"]\n' "$source_image" \
    | DOCKER_BUILDKIT=0 docker build -q -t "$tag" - >/dev/null
echo "$tag"
