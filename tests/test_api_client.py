"""The HTTP client's guards against a hostile or broken server (issue 15), over real HTTP.

- Credentials stay on their host: a redirect to another host, port or scheme is refused, and
  a second loopback server standing in for the other host proves no `Api-Key`, `Client-Id` or
  `Authorization` ever reaches it; a redirect within the host is followed.
- Bounded waits: a 429 asking for longer than INVSYNC_MAX_SERVER_WAIT fails at once with
  "rate limited for N s"; a shorter wait is obeyed exactly, and a long one is announced.
- Unexpected answer shapes fail naming the marketplace and the method.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import pytest
import requests

from pipelines import sync_log
from pipelines.marketplaces.ozon import source as ozon
from pipelines.marketplaces.wb import source as wildberries
from pipelines.api_client import ApiClient, RedirectRefused, UnexpectedAnswer, safe_url, shape_problem
from pipelines.sync import run_sync
from pipelines.sandbox import OZON_API_KEY, OZON_CLIENT_ID, WB_API_TOKEN, Fault
from pipelines.warehouse import warehouse_for
from tests.conftest import settings_for

CREDENTIAL_HEADERS = ("api-key", "client-id", "authorization")
Answer = tuple[int, bytes, dict[str, str]]


class Loopback:
    """A loopback HTTP server that records every request (method, path with query, headers, body)
    and answers with `answer(method, path, headers, body)`; by default `200 {}`.

    Bound to 127.0.0.2 by default: another host than the sandbox's 127.0.0.1 for the client,
    while staying on this machine.
    """

    def __init__(self, answer: Callable[[str, str, dict[str, str], bytes], Answer] | None = None,
                 host: str = "127.0.0.2") -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self._answer = answer or (lambda *_: (200, b"{}", {}))
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append((self.command, self.path, headers, body))
                status, data, extra = outer._answer(self.command, self.path, headers, body)
                self.send_response(status)
                if status != 204:
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                if status != 204:
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def credentials_received(self) -> list[str]:
        """Every credential header any request brought, by name."""
        return [name for _m, _p, headers, _b in self.requests for name in CREDENTIAL_HEADERS if name in headers]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def other_host():
    server = Loopback()
    yield server
    server.close()


def scripted(answers: dict[str, Answer]) -> Callable[[str, str, dict[str, str], bytes], Answer]:
    """Answer each path (query ignored) from `answers`; anything else is a 404."""
    def answer(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        return answers.get(path.split("?", 1)[0], (404, b'{"message": "not served"}', {}))
    return answer


# ---------------------------------------------------------------------- redirects
def test_the_redirect_fault_and_the_recorder_catch_a_leak(sandbox, other_host) -> None:
    """The harness works: plain `requests`, following redirects, does deliver Ozon's keys elsewhere."""
    sandbox.add_fault(Fault(kind="redirect", path="/v2/warehouse/list", location=other_host.url + "/steal", status=307))
    requests.post(sandbox.url + "/v2/warehouse/list", json={"limit": 1}, timeout=5,
                  headers={"Client-Id": OZON_CLIENT_ID, "Api-Key": OZON_API_KEY})
    assert set(other_host.credentials_received()) == {"api-key", "client-id"}


@pytest.mark.parametrize("status", [307, 302])
def test_ozon_credentials_never_follow_a_redirect_to_another_host(sandbox, duckdb_url, other_host, status) -> None:
    # Every Ozon call is sent elsewhere; the target's query carries the key to prove it is never printed.
    sandbox.add_fault(Fault(kind="redirect", location=f"{other_host.url}/steal?key={OZON_API_KEY}", status=status,
                            count=None))
    settings = settings_for(sandbox.env(), duckdb_url)
    result = run_sync(settings, which="ozon", publish=False, backoff_base=0.01)
    ozon_result = result.results["ozon"]
    assert ozon_result.status == "failed"
    assert re.fullmatch(
        rf"Ozon /v\d[\w/-]+: refused to follow a redirect \({status}\) to another host "
        rf"\({re.escape(other_host.url)}/steal\); credentials are only sent to {re.escape(sandbox.url)}",
        ozon_result.message), ozon_result.message
    assert OZON_API_KEY not in ozon_result.message and "key=" not in ozon_result.message
    row = sync_log.latest(warehouse_for(settings.warehouse), "ozon")
    assert row["status"] == "failed" and "refused to follow a redirect" in row["error_message"]
    assert row["retries"] == 0  # refused at once, never retried
    assert other_host.requests == []
    assert other_host.credentials_received() == []


def test_wb_token_never_follows_a_redirect_to_another_host(sandbox, duckdb_url, other_host) -> None:
    # A target path carrying the token (a hostile server chooses it) is printed masked.
    sandbox.add_fault(Fault(kind="redirect", location=f"{other_host.url}/collect/{WB_API_TOKEN}", status=308, count=None))
    settings = settings_for(sandbox.env(), duckdb_url)
    result = run_sync(settings, which="wb", publish=False, backoff_base=0.01)
    wb_result = result.results["wb"]
    assert wb_result.status == "failed"
    assert re.match(r"Wildberries /[\w/{}-]+: refused to follow a redirect \(308\) to another host "
                    rf"\({re.escape(other_host.url)}/collect/\*\*\*\); credentials are only sent to http://127\.0\.0\.1:\d+$",
                    wb_result.message), wb_result.message
    assert WB_API_TOKEN not in wb_result.message
    assert other_host.requests == [] and other_host.credentials_received() == []


@pytest.mark.parametrize("target, what", [
    ("http://127.0.0.2:{port}/v2/warehouse/list", "host"),
    ("http://127.0.0.1:{other}/v2/warehouse/list", "port"),
    ("https://127.0.0.1:{port}/v2/warehouse/list", "scheme"),
    ("ftp://127.0.0.1:{port}/v2/warehouse/list", "scheme"),
])
def test_a_redirect_is_followed_only_within_scheme_host_and_port(sandbox, duckdb_url, other_host, target, what) -> None:
    """Same host, other port or scheme is another origin too (https → http would send keys in clear)."""
    location = target.format(port=sandbox.port, other=other_host.server.server_address[1])
    sandbox.add_fault(Fault(kind="redirect", path="/v2/warehouse/list", location=location, status=307))
    api = ozon.OzonApi(ozon.make_client(settings_for(sandbox.env(), duckdb_url), backoff_base=0.01), sandbox.url)
    with pytest.raises(RedirectRefused, match=rf"^Ozon /v2/warehouse/list: refused to follow a redirect \(307\) "
                                              rf"to another {what} \({re.escape(safe_url(location))}\)"):
        api.seller_warehouses()
    assert other_host.requests == []


def test_a_redirect_within_the_host_is_followed_with_method_and_body(sandbox, duckdb_url) -> None:
    # Ozon: an absolute same-origin 307 on a POST (the body must come along); WB: a relative 302 on a GET.
    sandbox.add_fault(Fault(kind="redirect", path="/v4/product/info/stocks", status=307,
                            location=sandbox.url + "/v4/product/info/stocks"))
    sandbox.add_fault(Fault(kind="redirect", path="/api/v3/warehouses", status=302, location="/api/v3/warehouses"))
    settings = settings_for(sandbox.env(), duckdb_url)
    result = run_sync(settings, publish=False, backoff_base=0.01)
    assert result.ok, result.summary()
    assert sandbox.request_log.hits(path="/v4/product/info/stocks", status=307) == 1
    assert sandbox.request_log.hits(path="/api/v3/warehouses", status=302) == 1
    assert sandbox.request_log.hits(path="/api/v3/warehouses", method="POST") == 0  # a 302 GET stays a GET
    assert result.results["ozon"].record.retries == 0 and result.results["wb"].record.retries == 0
    # A redirect hop is a request like any other in the counters.
    for marketplace, path in (("ozon", "/v4/product/info/stocks"), ("wb", "/api/v3/warehouses")):
        counted = result.results[marketplace].record.details["requests_by_endpoint"][path]
        assert counted == sandbox.request_log.hits(path=path)


def test_a_redirect_loop_stops(sandbox, duckdb_url) -> None:
    sandbox.add_fault(Fault(kind="redirect", path="/v2/warehouse/list", location="/v2/warehouse/list", count=None))
    api = ozon.OzonApi(ozon.make_client(settings_for(sandbox.env(), duckdb_url), backoff_base=0.01), sandbox.url)
    with pytest.raises(RedirectRefused, match=r"^Ozon /v2/warehouse/list: too many redirects \(more than 5\)$"):
        api.seller_warehouses()
    assert sandbox.request_log.hits(path="/v2/warehouse/list", status=307) == 6


# ---------------------------------------------------------------------- bounded waits
@pytest.mark.parametrize("marketplace, path", [
    ("ozon", "/v4/product/info/stocks"),  # Ozon says Retry-After
    ("wb", wildberries.STOCKS_REPORT_WB),  # WB says X-Ratelimit-Retry
])
def test_a_wait_beyond_the_cap_fails_at_once(sandbox, duckdb_url, marketplace, path) -> None:
    sandbox.add_fault(Fault(kind="rate_limit", path=path, retry_after=3600, count=None))
    settings = settings_for(sandbox.env(), duckdb_url)
    assert settings.max_server_wait == 300
    started = time.monotonic()
    result = run_sync(settings, which=marketplace, publish=False, backoff_base=1.0)
    elapsed = time.monotonic() - started
    # No sleeping: the client never waited (retries and retry_waits below say so exactly); the
    # wall clock only guards against a sleep of the cap's size, with a bound far from both a
    # busy machine's few seconds and the 300 s cap (a tenth of it).
    assert elapsed < settings.max_server_wait / 10, elapsed
    failed = result.results[marketplace]
    label = "Ozon" if marketplace == "ozon" else "Wildberries"
    assert failed.status == "failed"
    assert failed.message == (f"{label} {path}: rate limited for 3600 s (more than INVSYNC_MAX_SERVER_WAIT=300 s); "
                              "try again later")
    row = sync_log.latest(warehouse_for(settings.warehouse), marketplace)
    assert row["status"] == "failed" and "rate limited for 3600 s" in row["error_message"]
    assert row["retries"] == 0 and failed.record.details["retry_waits"] == []


def test_a_wait_up_to_the_cap_is_obeyed_exactly(sandbox, duckdb_url) -> None:
    sandbox.add_fault(Fault(kind="rate_limit", path="/v4/product/info/stocks", retry_after=1.5, count=1))
    settings = settings_for(sandbox.env(), duckdb_url, INVSYNC_MAX_SERVER_WAIT="1.5")
    started = time.monotonic()
    result = run_sync(settings, which="ozon", publish=False, backoff_base=0.01)
    assert result.ok, result.summary()
    assert time.monotonic() - started >= 1.5
    details = result.results["ozon"].record.details
    assert details["retry_waits"] == [1.5] and details["rate_limited"] == 1


def test_a_long_wait_is_announced_before_sleeping(sandbox, caplog) -> None:
    sandbox.add_fault(Fault(kind="rate_limit", path="/v2/warehouse/list", retry_after=6, count=1))
    sleeps: list[float] = []
    client = ApiClient("ozon", {"Client-Id": OZON_CLIENT_ID, "Api-Key": OZON_API_KEY}, label="Ozon", secrets=[OZON_API_KEY],
                       sleep=sleeps.append, max_server_wait=300)
    with caplog.at_level(logging.WARNING, logger="pipelines.api_client"):
        assert ozon.OzonApi(client, sandbox.url).seller_warehouses()
    assert sleeps == [6.0]
    assert "Ozon /v2/warehouse/list: waiting 6 s as the server asks (rate limited (429:" in caplog.text
    assert OZON_API_KEY not in caplog.text


# ---------------------------------------------------------------------- answer shapes
def _wb_api(url: str) -> wildberries.WildberriesApi:
    env = {"WB_API_TOKEN": WB_API_TOKEN, "WB_ANALYTICS_API_URL": url, "WB_MARKETPLACE_API_URL": url,
           "WB_CONTENT_API_URL": url}
    settings = settings_for(env, "duckdb:///unused.duckdb", INVSYNC_RATE_LIMIT_SCALE="0")
    return wildberries.WildberriesApi(wildberries.make_client(settings, backoff_base=0.01), settings)


def _ozon_api(url: str) -> ozon.OzonApi:
    env = {"OZON_CLIENT_ID": OZON_CLIENT_ID, "OZON_API_KEY": OZON_API_KEY, "OZON_API_URL": url}
    settings = settings_for(env, "duckdb:///unused.duckdb", INVSYNC_RATE_LIMIT_SCALE="0")
    return ozon.OzonApi(ozon.make_client(settings, backoff_base=0.01), url)


OK: dict[str, str] = {}


@pytest.mark.parametrize("path, body, call, expected", [
    ("/v1/warehouse/ozon/list", b'"oops"', lambda api: api.ozon_warehouses(), "expected an object, got a string"),
    ("/v4/product/info/stocks", b'{"items": {"product_id": 1}}', lambda api: list(api.stock_pages()),
     "expected an array at items, got an object"),
    ("/v4/product/info/stocks", b'{"items": [{"product_id": 1, "stocks": "none"}]}', lambda api: list(api.stock_pages()),
     "expected an array at items[0].stocks, got a string"),
    ("/v3/product/list", b'{"result": []}', lambda api: list(api.product_list_pages()),
     "expected an object at result, got an array"),
    ("/v2/warehouse/list", b'[]', lambda api: api.seller_warehouses(), "expected an object, got an array"),
])
def test_ozon_unexpected_shapes_name_the_method(path, body, call, expected) -> None:
    server = Loopback(scripted({path: (200, body, OK)}), host="127.0.0.1")
    try:
        with pytest.raises(UnexpectedAnswer) as caught:
            call(_ozon_api(server.url))
        assert str(caught.value) == f"Ozon {path}: unexpected answer shape ({expected})"
        assert len(server.requests) == 1  # a malformed answer is not retried
    finally:
        server.close()


@pytest.mark.parametrize("path, method, body, call, expected", [
    ("/api/v3/warehouses", "/api/v3/warehouses", b'{"warehouses": []}', lambda api: api.fbs_warehouses(),
     "expected an array, got an object"),
    ("/api/v3/stocks/7", "/api/v3/stocks/{warehouseId}", b'[]', lambda api: api.seller_stocks(7, [1]),
     "expected an object, got an array"),
    ("/content/v2/get/cards/list", "/content/v2/get/cards/list", b'"oops"', lambda api: list(api.card_pages()),
     "expected an object, got a string"),
    (wildberries.STOCKS_REPORT_WB, wildberries.STOCKS_REPORT_WB, b'{"data": {"items": {"0": {}}}}',
     lambda api: list(api.stocks_report_pages(wildberries.STOCKS_REPORT_WB)), "expected an array at data.items, got an object"),
])
def test_wb_unexpected_shapes_name_the_method(path, method, body, call, expected) -> None:
    server = Loopback(scripted({path: (200, body, OK)}), host="127.0.0.1")
    try:
        with pytest.raises(UnexpectedAnswer) as caught:
            call(_wb_api(server.url))
        assert str(caught.value) == f"Wildberries {method}: unexpected answer shape ({expected})"
        assert len(server.requests) == 1
    finally:
        server.close()


def test_a_204_is_still_no_data() -> None:
    server = Loopback(scripted({"/api/v3/warehouses": (204, b"", OK), "/api/v3/stocks/7": (204, b"", OK)}),
                      host="127.0.0.1")
    try:
        api = _wb_api(server.url)
        assert api.fbs_warehouses() == [] and api.seller_stocks(7, [1]) == []
    finally:
        server.close()


def test_shape_problem_reads_nested_shapes() -> None:
    shape = {"data": {"items": [{"warehouses": [dict]}]}}
    assert shape_problem({"data": {"items": [{"warehouses": [{}]}]}}, shape) is None
    assert shape_problem({"data": None}, shape) is None  # a null or missing field is the parser's business
    assert shape_problem({}, shape) is None
    assert shape_problem({"data": {"items": [{}, {"warehouses": [1]}]}}, shape) == \
        "expected an object at data.items[1].warehouses[0], got a number"
    # an array of objects (most pages): the first element that is not one is named
    assert shape_problem({"products": [{}, None, {}, "x", 3]}, {"products": [dict]}) == \
        "expected an object at products[3], got a string"
    assert shape_problem([[1, 2], [3, "4"]], [[int]]) == "expected a number at [1][1], got a string"
    assert shape_problem(None, dict) is None  # 204: no data
    assert shape_problem(True, int) == "expected a number, got a boolean"


def test_a_sync_fed_a_wrong_shape_fails_naming_the_method(sandbox, duckdb_url) -> None:
    """End to end: a proxy in front of the sandbox turns one method's array into an object."""
    def proxy(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path.startswith("/v2/warehouse/list"):
            return 200, json.dumps({"warehouses": {"warehouse_id": 1}}).encode(), {}
        forward = {k: v for k, v in headers.items() if k not in ("host", "content-length", "connection")}
        answer = requests.request(method, sandbox.url + path, data=body, headers=forward, timeout=10)
        extra = {k: v for k, v in answer.headers.items() if k.lower().startswith(("ratelimit", "x-ratelimit", "retry"))}
        return answer.status_code, answer.content, extra

    server = Loopback(proxy, host="127.0.0.1")
    try:
        env = {**sandbox.env(), "OZON_API_URL": server.url}
        settings = settings_for(env, duckdb_url)
        result = run_sync(settings, which="ozon", publish=False, backoff_base=0.01)
        failed = result.results["ozon"]
        assert failed.status == "failed"
        assert failed.message == ("Ozon /v2/warehouse/list: unexpected answer shape "
                                  "(expected an array at warehouses, got an object)")
        row = sync_log.latest(warehouse_for(settings.warehouse), "ozon")
        assert row["status"] == "failed" and "unexpected answer shape" in row["error_message"]
    finally:
        server.close()
