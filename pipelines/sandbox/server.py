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

Accounts: the sandbox serves the default seller account and the extra ones of
`SandboxOptions.accounts`. A request's credentials say whose it is (auth.Keyring: Ozon's
Client-Id, the WB token's seller claim, the YM key); the handlers then read that account's data,
and its rate limits, YM parallel slots, Ozon report files and WB report tasks are its own
(cabinet.py). Faults may name an account; the request log records each request's account.
Unknown credentials get today's answers (Ozon 404 code 5, WB 401, YM 401).

Control API (no auth; `account` = an account id, the default one when left out):
`POST /sandbox/tick {"steps", "account"?}` (no account: every account moves; the answer is the
named or the default account's summary), `GET /sandbox/account[?account=]` (summary),
`GET /sandbox/accounts` (the ids), `POST /sandbox/revoke {"account", "marketplace"}` (that
account's normal key on that marketplace answers as a revoked one from then on),
`GET /sandbox/health`, `GET|POST|DELETE /sandbox/faults`, `GET /sandbox/expected
[?marketplace=ozon|wb|ym][&account=]`, `GET|POST /sandbox/wb-aggregation {"enabled": bool}`
(every account: it is WB's view, not a seller's).
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
from .auth import BASIC_REFUSED, Caller, Keyring, check_ozon, check_wb, check_ym, wb_raw_token
from .cabinet import Cabinet, open_cabinet
from .errors import PATH_NOT_FOUND, ApiError, ozon_error_body, wb_body, ym_error_body
from .faults import POST_KINDS, PRE_KINDS, Fault, FaultSet, apply_post
from .jsonio import NoContent, Rows, dumps, encode
from .limits import WB_4XX_COST, YM_RESOURCES, Decision, RateLimiter, fmt_seconds, groups_for, rfc822
from .reference import utc_iso
from .options import DEFAULT_ACCOUNT, MARKETPLACES, SandboxOptions
from .routing import Request, Route, int_field


class RequestLog(list):
    """(method, path, status) of every request served, in order; status 0 = dropped.

    The account of each request (whose credentials it carried, None for none of the served
    accounts' and for control requests without `?account=`) is kept alongside, so the entries
    stay the triples callers unpack."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._accounts: list[str | None] = []

    def record(self, method: str, path: str, status: int, account: str | None = None) -> None:
        with self._lock:
            self.append((method, path, status))
            self._accounts.append(account)

    def hits(self, path: str | None = None, status: int | None = None, method: str | None = None,
             account: str | None = None) -> int:
        """How many logged requests match all the given parts (`account`: that account's)."""
        with self._lock:
            return sum(1 for (m, p, s), a in zip(self, self._accounts) if (path is None or p == path)
                       and (status is None or s == status) and (method is None or m == method)
                       and (account is None or a == account))

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
        Route("GET", "/sandbox/accounts", "control", lambda req: {"accounts": list(req.sandbox.cabinets)}),
        Route("POST", "/sandbox/revoke", "control", _control_revoke),
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
    """Tick the body's `account`, or every account; answer that account's (or the default's) summary."""
    body = req.json_object()
    steps = int_field(body, "steps", 0, 10_000, default=1)
    account = _body_account(req.sandbox, body, required=False)
    return req.sandbox.tick(steps, account)


def _control_revoke(req: Request) -> dict[str, Any]:
    """Revoke one account's normal key on one marketplace."""
    body = req.json_object()
    account = _body_account(req.sandbox, body, required=True)
    marketplace = body.get("marketplace")
    if marketplace not in MARKETPLACES:
        raise ApiError(400, f"marketplace must be one of {', '.join(MARKETPLACES)}")
    req.sandbox.revoke(account, marketplace)
    return {"account": account, "marketplace": marketplace, "revoked": True}


def _body_account(sandbox: "Sandbox", body: dict[str, Any], required: bool) -> str | None:
    """The body's `account`: 400 when missing (if required) or not a string, 404 when not served."""
    account = body.get("account")
    if account is None and not required:
        return None
    if not isinstance(account, str):
        raise ApiError(400, "account must be an account id (a string)")
    _cabinet_or_404(sandbox, account)
    return account


def _cabinet_or_404(sandbox: "Sandbox", account: str) -> Cabinet:
    """The served account `account`, or the control API's 404 naming the ones served."""
    try:
        return sandbox.cabinet(account)
    except ValueError as exc:
        raise ApiError(404, str(exc)) from None


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
        if fault.account is not None:
            _cabinet_or_404(req.sandbox, fault.account)
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
    """A running emulator of the marketplace APIs over deterministic seller accounts: the default
    one (`account`) and the extra ones of `options.accounts` (all in `accounts`)."""

    def __init__(self, options: SandboxOptions | None = None, **overrides: Any) -> None:
        if options is None:
            options = SandboxOptions(**overrides)
        elif overrides:
            raise TypeError("pass either options or keyword overrides, not both")
        self.options = options
        self.keyring = Keyring(options.account_ids)
        self.cabinets = {a: open_cabinet(a, options) for a in options.account_ids}
        self.account = self.cabinets[DEFAULT_ACCOUNT].account
        self.faults = FaultSet([replace(f) for f in options.faults])  # counts are per sandbox
        self.request_log = RequestLog()
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

    @property
    def accounts(self) -> dict[str, Account]:
        """Every account served, by id: "default" first, then the extra ones."""
        return {a: cab.account for a, cab in self.cabinets.items()}

    @property
    def limiter(self) -> RateLimiter:
        """The default account's rate limiter (every account's has the same limits and scale)."""
        return self.cabinets[DEFAULT_ACCOUNT].limiter

    def cabinet(self, account: str) -> Cabinet:
        """The served account `account` with its limits, reports and tasks (ValueError if none)."""
        cab = self.cabinets.get(account)
        if cab is None:
            raise ValueError(f"unknown account '{account}': the sandbox serves {', '.join(self.cabinets)}")
        return cab

    def env(self, account: str = DEFAULT_ACCOUNT) -> dict[str, str]:
        """Environment variables that point the application at this sandbox as `account`: every
        marketplace's credentials and hosts, or those of `options.env_marketplaces`."""
        url = self.url
        creds = self.keyring.credentials(account)
        by_marketplace = {
            "ozon": {"OZON_CLIENT_ID": creds["OZON_CLIENT_ID"], "OZON_API_KEY": creds["OZON_API_KEY"],
                     "OZON_API_URL": url},
            "wb": {"WB_API_TOKEN": creds["WB_API_TOKEN"], "WB_STATISTICS_API_URL": url, "WB_ANALYTICS_API_URL": url,
                   "WB_MARKETPLACE_API_URL": url, "WB_CONTENT_API_URL": url},
            "ym": {"YM_API_KEY": creds["YM_API_KEY"], "YM_API_URL": url},
        }
        wanted = self.options.env_marketplaces or tuple(by_marketplace)
        env = {k: v for name in wanted for k, v in by_marketplace[name].items()}
        return {**env, "INVSYNC_RATE_LIMIT_SCALE": repr(float(self.options.rate_limit_scale))}

    # ------------------------------------------------------------ control
    def tick(self, steps: int = 1, account: str | None = None) -> dict[str, Any]:
        """Move `account`'s time by `steps` (None: every account's, so a sandbox without extra
        accounts moves as it always did) and return that account's (or the default's) summary."""
        ticked = [self.cabinet(account)] if account is not None else list(self.cabinets.values())
        for cab in ticked:
            cab.account.tick(steps)
        return self.cabinet(account or DEFAULT_ACCOUNT).account.summary()

    def revoke(self, account: str, marketplace: str) -> None:
        """From now on `account`'s normal key on `marketplace` ("ozon", "wb", "ym") answers as a
        revoked key does (Ozon 403 code 7, WB 401, YM 401 "Api-Key token is revoked"); the other
        accounts' keys are untouched. A client must stop on it, not retry."""
        self.keyring.revoke(account, marketplace)

    def set_wb_aggregation(self, enabled: bool) -> None:
        """Switch WB's aggregated places ("Склад WB" / "Склад WB РФ") on or off, mid-run too,
        for every account (it is how WB shows stock, not a seller's setting).

        Stock totals per size stay identical; the WB stocks-report and remains answers and
        `expected_inventory()` change from the next request on."""
        for cab in self.cabinets.values():
            cab.account.set_wb_aggregation(enabled)

    def add_fault(self, fault: Fault) -> None:
        """Inject a fault (one naming an account the sandbox does not serve is a ValueError)."""
        if fault.account is not None:
            self.cabinet(fault.account)
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
        owner = self.keyring.owner(route.api, req.headers)  # whose request, before it is checked
        req.resolved = self.cabinets[owner] if owner is not None else None
        reply = self._ym_api(route, req) if route.api == "ym" else self._api(route, req)
        if route.is_wb and reply.status != 429 and reply is not DROP:
            reply.headers.setdefault("X-Ratelimit-Remaining", str(self._peek_wb(route, req)))
        return reply

    def _peek_wb(self, route: Route, req: Request) -> int:
        token = wb_raw_token(req.headers)
        try:
            info = check_wb(req.headers, route.api, self.keyring).token
            basic = info is not None and info.is_basic
        except ApiError:
            basic = False
        limiter = req.cabinet.limiter
        groups = groups_for(route.groups, basic, limiter.limits)
        return limiter.peek(token, groups[-1])

    # ------------------------------------------------------------ Yandex Market limits
    def _ym_scope(self, route: Route, req: Request) -> str:
        """What a YM limit is counted per (§3.2): the path's campaign or business, else the
        key's business (a sandbox key has one: its account's)."""
        if "campaignId" in req.params:
            return f"campaignId {req.params['campaignId']}"
        if "businessId" in req.params:
            return f"businessId {req.params['businessId']}"
        return f"businessId {req.account.ym.business_id}"

    def _ym_api(self, route: Route, req: Request) -> Reply:
        """A YM request holds one of the 4 parallel slots of its scope, in its account, for its
        whole life (faults' `slow` included, so a test can keep requests in flight)."""
        scope = self._ym_scope(route, req)
        cab = req.cabinet
        if not cab.parallel.enter(scope):
            group = route.groups[-1]
            return self._error("ym", ApiError(
                420, f"Hit rate limit of {cab.parallel.limit} parallel requests for {scope}",
                headers=self._ym_headers(group, cab.limiter.peek(scope, group))))
        try:
            return self._api(route, req)
        finally:
            cab.parallel.leave(scope)

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

    # ------------------------------------------------------------ one API request
    def _api(self, route: Route, req: Request) -> Reply:
        """Faults before the handler, authentication, the account's rate limits, the handler."""
        if route.retired:
            return self._error(route.api, ApiError(404, OBSOLETE))
        faulted = self._pre_faults(route, req)
        if faulted is not None:
            return faulted
        try:
            credential, basic = self._authenticate(route, req)
        except ApiError as err:
            return self._error(route.api, err)
        limiter = req.cabinet.limiter
        groups = groups_for(route.groups, basic, limiter.limits)
        decision = limiter.acquire(credential, groups)
        if not decision.allowed:
            return self._too_many(route, decision.retry_after, decision.limit, decision.reset, False, decision.group)
        return self._answer(route, req, limiter, credential, groups, decision)

    def _pre_faults(self, route: Route, req: Request) -> Reply | None:
        """`slow` faults sleep; the first terminal fault (of this request's account) answers."""
        pre = self.faults.take(req.method, req.path, route.template, ("slow",), first_only=False,
                               account=req.account_id)
        delay = sum(f.delay for f in pre)
        if delay:
            time.sleep(delay)
        terminal = self.faults.take(req.method, req.path, route.template, PRE_KINDS, first_only=True,
                                    account=req.account_id)
        return self._pre_fault(route, terminal[0]) if terminal else None

    def _authenticate(self, route: Route, req: Request) -> tuple[str, bool]:
        """Check the credentials (raising the marketplace's own error), pin the request to their
        account, and return what its limits are counted per and whether it is a Basic WB token."""
        caller: Caller
        if route.api == "ozon":
            caller = check_ozon(req.headers, self.keyring)
        elif route.api == "ym":
            caller = check_ym(req.headers, self.keyring)
        else:
            caller = check_wb(req.headers, route.api, self.keyring)
        req.resolved = self.cabinets[caller.account]
        basic = caller.token is not None and caller.token.is_basic
        if basic and route.personal_only:
            status = self.options.wb_basic_token_status
            raise ApiError(status, BASIC_REFUSED, title="unauthorized" if status == 401 else "forbidden",
                           code=BASIC_REFUSED + " for this path", problem=True)  # analytics spec, Response403General
        credential = self._ym_scope(route, req) if route.api == "ym" else caller.credential
        return credential, basic

    def _answer(self, route: Route, req: Request, limiter: RateLimiter, credential: str,
                groups: tuple[str, ...], decision: Decision) -> Reply:
        """Run the handler on the request's account and apply the answer faults."""
        post: list[Fault] = []
        try:
            with req.account.lock:
                payload = route.handler(req)  # type: ignore[misc]
                if isinstance(payload, NoContent):
                    reply = Reply(204, [])
                else:
                    kinds = _post_kinds(route, isinstance(payload, Rows))
                    post = self.faults.take(req.method, req.path, route.template, kinds, first_only=False,
                                            account=req.account_id)
                    if route.empty_204 and any(f.kind == "empty_account" for f in post):
                        reply = Reply(204, [])
                    else:
                        if post:
                            payload = apply_post(payload, post, route.items, route.negate)
                        if route.cost is not None:
                            units = route.cost(payload)
                            if units > 1:
                                decision.remaining = limiter.charge(credential, groups, units - 1)
                        reply = Reply(200, encode(payload))
        except ApiError as err:
            reply = self._error(route.api, err)
            cost = WB_4XX_COST.get(route.api, 1)
            if 400 <= err.status < 500 and cost > 1:
                remaining = limiter.charge(credential, groups, cost - 1)
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
        """A control request, on the account of its `?account=` (the default one without)."""
        try:
            if route.template == "/sandbox/files/{name}":
                return self._file(req.params["name"])
            if req.query.get("account"):
                req.resolved = _cabinet_or_404(self, req.query["account"])
            with req.account.lock:
                return Reply(200, encode(route.handler(req)))  # type: ignore[misc]
        except ApiError as err:
            return self._error("control", err)

    def _file(self, name: str) -> Reply:
        """An Ozon report file: its link carries no credentials, so it is found in whichever
        account created it (report codes are unique across accounts)."""
        code = name[:-4] if name.endswith(".csv") else name
        with self.state_lock:
            owners = [cab for cab in self.cabinets.values() if code in cab.reports]
        if not owners or owners[0].reports[code]["polls"] < 3:
            return self._error("control", ApiError(404, f"file {name} not found"))
        cab = owners[0]
        with cab.account.lock:
            data = oz.report_csv(cab.account, cab.reports[code]["warehouses"])
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
        sandbox.request_log.record(self.command, split.path, reply.status, req.account_id)
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
    for account in sandbox.options.accounts:
        _print_account(sandbox, account, out)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        out("invsync sandbox: stopping")
    finally:
        sandbox.stop()


def _print_account(sandbox: Sandbox, account: str, out: Callable[[str], Any]) -> None:
    """An extra account's credentials as export lines (the hosts are the default's): paste them
    instead of the default's to point the application at that account."""
    cab = sandbox.cabinet(account)
    out(f"invsync sandbox: account {account}: {cab.account.n_products} products (seed {cab.account.seed})")
    for key, value in sandbox.env(account).items():
        if not key.endswith(("_URL", "_SCALE")):
            out(f"export {key}={value}")


def main(argv: list[str] | None = None) -> int:
    """`python -m pipelines.sandbox [--host H] [--port N] [--products N] [--seed N] [--rate-limit-scale X]
    [--accounts a,b]`."""
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
    parser.add_argument("--accounts", default="", help="extra seller accounts besides the default one, e.g. a,b")
    args = parser.parse_args(argv)
    accounts = tuple(a.strip() for a in args.accounts.split(",") if a.strip())
    try:
        options = SandboxOptions(products=args.products, seed=args.seed, rate_limit_scale=args.rate_limit_scale,
                                 wb_row_cap=args.wb_row_cap, wb_aggregation=args.wb_aggregation,
                                 wb_legacy_supplier_stocks=args.wb_legacy_supplier_stocks,
                                 ozon_total_field=args.ozon_total_field, accounts=accounts)
    except ValueError as exc:
        parser.error(str(exc))
    serve_forever(args.host, args.port, options)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
