#!/usr/bin/env bash
# Makes the local base images the tests build on, without any container registry:
# Debian bookworm from debootstrap, imported as gptoss-test/debian:bookworm, and two
# stand-ins for nvidia/cuda made from it that carry what the smoke test reads of the
# real ones: CUDA_VERSION, and TEST_BASE_STANDS_IN_FOR naming the image they stand in for
# (no CUDA toolkit: the -devel image's nvcc 12.8 is not reachable from here). They
# are passed through the documented base-image override (--base-image), as a private
# mirror of nvidia/cuda would be.
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
standin() {  # TAG CUDA_VERSION REAL_IMAGE
    if docker image inspect "$1" >/dev/null 2>&1; then echo "$1 is there"; return; fi
    printf 'FROM %s\nENV CUDA_VERSION=%s TEST_BASE_STANDS_IN_FOR=%s\n' "$image" "$2" "$3" \
        | docker build -q -t "$1" - >/dev/null
    echo "made $1 (stands in for $3)"
}
standin gptoss-test/cuda:12.8.1-devel 12.8.1 nvidia/cuda:12.8.1-devel-ubuntu24.04
standin gptoss-test/cuda:13.0.2-base 13.0.2 nvidia/cuda:13.0.2-base-ubuntu24.04
