"""From raw tables to `inventory_data`: dbt models, incremental upserts, publish rules.

Runs the real sync (sandbox over HTTP → dlt → dbt) on DuckDB and on MariaDB.
"""

from __future__ import annotations

import pytest

from pipelines.sync.dbt import run_dbt
from pipelines.sync import run_sync
from pipelines.warehouse import warehouse_for
from tests.conftest import TEST_MARKETPLACES, settings_for

KEY = ("marketplace", "sku", "warehouse_id", "stock_type")
CONTRACT_COLUMNS = {
    "marketplace", "sku", "marketplace_product_id", "offer_id", "product_id", "barcode", "product_name",
    "warehouse_id", "warehouse_name", "stock_type", "quantity_present", "quantity_reserved",
    "quantity_available", "last_sync_at", "updated_at",
}


def sync(settings, **kwargs):
    return run_sync(settings, backoff_base=0.01, **kwargs)


def inventory(settings) -> dict[tuple, dict]:
    rows = warehouse_for(settings.warehouse).query("select * from inventory_data")
    return {tuple(r[k] for k in KEY): r for r in rows}


def truth(sandbox) -> dict[tuple, dict]:
    return {tuple(r[k] for k in KEY): r for r in sandbox.account.expected_inventory(TEST_MARKETPLACES)}


def assert_matches_truth(settings, sandbox, marketplace: str | None = None) -> dict[tuple, dict]:
    """Every expected row is in inventory_data with the right quantities; extra rows are zero."""
    got, want = inventory(settings), truth(sandbox)
    if marketplace:
        got = {k: v for k, v in got.items() if k[0] == marketplace}
        want = {k: v for k, v in want.items() if k[0] == marketplace}
    for key, expected in want.items():
        assert key in got, f"missing {key}"
        row = got[key]
        for q in ("quantity_present", "quantity_reserved", "quantity_available"):
            assert int(row[q]) == expected[q], (key, q, row[q], expected[q])
    for key in set(got) - set(want):
        assert int(got[key]["quantity_present"]) == 0, f"{key} should have gone to zero"
    return got


def test_sync_builds_inventory_data_that_matches_the_sandbox(sandbox, warehouse_url) -> None:
    settings = settings_for(sandbox.env(), warehouse_url)
    result = sync(settings)
    assert result.clean, result.summary()
    got = assert_matches_truth(settings, sandbox)
    assert set(next(iter(got.values()))) >= CONTRACT_COLUMNS
    assert {k[0] for k in got} == {"ozon", "wb"}
    assert {k[3] for k in got} >= {"FBO", "FBS", "realFBS"}
    # Totals per marketplace equal what the sandbox reports for its account.
    summary = sandbox.account.summary()
    for marketplace in ("ozon", "wb"):
        present = sum(int(r["quantity_present"]) for k, r in got.items() if k[0] == marketplace)
        assert present == summary[marketplace]["present"]
    # The data team's `dbt build` passes on the same warehouse.
    run_dbt(settings, ["build"])


def test_second_sync_is_incremental_and_follows_the_sandbox(sandbox, warehouse_url) -> None:
    settings = settings_for(sandbox.env(), warehouse_url)
    assert sync(settings).ok
    before = inventory(settings)
    truth_before = truth(sandbox)

    sandbox.tick()
    second = sync(settings)
    assert second.clean, second.summary()
    after = assert_matches_truth(settings, sandbox)
    truth_after = truth(sandbox)

    changed = {k for k in truth_after if k not in truth_before
               or truth_after[k]["quantity_present"] != truth_before[k]["quantity_present"]
               or truth_after[k]["quantity_reserved"] != truth_before[k]["quantity_reserved"]}
    gone = {k for k in truth_before if k not in truth_after and truth_before[k]["quantity_present"]}
    assert changed, "the sandbox tick should have changed something"
    moved = {k for k, r in after.items() if k not in before or r["updated_at"] != before[k]["updated_at"]}
    assert moved == changed | gone  # updated_at moves exactly for changed rows
    for key in set(before) - moved:
        assert after[key]["updated_at"] == before[key]["updated_at"]
    # Every row was confirmed by the second sync of its marketplace.
    for marketplace in ("ozon", "wb"):
        stamps = {r["last_sync_at"] for k, r in after.items() if k[0] == marketplace}
        old = {r["last_sync_at"] for k, r in before.items() if k[0] == marketplace}
        assert len(stamps) == 1 and len(old) == 1 and stamps.pop() > old.pop()
    # An item that sold out is zero now.
    sold_out = [k for k in changed if k in truth_after and truth_after[k]["quantity_present"] == 0
                and truth_before.get(k, {}).get("quantity_present")]
    for key in sold_out:
        assert int(after[key]["quantity_present"]) == 0


def test_failed_ozon_sync_leaves_ozon_rows_untouched(sandbox, published) -> None:
    from pipelines.sandbox import Fault

    settings = published
    before = inventory(settings)
    sandbox.tick()
    sandbox.add_fault(Fault(kind="server_error", path="/v1/product/info/warehouse/stocks", status=500, count=None))
    second = sync(settings)
    assert second.results["ozon"].status == "failed"
    assert second.results["wb"].status in ("success", "partial")
    after = inventory(settings)
    ozon_before = {k: v for k, v in before.items() if k[0] == "ozon"}
    ozon_after = {k: v for k, v in after.items() if k[0] == "ozon"}
    assert ozon_after == ozon_before
    # A person running `dbt build` afterwards does not publish the failed load either.
    run_dbt(settings, ["build", "--select", "inventory_data"])
    assert {k: v for k, v in inventory(settings).items() if k[0] == "ozon"} == ozon_before


def test_full_resync_rebuilds_from_complete_snapshots(sandbox, published) -> None:
    settings = published
    sandbox.tick(3)
    result = sync(settings, full=True)
    assert result.clean, result.summary()
    assert all(r.record.sync_type == "full" for r in result.synced.values())
    assert_matches_truth(settings, sandbox)


@pytest.mark.mysql
def test_mariadb_and_duckdb_end_with_the_same_inventory(sandbox, duckdb_url, mysql_url) -> None:
    on_duckdb = settings_for(sandbox.env(), duckdb_url)
    on_mysql = settings_for(sandbox.env(), mysql_url)
    assert sync(on_duckdb).clean
    assert sync(on_mysql).clean

    def rows(settings) -> set[tuple]:
        columns = sorted(CONTRACT_COLUMNS - {"last_sync_at", "updated_at"})
        out = set()
        for r in inventory(settings).values():
            out.add(tuple(None if r[c] is None else str(r[c]) for c in columns))
        return out

    duck, maria = rows(on_duckdb), rows(on_mysql)
    assert len(duck) == len(truth(sandbox)) and duck == maria


@pytest.mark.mysql
def test_overlapping_syncs_of_one_warehouse_take_turns(sandbox, mysql_url, monkeypatch) -> None:
    import pymysql

    from pipelines.sync import core
    from pipelines.warehouse import WarehouseError

    settings = settings_for(sandbox.env(), mysql_url)
    monkeypatch.setattr(core, "SYNC_LOCK_WAIT_SECONDS", 1)
    wh = warehouse_for(settings.warehouse)
    target = settings.warehouse
    other = pymysql.connect(host=target.host, port=target.port, user=target.user, password=target.password)
    try:
        with other.cursor() as cur:  # another sync of this warehouse is running right now
            cur.execute("select get_lock(%s, 0)", (f"invsync_sync:{wh.schema}",))
        with pytest.raises(WarehouseError, match="another process has been syncing in .* try again later"):
            sync(settings)
        # Nothing was landed, staged or published, and no sync_logs row claims otherwise.
        assert not wh.table_exists("inventory_data")
        assert wh.query("select count(*) as n from sync_logs")[0]["n"] == 0
    finally:
        other.close()
    assert sync(settings).ok  # the lock went with the other session
    assert_matches_truth(settings, sandbox)


def test_a_sync_of_one_marketplace_leaves_the_other_untouched_even_after_an_interrupted_landing(sandbox, published) -> None:
    from pipelines.sync import prepare_warehouse
    from pipelines.sync.landing import land_marketplace

    settings = published
    before = {k: v for k, v in inventory(settings).items() if k[0] == "ozon"}
    sandbox.tick()
    # An Ozon sync that landed (its load replaced the raw snapshot tables) and then died
    # before its publish: its sync_logs row stays `running`.
    wh = prepare_warehouse(settings)
    interrupted = land_marketplace(settings, wh, "ozon", "interrupted-run", full=False, backoff_base=0.01)
    assert interrupted.record.status == "running" and interrupted.record.load_id
    # A WB-only sync must neither publish that unchecked load nor read Ozon as "gone".
    assert sync(settings, which="wb").ok
    assert {k: v for k, v in inventory(settings).items() if k[0] == "ozon"} == before
    # Nor does a person running dbt by hand: the latest Ozon load was never published.
    run_dbt(settings, ["build", "--select", "+inventory_data"])
    assert {k: v for k, v in inventory(settings).items() if k[0] == "ozon"} == before


def test_the_write_step_leaves_out_the_folders_of_marketplaces_without_a_load() -> None:
    from pipelines.config import PROJECT_ROOT
    from pipelines.marketplaces import NAMES
    from pipelines.sync.dbt import PUBLISH, STAGE, marketplace_folders

    args = STAGE.args_for({"ozon": "load-1"})
    assert args[:len(STAGE.args)] == STAGE.args
    assert set(args[args.index("--exclude") + 1:]) == {f for m in NAMES if m != "ozon" for f in marketplace_folders(m)}
    assert STAGE.args_for(None) == STAGE.args  # no loads named: every marketplace, as by hand
    assert STAGE.args_for(dict.fromkeys(NAMES, "load-1")) == STAGE.args
    assert PUBLISH.args_for({"ozon": "load-1"}) == PUBLISH.args
    for name in NAMES:  # the convention the exclusion relies on (README, "Adding a marketplace")
        for folder in ("staging", "intermediate"):
            assert (PROJECT_ROOT / "dbt_project" / "models" / folder / name).is_dir(), (folder, name)


def test_a_sync_builds_only_the_models_of_the_marketplaces_it_publishes(sandbox, duckdb_url) -> None:
    """An Ozon-only sync on a new warehouse builds no other marketplace's view (a broken model of
    a marketplace that did not land cannot hold Ozon back); a person's `dbt build` builds them all
    and publishes nothing of a marketplace that never synced."""
    settings = settings_for(sandbox.env(), duckdb_url)
    assert sync(settings, which="ozon").clean
    wh = warehouse_for(settings.warehouse)

    def views() -> set[str]:
        return {r["table_name"] for r in wh.query("select table_name from information_schema.tables")}

    assert {"stg_ozon__stocks", "int_inventory__ozon"} <= views()
    assert not {v for v in views() if v.startswith(("stg_wb__", "stg_ym__", "int_inventory__wb", "int_inventory__ym"))}
    published = inventory(settings)
    assert published and {k[0] for k in published} == {"ozon"}
    run_dbt(settings, ["build", "--select", "+inventory_data"])
    assert {"stg_wb__cards", "int_inventory__wb", "int_inventory__ym"} <= views()
    assert inventory(settings) == published


# ---------------------------------------------------------------------- the 2026 stock plan
def test_ozon_stock_all_reserved_is_kept_and_no_row_is_an_aggregate_or_nameless(sandbox, duckdb_url) -> None:
    from pipelines.sandbox.account import N_OZ_FBO

    acc = sandbox.account
    with acc.lock:  # one product's FBO stock at one warehouse is all reserved by buyers
        slot = next(s for s in range(len(acc.fbo_on)) if acc.fbo_on[s] and acc.fbo_pr[s] > 0
                    and not acc.archived[s // N_OZ_FBO])
        acc.fbo_res[slot] = acc.fbo_pr[slot]
        acc.changed()
    settings = settings_for(sandbox.env(), duckdb_url)
    assert sync(settings).clean
    got = assert_matches_truth(settings, sandbox)
    sku = str(acc.oz_sku[slot // N_OZ_FBO])
    rows = [r for k, r in got.items() if k[0] == "ozon" and k[1] == sku and k[3] == "FBO" and r["quantity_reserved"]
            and r["quantity_reserved"] == r["quantity_present"]]
    assert rows and all(int(r["quantity_available"]) == 0 and int(r["quantity_present"]) > 0 for r in rows)
    ozon = [r for k, r in got.items() if k[0] == "ozon"]
    assert all(r["warehouse_id"] not in ("0", "") and r["warehouse_name"] for r in ozon)
    assert {r["warehouse_kind"] for r in ozon if r["stock_type"] != "FBP"} == {"physical"}


def test_ozon_fbo_rows_that_do_not_add_up_to_v4_totals_fail_dbt_under_the_fbo_method(sandbox, published) -> None:
    import duckdb

    from pipelines.sync.dbt import DbtError

    settings = published
    # the sums are a table the write step builds (tag:audit), so each check rebuilds it first
    check = ["build", "--select", "int_ozon__warehouse_sums ozon_fbo_rows_add_up_to_v4_totals"]
    run_dbt(settings, check)  # passes as landed
    con = duckdb.connect(str(settings.warehouse.path))
    con.execute("update raw_ozon.fbo_stocks set present = present + 1 where rowid = (select min(rowid) from raw_ozon.fbo_stocks)")
    con.close()
    with pytest.raises(DbtError, match="ozon_fbo_rows_add_up_to_v4_totals"):
        run_dbt(settings, check)


def test_a_revoked_or_wrong_ozon_key_fails_as_authorization_takes_no_fallback_and_changes_nothing(sandbox, published, duckdb_url) -> None:
    from pipelines.sandbox import OZON_REVOKED_API_KEY

    settings = published
    before = inventory(settings)
    sandbox.tick()
    for key, status in ((OZON_REVOKED_API_KEY, "403"), ("a-key-ozon-never-issued", "404")):
        bad = settings_for({**sandbox.env(), "OZON_API_KEY": key}, duckdb_url)
        result = sync(bad, which="ozon")
        ozon = result.results["ozon"]
        assert ozon.status == "failed" and f"authorization failed ({status}: " in ozon.message, ozon.message
        assert key not in ozon.message
        assert inventory(settings) == before
    for fallback in ("/v1/analytics/stocks", "/v2/product/info/stocks-by-warehouse/fbs", "/api/v1/warehouse_remains"):
        assert sandbox.request_log.hits(path=fallback) == 0


def test_wb_account_without_fbo_stock_syncs_as_an_empty_fbo_snapshot(sandbox, duckdb_url) -> None:
    acc = sandbox.account
    with acc.lock:  # nothing on WB's warehouses: the stocks report answers 204 No Content
        for column in (acc.wb_q, acc.wb_to, acc.wb_from):
            for s in range(len(column)):
                column[s] = 0
        acc.changed()
    settings = settings_for(sandbox.env(), duckdb_url)
    result = sync(settings, which="wb")
    assert result.clean, result.summary()
    assert sandbox.request_log.hits(path="/api/analytics/v1/stocks-report/wb-warehouses", status=204) == 1
    assert result.results["wb"].counts["fbo_method"] == "stocks_report_wb_warehouses"  # 204 is no reason to fall back
    got = assert_matches_truth(settings, sandbox, "wb")
    assert not any(k[3] == "FBO" and int(r["quantity_present"]) for k, r in got.items())
    assert {k[3] for k in got} >= {"FBS", "DBS"}  # the seller's own warehouses are there


def test_wb_switch_from_named_to_aggregate_places_keeps_totals_per_size_exact(sandbox, published) -> None:
    settings = published
    named = {k for k, r in inventory(settings).items() if k[0] == "wb" and k[3] == "FBO" and int(r["quantity_present"])}
    sandbox.set_wb_aggregation(True)
    result = sync(settings)
    assert result.ok, result.summary()
    # The per-warehouse check compares the pool: no warning that units vanished from Коледино.
    assert not any("inventory_warehouse_moves" in w for w in result.results["wb"].record.warnings), \
        result.results["wb"].record.warnings
    got = assert_matches_truth(settings, sandbox)
    aggregate = {k: r for k, r in got.items() if k[0] == "wb" and r["warehouse_kind"] == "aggregate"}
    assert aggregate and {r["warehouse_name"] for r in aggregate.values()} == {"Склад WB"}
    assert all(int(got[k]["quantity_present"]) == 0 for k in named)  # nothing left behind
    per_size_truth: dict[str, int] = {}
    for r in sandbox.account.expected_inventory("wb"):
        if r["stock_type"] == "FBO":
            per_size_truth[r["sku"]] = per_size_truth.get(r["sku"], 0) + r["quantity_present"]
    per_size: dict[str, int] = {}
    for k, r in got.items():
        if k[0] == "wb" and k[3] == "FBO":
            per_size[k[1]] = per_size.get(k[1], 0) + int(r["quantity_present"])
    assert {k: v for k, v in per_size.items() if v} == per_size_truth
    run_dbt(settings, ["build"])  # the data team's build passes on it too


def test_a_hand_run_dbt_on_a_warehouse_from_before_accounts_says_to_migrate_and_changes_nothing(published) -> None:
    """migration 6 down (only the default account's rows): the marts lose `account`; dbt's
    incremental would then key on a column the table lacks, so the build stops with the fix."""
    from migrations import runner
    from pipelines.sync.dbt import DbtError

    settings = published
    wh = warehouse_for(settings.warehouse)
    runner.down(wh, 5)
    before = inventory(settings)
    with pytest.raises(DbtError, match=r"inventory_data predates seller accounts .*run `invsync migrate up` first"):
        run_dbt(settings, ["build", "--select", "inventory_data"])
    assert inventory(settings) == before and "account" not in wh.columns("inventory_data")
    runner.up(wh)  # every row the default account's again, and dbt builds as before
    assert {r["account"] for r in wh.query("select distinct account from inventory_data")} == {"default"}
    run_dbt(settings, ["build", "--select", "inventory_data"])
    after = {key: {c: v for c, v in row.items() if c != "account"} for key, row in inventory(settings).items()}
    assert after == before
