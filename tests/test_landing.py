"""Raw landing with dlt against the sandbox over real HTTP, into a real DuckDB file."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import duckdb
import pytest

from pipelines import sync_log
from pipelines.sync import run_sync
from pipelines.warehouse import warehouse_for
from tests.conftest import TEST_MARKETPLACES, settings_for


def raw_count(settings, dataset: str, table: str, where: str = "") -> int:
    con = duckdb.connect(str(settings.warehouse.path), read_only=True)
    try:
        return con.execute(f"select count(*) from {dataset}.{table} {where}").fetchone()[0]
    finally:
        con.close()


def raw_query(settings, sql: str) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse.path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_every_endpoint_lands_all_pages(sandbox, duckdb_url) -> None:
    settings = settings_for(sandbox.env(), duckdb_url)
    result = run_sync(settings, publish=False, backoff_base=0.01)
    assert result.ok, result.summary()
    account = sandbox.account
    truth = account.summary()

    # Ozon v4: every non-archived product lands, at least one row each (empty `stocks` keeps one row).
    assert raw_query(settings, "select count(distinct product_id) from raw_ozon.product_stocks")[0][0] == truth["ozon"]["products"]
    expected = account.expected_inventory(TEST_MARKETPLACES)
    ozon_fbo = [r for r in expected if r["marketplace"] == "ozon" and r["stock_type"] == "FBO"]
    ozon_fbs = [r for r in expected if r["marketplace"] == "ozon" and r["stock_type"] in ("FBS", "realFBS")]
    wb_fbo = [r for r in expected if r["marketplace"] == "wb" and r["stock_type"] == "FBO"]
    wb_seller = [r for r in expected if r["marketplace"] == "wb" and r["stock_type"] != "FBO"]
    assert raw_count(settings, "raw_ozon", "fbo_stocks") == len(ozon_fbo)
    assert raw_count(settings, "raw_ozon", "fbs_stocks") == len(ozon_fbs)
    assert raw_count(settings, "raw_wb", "wb_warehouse_stocks") == len(wb_fbo)
    assert raw_count(settings, "raw_wb", "fbs_stocks") == len(wb_seller)
    assert raw_count(settings, "raw_ozon", "warehouses") >= 2
    assert raw_count(settings, "raw_ozon", "ozon_warehouses") >= 2
    assert raw_count(settings, "raw_ozon", "product_info") == raw_count(settings, "raw_ozon", "products")
    # Every row carries the load id and the fetch time; Cyrillic survives.
    assert raw_count(settings, "raw_wb", "wb_warehouse_stocks", "where _dlt_load_id is null or _fetched_at is null") == 0
    names = {r[0] for r in raw_query(settings, "select distinct warehouse_name from raw_wb.wb_warehouse_stocks")}
    assert names == {r["warehouse_name"] for r in wb_fbo}
    # The fallbacks were not needed, and the record says which methods answered.
    assert raw_count(settings, "raw_ozon", "fbs_stocks", "where method <> 'warehouse_stocks'") == 0
    assert result.results["ozon"].counts["fbo_method"] == "stocks_by_warehouse_fbo"
    assert result.results["ozon"].counts["fbs_method"] == "warehouse_stocks"
    assert result.results["wb"].counts["fbo_method"] == "stocks_report_wb_warehouses"
    # Never the removed WB method, never barcodes for seller stock, never empty Ozon filters.
    assert sandbox.request_log.hits(path="/api/v1/supplier/stocks") == 0
    assert sandbox.request_log.hits(status=400) == 0

    wh = warehouse_for(settings.warehouse)
    for marketplace in ("ozon", "wb"):
        row = sync_log.latest(wh, marketplace)
        assert row["status"] == "success" and row["sync_type"] == "incremental"
        assert row["records_fetched"] > 0 and row["api_requests"] > 0 and row["load_id"]


def test_second_sync_lands_a_fresh_complete_stock_snapshot(sandbox, duckdb_url) -> None:
    settings = settings_for(sandbox.env(), duckdb_url)
    assert run_sync(settings, publish=False, backoff_base=0.01).ok
    sandbox.tick()
    second = run_sync(settings, publish=False, backoff_base=0.01)
    assert second.ok, second.summary()
    # Stock reports have no "changed since": every sync lands the whole picture, one load only.
    for marketplace, dataset, table in (("ozon", "raw_ozon", "product_stocks"), ("wb", "raw_wb", "wb_warehouse_stocks")):
        loads = raw_query(settings, f"select distinct _dlt_load_id from {dataset}.{table}")
        assert loads == [(second.results[marketplace].record.load_id,)]
    expected_wb = {(r["marketplace_product_id"], r["warehouse_name"]) for r in sandbox.account.expected_inventory("wb")
                   if r["stock_type"] == "FBO"}
    landed = {(str(r[0]), r[1]) for r in raw_query(settings, "select nm_id, warehouse_name from raw_wb.wb_warehouse_stocks")}
    assert landed == expected_wb


def card_rows(account) -> int:
    """One `cards` row per (size, barcode): some sizes carry a second barcode."""
    return sum(len(account.size_barcodes(bc)) for bc in range(account.summary()["wb"]["barcodes"]))


def test_incremental_sync_reads_only_new_catalog_entries_and_keeps_the_whole_catalog(sandbox, duckdb_url) -> None:
    settings = settings_for(sandbox.env(), duckdb_url)
    first = run_sync(settings, publish=False, backoff_base=0.01)
    assert first.ok, first.summary()
    assert first.results["wb"].counts["catalog"] == "all cards"
    assert first.results["ozon"].counts["catalog"] == "all products"
    products_listed = raw_count(settings, "raw_ozon", "products")
    before = sandbox.account.summary()
    newest_card = max(sandbox.account.card_updated)
    sandbox.tick()  # changes stock and adds one to three new products on both marketplaces
    after = sandbox.account.summary()
    new_products = after["wb"]["cards"] - before["wb"]["cards"]
    assert new_products > 0

    second = run_sync(settings, publish=False, backoff_base=0.01)
    assert second.ok, second.summary()
    wb, ozon = second.results["wb"], second.results["ozon"]
    # WB: only the cards updated since the newest one seen are read (the new ones and the
    # boundary card itself: `updatedAt` ties are re-read and merged), then paging stops.
    since_last = sum(1 for t in sandbox.account.card_updated if t >= newest_card)
    assert since_last >= new_products + 1
    assert wb.counts["catalog"] == "changed cards" and wb.counts["cards_fetched"] == since_last
    assert wb.record.details["requests_by_endpoint"]["/content/v2/get/cards/list"] == 1
    # ... yet the catalog table still holds every barcode, and seller-warehouse stock was asked
    # for every size, the new products' sizes included.
    assert raw_count(settings, "raw_wb", "cards") == card_rows(sandbox.account)
    expected_seller = {(r["sku"], r["warehouse_id"]): r["quantity_present"] for r in sandbox.account.expected_inventory("wb")
                       if r["stock_type"] != "FBO"}
    landed_seller = {(str(r[0]), str(r[1])): r[2] for r in raw_query(
        settings, "select c.barcode, f.warehouse_id, f.amount from raw_wb.fbs_stocks f "
                  "join raw_wb.cards c on c.chrt_id = f.chrt_id and c.barcode_position = 0")}
    assert landed_seller == expected_seller
    # Ozon: no product list, product info only for the products not seen before.
    requests = ozon.record.details["requests_by_endpoint"]
    assert "/v3/product/list" not in requests and requests["/v3/product/info/list"] == 1
    assert ozon.counts["catalog"] == "new products" and ozon.counts["catalog_products_fetched"] == new_products
    assert raw_count(settings, "raw_ozon", "product_info") == after["ozon"]["products"]
    assert raw_count(settings, "raw_ozon", "products") == products_listed  # kept, not emptied

    # A full resync reads and replaces the whole catalog again.
    full = run_sync(settings, full=True, publish=False, backoff_base=0.01)
    assert full.ok, full.summary()
    assert full.results["wb"].counts["catalog"] == "all cards"
    assert raw_count(settings, "raw_wb", "cards") == card_rows(sandbox.account)  # replaced, not appended
    assert full.results["ozon"].counts["catalog_products_fetched"] == after["ozon"]["products"]
    assert raw_count(settings, "raw_ozon", "products") == after["ozon"]["products"]


def test_a_package_an_interrupted_sync_left_behind_is_loaded_first(sandbox, duckdb_url, caplog) -> None:
    from pipelines.marketplaces import CatalogBase
    from pipelines.sync.landing import extract_in_child

    settings = settings_for(sandbox.env(), duckdb_url)
    assert run_sync(settings, which="wb", publish=False, backoff_base=0.01).ok
    # A sync that died after the API calls, before the load: its package waits on disk.
    outcome = extract_in_child(settings, "wb", full=True, backoff_base=0.01, base=CatalogBase())
    assert outcome["error"] is None and outcome["row_counts"]["wb_warehouse_stocks"] > 0
    sandbox.tick()
    with caplog.at_level("WARNING"):
        result = run_sync(settings, which="wb", publish=False, backoff_base=0.01)
    assert result.ok, result.summary()
    assert "loading the packages an interrupted sync left behind" in caplog.text
    # The fresh load came after it, and the table is the current picture, without duplicates.
    expected: dict[tuple, int] = {}
    for r in sandbox.account.expected_inventory("wb"):
        if r["stock_type"] == "FBO":
            key = (r["marketplace_product_id"], r["warehouse_name"])
            expected[key] = expected.get(key, 0) + r["quantity_present"]
    landed = raw_query(settings, "select nm_id, warehouse_name, sum(quantity + in_way_to_client + in_way_from_client) "
                                 "from raw_wb.wb_warehouse_stocks group by all")
    assert {(str(r[0]), r[1]): r[2] for r in landed} == expected
    assert raw_query(settings, "select max(_dlt_load_id) from raw_wb.fbs_stocks")[0][0] == result.results["wb"].record.load_id


def test_a_landing_process_ends_quietly_when_the_parent_fails_before_sending_the_job() -> None:
    from pipelines.sync import child as helpers
    from pipelines.sync.landing import landing_child

    with pytest.raises(RuntimeError, match="warehouse unreachable"):
        with landing_child("wb") as child:
            process = child._process
            raise RuntimeError("warehouse unreachable")  # e.g. load_pending could not connect
    assert process.returncode == 0  # it saw no job and ended; nothing was called or written
    # Not kept for the next sync: a landing that failed leaves no process behind.
    assert all(h.process is not process for h in helpers._IDLE.get("pipelines.sync.landing_child", []))


def test_a_landing_process_serves_the_next_sync_of_the_same_process(sandbox, duckdb_url) -> None:
    """Between syncs the landing processes wait in the process's pool: the next sync's landings
    run in them (dlt and the sources are imported once), and land correctly."""
    from pipelines.sync import child as helpers

    settings = settings_for(sandbox.env(), duckdb_url)
    assert run_sync(settings, publish=False, backoff_base=0.01).ok
    idle = {h.process.pid for h in helpers._IDLE["pipelines.sync.landing_child"]}
    assert len(idle) >= 2 and all(os.path.exists(f"/proc/{pid}") for pid in idle)
    sandbox.tick()
    second = run_sync(settings, publish=False, backoff_base=0.01)
    assert second.ok, second.summary()
    assert {h.process.pid for h in helpers._IDLE["pipelines.sync.landing_child"]} == idle  # no new process
    assert raw_query(settings, "select max(_dlt_load_id) from raw_wb.fbs_stocks")[0][0] == second.results["wb"].record.load_id


def test_by_default_a_syncs_helpers_end_with_it(sandbox, duckdb_url) -> None:
    """Without INVSYNC_KEEP_HELPERS (`invsync sync`: one sync per process) no helper is kept:
    each would hold its memory while the rest of the sync runs."""
    from pipelines.sync import child as helpers

    def pooled() -> set[int]:
        return {h.process.pid for kept in helpers._IDLE.values() for h in kept}

    before = pooled()
    settings = settings_for(sandbox.env(), duckdb_url, INVSYNC_KEEP_HELPERS="0")
    assert not settings.keep_helpers
    assert run_sync(settings, backoff_base=0.01).clean  # landing processes and the dbt worker
    assert pooled() <= before


def test_a_landing_process_ends_when_the_sync_that_started_it_is_killed(sandbox, duckdb_url, tmp_path) -> None:
    import json
    import os
    import signal
    import subprocess
    import sys

    from pipelines.sandbox import Fault

    sandbox.add_fault(Fault(kind="slow", path="/v4/product/info/stocks", delay=30, count=None))
    # A sync process whose landing child is waiting on a slow API when the sync gets killed.
    script = tmp_path / "sync.py"
    script.write_text(
        "import json, sys\n"
        "from pipelines.marketplaces import CatalogBase\n"
        "from pipelines.sync.landing import LandingChild\n"
        "from tests.conftest import settings_for\n"
        f"settings = settings_for(json.loads({json.dumps(json.dumps(sandbox.env()))}), {duckdb_url!r})\n"
        "child = LandingChild('ozon')\n"
        "print(child._process.pid, flush=True)\n"
        "child.run(dict(settings=settings, marketplace='ozon', full=True, backoff_base=0.01, base=CatalogBase()))\n"
    )
    root = str(Path(__file__).resolve().parent.parent)
    sync = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=root,
                            env={**os.environ, "PYTHONPATH": root})
    child_pid = int(sync.stdout.readline())
    time.sleep(3)  # the child is in its API calls by now
    os.kill(sync.pid, signal.SIGKILL)
    sync.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.exists(f"/proc/{child_pid}") and _state(child_pid) != "Z":
        time.sleep(0.2)
    assert not os.path.exists(f"/proc/{child_pid}") or _state(child_pid) == "Z", "the landing process outlived its sync"


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_rate_limit_storm_obeys_x_ratelimit_retry(sandbox, duckdb_url) -> None:
    from pipelines.sandbox import Fault

    sandbox.add_fault(Fault(kind="rate_limit", path="/api/analytics/v1/stocks-report/wb-warehouses", count=3, retry_after=0.4))
    settings = settings_for(sandbox.env(), duckdb_url)
    started = time.monotonic()
    result = run_sync(settings, which="wb", publish=False, backoff_base=0.01)
    elapsed = time.monotonic() - started
    assert result.ok, result.summary()
    rec = result.results["wb"].record
    assert rec.retries >= 3
    # The three injected 429s said "retry in 0.4 s" and we waited exactly that, three times
    # (the sandbox's own 3/min limiter, scaled, may add a 429 of its own).
    assert rec.details["retry_waits"].count(0.4) == 3
    assert rec.details["rate_limited"] >= 3
    assert elapsed >= 3 * 0.4


def test_server_errors_then_success_land_once(sandbox, duckdb_url) -> None:
    from pipelines.sandbox import Fault

    sandbox.add_fault(Fault(kind="server_error", path="/v4/product/info/stocks", count=2, status=503))
    settings = settings_for(sandbox.env(), duckdb_url)
    result = run_sync(settings, which="ozon", publish=False, backoff_base=0.01)
    assert result.ok, result.summary()
    assert result.results["ozon"].record.retries == 2
    dupes = raw_query(settings, "select product_id, type, count(*) from raw_ozon.product_stocks group by all having count(*) > 1")
    assert dupes == []


def test_bad_credentials_fail_fast_with_a_clear_message_and_a_failed_row(sandbox, duckdb_url) -> None:
    env = {**sandbox.env(), "OZON_API_KEY": "wrong-key-0000-1111"}
    settings = settings_for(env, duckdb_url)
    result = run_sync(settings, which="ozon", publish=False, backoff_base=1.0)
    ozon = result.results["ozon"]
    assert ozon.record.details["retry_waits"] == []  # failed at once: no wait, no retry (1 s backoff)
    assert ozon.status == "failed" and not result.ok
    # Ozon answers a bad key with 404 code 5 "Invalid Api-Key": an authorization failure, not a
    # retired method. Resources run in parallel: whichever call fails first is named.
    assert re.match(r"Ozon /v\d/[\w/-]+: authorization failed \(404: Invalid Api-Key", ozon.message), ozon.message
    assert "wrong-key-0000-1111" not in ozon.message
    row = sync_log.latest(warehouse_for(settings.warehouse), "ozon")
    assert row["status"] == "failed" and "authorization failed" in row["error_message"]
    assert 1 <= row["api_requests"] <= 4 and row["retries"] == 0  # one call per root resource at most
    # No fallback was tried on the strength of that 404.
    assert sandbox.request_log.hits(path="/v1/analytics/stocks") == 0
    assert sandbox.request_log.hits(path="/v2/product/info/stocks-by-warehouse/fbs") == 0


def test_truncated_json_is_retried_then_reported(sandbox, duckdb_url) -> None:
    from pipelines.sandbox import Fault

    sandbox.add_fault(Fault(kind="truncate", path="/v2/warehouse/list", count=1))
    settings = settings_for(sandbox.env(), duckdb_url)
    assert run_sync(settings, which="ozon", publish=False, backoff_base=0.01).ok

    sandbox.add_fault(Fault(kind="truncate", path="/v2/warehouse/list", count=None))
    result = run_sync(settings, which="ozon", publish=False, backoff_base=0.01)
    ozon = result.results["ozon"]
    assert ozon.status == "failed"
    assert "invalid or truncated JSON" in ozon.message and "/v2/warehouse/list" in ozon.message
    assert ozon.record.retries == settings.max_retries


def test_unknown_field_lands_as_a_new_column(sandbox, duckdb_url) -> None:
    from pipelines.sandbox import Fault

    sandbox.add_fault(Fault(kind="extra_field", path="/api/analytics/v1/stocks-report/wb-warehouses", field="newField2026", count=None))
    settings = settings_for(sandbox.env(), duckdb_url)
    assert run_sync(settings, which="wb", publish=False, backoff_base=0.01).ok
    assert raw_count(settings, "raw_wb", "wb_warehouse_stocks", "where new_field2026 is not null") > 0


FBO_METHOD_PATH = "/v1/product/info/stocks-by-warehouse/fbo"


def published(settings, marketplace: str, stock_type: str) -> dict[tuple, tuple]:
    rows = raw_query(settings, "select sku, warehouse_id, warehouse_name, quantity_present, quantity_reserved, "
                               f"quantity_available from inventory_data where marketplace = '{marketplace}' "
                               f"and stock_type = '{stock_type}'")
    return {(r[0], r[1]): r[2:] for r in rows}


def test_retired_ozon_fbo_method_falls_back_to_analytics_with_honest_numbers(sandbox, duckdb_url) -> None:
    from pipelines.sandbox import Fault

    sandbox.add_fault(Fault(kind="retired", path=FBO_METHOD_PATH, count=None))
    settings = settings_for(sandbox.env(), duckdb_url)
    result = run_sync(settings, which="ozon", backoff_base=0.01)
    assert result.ok, result.summary()
    ozon = result.results["ozon"]
    assert ozon.counts["fbo_method"] == "analytics_stocks"
    # Said, not silent: the sync is published with a warning that names what happened.
    assert ozon.status == "partial"
    assert any("fell back to /v1/analytics/stocks" in w for w in ozon.record.warnings), ozon.record.warnings
    # The analytics answer holds cluster aggregate rows; none of them is published.
    assert raw_count(settings, "raw_ozon", "analytics_stocks", "where warehouse_id = 0") > 0
    fbo = published(settings, "ozon", "FBO")
    assert fbo and all(wid != "0" and name for wid, name in ((k[1], v[0]) for k, v in fbo.items()))
    # Available for sale only: present = available, nothing reserved, never supply requests.
    truth = {(r["sku"], r["warehouse_id"]): r["quantity_available"]
             for r in sandbox.account.expected_inventory("ozon") if r["stock_type"] == "FBO"}
    for key, (_name, present, reserved, available) in fbo.items():
        # (analytics also lists placements the FBO method omits: nothing available there)
        assert reserved == 0 and present == available == truth.get(key, 0), key
    assert {k for k, v in truth.items() if v} <= set(fbo)


def test_ozon_fbo_method_retired_mid_sync_publishes_the_complete_fallback_answer_only(tmp_path) -> None:
    from pipelines.sandbox import Fault, Sandbox, SandboxOptions

    # Several v4 pages, so some pages' FBO answers are landed before the method goes.
    with Sandbox(SandboxOptions(products=2500, seed=11, rate_limit_scale=0)) as sandbox:
        probe = run_sync(settings_for(sandbox.env(), f"duckdb:///{tmp_path}/probe.duckdb"), which="ozon", publish=False, backoff_base=0.01)
        requests = probe.results["ozon"].record.details["requests_by_endpoint"]
        calls = requests[FBO_METHOD_PATH]
        assert calls >= 2
        # v4 pages reach the transformers in parallel: the seller warehouses are still read once.
        assert requests["/v2/warehouse/list"] == 1
        probe_db = settings_for(sandbox.env(), f"duckdb:///{tmp_path}/probe.duckdb")
        assert raw_query(probe_db, "select count(*) from (select sku, warehouse_id from raw_ozon.fbs_stocks "
                                   "group by all having count(*) > 1)")[0][0] == 0
        assert raw_count(probe_db, "raw_ozon", "fbs_stocks") == len(
            [r for r in sandbox.account.expected_inventory("ozon") if r["stock_type"] in ("FBS", "realFBS")])
        # The FBO method answers every call but the last, then it is switched off.
        sandbox.add_fault(Fault(kind="retired", path=FBO_METHOD_PATH, after=calls - 1, count=None))
        settings = settings_for(sandbox.env(), f"duckdb:///{tmp_path}/warehouse.duckdb")
        result = run_sync(settings, which="ozon", backoff_base=0.01)
        assert result.ok, result.summary()
        assert result.results["ozon"].counts["fbo_method"] == "analytics_stocks"
        load = result.results["ozon"].record.load_id
        # The load holds both answers: the earlier pages' rows and the fallback's complete one ...
        assert raw_count(settings, "raw_ozon", "fbo_stocks", f"where _dlt_load_id = '{load}'") > 0
        truth = {(r["sku"], r["warehouse_id"]): r["quantity_available"]
                 for r in sandbox.account.expected_inventory("ozon") if r["stock_type"] == "FBO"}
    # ... and only the complete one is published: every FBO row once, no double counting.
    fbo = published(settings, "ozon", "FBO")
    assert {k for k, v in truth.items() if v} <= set(fbo)
    assert {k: v[1] for k, v in fbo.items()} == {k: truth.get(k, 0) for k in fbo}


def test_wb_stocks_report_refused_to_the_token_falls_back_to_the_remains_report(sandbox, duckdb_url) -> None:
    from pipelines.sandbox import Fault

    sandbox.add_fault(Fault(kind="retired", path="/api/analytics/v1/stocks-report/wb-warehouses", count=None))
    settings = settings_for(sandbox.env(), duckdb_url)
    result = run_sync(settings, which="wb", backoff_base=0.01)
    assert result.ok, result.summary()
    wb = result.results["wb"]
    assert wb.counts["fbo_method"] == "warehouse_remains"
    assert any("fell back to the warehouse-remains report" in w for w in wb.record.warnings)
    assert raw_count(settings, "raw_wb", "warehouse_remains") > 0
    # Per size the totals are exact; in-way units sit at one aggregate place (the report
    # does not split them by warehouse).
    assert_wb_fbo_totals_per_size(settings, sandbox)


def assert_wb_fbo_totals_per_size(settings, sandbox) -> None:
    def totals(rows) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for sku, present, reserved in rows:
            p, r = out.get(sku, (0, 0))
            out[sku] = (p + int(present), r + int(reserved))
        return {k: v for k, v in out.items() if v != (0, 0)}

    got = totals(raw_query(settings, "select sku, quantity_present, quantity_reserved from inventory_data "
                                     "where marketplace = 'wb' and stock_type = 'FBO'"))
    want = totals((r["sku"], r["quantity_present"], r["quantity_reserved"])
                  for r in sandbox.account.expected_inventory("wb") if r["stock_type"] == "FBO")
    assert got == want


def test_marketplace_without_credentials_is_skipped(sandbox, duckdb_url) -> None:

    env = {k: v for k, v in sandbox.env().items() if not k.startswith("WB_API_TOKEN")}
    settings = settings_for(env, duckdb_url)
    result = run_sync(settings, backoff_base=0.01)
    assert result.results["wb"].status == "skipped" and "WB_API_TOKEN" in result.results["wb"].message
    assert result.results["ozon"].status == "success" and result.ok, result.summary()
    # A seller on one marketplace publishes too: the other's raw tables never exist.
    published = dict(raw_query(settings, "select marketplace, count(*) from inventory_data group by marketplace"))
    assert published == {"ozon": len(sandbox.account.expected_inventory("ozon"))}


def test_the_load_into_duckdb_runs_under_the_configured_memory_limit(tmp_path) -> None:
    from pipelines.marketplaces import get
    from pipelines.sync.landing import make_pipeline

    settings = settings_for({"INVSYNC_DUCKDB_MEMORY_LIMIT": "700MB"}, f"duckdb:///{tmp_path / 'w.duckdb'}")
    with make_pipeline(settings, get("ozon")).sql_client() as client:  # the connection dlt loads with
        limit = client.execute_sql("select current_setting('memory_limit')")[0][0]
    with duckdb.connect() as conn:
        default = conn.execute("select current_setting('memory_limit')").fetchone()[0]
        conn.execute("set memory_limit = '700MB'")
        assert limit == conn.execute("select current_setting('memory_limit')").fetchone()[0] != default
