"""One vLLM server started for a measurement: its own process session, its log in a file, its start-up timed.

The self-test and the synthetic benchmark start vLLM themselves. The server runs in a
process session of its own, so stopping it stops its engine and workers too; its output
goes to a log from which the start-up phases are read (`startup.py`), and the moments its
imports end and its engine process starts are timed here, by the log lines' arrival.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from gptoss_images.launcher import health
from gptoss_images.measure import startup

ARRIVALS = {
    "imports_s": re.compile(r"non-default args"),
    "engine_process_s": re.compile(r"Initializing a V1 LLM engine"),
}
"""Start-up moments timed by when their log line appears: the API server has imported vLLM and read its
arguments; the engine's own process has imported it too (vLLM 0.10.2 to 0.20.2 log both)."""

ROOT_CAUSE = re.compile(r"^(?:\(\w+ pid=\d+\) )?(?:ERROR [\d-]+ [\d:]+ \[[\w.:]+\] )?((?:torch\.)?[A-Z]\w*"
                        r"(?:Error|Exception): .*)")
"""An exception as a traceback ends in vLLM's log: the first one is the cause, later ones what it set off."""


class Vllm:
    """`vllm serve ...` on `port`, logging to `log`; `with` it stops it at the end, whatever happens."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path, port: int) -> None:
        self.argv, self.env, self.log, self.port = argv, env, log, port
        self.process: subprocess.Popen | None = None
        self.arrived: dict[str, float] = {}

    def start(self) -> None:
        """Start it; FileNotFoundError if `vllm` is not on PATH."""
        with self.log.open("w") as out:  # the child keeps its own descriptor
            self.process = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        self.started = time.monotonic()

    def __enter__(self) -> Vllm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_healthy(self, timeout: float, waiting: Callable[[float], None] | None = None) -> float | None:
        """Seconds from the start to /health answering 200; None if vLLM exits or the time runs out.
        `waiting` hears the seconds so far every 30 s."""
        assert self.process is not None
        shown = self.started
        while (now := time.monotonic()) - self.started < timeout:
            self._arrivals(now)
            if self.process.poll() is not None:
                return None
            if health.probe(port=self.port) == 0:
                self._arrivals(time.monotonic())
                return time.monotonic() - self.started
            if waiting and now - shown >= 30:
                shown = now
                waiting(now - self.started)
            time.sleep(1)
        return None

    def phases(self) -> dict[str, float]:
        """The start-up phases vLLM's log states, with the timed arrivals."""
        found = startup.phases(self.text())
        return {**{k: round(v, 1) for k, v in self.arrived.items()}, **found}

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.is_file() else ""

    def why_not(self, timeout: float) -> str:
        """Why /health never answered: the first error vLLM logged (its root cause), else its last lines."""
        lines = [line for line in self.text().splitlines() if line.strip()]
        cause = next((m.group(1) for line in lines if (m := ROOT_CAUSE.search(line))), None)
        said = cause or " | ".join(lines[-3:])
        if self.process is not None and self.process.poll() is None:
            return f"/health did not answer within {timeout:.0f} s; vLLM's log: {said}"
        code = self.process.returncode if self.process else None
        return f"vLLM exited with code {code} before /health answered: {said}"

    def stop(self) -> None:
        """SIGTERM to vLLM's process session (its engine and workers), SIGKILL after a minute."""
        if self.process is None or self.process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 60), (signal.SIGKILL, 30)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def _arrivals(self, now: float) -> None:
        missing = [name for name in ARRIVALS if name not in self.arrived]
        if not missing:
            return
        text = self.text()
        for name in missing:
            if ARRIVALS[name].search(text):
                self.arrived[name] = now - self.started
