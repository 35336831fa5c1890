"""Start-up phases read from vLLM's own log: weights, torch.compile, graph capture, engine, KV cache.

The patterns hold for the log lines of vLLM 0.10.2 to 0.20.2 (checked in their sources);
a phase a release does not log is left out, not guessed.
"""

from __future__ import annotations

import re

PHASES = {
    "weights_s": re.compile(r"Loading weights took ([\d.]+) s"),
    "model_load_s": re.compile(r"Model loading took [\d.]+ GiB(?: memory)? and ([\d.]+) s"),
    "torch_compile_s": re.compile(r"torch\.compile (?:took|takes|and initial profiling/warmup run together took) "
                                  r"([\d.]+) s in total"),
    "graph_capture_s": re.compile(r"Graph capturing finished in ([\d.]+) secs"),
    "engine_init_s": re.compile(r"init engine \(profile, create kv cache, warmup model\) took ([\d.]+) s"),
    "kv_cache_tokens": re.compile(r"GPU KV cache size: ([\d,]+) tokens"),
}
"""Each phase and the log line that gives it (its first match; seconds unless named otherwise)."""
LABELS = {"imports_s": "imports", "engine_process_s": "engine process",
          "weights_s": "weights", "model_load_s": "model load", "torch_compile_s": "torch.compile",
          "graph_capture_s": "graph capture", "engine_init_s": "engine init", "healthy_s": "to /health"}


def phases(log: str) -> dict[str, float]:
    """Every phase the log states."""
    found: dict[str, float] = {}
    for name, pattern in PHASES.items():
        match = pattern.search(log)
        if match:
            found[name] = float(match.group(1).replace(",", ""))
    return found


def describe(found: dict[str, float]) -> str:
    """One line: 'weights 1.2 s, torch.compile 25.0 s, ..., to /health 70.7 s; KV cache 1,234 tokens'."""
    parts = [f"{label} {found[name]:.1f} s" for name, label in LABELS.items() if name in found]
    if "kv_cache_tokens" in found:
        parts.append(f"KV cache {int(found['kv_cache_tokens']):,} tokens")
    return ", ".join(parts) or "no phase found in vLLM's log"
