"""Progress of one marketplace's landing: requests done / planned per method, and an ETA.

Why: against the real APIs a sync takes minutes (WB allows 100 card pages and 3 stocks-report
calls a minute), and a silent terminal looks like a hang. The API client already counts every
request per method (`SyncStats.by_endpoint`); the sources add what they plan once they know
it (`counts["planned"]`, e.g. the v4 pages from Ozon's `total_items`). A reporter thread turns
both into one line: printed every few seconds on a terminal (a whole line each time: the two
marketplaces land in two processes that share the terminal, so a line rewritten in place
would be overwritten by the other), logged every half minute otherwise (the
`invsync.progress` logger, at INFO, shown even without `-v`).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any, Callable, Mapping, TextIO

from pipelines.api_client import SyncStats

log = logging.getLogger("invsync.progress")

TERMINAL_SECONDS = 5.0
LOG_SECONDS = 30.0


def plan(counts: dict[str, Any], endpoint: str, calls: int) -> None:
    """Add `calls` planned requests of `endpoint` (a source learns them as it goes)."""
    planned = counts.setdefault("planned", {})
    planned[endpoint] = planned.get(endpoint, 0) + max(0, int(calls))


def describe(marketplace: str, done: Mapping[str, int], planned: Mapping[str, int], elapsed: float) -> str:
    """One line: total requests, per method done/planned (or done alone), and an ETA when known."""
    parts = []
    for endpoint in sorted(set(done) | set(planned)):
        n, p = done.get(endpoint, 0), planned.get(endpoint)
        parts.append(f"{endpoint} {n}/{p}" if p else f"{endpoint} {n}")
    known_done = sum(min(done.get(e, 0), p) for e, p in planned.items())
    known_planned = sum(planned.values())
    eta = ""
    if known_done and known_planned > known_done:
        eta = f", ETA {_duration(elapsed * (known_planned - known_done) / known_done)}"
    total = sum(done.values())
    return f"{marketplace}: {total} requests in {_duration(elapsed)}{eta} — " + (", ".join(parts) or "starting")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class ProgressReporter:
    """Reports a landing's progress from a daemon thread until stopped (a context manager)."""

    def __init__(
        self,
        marketplace: str,
        stats: SyncStats,
        counts: dict[str, Any],
        stream: TextIO | None = None,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.marketplace = marketplace
        self.stats = stats
        self.counts = counts
        self.stream = stream if stream is not None else sys.stderr
        self.on_terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (TERMINAL_SECONDS if self.on_terminal else LOG_SECONDS)
        self._clock = clock
        self._started = clock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"progress-{marketplace}", daemon=True)

    def line(self) -> str:
        """The progress line; during a long wait (planned pacing or a server's 429) it ends with
        the wait and its reason, so a Basic WB token's 15-minute pauses do not look like a hang."""
        stats = self.stats.as_dict()
        text = describe(self.marketplace, stats["by_endpoint"], dict(self.counts.get("planned") or {}),
                        self._clock() - self._started)
        return f"{text}; {stats['waiting']}" if stats.get("waiting") else text

    def report(self) -> None:
        if self.on_terminal:
            self.stream.write(self.line() + "\n")
            self.stream.flush()
        else:
            log.info("%s", self.line())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.report()

    def __enter__(self) -> "ProgressReporter":
        log.setLevel(logging.INFO)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if not self.on_terminal:
            log.info("%s (landing done)", self.line())
