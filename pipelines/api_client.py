"""The HTTP client layer shared by every marketplace's source.

(Over 400 lines on purpose: one request's whole life — pacing, retries, redirects, errors,
counters — reads in one place; the pieces share the client's state and one lock.)

One place decides how we talk to a marketplace: auth headers, timeouts, which failures are
retried (5xx, timeouts, dropped connections, truncated JSON) and which are not (400/401/403),
how long to wait after a 429 (or the status a marketplace's client names instead, e.g. 420;
exactly what `X-Ratelimit-Retry` / `Retry-After` say, or the client's own reader of the wait, up to
INVSYNC_MAX_SERVER_WAIT; else exponential backoff with jitter), and client-side pacing so that
known limits are not hit in the first place. Every request and retry is counted in `SyncStats`
for `sync_logs`.

Three guards keep one bad answer from doing harm (issue 15):
- credentials stay on their host: redirects are followed by hand, only to the same scheme,
  host and port, because `requests` would carry `Api-Key`/`Client-Id` to any host it is sent
  to (it strips only `Authorization`) and over plain http after an https → http redirect;
- a server-requested wait longer than `max_server_wait` fails the call at once ("rate limited
  for N s") instead of stalling a sync for an hour, and long waits are logged before sleeping;
  unless the credential's own published limits explain it (`explained_waits`, e.g. a WB Basic
  token's 15 minutes between remains-report calls): a planned wait is not an unexpected one;
- an answer of the wrong shape (an object where an array belongs, a string for an object)
  fails naming the marketplace and method (`expect=`), not deep in a parser with
  `'str' object has no attribute 'get'`.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Callable, Collection, Mapping
from urllib.parse import urljoin, urlsplit

import orjson
import requests

from pipelines.masking import mask_secrets

if TYPE_CHECKING:  # types only: the client needs the settings' values, handed in by `client_for`
    from pipelines.config import Settings

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {500, 502, 503, 504, 520, 521, 522, 524}
# The status a server answers "slow down" with, unless a marketplace's client names others
# (some APIs answer 420 "Enhance Your Calm"): waited out as the server asks, within the cap.
RATE_LIMIT_STATUS = frozenset({429})
GONE_STATUS = {404, 410}
MAX_BACKOFF_SECONDS = 60.0
REDIRECT_STATUS = {301, 302, 303, 307, 308}
MAX_REDIRECTS = 5
# A server-requested wait at least this long is announced before sleeping (progress shows it).
ANNOUNCED_WAIT_SECONDS = 5.0
DEFAULT_PORTS = {"http": 80, "https": 443}


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


class RedirectRefused(ApiError):
    """A redirect to another scheme, host or port: not followed, so no credential leaves its host."""


class RateLimitTooLong(ApiError):
    """The server asked for a wait longer than INVSYNC_MAX_SERVER_WAIT: failing beats stalling."""


class UnexpectedAnswer(ApiError):
    """The answer's JSON has the wrong shape for the method (e.g. an object where an array belongs).

    Not retried: a server that answers the wrong shape once will most likely do it again, and
    a parser must never guess what a malformed answer meant.
    """


# ---------------------------------------------------------------------- answer shapes
# A shape is a type (`dict`, `list`, `str`...), `[shape]` (an array whose elements all have
# that shape) or `{key: shape}` (an object whose listed keys, where present and not null,
# have those shapes; other keys are not checked). Missing keys and nulls are left to the
# parsers, which read them as "nothing": only a value of the wrong kind is an error.
Shape = Any

_JSON_NAMES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
               int: "a number", float: "a number", type(None): "null"}


def json_kind(value: Any) -> str:
    """What a parsed JSON value is, in JSON's words ("an object", "an array", "a string"...)."""
    return _JSON_NAMES.get(type(value), type(value).__name__)


# What a JSON parser returns (the types `shape_problem` reads).
JSON_VALUES = (dict, list, str, int, float, bool, type(None))


def shape_problem(value: Any, shape: Shape, where: str = "") -> str | None:
    """Why `value` does not have `shape` (None when it does); `where` names the place (`items[3]`).

    Only the first problem is described: enough to name the method and the field. The place of
    an array's element is named only for the element that misfits (checked again with it): a
    page holds thousands of elements, and formatting each one's place was most of the check.
    """
    if value is None or shape is None:
        return None
    if isinstance(shape, list):
        if not isinstance(value, list):
            return _mismatch("an array", value, where)
        inner = shape[0] if shape else None
        if inner is None or inner is Any:
            return None
        if inner is dict:  # the usual page, `[dict]`: one pass without a call per element
            fits = (element is None or isinstance(element, dict) for element in value)
        else:
            fits = (shape_problem(element, inner) is None for element in value)
        for i, fit in enumerate(fits):
            if not fit:
                return shape_problem(value[i], inner, f"{where}[{i}]")
        return None
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return _mismatch("an object", value, where)
        for key, inner in shape.items():
            problem = shape_problem(value.get(key), inner, f"{where}.{key}" if where else key)
            if problem:
                return problem
        return None
    if shape is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif shape is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, shape)
    return None if ok else _mismatch(_JSON_NAMES.get(shape, shape.__name__), value, where)


def _mismatch(expected: str, value: Any, where: str) -> str:
    return f"expected {expected}{f' at {where}' if where else ''}, got {json_kind(value)}"


# ---------------------------------------------------------------------- redirects
def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in: what must not change."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: never the same origin
        port = -1
    return scheme, (parts.hostname or "").lower(), port if port is not None else DEFAULT_PORTS.get(scheme)


def safe_url(url: str, with_path: bool = True) -> str:
    """scheme://host[:port][/path] of a URL: no user:password, no query, no fragment.

    Why: a redirect target is chosen by the server, and its query (or userinfo) may carry
    anything, a credential included; the path alone says where it pointed.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    shown = f"{parts.scheme.lower()}://{host}{f':{port}' if port is not None else ''}"
    if with_path:
        path = parts.path or "/"
        shown += path if len(path) <= 120 else path[:120] + "…"
    return shown


def _seconds(value: float) -> str:
    """A wait as people write it: 3600, 0.4."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


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
    # What the client is waiting for right now and why (progress shows it), or "".
    waiting: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def set_waiting(self, text: str) -> None:
        with self._lock:
            self.waiting = text

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
                    "waits": list(self.waits), "by_endpoint": dict(self.by_endpoint), "waiting": self.waiting}

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

    def delay(self, group: str) -> float:
        """Book the group's next slot; the seconds to wait before using it (0 = go now)."""
        interval = self._intervals.get(group, 0.0)
        if interval <= 0:
            return 0.0
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_allowed.get(group, 0.0))
            self._next_allowed[group] = start + interval
        return start - now

    def wait(self, group: str) -> None:
        delay = self.delay(group)
        if delay > 0:
            self._sleep(delay)


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


def http_date(value: str | None) -> datetime | None:
    """An HTTP date header (RFC 822 / RFC 1123: `Thu, 10 Jul 2018 00:42:42 GMT`) as an aware UTC
    datetime; None when absent or unreadable (never a guess)."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def seconds_until_header(response: requests.Response, header: str, minimum: float = 1.0) -> float | None:
    """How long until the HTTP date in `header` (a reset time some servers send instead of a
    `Retry-After` duration), or None when the header is absent or unreadable.

    Counted from the answer's own `Date` header when it has one, so a skewed local clock can
    neither shorten nor stretch the wait; else from this machine's clock. A reset time already
    passed (or less than `minimum` away: both dates have whole seconds) gives `minimum`, so the
    retry does not land inside the very second the server still counts.
    """
    until = http_date(response.headers.get(header))
    if until is None:
        return None
    now = http_date(response.headers.get("Date")) or datetime.now(timezone.utc)
    return max(minimum, (until - now).total_seconds())


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

    `max_server_wait` caps a single wait the server asks for (429 `X-Ratelimit-Retry` /
    `Retry-After`) that nothing explains; `explained_waits` maps a group to (seconds, reason):
    the credential's published limit there, under which a 429's wait is expected and obeyed
    even above the cap. `pacing_reasons` names why a group is paced (shown with long planned
    waits). `max_redirects` caps the same-origin redirects one call may follow.
    Redirects to another scheme, host or port are refused (`RedirectRefused`): the session's
    headers carry the marketplace's credentials, and they must only go where they were meant.
    `label` is the marketplace as people name it, the first word of every error and wait note:
    given by the caller (the marketplace's source module), so this layer asks no registry.

    `rate_limit_status` are the statuses that mean "rate limited" (default 429; an API that
    answers 420 names it), `server_wait(response)` reads from such an answer how long the server
    asks to wait (default `retry_after_seconds`; None = back off as for a server error), and
    `retry_status` are the other statuses retried with back-off (default: the 5xx family).
    Whatever they are, the cap (`max_server_wait`) and the counters apply alike.
    """

    def __init__(
        self,
        marketplace: str,
        headers: Mapping[str, str],
        *,
        label: str,
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
        max_server_wait: float = 300.0,
        max_redirects: int = MAX_REDIRECTS,
        explained_waits: Mapping[str, tuple[float, str]] | None = None,
        pacing_reasons: Mapping[str, str] | None = None,
        rate_limit_status: Collection[int] = RATE_LIMIT_STATUS,
        server_wait: Callable[[requests.Response], float | None] = retry_after_seconds,
        retry_status: Collection[int] = RETRYABLE_STATUS,
    ):
        self.marketplace = marketplace
        self.rate_limit_status = frozenset(rate_limit_status)
        self.retry_status = frozenset(retry_status)
        self._server_wait = server_wait
        self.label = label
        self.explained_waits = dict(explained_waits or {})
        self.pacing_reasons = dict(pacing_reasons or {})
        self.max_server_wait = max_server_wait
        self.max_redirects = max_redirects
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
        return mask_secrets(text, self._secrets)

    def _fail(self, cls: type[ApiError], endpoint: str, message: str, status: int | None = None) -> ApiError:
        return cls(self.marketplace, endpoint, self._mask(f"{self.label} {endpoint}: {message}"), status)

    def expect_shape(self, answer: Any, shape: Shape, endpoint: str) -> Any:
        """`answer` itself when it has `shape` (see `shape_problem`), else `UnexpectedAnswer`.

        The one check every API wrapper relies on (through `request(expect=...)`), so a
        malformed answer is reported as "<Marketplace> <method>: unexpected answer shape
        (expected an array at items, got an object)" wherever it comes from. None (a 204, "no
        data") always passes: callers read it as an empty answer.
        """
        problem = shape_problem(answer, shape)
        if problem:
            raise self._fail(UnexpectedAnswer, endpoint, f"unexpected answer shape ({problem})")
        return answer

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

    def _paced(self, group: str, endpoint: str) -> None:
        """Wait for the group's next slot. A long wait, or any wait of a group paced for a stated
        reason (a WB Basic token's 15 minutes), is announced with its reason first."""
        delay = self._pacer.delay(group)
        if delay <= 0:
            return
        if delay >= ANNOUNCED_WAIT_SECONDS or group in self.pacing_reasons:
            note = f"{self.label} {endpoint}: waiting {_seconds(round(delay, 1))} s, planned ({self.pacing_reasons.get(group, 'pacing')})"
            log.warning("%s", note)
            self.stats.set_waiting(note)
            try:
                self._sleep(delay)
            finally:
                self.stats.set_waiting("")
        else:
            self._sleep(delay)

    def _explained(self, group: str, wait: float) -> str | None:
        """The published limit that explains a server-requested wait in this group, if any."""
        limit = self.explained_waits.get(group)
        return limit[1] if limit and wait <= limit[0] else None

    # -- redirects -----------------------------------------------------------------------------
    def _send(
        self, method: str, url: str, endpoint: str, group: str, json_body: Any, params: Mapping[str, Any] | None,
    ) -> requests.Response:
        """One HTTP exchange, following redirects by hand and only within the URL's origin.

        `requests` follows redirects anywhere and strips only `Authorization`, so Ozon's
        `Api-Key` and `Client-Id` would reach whatever host a 307 names, in clear text after an
        https → http redirect. Here a redirect is followed only to the same scheme, host and
        port (307/308 keep the method and body, 301/302/303 become a GET as browsers and
        `requests` do); any other target fails the call with `RedirectRefused`, naming the
        target without its query (which the server chose and may carry anything). Each hop
        is paced and counted as a request.
        """
        origin = _origin(url)
        # A redirect target is masked before `safe_url` shortens it: a long credential cut in
        # two would no longer match the mask, and its first half would be shown.
        for hop in range(self.max_redirects + 1):
            self._paced(group, endpoint)
            self.stats.count_request(endpoint)
            response = self.session.request(method, url, json=json_body, params=params, timeout=self.timeout,
                                            allow_redirects=False)
            location = response.headers.get("Location")
            if response.status_code not in REDIRECT_STATUS or not location:
                return response
            status = response.status_code
            response.close()
            target = urljoin(response.url or url, location.strip())
            if _origin(target) != origin:
                scheme, host, port = _origin(target)
                what = "host" if host != origin[1] else "scheme" if scheme != origin[0] else "port"
                raise self._fail(
                    RedirectRefused, endpoint,
                    f"refused to follow a redirect ({status}) to another {what} ({safe_url(self._mask(target))}); "
                    f"credentials are only sent to {safe_url(url, with_path=False)}",
                    status,
                )
            if hop == self.max_redirects:
                break
            log.info("%s %s: following a %d redirect to %s", self.marketplace, endpoint, status, safe_url(self._mask(target)))
            if status in (301, 302, 303) and method.upper() not in ("GET", "HEAD"):
                method, json_body = "GET", None
            url, params = target, None  # the target carries its own query
        raise self._fail(RedirectRefused, endpoint, f"too many redirects (more than {self.max_redirects})")

    # -- the one request method ----------------------------------------------------------------
    def request(
        self,
        method: str,
        url: str,
        *,
        endpoint: str,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        expect: Shape = None,
        parse: Callable[[bytes], Any] | None = None,
    ) -> Any:
        """Send one call and return the parsed JSON, retrying what is worth retrying.

        `expect` is the answer's shape (`dict`, `[dict]`, `{"items": [dict]}`...; see
        `shape_problem`): an answer of another shape fails as `UnexpectedAnswer` naming this
        method. None (204) is returned as is. `parse` reads the body instead of `orjson.loads`
        (it raises `orjson.JSONDecodeError` for a body that is not JSON, which is retried); what
        it returns that is not a JSON value (a table it built and checked itself) is returned
        without the shape check.
        """
        group = self._group(endpoint)
        last_problem = ""
        explained_wait_taken = False  # one long wait the credential's limits explain, per call
        for attempt in range(self.max_retries + 1):
            wait: float | None = None
            rate_limited = False
            try:
                response = self._send(method, url, endpoint, group, json_body, params)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_problem = f"connection failed ({type(exc).__name__})"
            else:
                status = response.status_code
                if remaining_calls(response) == 0 and group not in self.pacing_reasons:
                    # The server's bucket is empty: let it refill. Not for a group paced to the
                    # credential's own limit (burst 1 always reports 0 left; its pace is the refill).
                    self._pacer.charge(group, 1)
                if status == 204:
                    return None
                if status < 300:
                    try:
                        answer = (parse or orjson.loads)(response.content)
                    except orjson.JSONDecodeError:
                        last_problem = f"answered invalid or truncated JSON ({len(response.content)} bytes)"
                    else:
                        if not isinstance(answer, JSON_VALUES):
                            return answer
                        return self.expect_shape(answer, expect, endpoint)
                elif status in self.rate_limit_status:
                    rate_limited = True
                    wait = self._server_wait(response)
                    last_problem = f"rate limited ({status}: {error_text(response)})"
                    if wait is not None and wait > self.max_server_wait and (
                            explained_wait_taken or not self._explained(group, wait)):
                        # Sleeping an hour inside a sync helps no one: fail now, say when to retry.
                        # (A long wait the limits explain is taken once per call: a second one
                        # means the limits are not what we think.)
                        raise self._fail(
                            RateLimitTooLong, endpoint,
                            f"rate limited for {_seconds(wait)} s (more than INVSYNC_MAX_SERVER_WAIT="
                            f"{_seconds(self.max_server_wait)} s); try again later",
                            status,
                        )
                    explained_wait_taken = explained_wait_taken or (wait is not None and wait > self.max_server_wait)
                elif status in self.retry_status:
                    last_problem = f"server error {status}: {error_text(response)}"
                else:
                    if 400 <= status < 500:
                        self._pacer.charge(group, self._error_cost.get(group, 1) - 1)
                    raise self._rejected(endpoint, response)
            if attempt == self.max_retries:
                break
            server_asked = wait is not None
            if wait is None:
                wait = self._backoff(attempt)
            self.stats.count_retry(wait, rate_limited)
            if server_asked and wait >= ANNOUNCED_WAIT_SECONDS:
                reason = self._explained(group, wait)
                why = f"; expected: {reason}" if reason else ""
                note = f"{self.label} {endpoint}: waiting {_seconds(wait)} s as the server asks{why}"
                log.warning("%s (%s); retry %d of %d", note, self._mask(last_problem), attempt + 1, self.max_retries)
                self.stats.set_waiting(note)
            else:
                log.warning("%s %s: %s; retry %d in %.2fs", self.marketplace, endpoint, self._mask(last_problem), attempt + 1, wait)
            try:
                self._sleep(wait)
            finally:
                self.stats.set_waiting("")
        raise self._fail(ApiError, endpoint, f"gave up after {self.max_retries + 1} attempts: {last_problem}")


def client_for(
    settings: "Settings",
    marketplace: str,
    label: str,
    headers: Mapping[str, str],
    pacing: Mapping[str, float],
    endpoint_groups: Callable[[str], str],
    stats: SyncStats | None = None,
    backoff_base: float = 1.0,
    error_cost: Mapping[str, float] | None = None,
    auth_failure: Callable[[int, Any], bool] = default_auth_failure,
    explained_waits: Mapping[str, tuple[float, str]] | None = None,
    pacing_reasons: Mapping[str, str] | None = None,
    rate_limit_status: Collection[int] = RATE_LIMIT_STATUS,
    server_wait: Callable[[requests.Response], float | None] = retry_after_seconds,
    retry_status: Collection[int] = RETRYABLE_STATUS,
) -> ApiClient:
    """A client configured from the settings (timeouts, retries, pacing scale, the longest
    server-requested wait, secrets to mask). The last three are the marketplace's own way of
    saying "slow down" and "try again" (see `ApiClient`); the defaults are 429 with
    `X-Ratelimit-Retry` / `Retry-After`, and the 5xx family."""
    return ApiClient(
        marketplace,
        headers,
        label=label,
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
        max_server_wait=settings.max_server_wait,
        explained_waits=explained_waits,
        pacing_reasons=pacing_reasons,
        rate_limit_status=rate_limit_status,
        server_wait=server_wait,
        retry_status=retry_status,
    )
