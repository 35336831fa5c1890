#!/usr/bin/env bash
# Starts Debian's docker-registry on ADDR (default 127.0.0.1:5000) unless something
# already answers there. Each port keeps its own config and data, so two registries never
# share a folder: /var/lib/gptoss-registry/PORT; log: /var/log/gptoss-registry-PORT.log.
set -euo pipefail
addr=${1:-127.0.0.1:5000}
if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://$addr/v2/', timeout=2)" 2>/dev/null; then
    echo "registry at $addr is up"
    exit 0
fi
port=${addr##*:}
root=/var/lib/gptoss-registry/$port
log=/var/log/gptoss-registry-$port.log
mkdir -p "$root"
cat > "$root/config.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $root/data
  delete:
    enabled: true
http:
  addr: $addr
YAML
nohup docker-registry serve "$root/config.yml" >"$log" 2>&1 &
for _ in $(seq 50); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://$addr/v2/', timeout=2)" 2>/dev/null && { echo "registry at $addr started"; exit 0; }
    sleep 0.2
done
echo "error: docker-registry did not start on $addr: see $log" >&2
exit 1
