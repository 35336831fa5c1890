#!/usr/bin/env bash
# Makes the local base image the tests build on, without any container registry:
# Debian bookworm from debootstrap, imported as gptoss-test/debian:bookworm. It is
# passed through the documented base-image override (--base-image), as a private
# mirror of nvidia/cuda would be.
set -euo pipefail
image=gptoss-test/debian:bookworm
rootfs=${GPTOSS_ROOTFS:-/var/cache/gptoss/rootfs}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if docker image inspect "$image" >/dev/null 2>&1; then
    echo "$image is there"
    exit 0
fi
if [ ! -x "$rootfs/usr/bin/apt-get" ]; then
    echo "debootstrap bookworm into $rootfs (about 2 minutes)"
    rm -rf "$rootfs"
    mkdir -p "$(dirname "$rootfs")"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
fi
tar -C "$rootfs" -c . | docker import - "$image" >/dev/null
echo "imported $image"
