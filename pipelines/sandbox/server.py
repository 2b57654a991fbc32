"""The sandbox HTTP server: one base URL serving Ozon, the four WB hosts, Yandex Market and a
control API.

(Over 400 lines on purpose: the request path — routing, auth, limits, faults, the control API —
is one sequence per request; the parts it calls live in their own modules.)

Why one URL: the Ozon and WB paths do not collide, so every `*_API_URL` can point at the
same loopback server. Each API request goes through the same steps as on the real services:
route (404 unknown / retired / removed), injected faults, authentication, rate limits, the
handler, answer faults. HTTP/1.1 keep-alive with Content-Length on every answer (none on a
204), TCP_NODELAY, and the head and body written together, so a client pays no
Nagle/delayed-ACK stalls per page.

Headers (ozon.md §4, wildberries.md §3): every Ozon 2xx carries `Ratelimit-Remaining`, an
Ozon 429 carries `Retry-After` (seconds, scaled). Every WB answer except a 429 carries
`X-Ratelimit-Remaining`; a WB 429 carries `X-Ratelimit-Retry`, `X-Ratelimit-Limit` and
`X-Ratelimit-Reset`. On marketplace-api a 4XX answer (other than 401 and 429) costs 10 tokens.
Yandex Market (yandex_market.md §3.2): every answer past authentication carries
`X-RateLimit-Resource-Limit`, `-Remaining` and `-Until` (RFC 822); over a resource limit or
beyond 4 requests in flight per campaign / business -> HTTP 420 with the YM error body; getStocks
pays one token per offer it returns (`Route.cost`).

Control API (no auth): `POST /sandbox/tick {"steps"}`, `GET /sandbox/account` (summary),
`GET /sandbox/health`, `GET|POST|DELETE /sandbox/faults`, `GET /sandbox/expected
[?marketplace=ozon|wb|ym]`, `GET|POST /sandbox/wb-aggregation {"enabled": bool}`.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

from . import ozon_api as oz
from . import wb_api as wb
from . import ym_api as ym
from .account import Account
from .auth import (
    BASIC_REFUSED,
    OZON_API_KEY,
    OZON_CLIENT_ID,
    WB_API_TOKEN,
    YM_API_KEY,
    check_ozon,
    check_wb,
    check_ym,
    wb_raw_token,
)
from .errors import PATH_NOT_FOUND, ApiError, ozon_error_body, wb_body, ym_error_body
from .faults import POST_KINDS, PRE_KINDS, Fault, FaultSet, apply_post
from .jsonio import NoContent, Rows, dumps, encode
from .limits import WB_4XX_COST, YM_PARALLEL, YM_RESOURCES, ParallelLimiter, RateLimiter, fmt_seconds, groups_for, rfc822
from .reference import utc_iso
from .options import SandboxOptions
from .routing import Request, Route, int_field


class RequestLog(list):
    """(method, path, status) of every request served, in order; status 0 = dropped."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.append((method, path, status))

    def hits(self, path: str | None = None, status: int | None = None, method: str | None = None) -> int:
        """How many logged requests match all the given parts."""
        with self._lock:
            return sum(1 for m, p, s in self if (path is None or p == path)
                       and (status is None or s == status) and (method is None or m == method))

    def counter(self) -> Counter[tuple[str, str, int]]:
        with self._lock:
            return Counter(self)


@dataclass
class Reply:
    status: int
    chunks: list[bytes]
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"


DROP = Reply(0, [])

# Retired Ozon methods (ozon.md §2.8): 404 with code 5 "Obsolete method cannot be used" (the
# HTTP status is unverified, §6.6; 404 + code 5 is the hard case: the same pair as a bad key).
OBSOLETE = "Obsolete method cannot be used"
RETIRED_OZON = {
    "/v1/product/info/stocks-by-warehouse/fbs": "switched off on 7 April 2026: use /v2/product/info/stocks-by-warehouse/fbs",
    "/v1/warehouse/list": "switched off on 7 April 2026: use /v2/warehouse/list",
    "/v2/product/info/stocks": "retired: use /v4/product/info/stocks",
    "/v3/product/info/stocks": "switched off on 31 January 2025: use /v4/product/info/stocks",
    "/v1/analytics/manage/stocks": "switched off in December 2025: use /v1/analytics/stocks",
}
# An Ozon path that never existed (ozon.md §4 "method is not allowed"; status unverified).
OZON_UNKNOWN_METHOD = "method is not allowed"


def _routes() -> list[Route]:
    """The route table: every endpoint of docs/api/*.md plus the sandbox control API."""
    ozon = ("ozon",)
    report = "/api/analytics/v1/stocks-report"
    routes = [
        Route("POST", "/v4/product/info/stocks", "ozon", oz.product_info_stocks, ozon,
              items=lambda o: o["items"], negate=oz.negate_v4, stock=True),
        Route("POST", "/v1/product/info/stocks-by-warehouse/fbo", "ozon", oz.stocks_by_warehouse_fbo, ozon,
              items=lambda o: o["products"], negate=oz.negate_present, stock=True),
        Route("POST", "/v1/warehouse/ozon/list", "ozon", oz.ozon_warehouse_list, ozon,
              items=lambda o: o["warehouses"]),
        Route("POST", "/v2/warehouse/list", "ozon", oz.warehouse_list, ozon, items=lambda o: o["warehouses"]),
        Route("POST", "/v1/product/info/warehouse/stocks", "ozon", oz.warehouse_stocks, ozon,
              items=lambda o: o["stocks"], negate=oz.negate_present, stock=True),
        Route("POST", "/v2/product/info/stocks-by-warehouse/fbs", "ozon", oz.stocks_by_warehouse_fbs, ozon,
              items=lambda o: o["products"], negate=oz.negate_fbs, stock=True),
        Route("POST", "/v1/analytics/stocks", "ozon", oz.analytics_stocks, ozon + ("ozon-analytics-stocks",),
              items=lambda o: o["items"], negate=oz.negate_analytics, stock=True),
        Route("POST", "/v2/analytics/stock_on_warehouses", "ozon", oz.stock_on_warehouses,
              ozon + ("ozon-stock-on-warehouses",), items=lambda o: o["result"]["rows"],
              negate=oz.negate_stock_on_warehouses, stock=True),
        Route("POST", "/v3/product/list", "ozon", oz.product_list, ozon, items=lambda o: o["result"]["items"]),
        Route("POST", "/v3/product/info/list", "ozon", oz.product_info_list, ozon, items=lambda o: o["items"]),
        Route("POST", "/v1/report/warehouse/stock", "ozon", oz.report_create, ozon + ("ozon-report-create",)),
        Route("POST", "/v1/report/info", "ozon", oz.report_info, ozon),
        Route("POST", f"{report}/wb-warehouses", "wb-analytics", wb.stocks_report_wb, ("wb-stocks-report-wb",),
              negate=wb.negate_quantity, stock=True, empty_204=True, personal_only=True),
        Route("POST", f"{report}/seller-warehouses", "wb-analytics", wb.stocks_report_seller,
              ("wb-stocks-report-seller",), negate=wb.negate_quantity, stock=True, empty_204=True,
              personal_only=True),
        Route("GET", "/api/v1/supplier/stocks", "wb-statistics", wb.supplier_stocks, ("wb-statistics",),
              negate=wb.negate_stock_row, stock=True, option="wb_legacy_supplier_stocks"),
        Route("GET", "/api/v1/warehouse_remains", "wb-analytics", wb.remains_create, ("wb-remains-create",)),
        Route("GET", "/api/v1/warehouse_remains/tasks/{taskId}/status", "wb-analytics", wb.remains_status,
              ("wb-remains-status",)),
        Route("GET", "/api/v1/warehouse_remains/tasks/{taskId}/download", "wb-analytics", wb.remains_download,
              ("wb-remains-download",), negate=wb.negate_remains, stock=True, empty_204=True),
        Route("GET", "/api/v3/warehouses", "wb-marketplace", wb.seller_warehouses, ("wb-marketplace",),
              items=lambda o: o),
        Route("POST", "/api/v3/stocks/{warehouseId}", "wb-marketplace", wb.fbs_stocks, ("wb-marketplace",),
              items=lambda o: o["stocks"], negate=wb.negate_fbs, stock=True),
        Route("POST", "/content/v2/get/cards/list", "wb-content", wb.cards_list, ("wb-content",),
              items=lambda o: o["cards"]),
        *_ym_routes(),
        Route("POST", "/sandbox/tick", "control", _control_tick),
        Route("GET", "/sandbox/account", "control", lambda req: req.account.summary()),
        Route("GET", "/sandbox/health", "control", lambda req: {"status": "ok", "products": req.account.n_products}),
        Route("GET", "/sandbox/faults", "control", _control_faults_list),
        Route("POST", "/sandbox/faults", "control", _control_faults_add),
        Route("DELETE", "/sandbox/faults", "control", _control_faults_clear),
        Route("GET", "/sandbox/expected", "control", _control_expected),
        Route("GET", "/sandbox/wb-aggregation", "control", _control_wb_aggregation),
        Route("POST", "/sandbox/wb-aggregation", "control", _control_wb_aggregation),
        Route("GET", "/sandbox/files/{name}", "control", None),
    ]
    routes += [Route("POST", path, "ozon", None, retired=why) for path, why in RETIRED_OZON.items()]
    return routes


def _ym_routes() -> list[Route]:
    """Yandex Market (yandex_market.md §2), each in its resource-limit group (§3.2)."""
    business = "/v2/businesses/{businessId}"
    return [
        Route("GET", "/v2/campaigns", "ym", ym.campaigns, ("ym-campaigns",), items=lambda o: o["campaigns"]),
        Route("GET", "/v2/campaigns/{campaignId}", "ym", ym.campaign, ("ym-campaign",)),
        Route("GET", "/v2/warehouses", "ym", ym.fulfillment_warehouses, ("ym-fulfillment-warehouses",),
              items=lambda o: o["result"]["warehouses"]),
        Route("POST", f"{business}/warehouses", "ym", ym.business_warehouses, ("ym-warehouses",),
              items=lambda o: o["result"]["warehouses"]),
        Route("POST", "/v3/businesses/{businessId}/warehouses", "ym", ym.partner_warehouses, ("ym-warehouses-v3",),
              items=lambda o: o["result"]["warehouses"]),
        Route("POST", "/v2/campaigns/{campaignId}/offers/stocks", "ym", ym.stocks, ("ym-stocks",),
              items=lambda o: o["result"]["warehouses"], negate=ym.negate_warehouse, stock=True, cost=ym.offers_in),
        Route("POST", "/v3/businesses/{businessId}/offers/stocks", "ym", ym.partner_stocks, ("ym-stocks-v3",),
              items=lambda o: o["result"]["offers"], negate=ym.negate_offer, stock=True),
        Route("POST", f"{business}/offer-mappings", "ym", ym.offer_mappings, ("ym-offer-mappings",),
              items=lambda o: o["result"]["offerMappings"]),
        Route("POST", "/v2/auth/token", "ym", ym.auth_token, ("ym-auth-token",)),
    ]


# ---------------------------------------------------------------------- control API
def _control_tick(req: Request) -> dict[str, Any]:
    steps = int_field(req.json_object(), "steps", 0, 10_000, default=1)
    return req.sandbox.tick(steps)


def _control_faults_list(req: Request) -> dict[str, Any]:
    return {"faults": [f.to_dict() for f in req.sandbox.faults.active()]}


def _control_faults_add(req: Request) -> dict[str, Any]:
    try:
        data = json.loads(req.raw_body or b"[]")
        items = data if isinstance(data, list) else [data]
        new = [Fault.from_dict(item) for item in items]
    except (ValueError, TypeError) as exc:
        raise ApiError(400, f"invalid fault list: {exc}") from None
    for fault in new:
        req.sandbox.add_fault(fault)
    return _control_faults_list(req)


def _control_faults_clear(req: Request) -> dict[str, Any]:
    req.sandbox.clear_faults()
    return {"faults": []}


def _control_wb_aggregation(req: Request) -> dict[str, Any]:
    """GET: the state; POST {"enabled": bool}: switch WB's aggregated places on or off."""
    if req.method == "POST":
        enabled = req.json_object().get("enabled")
        if not isinstance(enabled, bool):
            raise ApiError(400, "enabled must be true or false")
        req.sandbox.set_wb_aggregation(enabled)
    return {"enabled": req.account.wb_aggregated}


def _control_expected(req: Request) -> Rows:
    market = req.query.get("marketplace") or None
    if market not in (None, "ozon", "wb", "ym"):
        raise ApiError(400, "marketplace must be ozon, wb or ym")
    rows = req.account.iter_expected_inventory(market)

    def batches() -> Any:
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) == 1000:
                yield batch
                batch = []
        yield batch

    return Rows(batches())


# ---------------------------------------------------------------------- the sandbox
class Sandbox:
    """A running emulator of both marketplace APIs over one deterministic account."""

    def __init__(self, options: SandboxOptions | None = None, **overrides: Any) -> None:
        if options is None:
            options = SandboxOptions(**overrides)
        elif overrides:
            raise TypeError("pass either options or keyword overrides, not both")
        self.options = options
        self.account = Account(options.products, options.seed, options.tick_changes,
                               wb_aggregated=options.wb_aggregation,
                               ozon_fbo_zero_rows=options.ozon_fbo_zero_rows)
        self.faults = FaultSet([replace(f) for f in options.faults])  # counts are per sandbox
        self.limiter = RateLimiter(options.rate_limit_scale)
        self.parallel = ParallelLimiter(YM_PARALLEL, enabled=options.rate_limit_scale > 0)
        self.request_log = RequestLog()
        self.reports: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.counter = 0
        self.state_lock = threading.Lock()
        self._routes = _routes()
        self._exact = {(r.method, r.template): r for r in self._routes if "{" not in r.template}
        self._patterned = [r for r in self._routes if "{" in r.template]
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self, host: str = "127.0.0.1", port: int = 0) -> "Sandbox":
        """Listen on host:port (0 = a free port) and serve from a daemon thread."""
        if self._server is not None:
            return self
        self._server = _Server((host, port), _Handler)
        self._server.sandbox = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="sandbox-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()  # keep-alive connections must not outlive the server
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        return self._server.server_address[1]

    @property
    def host(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        return self._server.server_address[0]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment variables that point the application at this sandbox: every marketplace's
        credentials and hosts, or those of `options.env_marketplaces`."""
        url = self.url
        by_marketplace = {
            "ozon": {"OZON_CLIENT_ID": OZON_CLIENT_ID, "OZON_API_KEY": OZON_API_KEY, "OZON_API_URL": url},
            "wb": {"WB_API_TOKEN": WB_API_TOKEN, "WB_STATISTICS_API_URL": url, "WB_ANALYTICS_API_URL": url,
                   "WB_MARKETPLACE_API_URL": url, "WB_CONTENT_API_URL": url},
            "ym": {"YM_API_KEY": YM_API_KEY, "YM_API_URL": url},
        }
        wanted = self.options.env_marketplaces or tuple(by_marketplace)
        env = {k: v for name in wanted for k, v in by_marketplace[name].items()}
        return {**env, "INVSYNC_RATE_LIMIT_SCALE": repr(float(self.options.rate_limit_scale))}

    # ------------------------------------------------------------ control
    def tick(self, steps: int = 1) -> dict[str, Any]:
        """Move the account's time by `steps` and return the new summary."""
        self.account.tick(steps)
        return self.account.summary()

    def set_wb_aggregation(self, enabled: bool) -> None:
        """Switch WB's aggregated places ("Склад WB" / "Склад WB РФ") on or off, mid-run too.

        Stock totals per size stay identical; the WB stocks-report and remains answers and
        `expected_inventory()` change from the next request on."""
        self.account.set_wb_aggregation(enabled)

    def add_fault(self, fault: Fault) -> None:
        self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    # ------------------------------------------------------------ request processing
    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, path params, whether the path exists for another method)."""
        route = self._exact.get((method, path))
        if route is not None and self._enabled(route):
            return route, {}, False
        other = any(p == path and self._enabled(r) for (_m, p), r in self._exact.items())
        for r in self._patterned:
            m = r.regex.match(path)
            if m:
                if r.method == method:
                    return r, m.groupdict(), False
                other = True
        return None, {}, other

    def _enabled(self, route: Route) -> bool:
        return route.option is None or bool(getattr(self.options, route.option))

    def _error(self, api: str, err: ApiError) -> Reply:
        content_type = None
        if api == "ozon":
            body: Any = err.body if err.body is not None else ozon_error_body(err.status, err.message, err.code)
        elif api.startswith("wb-"):
            with self.state_lock:
                self.counter += 1
                n = self.counter
            body, content_type = wb_body(err, api, utc_iso(self.account.clock), n)
        elif api == "ym":
            body = err.body if err.body is not None else ym_error_body(err.status, err.message, err.code)
        else:
            body = {"error": err.message}
        reply = Reply(err.status, [dumps(body)], dict(err.headers))
        if content_type:
            reply.content_type = content_type
        return reply

    def handle(self, req: Request) -> Reply:
        """Answer one request (everything but the socket I/O)."""
        route, params, other = self._match(req.method, req.path)
        api = _api_of(req.path)
        if route is None:
            if other:
                err = ApiError(405, f"{req.method} {req.path}: method not allowed")
            elif api == "ozon":
                err = ApiError(404, OZON_UNKNOWN_METHOD)
            else:
                err = ApiError(404, f"{req.method} {req.path}: the path is not served", title=PATH_NOT_FOUND)
            # WB: the gateway answers an unknown path before any bucket, so no X-Ratelimit-* here.
            return self._error(api, err)
        req.params = params
        if route.api == "control":
            return self._control(route, req)
        reply = self._ym_api(route, req) if route.api == "ym" else self._api(route, req)
        if route.is_wb and reply.status != 429 and reply is not DROP:
            reply.headers.setdefault("X-Ratelimit-Remaining", str(self._peek_wb(route, req)))
        return reply

    def _peek_wb(self, route: Route, req: Request) -> int:
        token = wb_raw_token(req.headers)
        try:
            basic = check_wb(req.headers, route.api).is_basic
        except ApiError:
            basic = False
        groups = groups_for(route.groups, basic, self.limiter.limits)
        return self.limiter.peek(token, groups[-1])

    # ------------------------------------------------------------ Yandex Market limits
    def _ym_scope(self, route: Route, req: Request) -> str:
        """What a YM limit is counted per (§3.2): the path's campaign or business, else the
        key's business (the sandbox key has one)."""
        if "campaignId" in req.params:
            return f"campaignId {req.params['campaignId']}"
        if "businessId" in req.params:
            return f"businessId {req.params['businessId']}"
        return f"businessId {self.account.ym.business_id}"

    def _ym_api(self, route: Route, req: Request) -> Reply:
        """A YM request holds one of the 4 parallel slots of its scope for its whole life
        (faults' `slow` included, so a test can keep requests in flight)."""
        scope = self._ym_scope(route, req)
        if not self.parallel.enter(scope):
            group = route.groups[-1]
            return self._error("ym", ApiError(
                420, f"Hit rate limit of {self.parallel.limit} parallel requests for {scope}",
                headers=self._ym_headers(group, self.limiter.peek(scope, group))))
        try:
            return self._api(route, req)
        finally:
            self.parallel.leave(scope)

    def _ym_headers(self, group: str, remaining: int) -> dict[str, str]:
        """The three resource headers: the allowance, what is left, when it is whole again."""
        limit = self.limiter.limits[group]
        refill = max(0, limit.burst - remaining) * limit.interval * self.limiter.scale
        return {"X-RateLimit-Resource-Limit": str(limit.requests), "X-RateLimit-Resource-Remaining": str(remaining),
                "X-RateLimit-Resource-Until": rfc822(time.time() + refill)}

    def _ym_limited(self, group: str, wait: float) -> Reply:
        """420 over a resource limit (§3.1 message); `Until` = when the next request may pass."""
        limit = self.limiter.limits[group]
        resource, period = YM_RESOURCES[group]
        headers = self._ym_headers(group, 0)
        headers["X-RateLimit-Resource-Until"] = rfc822(time.time() + wait)
        return self._error("ym", ApiError(
            420, f"Hit rate limit of {limit.requests} requests per '{period}' for resource '{resource}'",
            headers=headers))

    def _api(self, route: Route, req: Request) -> Reply:
        if route.retired:
            return self._error(route.api, ApiError(404, OBSOLETE))

        pre = self.faults.take(req.method, req.path, route.template, ("slow",), first_only=False)
        delay = sum(f.delay for f in pre)
        if delay:
            time.sleep(delay)
        terminal = self.faults.take(req.method, req.path, route.template, PRE_KINDS, first_only=True)
        if terminal:
            return self._pre_fault(route, terminal[0])
        basic = False
        try:
            if route.api == "ozon":
                credential = check_ozon(req.headers)
            elif route.api == "ym":
                check_ym(req.headers)
                credential = self._ym_scope(route, req)
            else:
                token = check_wb(req.headers, route.api)
                credential, basic = token.token, token.is_basic
                if basic and route.personal_only:
                    status = self.options.wb_basic_token_status
                    raise ApiError(status, BASIC_REFUSED, title="unauthorized" if status == 401 else "forbidden",
                                   code=BASIC_REFUSED + " for this path", problem=True)  # analytics spec, Response403General
        except ApiError as err:
            return self._error(route.api, err)
        groups = groups_for(route.groups, basic, self.limiter.limits)
        decision = self.limiter.acquire(credential, groups)
        if not decision.allowed:
            return self._too_many(route, decision.retry_after, decision.limit, decision.reset, False, decision.group)

        post: list[Fault] = []
        try:
            with self.account.lock:
                payload = route.handler(req)  # type: ignore[misc]
                if isinstance(payload, NoContent):
                    reply = Reply(204, [])
                else:
                    kinds = _post_kinds(route, isinstance(payload, Rows))
                    post = self.faults.take(req.method, req.path, route.template, kinds, first_only=False)
                    if route.empty_204 and any(f.kind == "empty_account" for f in post):
                        reply = Reply(204, [])
                    else:
                        if post:
                            payload = apply_post(payload, post, route.items, route.negate)
                        if route.cost is not None:
                            units = route.cost(payload)
                            if units > 1:
                                decision.remaining = self.limiter.charge(credential, groups, units - 1)
                        reply = Reply(200, encode(payload))
        except ApiError as err:
            reply = self._error(route.api, err)
            cost = WB_4XX_COST.get(route.api, 1)
            if 400 <= err.status < 500 and cost > 1:
                remaining = self.limiter.charge(credential, groups, cost - 1)
                reply.headers["X-Ratelimit-Remaining"] = str(remaining)
            if route.api == "ym":
                reply.headers.update(self._ym_headers(groups[-1], decision.remaining))
            return reply
        if route.api == "ym":
            reply.headers.update(self._ym_headers(groups[-1], decision.remaining))
        elif route.is_wb:
            reply.headers["X-Ratelimit-Remaining"] = str(decision.remaining)
        else:
            reply.headers["Ratelimit-Remaining"] = str(decision.remaining)
        if any(f.kind == "truncate" for f in post) and reply.status == 200:
            body = b"".join(reply.chunks)
            reply.chunks = [body[: len(body) // 2]]
        return reply

    def _control(self, route: Route, req: Request) -> Reply:
        try:
            if route.template == "/sandbox/files/{name}":
                return self._file(req.params["name"])
            with self.account.lock:
                return Reply(200, encode(route.handler(req)))  # type: ignore[misc]
        except ApiError as err:
            return self._error("control", err)

    def _file(self, name: str) -> Reply:
        code = name[:-4] if name.endswith(".csv") else name
        with self.state_lock:
            report = self.reports.get(code)
        if report is None or report["polls"] < 3:
            return self._error("control", ApiError(404, f"file {name} not found"))
        with self.account.lock:
            data = oz.report_csv(self.account, report["warehouses"])
        return Reply(200, [data], content_type="text/csv; charset=utf-8")

    def _pre_fault(self, route: Route, fault: Fault) -> Reply:
        if fault.kind == "drop":
            return DROP
        if fault.kind == "retired":
            if route.api == "ozon":
                return self._error(route.api, ApiError(fault.status or 404, OBSOLETE))
            if route.api == "ym":
                return self._error("ym", ApiError(fault.status or 404, f"{route.template}: the path is not served"))
            return self._error(route.api, ApiError(fault.status or 404, f"{route.template}: the path is not served",
                                                   title=PATH_NOT_FOUND))
        if fault.kind == "redirect":
            # Before authentication, as a load balancer or a moved host answers.
            return Reply(fault.status or 307, [], {"Location": fault.location or "/"})
        if fault.kind == "rate_limit":
            limit = self.limiter.limits[route.groups[-1]].burst
            return self._too_many(route, fault.retry_after, limit, fault.retry_after, True, route.groups[-1])
        status = fault.status or 500
        if status == 500:
            return self._error(route.api, ApiError(500, "Internal error" if route.api in ("ozon", "ym") else "internal server error"))
        phrase = f"{status} {HTTPStatus(status).phrase}"
        page = f"<html><head><title>{phrase}</title></head><body><center><h1>{phrase}</h1></center><hr><center>nginx</center></body></html>\n"
        return Reply(status, [page.encode()], content_type="text/html")

    def _too_many(self, route: Route, retry: float, limit: int, reset: float, retry_after_header: bool,
                  group: str = "") -> Reply:
        if route.api == "ym":  # 420 Enhance Your Calm (§3.1); no Retry-After, wait until `Until`
            return self._ym_limited(group or route.groups[-1], retry)
        if route.api == "ozon":
            message = "You have reached request rate limit per second"
            if group and group != "ozon":
                message += f", max rate per sec.: {self.limiter.limits[group].requests}"
            reply = self._error("ozon", ApiError(429, message))
            reply.headers["Retry-After"] = fmt_seconds(retry)
            return reply
        headers = {"X-Ratelimit-Retry": fmt_seconds(retry), "X-Ratelimit-Limit": str(limit),
                   "X-Ratelimit-Reset": fmt_seconds(reset)}
        if retry_after_header:
            headers["Retry-After"] = fmt_seconds(retry)
        return self._error(route.api, ApiError(
            429, f"limited by {group or route.groups[-1]}: retry in {headers['X-Ratelimit-Retry']} s",
            title="too many requests", headers=headers))


def _post_kinds(route: Route, rows: bool) -> tuple[str, ...]:
    """The answer faults that can act on this route (others are left for later requests)."""
    kinds = ["truncate"]
    if route.items is not None or rows:
        kinds += ["extra_field", "missing_field", "duplicate_item", "bad_value", "missing_value"]
    if route.negate is not None:
        kinds.append("negative_stock")
    if route.stock:
        kinds.append("empty_account")
    return tuple(k for k in POST_KINDS if k in kinds)


def _api_of(path: str) -> str:
    """Which error style an unknown path gets."""
    if path == "/v2/warehouses" or path.startswith(YM_PREFIXES):
        return "ym"
    if path.startswith("/api/v1/supplier"):
        return "wb-statistics"
    if path.startswith(("/api/v1/warehouse_remains", "/api/analytics/")):
        return "wb-analytics"
    if path.startswith("/api/"):
        return "wb-marketplace"
    if path.startswith("/content/"):
        return "wb-content"
    if path.startswith("/sandbox/"):
        return "control"
    return "ozon"


# Path prefixes of the Yandex Market API (none of them is an Ozon or WB path).
YM_PREFIXES = ("/v2/campaigns", "/v2/businesses/", "/v3/businesses/", "/v2/auth/")
# Reason phrases http.HTTPStatus does not know.
EXTRA_PHRASES = {420: "Enhance Your Calm"}


# ---------------------------------------------------------------------- HTTP plumbing
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    sandbox: Sandbox

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def track(self, sock: socket.socket, is_open: bool) -> None:
        with self._open_lock:
            (self._open.add if is_open else self._open.discard)(sock)

    def close_connections(self) -> None:
        with self._open_lock:
            for sock in self._open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._open.clear()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "invsync-sandbox/1.0"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by design
        pass

    def _serve(self) -> None:
        sandbox = self.server.sandbox
        split = urlsplit(self.path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            self._write(Reply(400, [dumps({"error": "invalid Content-Length"})]))
            return
        raw = self.rfile.read(length) if length > 0 else b""
        host = self.headers.get("Host") or f"{sandbox.host}:{sandbox.port}"
        req = Request(self.command, split.path, dict(parse_qsl(split.query, keep_blank_values=True)),
                      raw, self.headers, f"http://{host}", sandbox)
        try:
            reply = sandbox.handle(req)
        except Exception:  # a sandbox bug must still answer, and loudly
            traceback.print_exc()
            reply = Reply(500, [dumps({"error": "sandbox internal error"})])
        sandbox.request_log.record(self.command, split.path, reply.status)
        if reply is DROP:
            self.close_connection = True
            return
        self._write(reply)

    def _write(self, reply: Reply) -> None:
        length = sum(len(c) for c in reply.chunks)
        phrase = (HTTPStatus(reply.status).phrase if reply.status in HTTPStatus._value2member_map_
                  else EXTRA_PHRASES.get(reply.status, ""))
        lines = [f"HTTP/1.1 {reply.status} {phrase}", f"Server: {self.server_version}"]
        if reply.status != 204:  # a 204 has no body and no Content-Length (RFC 9110 §8.6)
            lines += [f"Content-Type: {reply.content_type}", f"Content-Length: {length}"]
        lines += [f"{k}: {v}" for k, v in reply.headers.items()]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            if length <= 4 << 20:  # one write: head and body leave in the same segment(s)
                self.wfile.write(head + b"".join(reply.chunks))
            else:
                self.wfile.write(head)
                for chunk in reply.chunks:
                    self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve


# ---------------------------------------------------------------------- CLI helper
def _print(line: str) -> None:
    print(line, flush=True)


def serve_forever(host: str = "127.0.0.1", port: int = 8000, options: SandboxOptions | None = None,
                  out: Callable[[str], Any] = _print) -> None:
    """Run a sandbox in the foreground until interrupted, printing its URL and env first."""
    started = time.perf_counter()
    sandbox = Sandbox(options or SandboxOptions())
    sandbox.start(host, port)
    out(f"invsync sandbox: {sandbox.options.products} products (seed {sandbox.options.seed}) "
        f"generated in {time.perf_counter() - started:.1f} s, serving on {sandbox.url}")
    for key, value in sandbox.env().items():
        out(f"export {key}={value}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        out("invsync sandbox: stopping")
    finally:
        sandbox.stop()


def main(argv: list[str] | None = None) -> int:
    """`python -m pipelines.sandbox [--host H] [--port N] [--products N] [--seed N] [--rate-limit-scale X]`."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.sandbox", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--products", type=int, default=SandboxOptions.products)
    parser.add_argument("--seed", type=int, default=SandboxOptions.seed)
    parser.add_argument("--rate-limit-scale", type=float, default=1.0)
    parser.add_argument("--wb-row-cap", type=int, default=SandboxOptions.wb_row_cap)
    parser.add_argument("--wb-aggregation", action="store_true", help="WB aggregated places from the start")
    parser.add_argument("--wb-legacy-supplier-stocks", action="store_true", help="serve the removed supplier/stocks")
    parser.add_argument("--ozon-total-field", action="store_true", help="keep the deprecated `total` field")
    args = parser.parse_args(argv)
    options = SandboxOptions(products=args.products, seed=args.seed, rate_limit_scale=args.rate_limit_scale,
                             wb_row_cap=args.wb_row_cap, wb_aggregation=args.wb_aggregation,
                             wb_legacy_supplier_stocks=args.wb_legacy_supplier_stocks,
                             ozon_total_field=args.ozon_total_field)
    serve_forever(args.host, args.port, options)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
