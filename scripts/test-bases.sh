#!/usr/bin/env bash
# Makes the local base images the tests build on, without any container registry:
# Debian bookworm from debootstrap, imported as gptoss-test/debian:bookworm, and two
# stand-ins for nvidia/cuda made from it that carry what the smoke test reads of the
# real ones: CUDA_VERSION, and for the -devel image an nvcc at /usr/local/cuda that
# reports its release (a stand-in: the real CUDA 12.8 toolkit is not reachable from
# here, and the product's checks know nothing of stand-ins). They are passed through
# the documented base-image override (--base-image), as a private mirror of nvidia/cuda
# would be. A stand-in made by an older version of this script is made again.
set -euo pipefail
image=gptoss-test/debian:bookworm
rootfs=${GPTOSS_ROOTFS:-/var/cache/gptoss/rootfs}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if docker image inspect "$image" >/dev/null 2>&1; then
    echo "$image is there"
else
    if [ ! -x "$rootfs/usr/bin/apt-get" ]; then
        echo "debootstrap bookworm into $rootfs (about 2 minutes)"
        rm -rf "$rootfs"
        mkdir -p "$(dirname "$rootfs")"
        debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
    fi
    tar -C "$rootfs" -c . | docker import - "$image" >/dev/null
    echo "imported $image"
fi
version=2
standin() {  # TAG CUDA_VERSION REAL_IMAGE NVCC_RELEASE (empty: no toolkit, as the -base images)
    if [ "$(docker image inspect -f '{{ index .Config.Labels "io.gptoss.test-base" }}' "$1" 2>/dev/null)" = "$version" ]; then
        echo "$1 is there"; return
    fi
    {
        printf 'FROM %s\nENV CUDA_VERSION=%s\nLABEL io.gptoss.test-base="%s" io.gptoss.stands-in-for="%s"\n' \
            "$image" "$2" "$version" "$3"
        [ -z "$4" ] || printf 'RUN mkdir -p /usr/local/cuda/bin && printf %s > /usr/local/cuda/bin/nvcc && chmod 755 /usr/local/cuda/bin/nvcc\n' \
            "'#!/bin/sh\\necho \"Cuda compilation tools, release $4 (a test stand-in)\"\\n'"
    } | DOCKER_BUILDKIT=0 docker build -q -t "$1" - >/dev/null
    echo "made $1 (stands in for $3)"
}
standin gptoss-test/cuda:12.8.1-devel 12.8.1 nvidia/cuda:12.8.1-devel-ubuntu24.04 "12.8, V12.8.93"
standin gptoss-test/cuda:13.0.2-base 13.0.2 nvidia/cuda:13.0.2-base-ubuntu24.04 ""
