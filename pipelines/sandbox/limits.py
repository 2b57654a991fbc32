"""Token-bucket rate limits per (credential, endpoint group), like the real APIs, scaled.

Why: a client's pacing and its 429 handling can only be trusted if something pushes back the
way the marketplaces do. Every group keeps its documented (or, where undocumented, a plausible)
rate; `rate_limit_scale` multiplies every refill interval (0 turns limiting off, 0.01 makes
WB statistics' 1 request/minute a 0.6 s interval for fast tests).

Yandex Market (yandex_market.md §3.2) has two kinds of limits, both here: a resource limit
per method and business or campaign (the `ym-*` groups, tier `none`; a bucket that starts
full with the whole allowance, as the limit is "N per period"), where getStocks pays one
token per offer returned (§2.2.5), and at most 4 requests in flight per campaign, business
or key (`ParallelLimiter`). Over either -> HTTP 420; `YM_RESOURCES` names each resource and
period for the 420 message, and `rfc822` formats `X-RateLimit-Resource-Until`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from dataclasses import dataclass
from email.utils import formatdate
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
# own group when it has one; a WB method pays into its method's or host's group. A group
# "<name>:basic" (when present) replaces "<name>" for a Basic WB token (lower limits).
RATE_LIMITS: dict[str, Limit] = {
    "ozon": Limit(50, 1.0, 50, "every Ozon method, per Client-Id: 50 rps (ozon.md §4)"),
    "ozon-analytics-stocks": Limit(2, 1.0, 2, "POST /v1/analytics/stocks: 2 rps seen by callers (3p)"),
    "ozon-stock-on-warehouses": Limit(5, 1.0, 5, "POST /v2/analytics/stock_on_warehouses (undocumented)"),
    "ozon-report-create": Limit(1, 5.0, 1, "POST /v1/report/warehouse/stock (undocumented)"),
    "wb-statistics": Limit(1, 60.0, 1, "GET /api/v1/supplier/stocks (legacy mode only): 1 per minute"),
    "wb-stocks-report-wb": Limit(3, 60.0, 1, "POST .../stocks-report/wb-warehouses: 3 per minute, burst 1"),
    "wb-stocks-report-seller": Limit(3, 60.0, 1, "POST .../stocks-report/seller-warehouses: 3 per minute, burst 1"),
    "wb-remains-create": Limit(1, 60.0, 5, "GET /api/v1/warehouse_remains: 1 per minute, burst 5"),
    "wb-remains-status": Limit(1, 5.0, 5, "GET .../tasks/{id}/status: 1 per 5 s, burst 5"),
    "wb-remains-download": Limit(1, 60.0, 1, "GET .../tasks/{id}/download: 1 per minute, burst 1"),
    "wb-remains-create:basic": Limit(4, 3600.0, 1, "remains create, Basic token: 4 per hour, burst 1"),
    "wb-remains-status:basic": Limit(4, 3600.0, 1, "remains status, Basic token: 4 per hour, burst 1"),
    "wb-remains-download:basic": Limit(4, 3600.0, 1, "remains download, Basic token: 4 per hour, burst 1"),
    "wb-marketplace": Limit(300, 60.0, 20, "marketplace-api (/api/v3/...): 300 per minute, burst 20; a 4XX costs 10"),
    "wb-marketplace:basic": Limit(150, 60.0, 10, "marketplace-api, Basic token: 150 per minute, burst 10"),
    "wb-content": Limit(100, 60.0, 5, "content-api (/content/...): 100 per minute, burst 5"),
    "ym-campaigns": Limit(1000, 3600.0, 1000, "YM GET /v2/campaigns: 1,000 per hour per key (§3.2)"),
    "ym-campaign": Limit(5000, 3600.0, 5000, "YM GET /v2/campaigns/{id}: 5,000 per hour per campaign"),
    "ym-stocks": Limit(100_000, 60.0, 100_000, "YM getStocks: 100,000 offers returned per minute per campaign"),
    "ym-stocks-v3": Limit(500, 60.0, 500, "YM POST /v3/businesses/{id}/offers/stocks: 500 per minute"),
    "ym-fulfillment-warehouses": Limit(100, 3600.0, 100, "YM GET /v2/warehouses: 100 per hour per key"),
    "ym-warehouses": Limit(100, 3600.0, 100, "YM POST /v2/businesses/{id}/warehouses: 100 per hour"),
    "ym-warehouses-v3": Limit(100, 3600.0, 100, "YM POST /v3/businesses/{id}/warehouses: 100 per hour"),
    "ym-offer-mappings": Limit(100, 60.0, 100, "YM offer-mappings: 100 per minute per business (tier none)"),
    "ym-auth-token": Limit(100, 3600.0, 100, "YM POST /v2/auth/token: 100 per hour per key"),
}
# Yandex Market: the resource name and period word of each group's 420 message
# ("Hit rate limit of N requests per 'period' for resource 'R'", §3.1).
YM_RESOURCES: dict[str, tuple[str, str]] = {
    "ym-campaigns": ("getCampaigns", "hour"),
    "ym-campaign": ("getCampaign", "hour"),
    "ym-stocks": ("getStocks", "minute"),
    "ym-stocks-v3": ("getStocksOnPartnerWarehouses", "minute"),
    "ym-fulfillment-warehouses": ("getFulfillmentWarehouses", "hour"),
    "ym-warehouses": ("getPagedWarehouses", "hour"),
    "ym-warehouses-v3": ("getPartnerWarehouses", "hour"),
    "ym-offer-mappings": ("getOfferMappings", "minute"),
    "ym-auth-token": ("getAuthTokenInfo", "hour"),
}
YM_PARALLEL = 4  # requests in flight per campaign, business or key (§3.2)
# Requests a 4XX answer counts as, per WB host (wildberries.md §2.5).
WB_4XX_COST = {"wb-marketplace": 10}


def groups_for(groups: tuple[str, ...], basic: bool, limits: dict[str, Limit] | None = None) -> tuple[str, ...]:
    """The groups a request pays into: the Basic variants for a Basic token where they exist."""
    table = limits or RATE_LIMITS
    if not basic:
        return groups
    return tuple(f"{g}:basic" if f"{g}:basic" in table else g for g in groups)


@dataclass
class Decision:
    """Outcome of one request against its buckets; times are seconds (already scaled)."""

    allowed: bool
    remaining: int
    limit: int
    retry_after: float = 0.0
    reset: float = 0.0
    group: str = ""  # the group that decided (the one that denied, or the last one)


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
                        denied = Decision(False, 0, limit.burst, retry, (limit.burst - tokens) * interval, group)
            if denied is not None:
                for group, tokens in states:
                    self._buckets[(credential, group)] = (tokens, now)
                return denied
            for group, tokens in states:
                self._buckets[(credential, group)] = (tokens - 1.0, now)
            last = states[-1][1] - 1.0
            interval = binding.interval * self.scale
            return Decision(True, int(last), binding.burst, 0.0, (binding.burst - last) * interval, groups[-1])

    def charge(self, credential: str, groups: Sequence[str], tokens: float) -> int:
        """Take `tokens` more from every group (a bucket may go below zero: the next requests
        wait longer). Returns what remains in the last group, floored at 0."""
        if self.scale == 0 or tokens <= 0:
            return self.peek(credential, groups[-1])
        now = self._clock()
        with self._lock:
            left = 0.0
            for group in groups:
                limit = self.limits[group]
                interval = limit.interval * self.scale
                have, at = self._buckets.get((credential, group), (float(limit.burst), now))
                have = min(float(limit.burst), have + (now - at) / interval) - tokens
                self._buckets[(credential, group)] = (have, now)
                left = have
            return max(0, int(left))

    def peek(self, credential: str, group: str) -> int:
        """Whole tokens in one bucket now, without taking any."""
        limit = self.limits[group]
        if self.scale == 0:
            return limit.burst
        now = self._clock()
        with self._lock:
            have, at = self._buckets.get((credential, group), (float(limit.burst), now))
        return max(0, int(min(float(limit.burst), have + (now - at) / (limit.interval * self.scale))))

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()


def rfc822(epoch: float) -> str:
    """`Thu, 10 Jul 2018 00:42:42 GMT`, rounded up to the whole second (a client that waits
    until then must find the allowance back)."""
    return formatdate(math.ceil(epoch), usegmt=True)


class ParallelLimiter:
    """At most `limit` requests in flight per key (YM: per campaign, business or key, §3.2).

    Not a rate, so `rate_limit_scale` cannot scale it: it is on unless the scale is 0."""

    def __init__(self, limit: int = YM_PARALLEL, enabled: bool = True) -> None:
        self.limit = limit
        self.enabled = enabled
        self._lock = threading.Lock()
        self._busy: Counter[str] = Counter()

    def enter(self, key: str) -> bool:
        """Take a slot for `key`; False (and nothing taken) when all are busy."""
        if not self.enabled:
            return True
        with self._lock:
            if self._busy[key] >= self.limit:
                return False
            self._busy[key] += 1
            return True

    def leave(self, key: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._busy[key] -= 1
            if self._busy[key] <= 0:
                del self._busy[key]
