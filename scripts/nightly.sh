#!/usr/bin/env bash
# The nightly pipeline on this machine, with the same build.py commands as
# .github/workflows/nightly.yml: release (immutable tag) -> gpu-test -> promote -> summary.
# Without a GPU no GPU check runs, and promote is told to publish without one.
set -uo pipefail
registry=${NIGHTLY_REGISTRY:-127.0.0.1:5000/gptoss}
repo=${NIGHTLY_REPO:-gptoss-images}
results=${NIGHTLY_RESULTS:-results}
profiles=${NIGHTLY_PROFILES:-$(python3 build.py list --names)}
# The stand-ins for nvidia/cuda of each line (scripts/test-bases.sh), through --base-image SELECTOR=IMAGE.
cuda_bases=${NIGHTLY_CUDA_BASES:-cuda-current=gptoss-test/cuda:13.0.2-base cuda-cu128=gptoss-test/cuda:12.8.1-devel}
ca=${NIGHTLY_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
rm -rf "$results"
case "$registry" in 127.*|localhost*) scripts/registry.sh "${registry%%/*}" || exit 1 ;; esac

rocm_profiles=" $(python3 build.py list --names --family rocm | tr '\n' ' ') "
cuda=() rocm=()
for p in $profiles; do
    if [[ $rocm_profiles == *" $p "* ]]; then rocm+=("$p"); else cuda+=("$p"); fi
done
flags=(--registry "$registry" --repo "$repo" --hold-floating --results "$results" --quiet --ca-bundle "$ca")
base_flags=()
for b in $cuda_bases; do base_flags+=(--base-image "$b"); done
status=0
# Each stack once, pushed beside the images; the releases pull it instead of building it.
if [ ${#cuda[@]} -gt 0 ]; then
    python3 build.py stacks "${cuda[@]}" --registry "$registry" --repo "$repo" "${base_flags[@]}" \
        --ca-bundle "$ca" --quiet || status=1
    python3 build.py release "${cuda[@]}" --stack-registry "$registry" "${base_flags[@]}" "${flags[@]}" || status=1
fi
if [ ${#rocm[@]} -gt 0 ]; then
    rocm_base=${NIGHTLY_ROCM_BASE:-}
    if [ -z "$rocm_base" ]; then
        # No rocm/vllm-dev here: a stand-in made from a CUDA image that holds vLLM.
        source_image=$repo:gptoss-h100
        docker image inspect "$source_image" >/dev/null 2>&1 \
            || python3 build.py build h100 --repo "$repo" "${base_flags[@]}" --ca-bundle "$ca" --quiet
        rocm_base=$(scripts/rocm-standin.sh "$source_image")
    fi
    python3 build.py release "${rocm[@]}" --base-image "rocm=$rocm_base" "${flags[@]}" || status=1
fi
promote=(--results "$results" --registry "$registry")
if command -v nvidia-smi >/dev/null || [ -e /dev/kfd ]; then
    for p in $profiles; do python3 build.py gpu-test "$p" --results "$results" || status=1; done
else
    echo "no GPU on this machine: no GPU check; publishing without it"
    promote+=(--allow-no-gpu-check)
fi
python3 build.py promote "${promote[@]}" || status=1
python3 build.py summary --results "$results"
exit $status
