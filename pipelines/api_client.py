"""The HTTP client layer shared by the Ozon and WB sources.

One place decides how we talk to a marketplace: auth headers, timeouts, which failures are
retried (5xx, timeouts, dropped connections, truncated JSON) and which are not (400/401/403),
how long to wait after a 429 (exactly what `X-Ratelimit-Retry` / `Retry-After` say, else
exponential backoff with jitter), and client-side pacing so that known limits are not hit in
the first place. Every request and retry is counted in `SyncStats` for `sync_logs`.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

import orjson
import requests

if TYPE_CHECKING:
    from pipelines.config import Settings

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {500, 502, 503, 504, 520, 521, 522, 524}
GONE_STATUS = {404, 410}
MAX_BACKOFF_SECONDS = 60.0


class ApiError(RuntimeError):
    """A marketplace call failed for good. The message names marketplace and endpoint, never a secret."""

    def __init__(self, marketplace: str, endpoint: str, message: str, status: int | None = None):
        self.marketplace = marketplace
        self.endpoint = endpoint
        self.status = status
        super().__init__(message)


class AuthError(ApiError):
    """401/403: the credentials are wrong or lack a permission. Never retried."""


class EndpointGone(ApiError):
    """404/410: the method is retired (or unknown). Callers may fall back to another method.

    Not every 404 is this: Ozon answers a bad Api-Key with 404 too (`auth_failure` of the
    marketplace's client tells them apart), and that is an `AuthError`.
    """


def default_auth_failure(status: int, body: Any) -> bool:
    """401 and 403 are authorization failures on every marketplace."""
    return status in (401, 403)


@dataclass
class SyncStats:
    """Request and retry counters for one marketplace's sync (thread-safe)."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    waits: list[float] = field(default_factory=list)
    by_endpoint: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_request(self, endpoint: str) -> None:
        with self._lock:
            self.requests += 1
            self.by_endpoint[endpoint] += 1

    def count_retry(self, wait: float, rate_limited: bool) -> None:
        with self._lock:
            self.retries += 1
            self.rate_limited += int(rate_limited)
            self.waits.append(wait)

    def as_dict(self) -> dict[str, Any]:
        """Plain data (the lock stays behind), e.g. to hand the counters to another process."""
        with self._lock:
            return {"requests": self.requests, "retries": self.retries, "rate_limited": self.rate_limited,
                    "waits": list(self.waits), "by_endpoint": dict(self.by_endpoint)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SyncStats":
        return cls(requests=data["requests"], retries=data["retries"], rate_limited=data["rate_limited"],
                   waits=list(data["waits"]), by_endpoint=Counter(data["by_endpoint"]))


class Pacer:
    """Client-side pacing: at most one call per `interval` seconds for each endpoint group."""

    def __init__(self, intervals: Mapping[str, float], scale: float, sleep: Callable[[float], None]):
        self._intervals = {k: v * scale for k, v in intervals.items()}
        self._next_allowed: dict[str, float] = {}
        self._lock = threading.Lock()
        self._sleep = sleep

    def charge(self, group: str, calls: float) -> None:
        """Count `calls` more calls against a group, e.g. WB's 10 for a 4XX or a server-reported
        empty bucket (`Ratelimit-Remaining: 0`): the next call waits that much longer."""
        interval = self._intervals.get(group, 0.0)
        if interval <= 0 or calls <= 0:
            return
        with self._lock:
            start = max(time.monotonic(), self._next_allowed.get(group, 0.0))
            self._next_allowed[group] = start + interval * calls

    def wait(self, group: str) -> None:
        interval = self._intervals.get(group, 0.0)
        if interval <= 0:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_allowed.get(group, 0.0))
            self._next_allowed[group] = start + interval
        if start > now:
            self._sleep(start - now)


def retry_after_seconds(response: requests.Response) -> float | None:
    """What the server told us to wait: WB's `X-Ratelimit-Retry`, else the standard `Retry-After`."""
    for header in ("X-Ratelimit-Retry", "Retry-After"):
        value = response.headers.get(header)
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
    return None


def error_body(response: requests.Response) -> Any:
    """The parsed error body, or None when it is not JSON (an nginx page, plain text)."""
    try:
        return response.json()
    except ValueError:
        return None


def error_text(response: requests.Response) -> str:
    """The useful part of an error body in any of the marketplaces' formats.

    Ozon `{code, message}`, WB `{title, detail}`, WB marketplace `{code: "SKUUploadDisabled",
    message}`, WB content `{errorText}`, WB statistics `{errors: [...]}`.
    """
    body = error_body(response)
    if body is None:
        return response.text[:300].strip() or response.reason
    if isinstance(body, dict):
        text = ""
        for key in ("message", "detail", "errorText", "title"):
            if body.get(key):
                text = str(body[key])
                break
        if not text and body.get("errors"):
            errors = body["errors"]
            text = "; ".join(map(str, errors)) if isinstance(errors, list) else str(errors)
        code = body.get("code")
        if isinstance(code, str) and code and "message" in body and code not in text:
            text = f"{code}: {text}" if text else code  # WB marketplace names the error in `code`
        if text:
            return text[:300]
    return json.dumps(body, ensure_ascii=False)[:300]


def remaining_calls(response: requests.Response) -> int | None:
    """What the server says is left of its bucket (Ozon `Ratelimit-Remaining`, WB `X-Ratelimit-Remaining`)."""
    for header in ("X-Ratelimit-Remaining", "Ratelimit-Remaining"):
        value = response.headers.get(header)
        if value is not None:
            try:
                return int(float(value))
            except ValueError:
                return None
    return None


class ApiClient:
    """A small JSON-over-HTTP client for one marketplace.

    `endpoint_groups` maps a path prefix to a pacing group; `pacing` gives each group its
    minimum interval in seconds (scaled by `rate_limit_scale`; 0 turns pacing off).
    `error_cost` says how many calls a 4XX answer costs in a group (WB counts any 4XX on its
    marketplace API as 10 requests). `auth_failure(status, body)` tells an authorization
    failure from the rest (Ozon answers a bad key with 404 code 5).
    A 204 answer returns None: the marketplaces use it for "no data".
    """

    def __init__(
        self,
        marketplace: str,
        headers: Mapping[str, str],
        *,
        secrets: list[str],
        timeout: float = 60.0,
        max_retries: int = 6,
        backoff_base: float = 1.0,
        pacing: Mapping[str, float] | None = None,
        endpoint_groups: Callable[[str], str] | None = None,
        rate_limit_scale: float = 1.0,
        stats: SyncStats | None = None,
        sleep: Callable[[float], None] = time.sleep,
        error_cost: Mapping[str, float] | None = None,
        auth_failure: Callable[[int, Any], bool] = default_auth_failure,
    ):
        self.marketplace = marketplace
        self._error_cost = dict(error_cost or {})
        self._auth_failure = auth_failure
        self.session = requests.Session()
        self.session.headers.update(headers)
        self.session.headers.setdefault("User-Agent", "invsync/0.1")
        self._secrets = [s for s in secrets if s]
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.stats = stats or SyncStats()
        self._sleep = sleep
        self._group = endpoint_groups or (lambda path: "default")
        self._pacer = Pacer(pacing or {}, rate_limit_scale, sleep)

    # -- helpers -------------------------------------------------------------------------------
    def _mask(self, text: str) -> str:
        from pipelines.config import mask_secrets

        return mask_secrets(text, self._secrets)

    def _fail(self, cls: type[ApiError], endpoint: str, message: str, status: int | None = None) -> ApiError:
        label = {"ozon": "Ozon", "wb": "Wildberries"}.get(self.marketplace, self.marketplace)
        return cls(self.marketplace, endpoint, self._mask(f"{label} {endpoint}: {message}"), status)

    def _backoff(self, attempt: int) -> float:
        base = self.backoff_base * (2**attempt)
        return min(MAX_BACKOFF_SECONDS, base + random.uniform(0, self.backoff_base))

    def _rejected(self, endpoint: str, response: requests.Response) -> ApiError:
        """The error for an answer that must not be retried: auth, retired method, or a bad request."""
        status = response.status_code
        if self._auth_failure(status, error_body(response)):
            return self._fail(
                AuthError, endpoint,
                f"authorization failed ({status}: {error_text(response)}); check the credentials and their permissions",
                status,
            )
        if status in GONE_STATUS:
            return self._fail(EndpointGone, endpoint, f"method not found ({status}: {error_text(response)})", status)
        return self._fail(ApiError, endpoint, f"request rejected ({status}: {error_text(response)})", status)

    # -- the one request method ----------------------------------------------------------------
    def request(
        self,
        method: str,
        url: str,
        *,
        endpoint: str,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send one call and return the parsed JSON, retrying what is worth retrying."""
        group = self._group(endpoint)
        last_problem = ""
        for attempt in range(self.max_retries + 1):
            self._pacer.wait(group)
            self.stats.count_request(endpoint)
            wait: float | None = None
            rate_limited = False
            try:
                response = self.session.request(
                    method, url, json=json_body, params=params, timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_problem = f"connection failed ({type(exc).__name__})"
            else:
                status = response.status_code
                if remaining_calls(response) == 0:
                    self._pacer.charge(group, 1)  # the server's bucket is empty: let it refill
                if status == 204:
                    return None
                if status < 300:
                    try:
                        return orjson.loads(response.content)
                    except orjson.JSONDecodeError:
                        last_problem = f"answered invalid or truncated JSON ({len(response.content)} bytes)"
                elif status == 429:
                    rate_limited = True
                    wait = retry_after_seconds(response)
                    last_problem = f"rate limited (429: {error_text(response)})"
                elif status in RETRYABLE_STATUS:
                    last_problem = f"server error {status}: {error_text(response)}"
                else:
                    if 400 <= status < 500:
                        self._pacer.charge(group, self._error_cost.get(group, 1) - 1)
                    raise self._rejected(endpoint, response)
            if attempt == self.max_retries:
                break
            if wait is None:
                wait = self._backoff(attempt)
            self.stats.count_retry(wait, rate_limited)
            log.warning("%s %s: %s; retry %d in %.2fs", self.marketplace, endpoint, self._mask(last_problem), attempt + 1, wait)
            self._sleep(wait)
        raise self._fail(ApiError, endpoint, f"gave up after {self.max_retries + 1} attempts: {last_problem}")


def client_for(
    settings: "Settings",
    marketplace: str,
    headers: Mapping[str, str],
    pacing: Mapping[str, float],
    endpoint_groups: Callable[[str], str],
    stats: SyncStats | None = None,
    backoff_base: float = 1.0,
    error_cost: Mapping[str, float] | None = None,
    auth_failure: Callable[[int, Any], bool] = default_auth_failure,
) -> ApiClient:
    """A client configured from the settings (timeouts, retries, pacing scale, secrets to mask)."""
    return ApiClient(
        marketplace,
        headers,
        secrets=settings.secrets(),
        timeout=settings.http_timeout,
        max_retries=settings.max_retries,
        backoff_base=backoff_base,
        pacing=pacing,
        endpoint_groups=endpoint_groups,
        rate_limit_scale=settings.rate_limit_scale,
        stats=stats,
        error_cost=error_cost,
        auth_failure=auth_failure,
    )
