"""Several seller accounts of a marketplace in one dbt build (issue 24), on DuckDB and MariaDB.

Once per warehouse: the standard sandbox synced and published (the `default` account), then a
second account `b` made by hand the way the landing writes one: each raw table of Ozon and WB
copied into `<dataset>__b` with every quantity doubled and b's own load id, and b's sync_logs
rows. Then the project's dbt steps, through the sync's invoker, with the nested loads:

1. b alone named: b is published, `default` is neither read nor changed;
2. both accounts of each marketplace named, b's Ozon load answered by the analytics FBO
   fallback: each account's rows are its own, default's FBO rows still read from its method;
3. by hand (no loads named): each account's latest load, if it was published.

Every account has the same ids as the other (skus, warehouses, sizes), so any join or group
that forgot the account would double or mix rows.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from pipelines import sync_log
from pipelines.marketplaces import get
from pipelines.marketplaces.ozon.checks import fbo_sums
from pipelines.sync.dbt import APPROVE, PUBLISH, STAGE, worker_for_sync
from pipelines.warehouse import Warehouse, warehouse_for
from tests.conftest import SANDBOX_OPTIONS, fresh_mysql_database, remove, settings_for, warehouse_files

OTHER = "b"
MARKETS = ("ozon", "wb")
# The raw quantity columns of each marketplace's snapshot tables: all doubled in b's copy, so
# every one of b's rows is twice default's (the models are linear in them, and the answer's own
# totals still agree: the staging tests pass).
QUANTITIES = {
    "ozon": {"product_stocks": ("present", "reserved"), "fbo_stocks": ("present", "reserved"),
             "fbs_stocks": ("present", "reserved")},
    "wb": {"wb_warehouse_stocks": ("quantity", "in_way_to_client", "in_way_from_client"),
           "fbs_stocks": ("amount",), "warehouse_remains": ("quantity",)},
}
QUANTITY_COLUMNS = ("quantity_present", "quantity_reserved", "quantity_available")


def keyed(rows: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    return {(r["marketplace"], r["account"], r["sku"], r["warehouse_id"], r["stock_type"]): r for r in rows}


def of_account(rows: dict[tuple, dict[str, Any]], account: str) -> dict[tuple, dict[str, Any]]:
    """An account's rows, keyed without the account (to hold two accounts' rows side by side)."""
    return {(k[0], *k[2:]): r for k, r in rows.items() if k[1] == account}


def quantities(row: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(row[c]) for c in QUANTITY_COLUMNS)


def run(worker: Any, step: Any, loads: Any) -> None:
    result = worker(step, loads)
    assert result.ok, result.describe()


def copy_account(wh: Warehouse, settings: Any, load_ids: dict[str, str]) -> None:
    """b's raw datasets: default's tables, quantities doubled, every row b's own load."""
    with wh.connection() as conn:
        for name in MARKETS:
            source = get(name).dataset(settings)
            target = f"{source}__{OTHER}"
            if wh.dialect == "duckdb":
                wh.execute(conn, f"create schema {target}")
            else:  # as prepare_warehouse creates a dataset: the main database's charset and collation
                main = wh.query("select default_character_set_name as cs, default_collation_name as co "
                                "from information_schema.schemata where schema_name = %s", (wh.schema,), conn)[0]
                wh.execute(conn, f"drop database if exists `{target}`")
                wh.execute(conn, f"create database `{target}` character set {main['cs']} collate {main['co']}")
            tables = [r["t"] for r in wh.query(
                "select table_name as t from information_schema.tables where table_schema = %s", (source,), conn)
                if not r["t"].startswith("_dlt")]
            assert set(QUANTITIES[name]) - {"warehouse_remains"} <= set(tables), tables
            for table in tables:
                wh.execute(conn, f"create table {target}.{table} as select * from {source}.{table}")
                doubled = [f"{c} = {c} * 2" for c in QUANTITIES[name].get(table, ())]
                wh.execute(conn, f"update {target}.{table} set {', '.join([*doubled, '_dlt_load_id = %s'])}",
                           (load_ids[name],))


def start_sync(wh: Warehouse, marketplace: str, load_id: str, status: str = "running") -> sync_log.SyncRecord:
    """b's sync_logs row, as the landing writes it (then ended as the publish would)."""
    rec = sync_log.SyncRecord(run_id=str(uuid.uuid4()), marketplace=marketplace, sync_type="full",
                              started_at=datetime.now(timezone.utc), load_id=load_id, account=OTHER)
    sync_log.insert(wh, rec)
    if status != "running":
        rec.finish(status)
        sync_log.update(wh, rec)
    return rec


def add_analytics_fallback(wh: Warehouse, settings: Any, load_id: str) -> None:
    """b's Ozon load answered FBO by /v1/analytics/stocks (the method above was gone): units
    available per warehouse, named; no `_invalid_reason` column (no answer carried one)."""
    dataset = f"{get('ozon').dataset(settings)}__{OTHER}"
    with wh.connection() as conn:
        wh.execute(conn, f"create table {dataset}.analytics_stocks as "
                         "select sku, offer_id, offer_id as name, warehouse_id, "
                         "concat('Ozon warehouse ', warehouse_id) as warehouse_name, "
                         "present - reserved as available_stock_count, _dlt_load_id "
                         f"from {dataset}.fbo_stocks where _dlt_load_id = %s", (load_id,))


def build(settings: Any) -> dict[str, Any]:
    """The three builds; what each left, for the tests to read."""
    wh = warehouse_for(settings.warehouse)
    seen: dict[str, Any] = {"settings": settings, "before": keyed(wh.query("select * from inventory_data"))}
    default_loads = {r["marketplace"]: r["load_id"] for r in wh.query(
        "select marketplace, load_id from sync_logs where account = 'default' and status in ('success', 'partial')")}
    other_loads = {name: f"{default_loads[name]}.{OTHER}" for name in MARKETS}
    copy_account(wh, settings, other_loads)
    records = {name: start_sync(wh, name, other_loads[name]) for name in MARKETS}
    only_other = {name: {OTHER: other_loads[name]} for name in MARKETS}
    with worker_for_sync(settings) as worker:
        # 1. b alone, as a sync of b writes, audits (the checks read one account) and publishes it
        run(worker, STAGE, only_other)
        seen["staged_other"] = keyed(wh.query("select * from int_inventory__snapshot"))
        run(worker, PUBLISH, only_other)  # the approval (int_sync__publishable) is built here
        seen["publishable_other"] = wh.query("select marketplace, account, load_id from int_sync__publishable")
        seen["after_other"] = keyed(wh.query("select * from inventory_data"))
        for rec in records.values():
            rec.finish("success")
            sync_log.update(wh, rec)
        # 2. both accounts of each marketplace, b's Ozon FBO answered by the fallback
        add_analytics_fallback(wh, settings, other_loads["ozon"])
        run(worker, STAGE, {name: {"default": default_loads[name], OTHER: other_loads[name]} for name in MARKETS})
        seen["staged_fallback"] = keyed(wh.query("select * from int_inventory__snapshot"))
        seen["fbo_methods"] = {(r["account"], r["method"]) for r in wh.query(
            "select distinct account, method from stg_ozon__fbo_stocks")}
        seen["sums_methods"] = {(r["account"], r["fbo_method"]) for r in wh.query(
            "select distinct account, fbo_method from int_ozon__warehouse_sums where stock_type = 'FBO'")}
        seen["fbo_checks"] = {account: fbo_sums(wh, account) for account in ("default", OTHER)}
        # 3. by hand: b's newer WB load failed its checks, so WB publishes default alone
        start_sync(wh, "wb", f"{other_loads['wb']}.unchecked", status="failed")
        run(worker, STAGE, None)
        seen["staged_by_hand"] = keyed(wh.query("select * from int_inventory__snapshot"))
        run(worker, APPROVE, None)  # what `dbt build` by hand builds of the publish: the approval
        seen["publishable_by_hand"] = wh.query("select marketplace, account, load_id from int_sync__publishable")
    seen["default_loads"], seen["other_loads"] = default_loads, other_loads
    return seen


@pytest.fixture(scope="module", params=["duckdb", pytest.param("mysql", marks=pytest.mark.mysql)])
def built(request: pytest.FixtureRequest, warehouse_root: Path) -> Iterator[dict[str, Any]]:
    if request.param == "duckdb":  # the suite's published baseline, copied as `published` does
        baseline = request.getfixturevalue("_published_files")  # built at the same path: first
        path = warehouse_root / "warehouse.duckdb"
        remove(warehouse_files(path))
        for source in baseline.iterdir():
            (shutil.copytree if source.is_dir() else shutil.copy2)(source, path.parent / source.name)
        yield build(settings_for({}, f"duckdb:///{path}"))
        return
    from pipelines.sandbox import Sandbox, SandboxOptions
    from pipelines.sync import run_sync

    with fresh_mysql_database("accounts") as url, Sandbox(SandboxOptions(**SANDBOX_OPTIONS)) as sb:
        settings = settings_for(sb.env(), url)
        assert run_sync(settings, backoff_base=0.01).clean
        try:
            yield build(settings)
        finally:
            wh = warehouse_for(settings.warehouse)
            with wh.connection() as conn:
                for name in MARKETS:
                    wh.execute(conn, f"drop database if exists `{get(name).dataset(settings)}__{OTHER}`")


def test_each_account_publishes_its_own_raw_data_and_leaves_the_other_unchanged(built) -> None:
    before, after = built["before"], built["after_other"]
    default_before = of_account(before, "default")
    assert default_before and {k[1] for k in before} == {"default"}
    # default was neither read nor changed: every row as it was, its sync times included
    assert of_account(after, "default") == default_before
    # b's rows are its own raw data: twice default's, key by key (the ids are the same)
    other = of_account(after, OTHER)
    assert set(other) == set(default_before)
    for key, row in other.items():
        assert quantities(row) == tuple(2 * q for q in quantities(default_before[key])), key
    for name in MARKETS:
        totals = {account: sum(int(r["quantity_present"]) for k, r in after.items() if k[:2] == (name, account))
                  for account in ("default", OTHER)}
        assert totals[OTHER] == 2 * totals["default"] > 0, (name, totals)


def test_an_account_not_named_in_the_loads_is_not_read(built) -> None:
    staged = built["staged_other"]
    assert staged and {k[1] for k in staged} == {OTHER}
    assert {k[0] for k in staged} == set(MARKETS)
    assert all(r["rejection_reason"] is None for r in staged.values())  # no key doubled by a join
    assert sorted((r["marketplace"], r["account"], r["load_id"]) for r in built["publishable_other"]) == sorted(
        (name, OTHER, built["other_loads"][name]) for name in MARKETS)


def test_two_accounts_in_one_build_never_mix_and_one_accounts_fallback_leaves_the_others_rows(built) -> None:
    staged, published = built["staged_fallback"], built["after_other"]
    assert {k[:2] for k in staged} == {(name, account) for name in MARKETS for account in ("default", OTHER)}
    assert all(r["rejection_reason"] is None for r in staged.values())  # no key doubled by a join
    assert built["fbo_methods"] == {("default", "stocks_by_warehouse_fbo"), (OTHER, "analytics_stocks")}
    assert built["sums_methods"] == {("default", "stocks_by_warehouse_fbo"), (OTHER, "analytics_stocks")}
    # each account's rows are its own, as published alone (default's Ozon FBO rows from its own
    # method: present and reserved), but b's Ozon FBO rows, which are the fallback's: units
    # available only (present = available, reserved 0)
    for account in ("default", OTHER):
        own = of_account(published, account)
        rows = of_account(staged, account)
        assert set(rows) == set(own)
        for key, row in rows.items():
            present, reserved, available = quantities(own[key])
            fallback = account == OTHER and key[0] == "ozon" and key[3] == "FBO"
            assert quantities(row) == ((available, 0, available) if fallback else (present, reserved, available)), key
    # the answer checks compare one account each: default's own totals, b's fallback figures
    checks = built["fbo_checks"]
    assert checks["default"].critical and not checks[OTHER].critical
    assert ("reported_present", "landed_present") in checks["default"].pairs
    assert checks[OTHER].pairs == (("reported_available", "landed_available"),)


def test_by_hand_each_account_publishes_its_latest_load_only_if_that_sync_was_published(built) -> None:
    publishable = sorted((r["marketplace"], r["account"], r["load_id"]) for r in built["publishable_by_hand"])
    assert publishable == sorted([("ozon", "default", built["default_loads"]["ozon"]),
                                  ("ozon", OTHER, built["other_loads"]["ozon"]),
                                  ("wb", "default", built["default_loads"]["wb"])])
    staged = built["staged_by_hand"]
    assert {k[:2] for k in staged} == {("ozon", "default"), ("ozon", OTHER), ("wb", "default")}
    # the same rows as when a sync named those loads
    assert staged == {k: r for k, r in built["staged_fallback"].items() if k[:2] != ("wb", OTHER)}


def test_the_loads_passed_to_dbt_are_nested_by_account_and_the_flat_form_is_the_default_accounts() -> None:
    import json

    from pipelines.sync.dbt import marketplace_folders, publish_loads_env

    def passed(loads: Any) -> Any:
        return json.loads(publish_loads_env(loads)["INVSYNC_PUBLISH_LOADS"])

    assert passed({"ozon": "1.1"}) == passed({"ozon": {"default": "1.1"}}) == {"ozon": {"default": "1.1"}}
    assert passed({"ozon": {"default": "1.1", OTHER: "2.2"}, "wb": ""}) == {"ozon": {"default": "1.1", OTHER: "2.2"}, "wb": {}}
    assert publish_loads_env(None) == {"INVSYNC_PUBLISH_LOADS": ""}  # by hand: every account's latest published load
    # a marketplace without an account named is left out of the write step, as without an entry
    args = STAGE.args_for({"ozon": {OTHER: "2.2"}, "wb": {}})
    assert set(args[args.index("--exclude") + 1:]) == {f for name in ("wb", "ym") for f in marketplace_folders(name)}
