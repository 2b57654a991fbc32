"""`invsync serve`: the REST API and the web console over real HTTP, on DuckDB and MariaDB.

Each backend gets one warehouse (a sync of the sandbox account) and one `invsync serve`
process on a free loopback port, with its own viewer and operator tokens; the server's whole
log output goes to a file that the last test searches for the tokens. A stub Dagster GraphQL
endpoint stands in for the webserver when `DAGSTER_GRAPHQL_URL` is set; a headless Chromium
(driven over the DevTools protocol) logs in, filters the stock table and presses "Sync now".
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pytest
import requests

from pipelines.config import PROJECT_ROOT, ConfigError, load_settings, parse_api_tokens
from pipelines.marketplaces import MARKETPLACES
from pipelines.web.security import hash_token, new_token
from tests.conftest import TEST_MARKETPLACES, fresh_mysql_database, settings_for

HOSTILE = "'; drop table inventory_data; --"
PROTECTED_GETS = ["/api/v1/status", "/api/v1/inventory", "/api/v1/syncs", "/api/v1/syncs/1"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running `invsync serve` process and what a test needs to talk to it."""

    backend: str
    url: str
    viewer: str
    operator: str
    log_path: Path
    settings: Any
    process: subprocess.Popen
    acme_viewer: str = ""  # a viewer token limited to the account `acme` (`:accounts=acme`)
    acme_operator: str = ""  # an operator token limited to `acme`: it may read acme, never start a sync

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.get(self.url + path, headers=headers, timeout=30, allow_redirects=False, **kwargs)

    def post(self, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.post(self.url + path, headers=headers, timeout=30, allow_redirects=False, **kwargs)

    def wait_for_sync(self, sync_id: str, timeout: float = 240) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.get(f"/api/v1/syncs/{sync_id}", self.viewer).json()
            if body["status"] != "running":
                return body
            time.sleep(1)
        raise AssertionError(f"sync {sync_id} still running after {timeout} s")


def start_server(env_extra: dict[str, str], log_path: Path, backend: str, settings: Any = None,
                 viewer: str = "", operator: str = "") -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OZON_", "WB_", "INVSYNC_", "DAGSTER_GRAPHQL"))}
    env.update(env_extra)
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    log_file = open(log_path, "ab")
    process = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "serve", "--port", str(port)],
                               stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=str(PROJECT_ROOT))
    log_file.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(url + "/healthz", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError("invsync serve did not start:\n" + log_path.read_text(errors="replace")[-3000:])
        time.sleep(0.2)
    return Server(backend, url, viewer, operator, log_path, settings, process)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def web_env(viewer: str, operator: str, **extra: str) -> dict[str, str]:
    return {
        "INVSYNC_API_TOKENS": f"viewer:{hash_token(viewer)},ops:operator:{hash_token(operator)}",
        "INVSYNC_SESSION_SECRET": "s" * 16 + uuid.uuid4().hex,
        "INVSYNC_SYNC_MIN_INTERVAL": "1",
        **extra,
    }


@pytest.fixture(scope="module")
def web_sandbox() -> Iterator[Any]:
    from pipelines.sandbox import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(products=120, seed=7, rate_limit_scale=0.01, env_marketplaces=TEST_MARKETPLACES)) as sb:
        yield sb


@pytest.fixture(scope="module")
def mysql_database() -> Iterator[str]:
    with fresh_mysql_database("web") as url:  # one database for the module's tests (a stable name: dbt parses once)
        yield url


@pytest.fixture(scope="module", params=["duckdb", "mysql"])
def server(request: pytest.FixtureRequest, web_sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A synced warehouse of the given backend and an `invsync serve` process on it."""
    from pipelines.sync import run_sync

    folder = tmp_path_factory.mktemp(f"web-{request.param}")
    if request.param == "duckdb":
        warehouse_url = f"duckdb:///{folder / 'warehouse.duckdb'}"
    else:
        warehouse_url = request.getfixturevalue("mysql_database")
    settings = settings_for(web_sandbox.env(), warehouse_url)
    result = run_sync(settings, backoff_base=0.01)
    assert result.clean, result.summary()
    viewer, operator, acme_viewer, acme_operator = new_token(), new_token(), new_token(), new_token()
    env = {**web_sandbox.env(), "WAREHOUSE_URL": warehouse_url, "INVSYNC_DATASET_PREFIX": settings.dataset_prefix,
           "INVSYNC_RATE_LIMIT_SCALE": "0.01", "INVSYNC_HTTP_TIMEOUT": "5", "INVSYNC_MAX_RETRIES": "4",
           **web_env(viewer, operator)}
    env["INVSYNC_API_TOKENS"] += (f",acme-view:viewer:{hash_token(acme_viewer)}:accounts=acme"
                                  f",acme-ops:operator:{hash_token(acme_operator)}:accounts=acme")
    srv = start_server(env, folder / "server.log", request.param, settings, viewer, operator)
    srv.acme_viewer, srv.acme_operator = acme_viewer, acme_operator
    try:
        yield srv
    finally:
        stop_server(srv)


def inventory_count(settings: Any) -> int:
    from pipelines.warehouse import warehouse_for

    return int(warehouse_for(settings.warehouse).query("select count(*) as n from inventory_data")[0]["n"])


# -- authentication and the read endpoints --------------------------------------------------------
def every_key(server: Server, limit: int) -> tuple[list[tuple], int]:
    """The grain keys of every `/api/v1/inventory` row, page after page, and how many pages."""
    seen: list[tuple] = []
    after, pages = None, 0
    while True:
        page = server.get("/api/v1/inventory", server.viewer, params={"limit": limit, **({"after": after} if after else {})}).json()
        seen += [(r["marketplace"], r["account"], r["sku"], r["warehouse_id"], r["stock_type"]) for r in page["items"]]
        pages += 1
        after = page["next"]
        if not after:
            return seen, pages


def test_health_needs_no_token_and_everything_else_does(server: Server) -> None:
    health = server.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok", "warehouse": "ok"}
    assert server.get("/api/v1/healthz").status_code == 200
    for path in PROTECTED_GETS:
        for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {server.viewer}"},
                        {"Authorization": f"Bearer {server.viewer}x"}):
            answer = server.get(path, headers=headers)
            assert answer.status_code == 401, (path, headers, answer.text)
            assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert server.post("/api/v1/syncs", json={}).status_code == 401
    # The security headers are on every answer.
    for answer in (health, server.get("/api/v1/status"), server.get("/login")):
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert "'unsafe-inline'" not in answer.headers["Content-Security-Policy"]
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
    spec = server.get("/api/v1/openapi.json").json()
    for path in ("/api/v1/status", "/api/v1/inventory", "/api/v1/syncs", "/api/v1/syncs/{sync_id}", "/api/v1/healthz"):
        assert path in spec["paths"], path
    assert "post" in spec["paths"]["/api/v1/syncs"]


def test_status_says_what_the_cli_says(server: Server) -> None:
    from pipelines.status import collect_status, exit_code

    body = server.get("/api/v1/status", server.viewer).json()
    expected = collect_status(server.settings)
    assert body["exit_code"] == exit_code(expected) == 0
    drop = ("age_hours",)
    got = [{k: v for k, v in m.items() if k not in drop} for m in body["marketplaces"]]
    want = [{k: (str(v) if k.endswith("_at") and v is not None else v) for k, v in m.to_dict().items() if k not in drop}
            for m in expected]
    for g, w in zip(got, want):
        for key in ("last_success_at", "last_attempt_at"):  # ISO 8601 with UTC offset vs str(datetime)
            if w[key] is None:  # a marketplace never synced
                assert g[key] is None, key
                continue
            assert g[key].replace("T", " ").startswith(w[key][:19]), key
            g[key] = w[key]
    assert got == want


def test_inventory_filters_pages_and_csv(server: Server, web_sandbox: Any) -> None:
    total = inventory_count(server.settings)
    # Keyset pages cover every row exactly once, in key order.
    seen, pages = every_key(server, limit=70)
    assert len(seen) == total == len(set(seen)) and seen == sorted(seen) and pages == -(-total // 70)
    # Filters.
    wb = server.get("/api/v1/inventory", server.viewer, params={"marketplace": "wb", "limit": 1000}).json()["items"]
    assert wb and {r["marketplace"] for r in wb} == {"wb"}
    fbs = server.get("/api/v1/inventory", server.viewer, params={"stock_type": "FBS", "limit": 1000}).json()["items"]
    assert fbs and {r["stock_type"] for r in fbs} == {"FBS"}
    stocked = server.get("/api/v1/inventory", server.viewer, params={"in_stock": "true", "limit": 1000}).json()["items"]
    assert stocked and all(r["quantity_available"] > 0 for r in stocked) and len(stocked) < total
    sample = wb[0]
    by_offer = server.get("/api/v1/inventory", server.viewer, params={"q": sample["offer_id"].lower(), "limit": 1000}).json()["items"]
    assert sample["sku"] in {r["sku"] for r in by_offer}
    assert all(sample["offer_id"].lower() in (r["offer_id"] or "").lower() or sample["offer_id"].lower() in r["sku"].lower()
               for r in by_offer)
    place = sample["warehouse_name"]
    by_place = server.get("/api/v1/inventory", server.viewer, params={"warehouse": place[1:-1], "limit": 1000}).json()["items"]
    assert by_place and all(place[1:-1].lower() in (r["warehouse_name"] or "").lower() for r in by_place)
    assert server.get("/api/v1/inventory", server.viewer, params={"q": "%", "limit": 5}).json()["items"] == []
    # CSV on Accept: text/csv, with the next cursor in headers.
    answer = server.get("/api/v1/inventory", server.viewer, params={"limit": 10}, headers={"Accept": "text/csv"})
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    lines = answer.text.strip().splitlines()
    assert lines[0].startswith("marketplace,account,sku,") and len(lines) == 11
    assert answer.headers["X-Next-Cursor"] and 'rel="next"' in answer.headers["Link"]
    # Validation: 422, never 500.
    for params in ({"limit": 0}, {"limit": 5000}, {"marketplace": "amazon"}, {"after": "not-a-cursor"},
                   {"after": "W1tdXQ"}, {"q": "x" * 65}, {"in_stock": "maybe"}):
        assert server.get("/api/v1/inventory", server.viewer, params=params).status_code == 422, params


def test_another_accounts_rows_under_the_same_keys_page_apart_and_filter_by_account(server: Server) -> None:
    """The account is part of the grain: two accounts' rows that share marketplace, sku,
    warehouse and stock type are two rows, each on exactly one page, and `account` filters."""
    from pipelines.warehouse import warehouse_for

    wh = warehouse_for(server.settings.warehouse)
    total = inventory_count(server.settings)
    columns = ", ".join(sorted(wh.columns("inventory_data") - {"account"}))
    with wh.connection() as conn:  # a second account that happens to list three of the same keys
        wh.execute(conn, f"insert into inventory_data ({columns}, account) select {columns}, 'north' from inventory_data "
                         "where account = 'default' order by marketplace, sku, warehouse_id, stock_type limit 3")
    try:
        seen, _ = every_key(server, limit=50)
        assert len(seen) == total + 3 == len(set(seen)) and seen == sorted(seen)
        north = server.get("/api/v1/inventory", server.viewer, params={"account": "north"}).json()["items"]
        assert len(north) == 3 and {r["account"] for r in north} == {"north"}
        assert {(r["marketplace"], r["sku"], r["warehouse_id"], r["stock_type"]) for r in north} <= \
            {k[:1] + k[2:] for k in seen if k[1] == "default"}
        default = server.get("/api/v1/inventory/totals", server.viewer, params={"account": "default"}).json()
        assert default["rows"] == total
        for bad in ("North", "1north", "x" * 33, "a;b"):
            assert server.get("/api/v1/inventory", server.viewer, params={"account": bad}).status_code == 422, bad
    finally:
        with wh.connection() as conn:
            wh.execute(conn, "delete from inventory_data where account = 'north'")
    assert inventory_count(server.settings) == total


# -- a token limited to some accounts (issue 24) ---------------------------------------------------
@dataclass
class AcmeData:
    """The account `acme`'s rows, added beside the sandbox's `default` ones: one WB product (a copy
    of default's rows of it, with figures no sandbox row has), its history and one sync."""

    product: str  # a WB product both accounts hold
    other_product: str  # a WB product only `default` holds
    rows: int
    present: int
    available: int
    history_rows: int
    run_id: str
    default_run_id: str  # default's last sync: acme's token must not find it
    default_row_id: int
    default_rows: int  # default's figures, which acme's token must never see
    default_wb_available: int


ACME_PRESENT, ACME_RESERVED, ACME_AVAILABLE = 900_000, 100_000, 800_000  # per row; no sandbox row is near


@pytest.fixture
def acme_rows(server: Server) -> Iterator[AcmeData]:
    from datetime import datetime, timedelta, timezone

    from pipelines import sync_log
    from pipelines.warehouse import warehouse_for

    wh = warehouse_for(server.settings.warehouse)
    products = [r["p"] for r in wh.query(
        "select marketplace_product_id as p from inventory_data where marketplace = 'wb' and account = 'default' "
        "group by marketplace_product_id having count(*) >= 2 order by 1 limit 2")]
    default = wh.query("select count(*) as n from inventory_data where account = 'default'")[0]
    wb = wh.query("select coalesce(sum(quantity_available), 0) as a from inventory_data "
                  "where account = 'default' and marketplace = 'wb'")[0]
    last = wh.query("select id, run_id from sync_logs where account = 'default' order by id desc limit 1")[0]
    quantities = {"quantity_present", "quantity_reserved", "quantity_available", "account"}
    columns = ", ".join(sorted(wh.columns("inventory_data") - quantities - {"product_name"}))
    history = ", ".join(sorted(wh.columns("inventory_history") - quantities))
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    record = sync_log.SyncRecord(run_id=f"acme{uuid.uuid4().hex}", marketplace="wb", sync_type="incremental",
                                 started_at=now - timedelta(minutes=10), status="success",
                                 finished_at=now - timedelta(minutes=9), records_written=4242, account="acme")
    try:
        with wh.connection() as conn:
            wh.execute(conn, f"insert into inventory_data ({columns}, account, product_name, quantity_present, "
                             f"quantity_reserved, quantity_available) select {columns}, 'acme', 'ACME-ONLY item', "
                             "%s, %s, %s from inventory_data where account = 'default' and marketplace = 'wb' "
                             "and marketplace_product_id = %s",
                       (ACME_PRESENT, ACME_RESERVED, ACME_AVAILABLE, products[0]))
            wh.execute(conn, f"insert into inventory_history ({history}, account, quantity_present, quantity_reserved, "
                             f"quantity_available) select {history}, 'acme', %s, %s, %s from inventory_history h "
                             "where h.account = 'default' and exists (select 1 from inventory_data i where "
                             "i.account = 'acme' and i.marketplace = h.marketplace and i.sku = h.sku and "
                             "i.warehouse_id = h.warehouse_id and i.stock_type = h.stock_type)",
                       (ACME_PRESENT, ACME_RESERVED, ACME_AVAILABLE))
        sync_log.insert(wh, record)
        rows = int(wh.query("select count(*) as n from inventory_data where account = 'acme'")[0]["n"])
        intervals = int(wh.query("select count(*) as n from inventory_history where account = 'acme'")[0]["n"])
        assert rows >= 2 and intervals >= rows
        yield AcmeData(products[0], products[1], rows, rows * ACME_PRESENT, rows * ACME_AVAILABLE, intervals,
                       record.run_id, last["run_id"], int(last["id"]), int(default["n"]), int(wb["a"]))
    finally:
        with wh.connection() as conn:
            for table in ("inventory_data", "inventory_history", "sync_logs"):
                wh.execute(conn, f"delete from {table} where account = 'acme'")


def test_a_token_limited_to_an_account_reads_only_that_accounts_rows(server: Server, acme_rows: AcmeData) -> None:
    """`:accounts=acme`: every API read (rows, totals, groups, a product, history, CSV, status,
    syncs) holds acme's rows and figures only; `?account=default` answers 200 with nothing."""
    acme, token = acme_rows, server.acme_viewer

    def read(path: str, **params: Any) -> Any:
        answer = server.get(path, token, params=params)
        assert answer.status_code == 200, (path, params, answer.text[:300])
        return answer.json()

    items = read("/api/v1/inventory", limit=1000)["items"]
    assert len(items) == acme.rows and {r["account"] for r in items} == {"acme"}
    assert sum(r["quantity_available"] for r in items) == acme.available
    assert read("/api/v1/inventory/totals") == {"rows": acme.rows, "products": 1, "present": acme.present,
                                                "reserved": acme.rows * ACME_RESERVED, "available": acme.available}
    assert server.get("/api/v1/inventory/totals", server.viewer).json()["rows"] == acme.default_rows + acme.rows
    # Asking for another account: an empty answer, never its rows (nor a hint that it exists).
    assert read("/api/v1/inventory", account="default")["items"] == []
    assert read("/api/v1/inventory/totals", account="default")["rows"] == 0
    assert len(read("/api/v1/inventory", account="acme", limit=1000)["items"]) == acme.rows
    # Grouped views, one product, its history.
    products = read("/api/v1/products", limit=5000)
    assert [p["marketplace_product_id"] for p in products["items"]] == [acme.product] and products["count"] == 1
    assert sum(w["present"] for w in read("/api/v1/warehouses")["items"]) == acme.present
    assert read("/api/v1/low-stock")["count"] == 0  # default's low stock is not acme's
    one = read(f"/api/v1/products/wb/{acme.product}")
    assert one["available"] == acme.available and {p["account"] for s in one["sizes"] for p in s["places"]} == {"acme"}
    assert server.get(f"/api/v1/products/wb/{acme.product}", server.viewer).json()["available"] > acme.available
    assert server.get(f"/api/v1/products/wb/{acme.other_product}", token).status_code == 404
    history = read("/api/v1/inventory/history", limit=1000)["items"]
    assert len(history) == acme.history_rows and {(h["account"], h["quantity_available"]) for h in history} == \
        {("acme", ACME_AVAILABLE)}
    assert read("/api/v1/inventory/history", account="default")["items"] == []
    # CSV: the API's and the console's export.
    import csv as csv_module
    import io

    answer = server.get("/api/v1/inventory", token, params={"limit": 1000}, headers={"Accept": "text/csv"})
    exported = list(csv_module.DictReader(io.StringIO(answer.text)))
    assert len(exported) == acme.rows and {r["account"] for r in exported} == {"acme"}
    console = console_login(server, token)
    exported = list(csv_module.DictReader(io.StringIO(console.get(server.url + "/stock.csv", timeout=30).text.lstrip("\ufeff"))))
    assert len(exported) == acme.rows and {r["account"] for r in exported} == {"acme"}
    # Status: one record per account, acme's only (no record of default's, on any marketplace).
    status = {m["name"]: m for m in read("/api/v1/status")["marketplaces"]}
    assert set(status) == {"wb/acme"} and status["wb/acme"]["account"] == "acme"
    assert (status["wb/acme"]["rows"], status["wb/acme"]["units_available"], status["wb/acme"]["level"]) == (
        acme.rows, acme.available, "fresh")
    everyone = {m["name"]: m for m in server.get("/api/v1/status", server.viewer).json()["marketplaces"]}
    assert everyone["wb"]["units_available"] == acme.default_wb_available
    assert everyone["wb/acme"]["units_available"] == acme.available
    # Sync history: acme's sync only, no launches; default's syncs are not found.
    syncs = read("/api/v1/syncs")
    assert [(r["run_id"], r["account"]) for r in syncs["items"]] == [(acme.run_id, "acme")] and syncs["launches"] == []
    detail = read(f"/api/v1/syncs/{acme.run_id}")
    assert [(m["account"], m["records_written"]) for m in detail["marketplaces"]] == [("acme", 4242)]
    for other in (acme.default_run_id, str(acme.default_row_id)):
        assert server.get(f"/api/v1/syncs/{other}", token).status_code == 404, other
        assert server.get(f"/api/v1/syncs/{other}", server.viewer).status_code == 200, other


def test_a_token_limited_to_an_account_in_the_console_and_never_starting_syncs(server: Server,
                                                                               acme_rows: AcmeData) -> None:
    acme = acme_rows
    console = console_login(server, server.acme_viewer)
    dashboard = console.get(server.url + "/", timeout=30).text
    assert f"{acme.rows} rows</a> · {acme.present} units present · {acme.available} available" in dashboard
    assert f"{acme.default_wb_available + acme.available} available" not in dashboard
    assert "acme-view (viewer; accounts acme)" in dashboard
    history = console.get(server.url + "/syncs", timeout=30).text
    assert f'data-run-id="{acme.run_id}"' in history and f'data-run-id="{acme.default_run_id}"' not in history
    for path in (f"/syncs/{acme.default_run_id}", f"/products/wb/{acme.other_product}"):
        assert console.get(server.url + path, timeout=30).status_code == 404, path
    product = console.get(server.url + f"/products/wb/{acme.product}", timeout=30).text
    assert f'data-available="{acme.available}"' in product
    assert console.get(server.url + "/chart.png", timeout=30).content[:8] == b"\x89PNG\r\n\x1a\n"
    # An operator token limited to acme reads acme, and may not start a sync (a sync covers every account).
    refused = server.post("/api/v1/syncs", server.acme_operator, json={"marketplace": "wb"})
    assert refused.status_code == 403 and "limited to some accounts" in refused.json()["detail"]
    assert len(server.get("/api/v1/inventory", server.acme_operator).json()["items"]) == acme.rows
    operator = console_login(server, server.acme_operator)
    page = operator.get(server.url + "/", timeout=30).text
    assert 'id="sync-now"' not in page
    assert operator.post(server.url + "/sync", data={"mode": "incremental", "csrf_token": csrf_of(page)},
                         allow_redirects=False, timeout=30).status_code == 403
    assert server.get("/api/v1/syncs", server.viewer).json()["launches"] == []


def test_a_hostile_filter_value_returns_nothing_and_changes_nothing(server: Server) -> None:
    before = inventory_count(server.settings)
    for name in ("q", "warehouse", "stock_type"):
        answer = server.get("/api/v1/inventory", server.viewer, params={name: HOSTILE})
        assert answer.status_code == 200, answer.text
        assert answer.json()["items"] == []
    assert server.get("/api/v1/syncs/1%27%3B%20drop", server.viewer).status_code in (404, 422)
    assert server.get("/api/v1/syncs", server.viewer, params={"before": HOSTILE}).status_code == 422
    page = server.get("/stock", server.viewer, params={"q": HOSTILE, "warehouse": HOSTILE})  # the console's table
    assert page.status_code == 200 and 'id="no-rows"' in page.text
    assert HOSTILE not in page.text and "&#39;; drop table inventory_data; --" in page.text  # escaped, not markup
    assert inventory_count(server.settings) == before > 0


def test_sync_history_and_one_sync_with_its_checks(server: Server) -> None:
    page = server.get("/api/v1/syncs", server.viewer).json()
    rows = page["items"]
    assert {r["marketplace"] for r in rows} >= {"ozon", "wb"} and all(r["status"] for r in rows)
    run_id = rows[0]["run_id"]
    detail = server.get(f"/api/v1/syncs/{run_id}", server.viewer).json()
    assert detail["id"] == run_id and {m["marketplace"] for m in detail["marketplaces"]} == {"ozon", "wb"}
    assert detail["status"] in ("success", "partial")
    assert detail["validation_results"] and {c["marketplace"] for c in detail["validation_results"]} == {"ozon", "wb"}
    assert all(isinstance(c["success"], bool) for c in detail["validation_results"])
    assert "counts" in detail["marketplaces"][0]["details"]
    by_row = server.get(f"/api/v1/syncs/{rows[0]['id']}", server.viewer).json()
    assert by_row["run_id"] == run_id
    only_wb = server.get("/api/v1/syncs", server.viewer, params={"marketplace": "wb", "limit": 1}).json()
    assert [r["marketplace"] for r in only_wb["items"]] == ["wb"]
    assert server.get(f"/api/v1/syncs/{uuid.uuid4()}", server.viewer).status_code == 404
    assert server.get("/api/v1/syncs/bad_id!", server.viewer).status_code in (404, 422)
    assert server.get("/api/v1/syncs", server.viewer, params={"status": "weird"}).status_code == 422


def test_a_viewer_may_not_start_a_sync(server: Server) -> None:
    answer = server.post("/api/v1/syncs", server.viewer, json={"marketplace": "ozon"})
    assert answer.status_code == 403
    for body in ({"marketplace": "amazon"}, {"full": "yes please"}, {"unknown": 1},
                 {"force_publish_reason": "x"}, {"force_publish_reason": "bad\nline"}):
        assert server.post("/api/v1/syncs", server.operator, json=body).status_code == 422, body


# -- the console: login, CSRF ------------------------------------------------------------------
def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def console_login(server: Server, token: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(server.url + "/login", timeout=30)
    answer = browser.post(server.url + "/login", data={"token": token, "csrf_token": csrf_of(page.text), "next": "/"},
                          allow_redirects=False, timeout=30)
    assert answer.status_code == 303 and answer.headers["Location"] == "/"
    return browser


def test_console_login_and_csrf(server: Server) -> None:
    browser = requests.Session()
    assert browser.get(server.url + "/", allow_redirects=False, timeout=30).headers["Location"].startswith("/login")
    page = browser.get(server.url + "/login", timeout=30)
    cookie = page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    token_field = csrf_of(page.text)
    # Login without / with a forged CSRF token: 403; a wrong token: 401.
    for data in ({"token": server.operator}, {"token": server.operator, "csrf_token": "forged"}):
        assert browser.post(server.url + "/login", data=data, allow_redirects=False, timeout=30).status_code == 403
    wrong = browser.post(server.url + "/login", data={"token": "nope", "csrf_token": token_field}, timeout=30)
    assert wrong.status_code == 401 and "not valid" in wrong.text
    # Another visitor's CSRF token does not fit this session.
    stranger = csrf_of(requests.get(server.url + "/login", timeout=30).text)
    assert browser.post(server.url + "/login", data={"token": server.operator, "csrf_token": stranger},
                        allow_redirects=False, timeout=30).status_code == 403
    # An open redirect after login is not possible.
    answer = browser.post(server.url + "/login", data={"token": server.operator, "csrf_token": token_field,
                                                       "next": "//evil.example/"}, allow_redirects=False, timeout=30)
    assert answer.status_code == 303 and answer.headers["Location"] == "/"
    dashboard = browser.get(server.url + "/", timeout=30)
    assert dashboard.status_code == 200 and 'id="sync-now"' in dashboard.text
    assert server.operator not in dashboard.text and server.operator not in str(browser.cookies.get_dict())
    # WB's card says what its token allows, the line `invsync status` prints (counts.credentials; issue 22).
    from markupsafe import escape

    from pipelines.status import collect_status

    wb_plan = next(m.credentials for m in collect_status(server.settings) if m.marketplace == "wb")
    assert wb_plan and wb_plan.startswith("WB token: ") and "FBO from" in wb_plan, wb_plan
    assert f'<p class="hint credentials">{escape(wb_plan)}</p>' in dashboard.text
    fresh = csrf_of(dashboard.text)
    assert fresh != token_field  # logging in rotates the session and its CSRF token
    # "Sync now" without, with a forged, and with the pre-login CSRF token: 403, nothing started.
    for data in ({"mode": "incremental"}, {"mode": "incremental", "csrf_token": "forged"},
                 {"mode": "incremental", "csrf_token": token_field}):
        assert browser.post(server.url + "/sync", data=data, allow_redirects=False, timeout=30).status_code == 403
    # The API through the session cookie: reads work, a POST needs the CSRF header.
    assert browser.get(server.url + "/api/v1/status", timeout=30).status_code == 200
    assert browser.post(server.url + "/api/v1/syncs", json={"marketplace": "ozon"}, timeout=30).status_code == 403
    assert browser.post(server.url + "/api/v1/syncs", json={"marketplace": "ozon"}, timeout=30,
                        headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert server.get("/api/v1/syncs", server.viewer).json()["launches"] == []
    # A tampered cookie is no session at all.
    value = browser.cookies.get("invsync_session")
    forged = requests.get(server.url + "/api/v1/status", cookies={"invsync_session": value[:-3] + "AAA"}, timeout=30)
    assert forged.status_code == 401
    # Pages of a viewer: no sync buttons; posting anyway is refused.
    viewer = console_login(server, server.viewer)
    page = viewer.get(server.url + "/", timeout=30).text
    assert 'id="sync-now"' not in page
    assert viewer.post(server.url + "/sync", data={"mode": "incremental", "csrf_token": csrf_of(page)},
                       allow_redirects=False, timeout=30).status_code == 403
    for path in ("/stock?marketplace=wb&in_stock=1", "/syncs", "/chart.png"):
        answer = viewer.get(server.url + path, timeout=30)
        assert answer.status_code == 200, (path, answer.text[:300])
    assert viewer.get(server.url + "/chart.png", timeout=30).content[:8] == b"\x89PNG\r\n\x1a\n"
    # Logging out needs the CSRF token too.
    assert viewer.post(server.url + "/logout", data={}, allow_redirects=False, timeout=30).status_code == 403
    assert viewer.post(server.url + "/logout", data={"csrf_token": csrf_of(page)}, allow_redirects=False,
                       timeout=30).status_code == 303
    assert viewer.get(server.url + "/", allow_redirects=False, timeout=30).status_code == 303


# -- starting a sync -------------------------------------------------------------------------
def test_post_syncs_starts_one_sync_at_a_time(server: Server) -> None:
    started = server.post("/api/v1/syncs", server.operator, json={"marketplace": "all"})
    assert started.status_code == 202, started.text
    sync_id = started.json()["id"]
    assert started.headers["Location"].endswith(sync_id)
    second = server.post("/api/v1/syncs", server.operator, json={"marketplace": "ozon", "full": True})
    assert second.status_code == 409, second.text
    done = server.wait_for_sync(sync_id)
    assert done["status"] == "success", json.dumps(done, indent=1)[:3000]
    assert done["launch"]["exit_code"] == 0 and done["launch"]["started_by"] == "ops"
    assert {m["marketplace"] for m in done["marketplaces"]} == {"ozon", "wb"} and done["validation_results"]
    by_run = server.get(f"/api/v1/syncs/{done['run_id']}", server.viewer).json()
    assert by_run["launch"]["id"] == sync_id
    history = server.get("/api/v1/syncs", server.viewer, params={"limit": 2}).json()["items"]
    assert {r["run_id"] for r in history} == {done["run_id"]}


def test_no_token_ever_reaches_the_log(server: Server) -> None:
    """Runs last for its server: everything above was logged by then."""
    log = server.log_path.read_text(errors="replace")
    assert "GET /api/v1/inventory" in log and "started by ops" in log  # the log was captured
    for secret in (server.viewer, server.operator, hash_token(server.viewer), hash_token(server.operator)):
        assert secret not in log
    assert "INVSYNC_SESSION_SECRET" not in log


# -- Dagster as the launcher ------------------------------------------------------------------
class DagsterStub(BaseHTTPRequestHandler):
    """Answers the three GraphQL operations the launcher sends, and records them."""

    calls: list[dict[str, Any]] = []
    active: list[dict[str, str]] = []
    run_status = "STARTED"

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append(body)
        query = body["query"]
        if "launchRun" in query:
            data = {"launchRun": {"__typename": "LaunchRunSuccess", "run": {"runId": f"dagster-run-{len(self.calls)}",
                                                                            "status": "QUEUED"}}}
        elif "runsOrError" in query:
            data = {"runsOrError": {"__typename": "Runs", "results": list(type(self).active)}}
        else:
            data = {"runOrError": {"__typename": "Run", "runId": body["variables"]["runId"], "jobName": "sync_ozon",
                                   "status": type(self).run_status}}
        payload = json.dumps({"data": data}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


def test_dagster_graphql_documents_match_dagsters_schema() -> None:
    from dagster_graphql.schema import create_schema
    from graphql import parse, validate

    from orchestration import common
    from pipelines.web import launcher

    schema = create_schema().graphql_schema
    for document in (launcher.LAUNCH_MUTATION, launcher.RUNS_QUERY, launcher.RUN_QUERY):
        assert validate(schema, parse(document)) == []
    assert (launcher.TAG_FULL, launcher.TAG_FORCE_PUBLISH) == (common.TAG_FULL, common.TAG_FORCE_PUBLISH)
    from orchestration.jobs import SYNC_JOBS

    assert set(launcher.DAGSTER_SYNC_JOBS) == set(SYNC_JOBS)


def test_with_dagster_post_syncs_launches_a_dagster_run(tmp_path: Path) -> None:
    stub = ThreadingHTTPServer(("127.0.0.1", 0), DagsterStub)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    DagsterStub.calls, DagsterStub.active, DagsterStub.run_status = [], [], "STARTED"
    viewer, operator = new_token(), new_token()
    duckdb.connect(str(tmp_path / "empty.duckdb")).close()  # an empty warehouse: serve reads no missing one
    env = {"WAREHOUSE_URL": f"duckdb:///{tmp_path / 'empty.duckdb'}", **web_env(viewer, operator),
           "INVSYNC_SYNC_MIN_INTERVAL": "600", "DAGSTER_GRAPHQL_URL": f"http://127.0.0.1:{stub.server_port}/graphql"}
    srv = start_server(env, tmp_path / "server.log", "duckdb", viewer=viewer, operator=operator)
    try:
        answer = srv.post("/api/v1/syncs", operator, json={"marketplace": "ozon", "full": True,
                                                           "force_publish_reason": "counted by hand"})
        assert answer.status_code == 202, answer.text
        run_id = answer.json()["id"]
        assert answer.json()["run_id"] == run_id and answer.json()["via"] == "dagster"
        launch = next(c for c in DagsterStub.calls if "launchRun" in c["query"])["variables"]["executionParams"]
        assert launch["selector"] == {"repositoryLocationName": "invsync", "repositoryName": "__repository__",
                                      "jobName": "sync_ozon"}
        tags = {t["key"]: t["value"] for t in launch["executionMetadata"]["tags"]}
        assert tags["invsync/full"] == "true" and tags["invsync/force-publish"] == "ops via web: counted by hand"
        assert tags["dagster/partition"] == "default" and tags["invsync/account"] == "ozon/default"
        # While the run is active: its state comes from Dagster, and another start is refused.
        assert srv.get(f"/api/v1/syncs/{run_id}", viewer).json()["status"] == "running"
        assert srv.post("/api/v1/syncs", operator, json={"marketplace": "wb"}).status_code == 409
        DagsterStub.run_status = "SUCCESS"
        body = srv.get(f"/api/v1/syncs/{run_id}", viewer).json()
        assert body["launch"]["state"] == "finished" and body["launch"]["dagster_status"] == "SUCCESS"
        # A run started elsewhere (a schedule) also means 409.
        DagsterStub.active = [{"runId": "scheduled-1", "jobName": "sync_wb", "status": "STARTED"}]
        conflict = srv.post("/api/v1/syncs", operator, json={"marketplace": "wb"})
        assert conflict.status_code == 409 and "scheduled-1" in conflict.text
        DagsterStub.active = []
        assert srv.post("/api/v1/syncs", operator, json={"marketplace": "wb"}).status_code == 202
        # The same marketplace again within INVSYNC_SYNC_MIN_INTERVAL: 429 with Retry-After.
        again = srv.post("/api/v1/syncs", operator, json={"marketplace": "wb"})
        assert again.status_code == 429 and 0 < int(again.headers["Retry-After"]) <= 600
        assert srv.post("/api/v1/syncs", operator, json={"marketplace": "all"}).status_code == 429
    finally:
        stop_server(srv)
        stub.shutdown()


def test_dagster_runs_for_each_request(tmp_path: Path) -> None:
    """One run per seller account with credentials, as the schedules launch them."""
    from pipelines.web.launcher import dagster_runs

    accounts = tmp_path / "accounts.toml"
    accounts.write_text('[[account]]\nid = "north"\nmarketplace = "wb"\nlabel = "North"\n'
                        'env = { WB_API_TOKEN = "NORTH_WB" }\n', encoding="utf-8")
    settings = load_settings({"OZON_CLIENT_ID": "42", "OZON_API_KEY": "ozon-key-0123456789", "WB_API_TOKEN": "",
                              "INVSYNC_ACCOUNTS_FILE": str(accounts), "NORTH_WB": "north-wb-token-0123456789"})
    runs = dagster_runs(settings, "all", False, None, "ops")
    assert [(job, tags["dagster/partition"], tags["invsync/account"]) for job, tags in runs] == [
        ("sync_ozon", "default", "ozon/default"), ("sync_wb", "north", "wb/north"), ("sync_ym", "default", "ym/default")]
    assert all("invsync/full" not in tags and tags["invsync/started-by"] == "ops" for _, tags in runs)
    (job, tags), = dagster_runs(settings, "wb", True, "checked", "ops")
    assert job == "sync_wb" and tags["invsync/full"] == "true" and tags["invsync/force-publish"] == "ops via web: checked"


# -- settings and the command line --------------------------------------------------------------
def test_tokens_are_configured_as_hashes_only() -> None:
    digest = hash_token("t0ken")
    tokens = parse_api_tokens(f"viewer:{digest}, anna:operator:{hash_token('other').upper()},")
    assert [(t.role, t.label) for t in tokens] == [("viewer", f"viewer-{digest[:8]}"), ("operator", "anna")]
    assert digest not in repr(tokens)
    for raw, message in ((f"admin:{digest}", "role must be"), ("viewer:t0ken", "not a SHA-256"),
                         (f"viewer:{digest},operator:{digest}", "repeats"), ("a:b:c:d", "is not")):
        with pytest.raises(ConfigError, match=message) as error:
            parse_api_tokens(raw)
        assert "t0ken" not in str(error.value)
    with pytest.raises(ConfigError, match="at least 32"):
        load_settings({"INVSYNC_SESSION_SECRET": "short"})
    settings = load_settings({"INVSYNC_SESSION_SECRET": "x" * 40})
    assert settings.mask("secret " + "x" * 40) == "secret ***"


def test_a_token_entry_may_name_its_accounts() -> None:
    """`:accounts=id+id` limits a token; every older form still parses, unscoped (None: all)."""
    digest, other = hash_token("t0ken"), hash_token("other")
    tokens = parse_api_tokens(f"acme-viewer:viewer:{digest}:accounts=acme+beta_2+acme, "
                              f"operator:{other}:accounts=acme, anna:viewer:{hash_token('a')}")
    assert [(t.label, t.role, t.accounts) for t in tokens] == [
        ("acme-viewer", "viewer", ("acme", "beta_2")), (f"operator-{other[:8]}", "operator", ("acme",)),
        ("anna", "viewer", None)]
    bad = {f"viewer:{digest}:accounts=": "names no account", f"viewer:{digest}:accounts=acme+": "account 2 of",
           f"viewer:{digest}:accounts=Acme": "account 1 of", f"viewer:{digest}:accounts=1acme": "account 1 of",
           f"viewer:{digest}:accounts=" + "a" * 33: "account 1 of", f"viewer:{digest}:accounts=t0ken-x": "account 1 of",
           "viewer:accounts=acme": "is not", f"a:b:viewer:{digest}:accounts=acme": "is not",
           f"viewer:accounts=acme:{digest}": "role must be"}
    for raw, message in bad.items():
        with pytest.raises(ConfigError, match=message) as error:
            parse_api_tokens(f"viewer:{other}, {raw}")
        assert "entry 2" in str(error.value) and digest not in str(error.value) and "t0ken" not in str(error.value)


def test_new_token_with_accounts_prints_the_scoped_entry(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("INVSYNC_")}
    base.update(PYTHONPATH=str(PROJECT_ROOT), WAREHOUSE_URL=f"duckdb:///{tmp_path / 'w.duckdb'}")

    def serve(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pipelines.cli", "serve", *args], env=base, capture_output=True,
                              text=True, timeout=60, cwd=str(PROJECT_ROOT))

    made = serve("--new-token", "viewer", "--accounts", "acme, beta")
    token = re.search(r"token .*: (\S+)", made.stdout).group(1)
    entry = re.search(r"INVSYNC_API_TOKENS entry: (\S+)", made.stdout).group(1)
    assert entry == f"viewer:{hash_token(token)}:accounts=acme+beta"
    assert parse_api_tokens(entry)[0].accounts == ("acme", "beta")
    for args, message in ((("--new-token", "viewer", "--accounts", "Acme"), "account 1 of"),
                          (("--accounts", "acme"), "goes with --new-token")):
        refused = serve(*args)
        assert refused.returncode == 2 and message in refused.stderr and "inv_" not in refused.stdout, refused.stderr


def test_serve_refuses_to_start_without_tokens_or_secret(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("INVSYNC_")}
    base.update(PYTHONPATH=str(PROJECT_ROOT), WAREHOUSE_URL=f"duckdb:///{tmp_path / 'w.duckdb'}")
    cases = [({}, "needs at least one API token"),
             ({"INVSYNC_API_TOKENS": f"viewer:{hash_token('a')}"}, "INVSYNC_SESSION_SECRET is not set")]
    for extra, message in cases:
        run = subprocess.run([sys.executable, "-m", "pipelines.cli", "serve", "--port", str(free_port())],
                             env={**base, **extra}, capture_output=True, text=True, timeout=60, cwd=str(PROJECT_ROOT))
        assert run.returncode == 2 and message in run.stderr, run.stderr
    hashed = subprocess.run([sys.executable, "-m", "pipelines.cli", "serve", "--hash-token"], input="abc\n",
                            env=base, capture_output=True, text=True, timeout=60, cwd=str(PROJECT_ROOT))
    assert hashed.stdout.strip() == hash_token("abc")
    made = subprocess.run([sys.executable, "-m", "pipelines.cli", "serve", "--new-token", "operator"],
                          env=base, capture_output=True, text=True, timeout=60, cwd=str(PROJECT_ROOT))
    token = re.search(r"token .*: (\S+)", made.stdout).group(1)
    assert f"operator:{hash_token(token)}" in made.stdout


# -- the console in a real browser -----------------------------------------------------------------
class Chromium:
    """Headless Debian Chromium driven over the DevTools protocol (one page, a websocket)."""

    def __init__(self, executable: str, profile: Path) -> None:
        from websockets.sync.client import connect

        self.process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", f"--user-data-dir={profile}",
             "--window-size=1280,1600", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert self.process.stderr is not None
        deadline = time.monotonic() + 60
        port = None
        while port is None:
            line = self.process.stderr.readline()
            found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if found:
                port = int(found.group(1))
            elif not line and self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("chromium did not start its DevTools endpoint")
        threading.Thread(target=self.process.stderr.read, daemon=True).start()  # keep draining
        pages = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        page = next(t for t in pages if t["type"] == "page")
        self._connection = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30)
        self.ws = self._connection.__enter__()
        self.next_id = 0
        self.problems: list[str] = []  # console errors, CSP violations, uncaught exceptions
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Log.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._event(message)

    def _event(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.exceptionThrown":
            self.problems.append(str(params.get("exceptionDetails", {}).get("text")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            self.problems.append(params["entry"].get("text", ""))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.problems.append(str(params.get("args")))

    def js(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def act(self, expression: str) -> None:
        """Run something that loads another page: `wait` then waits for the new page."""
        self.js("window.__left = true")
        self.js(expression + "; true")

    def wait(self, expression: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = self.js(f"document.readyState === 'complete' && !window.__left && ({expression})")
            except AssertionError:  # the page is being replaced
                value = None
            if value:
                return value
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting for {expression}; page: {self.js('location.href')}\n"
                             + str(self.js("document.body ? document.body.innerText.slice(0, 2000) : ''")))

    def goto(self, url: str) -> None:
        self.js("window.__left = true")
        self.call("Page.navigate", url=url)
        self.wait("true")

    def close(self) -> None:
        try:
            self._connection.__exit__(None, None, None)
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def test_console_in_headless_chromium(server: Server, tmp_path: Path) -> None:
    if server.backend != "duckdb":
        pytest.skip("the browser test runs once, on DuckDB")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        if os.environ.get("REQUIRE_CHROMIUM") == "1":
            pytest.fail("REQUIRE_CHROMIUM=1 but chromium is not installed")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    browser = Chromium(executable, tmp_path / "profile")
    try:
        # Log in with the operator token.
        browser.goto(server.url + "/")
        browser.wait("location.pathname === '/login' && !!document.getElementById('token')")
        browser.act(f"document.getElementById('token').value = {json.dumps(server.operator)}; "
                    "document.getElementById('login-button').click()")
        browser.wait("location.pathname === '/' && !!document.getElementById('freshness')")
        # A card per synced marketplace; one never configured is a grey "not configured" card, no alarm.
        assert browser.js("[...document.querySelectorAll('#freshness .card:not(.off)')].map(c => c.dataset.marketplace)"
                          ) == list(TEST_MARKETPLACES)
        unconfigured = [m.name for m in MARKETPLACES if m.name not in TEST_MARKETPLACES]
        assert browser.js("[...document.querySelectorAll('#freshness .card.off')].map(c => c.dataset.marketplace)"
                          ) == unconfigured
        assert browser.js("document.querySelector('#chart img').naturalWidth") > 100  # the chart loaded
        # Filter the stock table: Wildberries, in stock only.
        browser.goto(server.url + "/stock")
        total = browser.js("document.querySelectorAll('#stock-table tbody tr').length")
        browser.act("document.getElementById('f-marketplace').value = 'wb'; "
                    "document.getElementById('f-in-stock').checked = true; "
                    "document.getElementById('apply-filters').click()")
        browser.wait("location.search.includes('marketplace=wb')")
        markets = browser.js("[...document.querySelectorAll('#stock-table tbody tr')].map(r => r.dataset.marketplace)")
        assert markets and set(markets) == {"wb"} and len(markets) <= total
        available = browser.js("[...document.querySelectorAll('#stock-table tbody tr td:nth-child(9)')]"
                               ".map(td => Number(td.textContent))")
        assert all(units > 0 for units in available)
        # "Sync now": the sync's page follows it until it ends.
        browser.goto(server.url + "/")
        browser.act("document.getElementById('sync-now').click()")
        browser.wait("location.pathname.startsWith('/syncs/') && !!document.getElementById('sync-state')")
        launch_id = browser.js("document.getElementById('sync-state').dataset.syncId")
        status = browser.wait("['success', 'partial', 'failed'].includes(document.getElementById('sync-state')"
                              "?.dataset.status) && document.getElementById('sync-state').dataset.status", timeout=240)
        assert status == "success", browser.js("document.body.innerText")
        run_id = server.get(f"/api/v1/syncs/{launch_id}", server.viewer).json()["run_id"]
        # The history shows the new sync's rows as success.
        browser.goto(server.url + "/syncs")
        rows = browser.js(f"[...document.querySelectorAll('#sync-history tr[data-run-id=\"{run_id}\"]')]"
                          ".map(r => r.dataset.status)")
        assert rows == ["success", "success"]
        assert browser.problems == []  # no script errors, no CSP violations
    finally:
        browser.close()


# -- the stock pages: the API's filters and sorts, then the pages in a browser ----------------------
def test_inventory_sorts_search_totals_and_grouped_views(server: Server) -> None:
    total = inventory_count(server.settings)
    # Sorted keyset pages (available, descending) cover every row once, in that order.
    seen, after = [], None
    while True:
        params = {"sort": "available", "order": "desc", "limit": 70, **({"after": after} if after else {})}
        page = server.get("/api/v1/inventory", server.viewer, params=params).json()
        seen += [(r["quantity_available"], r["marketplace"], r["sku"], r["warehouse_id"], r["stock_type"])
                 for r in page["items"]]
        after = page["next"]
        if not after:
            break
    assert len(seen) == total == len(set(seen)) and seen == sorted(seen, reverse=True)
    by_name = server.get("/api/v1/inventory", server.viewer, params={"sort": "name", "limit": 1000}).json()["items"]
    names = [r["product_name"] or "" for r in by_name]
    assert names == sorted(names, key=lambda n: n.encode("utf-8")) or names == sorted(names)
    # Search by a word of a product name (Cyrillic), and the totals of exactly that filter.
    word = next(r["product_name"] for r in by_name if r["product_name"]).split()[0]
    found = server.get("/api/v1/inventory", server.viewer, params={"q": word, "limit": 1000}).json()["items"]
    assert found and all(word.lower() in r["product_name"].lower() for r in found)
    totals = server.get("/api/v1/inventory/totals", server.viewer, params={"q": word}).json()
    assert totals["rows"] == len(found) and totals["available"] == sum(r["quantity_available"] for r in found)
    barcode = next(r for r in by_name if r["barcode"] and r["barcode"] != r["sku"])["barcode"]
    assert server.get("/api/v1/inventory", server.viewer, params={"q": barcode}).json()["items"]
    low = server.get("/api/v1/inventory", server.viewer, params={"max_available": 3, "limit": 1000}).json()["items"]
    assert low and all(r["quantity_available"] <= 3 for r in low)
    # Grouped views add up to the table.
    everything = server.get("/api/v1/inventory/totals", server.viewer).json()
    products = server.get("/api/v1/products", server.viewer, params={"limit": 5000}).json()
    assert products["count"] == everything["products"] == len(products["items"])
    assert sum(p["available"] for p in products["items"]) == everything["available"]
    places = server.get("/api/v1/warehouses", server.viewer).json()["items"]
    assert sum(w["present"] for w in places) == everything["present"]
    wb = next(p for p in products["items"] if p["marketplace"] == "wb" and p["sizes"] > 1)
    one = server.get(f"/api/v1/products/wb/{wb['marketplace_product_id']}", server.viewer).json()
    assert len(one["sizes"]) == wb["sizes"] and one["available"] == wb["available"]
    assert all(s["size_name"] and s["available"] == sum(p["quantity_available"] for p in s["places"]) for s in one["sizes"])
    short = server.get("/api/v1/low-stock", server.viewer).json()
    assert short["low_stock"] == 5 and short["items"] and all(i["available"] <= 5 for i in short["items"])
    for path, params in (("/api/v1/inventory", {"sort": "price"}), ("/api/v1/inventory", {"max_available": -1}),
                         ("/api/v1/inventory", {"sort": "available", "after": page_cursor_without_sort(server)}),
                         ("/api/v1/products", {"marketplace": "amazon"})):
        assert server.get(path, server.viewer, params=params).status_code == 422, (path, params)
    assert server.get("/api/v1/products/wb/nope", server.viewer).status_code == 404
    for path in ("/api/v1/inventory/totals", "/api/v1/products", "/api/v1/warehouses", "/api/v1/low-stock"):
        assert server.get(path).status_code == 401, path


def page_cursor_without_sort(server: Server) -> str:
    """A cursor of the key order: not valid for a sorted listing."""
    return server.get("/api/v1/inventory", server.viewer, params={"limit": 1}).json()["next"]


def chromium_or_skip() -> str:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        if os.environ.get("REQUIRE_CHROMIUM") == "1":
            pytest.fail("REQUIRE_CHROMIUM=1 but chromium is not installed")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return executable


def browser_login(browser: Chromium, server: Server, token: str) -> None:
    browser.goto(server.url + "/login")
    browser.act(f"document.getElementById('token').value = {json.dumps(token)}; "
                "document.getElementById('login-button').click()")
    browser.wait("location.pathname === '/' && !!document.getElementById('freshness')")


def column(browser: Chromium, table: str, index: int) -> list[str]:
    return browser.js(f"[...document.querySelectorAll('#{table} tbody tr td:nth-child({index})')]"
                      ".map(td => td.textContent.trim())")


def test_stock_pages_in_headless_chromium(server: Server, tmp_path: Path) -> None:
    if server.backend != "duckdb":
        pytest.skip("the browser test runs once, on DuckDB")
    browser = Chromium(chromium_or_skip(), tmp_path / "profile")
    try:
        browser_login(browser, server, server.viewer)
        # Sorting: a click on "available" sorts the most first, a second click the fewest first.
        browser.goto(server.url + "/stock")
        browser.act("document.querySelector('th a[data-sort=\"available\"]').click()")
        browser.wait("location.search.includes('sort=available') && location.search.includes('dir=desc')")
        available = [int(v) for v in column(browser, "stock-table", 9)]
        assert len(available) == 100 and available == sorted(available, reverse=True) and available[0] > available[-1]
        assert browser.js("document.querySelector('th[aria-sort]').textContent").strip() == "available ▼"
        browser.act("document.querySelector('th a[data-sort=\"available\"]').click()")
        browser.wait("location.search.includes('dir=asc')")
        ascending = [int(v) for v in column(browser, "stock-table", 9)]
        assert ascending == sorted(ascending) and ascending[0] < available[0]
        browser.act("document.querySelector('th a[data-sort=\"available\"]').click()")
        browser.wait("location.search.includes('dir=desc')")
        # Search by a product name, Cyrillic: the totals are those of the filter, the export is exactly it.
        name = column(browser, "stock-table", 3)[0]
        word = name.split()[0]
        browser.act(f"document.getElementById('f-q').value = {json.dumps(word)}; "
                    "document.getElementById('apply-filters').click()")
        browser.wait("location.search.includes('q=')")
        api = server.get("/api/v1/inventory/totals", server.viewer, params={"q": word}).json()
        shown = browser.js("({rows: +document.getElementById('totals').dataset.rows, "
                           "available: +document.getElementById('totals').dataset.available})")
        assert shown == {"rows": api["rows"], "available": api["available"]} and 0 < api["rows"] < inventory_count(server.settings)
        assert all(word.lower() in n.lower() for n in column(browser, "stock-table", 3))
        csv_text = browser.js("fetch(document.getElementById('export-csv').href).then(r => r.text())")
        import csv as csv_module
        import io

        exported = list(csv_module.DictReader(io.StringIO(csv_text.lstrip("\ufeff"))))
        assert len(exported) == api["rows"] and all(word.lower() in r["product_name"].lower() for r in exported)
        assert sum(int(r["quantity_available"]) for r in exported) == api["available"]
        assert [int(r["quantity_available"]) for r in exported] == sorted((int(r["quantity_available"]) for r in exported),
                                                                            reverse=True)  # in the table's order
        # The product view: a WB product with several sizes, by size name, totals over its places.
        products = server.get("/api/v1/products", server.viewer, params={"marketplace": "wb", "limit": 5000}).json()
        wb = next(p for p in products["items"] if p["sizes"] > 1)
        browser.goto(server.url + f"/products?marketplace=wb&q={wb['offer_id']}")
        browser.act(f"document.querySelector('#products-table tr[data-product=\"wb/{wb['marketplace_product_id']}\"] a.product').click()")
        browser.wait("!!document.getElementById('product-sizes')")
        sizes = browser.js("[...document.querySelectorAll('tbody.size')].map(b => ({name: b.querySelector('.size-name')"
                           ".textContent, total: +b.querySelector('.size-available').textContent, places: [...b.querySelectorAll("
                           "'tr.place-row td:nth-child(6)')].map(td => +td.textContent)}))")
        assert len(sizes) == wb["sizes"] and all(not s["name"].isdigit() and not s["name"].startswith("SKU") for s in sizes)
        assert all(s["total"] == sum(s["places"]) for s in sizes)
        assert browser.js("+document.getElementById('product-totals').dataset.available") == wb["available"]
        assert browser.js("!!document.getElementById('product-sync')")  # the sync that last confirmed it
        # A place links to its warehouse's rows.
        browser.act("document.querySelector('#product-sizes a.place').click()")
        browser.wait("location.pathname === '/stock' && location.search.includes('warehouse=')")
        # The low-stock page: INVSYNC_LOW_STOCK (5) decides, the count is the API's.
        browser.goto(server.url + "/low-stock")
        assert browser.js("+document.getElementById('low-limit').dataset.limit") == 5
        levels = browser.js("[...document.querySelectorAll('#low-table tbody tr')].map(r => +r.dataset.available)")
        assert levels and all(0 <= v <= 5 for v in levels) and levels == sorted(levels)
        assert browser.js("+document.getElementById('totals').dataset.rows") == server.get(
            "/api/v1/low-stock", server.viewer).json()["count"]
        # Times: local with an age, UTC on hover.
        browser.goto(server.url + "/syncs")
        first = browser.js("(t => ({text: t.textContent, title: t.title}))(document.querySelector('#sync-history time'))")
        assert re.search(r"\d\d:\d\d MSK · (just now|\d+ min ago|\d+ h)", first["text"]) and first["title"].endswith(" UTC")
        assert browser.problems == []  # no script errors, no CSP violations
    finally:
        browser.close()


def test_a_token_limited_to_an_account_in_headless_chromium(server: Server, acme_rows: AcmeData, tmp_path: Path) -> None:
    """Logged in with acme's token, the status card, the stock table, its totals and export, and
    the sync history show acme's figures and none of default's."""
    if server.backend != "duckdb":
        pytest.skip("the browser test runs once, on DuckDB")
    acme = acme_rows
    browser = Chromium(chromium_or_skip(), tmp_path / "profile")
    try:
        browser_login(browser, server, server.acme_viewer)
        card = browser.js("document.querySelector('#freshness [data-marketplace=\"wb\"][data-account=\"acme\"] "
                          ".totals').textContent")
        assert card == f"{acme.rows} rows · {acme.present} units present · {acme.available} available", card
        # One card per account, acme's only: none of default's, on any marketplace.
        assert browser.js("[...document.querySelectorAll('#freshness .card')].map(c => c.dataset.account).join()") == "acme"
        assert not browser.js("!!document.getElementById('sync-now')")
        browser.goto(server.url + "/stock")
        assert set(column(browser, "stock-table", 3)) == {"ACME-ONLY item"}
        assert {int(v) for v in column(browser, "stock-table", 9)} == {ACME_AVAILABLE}
        assert browser.js("({rows: +document.getElementById('totals').dataset.rows, "
                          "available: +document.getElementById('totals').dataset.available})") == \
            {"rows": acme.rows, "available": acme.available}
        csv_text = browser.js("fetch(document.getElementById('export-csv').href).then(r => r.text())")
        assert csv_text.count("\r\n") == acme.rows + 1 and csv_text.count(",acme,") == acme.rows
        browser.goto(server.url + "/syncs")
        assert browser.js("[...document.querySelectorAll('#sync-history tr[data-run-id]')].map(r => r.dataset.runId)"
                          ) == [acme.run_id]
        assert browser.problems == []
    finally:
        browser.close()


def test_a_finding_reads_in_plain_words_in_the_console(server: Server, web_sandbox: Any, tmp_path: Path) -> None:
    """One warehouse loses 60 % of its units: the next (incremental, WB only) sync publishes with
    an unusual move, and its page says so in words, with GE's details one click away."""
    if server.backend != "duckdb":
        pytest.skip("the browser test runs once, on DuckDB")
    executable = chromium_or_skip()
    assert web_sandbox.account.scale_warehouse("wb", "Коледино", 0.4) > 0
    started = server.post("/api/v1/syncs", server.operator, json={"marketplace": "wb"})
    assert started.status_code == 202, started.text
    done = server.wait_for_sync(started.json()["id"])
    assert done["status"] == "partial", json.dumps(done, indent=1)[:2000]
    browser = Chromium(executable, tmp_path / "profile")
    try:
        browser_login(browser, server, server.viewer)
        browser.goto(server.url + f"/syncs/{done['run_id']}")
        items = browser.js("[...document.querySelectorAll('#finding-list li')].map(li => ({text: li.querySelector("
                           "'.finding-text').textContent, details: li.querySelector('details').open, "
                           "ge: li.querySelector('details').textContent}))")
        assert len(items) == 1 and not items[0]["details"], items
        text = items[0]["text"]
        assert re.fullmatch(r"Wildberries: 1 warehouse moved more than usual since the last sync: Коледино fell "
                            r"\d\d % \(usual range ±50 %, the default, as the history holds \d of the \d sync-to-sync "
                            r"changes needed to learn this account's own range\)\.", text), text
        assert "expect_column_values_to_be_between" in items[0]["ge"] and "band_position" in items[0]["ge"]
        # The status page names it too, whole.
        browser.goto(server.url + "/")
        assert text in browser.js("document.querySelector('#freshness [data-marketplace=\"wb\"][data-account=\"default\"]')"
                                  ".textContent")
        assert browser.problems == []
    finally:
        browser.close()
