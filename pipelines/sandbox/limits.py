"""Token-bucket rate limits per (credential, endpoint group), like the real APIs, scaled.

Why: a client's pacing and its 429 handling can only be trusted if something pushes back the
way the marketplaces do. Every group keeps its documented (or, where undocumented, a plausible)
rate; `rate_limit_scale` multiplies every refill interval (0 turns limiting off, 0.01 makes
WB statistics' 1 request/minute a 0.6 s interval for fast tests).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence


@dataclass(frozen=True)
class Limit:
    """`requests` per `period` seconds, bucket of `burst` tokens (starts full)."""

    requests: int
    period: float
    burst: int
    applies_to: str

    @property
    def interval(self) -> float:
        return self.period / self.requests


# Group -> limit. An Ozon method pays into "ozon" (per Client-Id, all methods) and into its
# own group when it has one; a WB method pays into its API's group.
RATE_LIMITS: dict[str, Limit] = {
    "ozon": Limit(50, 1.0, 50, "every Ozon method, per Client-Id (50 rps since May 2025)"),
    "ozon-analytics-stocks": Limit(1, 1.0, 1, "POST /v1/analytics/stocks (undocumented; hard limit)"),
    "ozon-stock-on-warehouses": Limit(5, 1.0, 5, "POST /v2/analytics/stock_on_warehouses (undocumented)"),
    "ozon-report-create": Limit(1, 5.0, 1, "POST /v1/report/warehouse/stock (undocumented)"),
    "wb-statistics": Limit(1, 60.0, 1, "GET /api/v1/supplier/stocks: 1 per minute"),
    "wb-remains-create": Limit(1, 60.0, 1, "GET /api/v1/warehouse_remains: 1 per minute"),
    "wb-remains-status": Limit(1, 5.0, 1, "GET .../tasks/{id}/status: 1 per 5 s"),
    "wb-remains-download": Limit(1, 60.0, 1, "GET .../tasks/{id}/download: 1 per minute"),
    "wb-marketplace": Limit(300, 60.0, 20, "marketplace-api (/api/v3/...): 300 per minute, burst 20"),
    "wb-content": Limit(100, 60.0, 5, "content-api (/content/...): 100 per minute, burst 5"),
}


@dataclass
class Decision:
    """Outcome of one request against its buckets; times are seconds (already scaled)."""

    allowed: bool
    remaining: int
    limit: int
    retry_after: float = 0.0
    reset: float = 0.0


def fmt_seconds(value: float) -> str:
    """Header form of a wait: whole seconds as "60", scaled ones as "0.6" (rounded up to ms)."""
    ms = math.ceil(round(value * 1000, 6))
    if value > 0 and ms == 0:
        ms = 1
    return f"{ms / 1000:.3f}".rstrip("0").rstrip(".")


class RateLimiter:
    """Thread-safe token buckets keyed by (credential, group)."""

    def __init__(self, scale: float = 1.0, limits: dict[str, Limit] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if scale < 0:
            raise ValueError("rate_limit_scale must be >= 0")
        self.scale = scale
        self.limits = limits or RATE_LIMITS
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # -> (tokens, at)

    def acquire(self, credential: str, groups: Sequence[str]) -> Decision:
        """Take one token from every group's bucket, or none if any bucket is empty."""
        binding = self.limits[groups[-1]]
        if self.scale == 0:
            return Decision(True, binding.burst, binding.burst)
        now = self._clock()
        with self._lock:
            states = []
            denied: Decision | None = None
            for group in groups:
                limit = self.limits[group]
                interval = limit.interval * self.scale
                tokens, at = self._buckets.get((credential, group), (float(limit.burst), now))
                tokens = min(float(limit.burst), tokens + (now - at) / interval)
                states.append((group, tokens))
                if tokens < 1.0:
                    retry = (1.0 - tokens) * interval
                    if denied is None or retry > denied.retry_after:
                        denied = Decision(False, 0, limit.burst, retry, (limit.burst - tokens) * interval)
            if denied is not None:
                for group, tokens in states:
                    self._buckets[(credential, group)] = (tokens, now)
                return denied
            for group, tokens in states:
                self._buckets[(credential, group)] = (tokens - 1.0, now)
            last = states[-1][1] - 1.0
            interval = binding.interval * self.scale
            return Decision(True, int(last), binding.burst, 0.0, (binding.burst - last) * interval)

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
