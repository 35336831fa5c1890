"""What the image promises whatever runs it: port, user, cache folder, health timings, shared memory.

One source for the Dockerfiles (EXPOSE, the user, HEALTHCHECK), the launcher (--health,
--check's /dev/shm threshold, the caches) and the rendered deploy/ files (probes, the
security context, the cache volume, the memory-backed /dev/shm).
"""

from __future__ import annotations

PORT = 8000
"""vLLM's default port, which the launcher keeps unless GPTOSS_PORT says otherwise."""
CACHE = "/cache"
"""The cache folder, writable by group 0: weights and compiled graphs (a volume keeps them)."""
USER, UID, GID = "gptoss", 1001, 0
"""The image's non-root user; any UID works as long as its group is 0."""
HEALTH_PATH = "/health"
QUEUE_METRIC = "vllm:num_requests_waiting"
"""Requests waiting for a slot: what the deploy files autoscale on."""
METRICS_READ = (QUEUE_METRIC,)
"""The Prometheus metrics of vLLM's that this project reads (the self-test checks that they are exported)."""
HEALTH_INTERVAL_S, HEALTH_TIMEOUT_S, HEALTH_RETRIES = 30, 10, 3
START_PERIOD_S = 3600
"""A first start downloads 13 to 65 GB of weights and compiles: an hour before health counts."""
SHM_MIN_BYTES = 2**30
"""Below this /dev/shm, --check warns (fails with TP > 1): NCCL and the workers need it."""
SHM_SIZE_GIB = 16
"""The memory-backed /dev/shm the deploy files give (docker's --shm-size 16g)."""
