#!/usr/bin/env bash
# Installs Debian's Docker engine, registry, docker-compose and debootstrap if missing, and starts
# the engine if it does not answer. Safe to run again.
set -euo pipefail
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v docker-compose >/dev/null || need+=(docker-compose)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
    echo "starting dockerd (log: /var/log/gptoss-dockerd.log)"
    nohup dockerd >/var/log/gptoss-dockerd.log 2>&1 &
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
fi
docker info --format 'Docker engine {{.ServerVersion}} ({{.Driver}}) is up' \
    || { echo "error: the Docker engine did not start: see /var/log/gptoss-dockerd.log" >&2; exit 1; }
