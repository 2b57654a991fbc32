"""Migration 6, the account column: on DuckDB and MariaDB, a warehouse at version 5 with rows
in every table (the marts created in SQL with the columns and indexes dbt gives them, no sync)
goes up (every row `default`, unique keys by account) and back down (every row, the old keys,
the same definitions), refuses to go down while rows of another account are there, and
finishes interrupted runs. The legacy-adopted sync_logs (MySQL) goes through it too.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

import pytest

from migrations import runner
from migrations.runner import MigrationRefused
from migrations.specs import ACCOUNT_TABLES, DEFAULT_ACCOUNT, INVENTORY_SPEC
from migrations.versions import MIGRATIONS
from pipelines import sync_log
from pipelines.cli import main
from pipelines.config import parse_warehouse_url
from pipelines.sync_log import SyncRecord
from pipelines.warehouse import Warehouse
from tests.test_migrations import SYNC_LOG_ROWS, add_history, everything, legacy_sync_logs, seed_legacy, shape

TABLES = [t.table for t in ACCOUNT_TABLES]
MARTS = ["inventory_data", "inventory_history", "inventory_daily", "stockouts"]
ACCOUNT_STEP = next(m for m in MIGRATIONS if m.version == 6)

# The marts' columns as dbt's models create them (their final select lists), with MySQL types;
# DuckDB's are derived (`duck`). inventory_data's are the ones migration 3 adopts into.
GRAIN_COLUMNS = [("marketplace", "varchar(16)"), ("sku", "varchar(64)"), ("warehouse_id", "varchar(64)"),
                 ("stock_type", "varchar(16)")]
MART_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "inventory_data": [(n, t) for n, t, _ in INVENTORY_SPEC],
    "inventory_history": [*GRAIN_COLUMNS, ("valid_from", "datetime(6)"), ("valid_to", "datetime(6)"),
                          ("quantity_present", "bigint"), ("quantity_reserved", "bigint"), ("quantity_available", "bigint")],
    "inventory_daily": [*GRAIN_COLUMNS, ("stock_date", "date"), ("quantity_present_end", "bigint"),
                        ("quantity_available_end", "bigint"), ("quantity_available_min", "bigint"),
                        ("quantity_available_max", "bigint"), ("hours_unavailable", "decimal(12,6)"),
                        ("hours_tracked", "decimal(12,6)")],
    "stockouts": [*GRAIN_COLUMNS, ("started_at", "datetime(6)"), ("ended_at", "datetime(6)"),
                  ("duration_hours", "decimal(14,6)")],
}
GRAIN = "marketplace, sku, warehouse_id, stock_type"
# What dbt's post-hooks create (ensure_inventory_indexes, ensure_history_indexes).
MYSQL_INDEXES = {
    "inventory_data": [f"create unique index ux_inventory_grain on inventory_data ({GRAIN})",
                       "create index ix_inventory_marketplace_sync on inventory_data (marketplace, last_sync_at)",
                       "create index ix_inventory_product on inventory_data (product_id)"],
    "inventory_history": [f"create unique index ux_grain on inventory_history ({GRAIN}, valid_from)",
                          "create index ix_open on inventory_history (marketplace, valid_to)",
                          "create index ix_from on inventory_history (marketplace, valid_from)"],
    "inventory_daily": [f"create unique index ux_grain on inventory_daily ({GRAIN}, stock_date)",
                        "create index ix_daily_date on inventory_daily (marketplace, stock_date)"],
    "stockouts": [f"create unique index ux_grain on stockouts ({GRAIN}, started_at)",
                  "create index ix_stockouts_started on stockouts (marketplace, started_at)"],
}
DUCKDB_INDEXES = {"inventory_data": [f"create unique index ux_inventory_grain on inventory_data ({GRAIN})"]}

T1, T2 = datetime(2024, 6, 1, 9, 30), datetime(2024, 6, 2, 9, 30)
UTC2 = T2.replace(tzinfo=timezone.utc)
MART_ROWS: dict[str, list[dict[str, Any]]] = {
    "inventory_data": [
        dict(marketplace="ozon", sku="1494000107", offer_id="A-1", product_id="1001", product_name="Чайник",
             warehouse_id="17717042926000", warehouse_name="Казань", stock_type="FBO", quantity_present=12,
             quantity_reserved=2, quantity_available=10, last_sync_at=T2, updated_at=T1, source="Ozon",
             snapshot_date=T2.date(), warehouse_kind="fbo"),
        dict(marketplace="ozon", sku="1494000107", warehouse_id="15431806189000", warehouse_name="Тверь",
             stock_type="FBS", quantity_present=0, quantity_reserved=0, quantity_available=0, last_sync_at=T2,
             updated_at=T2, source="Ozon", snapshot_date=T2.date()),
        dict(marketplace="wb", sku="2000000000017", warehouse_id="507", warehouse_name="Коледино", stock_type="FBO",
             quantity_present=40, quantity_reserved=5, quantity_available=35, last_sync_at=T2, updated_at=T2,
             source="Wildberries", snapshot_date=T2.date()),
    ],
    "inventory_history": [
        dict(marketplace="ozon", sku="1494000107", warehouse_id="17717042926000", stock_type="FBO", valid_from=T1,
             valid_to=T2, quantity_present=15, quantity_reserved=2, quantity_available=13),
        dict(marketplace="ozon", sku="1494000107", warehouse_id="17717042926000", stock_type="FBO", valid_from=T2,
             valid_to=None, quantity_present=12, quantity_reserved=2, quantity_available=10),
    ],
    "inventory_daily": [
        dict(marketplace="ozon", sku="1494000107", warehouse_id="17717042926000", stock_type="FBO",
             stock_date=date(2024, 6, 1), quantity_present_end=15, quantity_available_end=13, quantity_available_min=13,
             quantity_available_max=13, hours_unavailable=0, hours_tracked=14.5),
        dict(marketplace="ozon", sku="1494000107", warehouse_id="17717042926000", stock_type="FBO",
             stock_date=date(2024, 6, 2), quantity_present_end=12, quantity_available_end=10, quantity_available_min=10,
             quantity_available_max=13, hours_unavailable=0, hours_tracked=9.5),
    ],
    "stockouts": [
        dict(marketplace="ozon", sku="1494000107", warehouse_id="15431806189000", stock_type="FBS", started_at=T1,
             ended_at=None, duration_hours=24),
    ],
}
SYNCS, RESULTS = 2, 3  # rows of sync_logs and validation_results


def duck(mysql_type: str) -> str:
    base = mysql_type.split("(")[0]
    return {"varchar": "varchar", "bigint": "bigint", "datetime": "timestamp", "mediumtext": "varchar"}.get(base, mysql_type)


def run(wh: Warehouse, *statements: str, params: Any = ()) -> None:
    with wh.connection() as conn:
        for statement in statements:
            wh.execute(conn, statement, params)


def insert(wh: Warehouse, table: str, row: dict[str, Any]) -> None:
    run(wh, f"insert into {table} ({', '.join(row)}) values ({', '.join(['%s'] * len(row))})", params=tuple(row.values()))


def seed_version_5(url: str) -> Warehouse:
    """A warehouse at version 5 after syncs: the product's tables and the four marts, with rows."""
    wh = Warehouse(parse_warehouse_url(url))
    runner.up(wh, target=5)
    add_history(wh, syncs=SYNCS, results=RESULTS)
    for table in MARTS:
        columns = ", ".join(f"{n} {t if wh.dialect == 'mysql' else duck(t)}" for n, t in MART_COLUMNS[table])
        run(wh, f"create table {table} ({columns})")  # dbt: create table as select (no constraints)
        for row in MART_ROWS[table]:
            insert(wh, table, row)
        run(wh, *(MYSQL_INDEXES if wh.dialect == "mysql" else DUCKDB_INDEXES).get(table, []))
    return wh


def definition(wh: Warehouse, table: str) -> dict[str, Any]:
    """Everything that makes a table's definition (MySQL: SHOW CREATE TABLE and information_schema;
    DuckDB: its CREATE TABLE, columns with defaults and nullability, CREATE INDEX statements)."""
    if wh.dialect == "mysql":
        found = shape(wh, table)  # without the auto-increment counter (rows a test deleted moved it)
        return {**found, "ddl": no_counter(found["ddl"])} if found else found
    if not wh.table_exists(table):
        return {}
    return {
        "ddl": wh.query("select sql from duckdb_tables() where schema_name = 'main' and table_name = %s", (table,))[0]["sql"],
        "columns": [tuple(r.values()) for r in wh.query(
            "select column_name, data_type, is_nullable, column_default from information_schema.columns "
            "where table_schema = 'main' and table_name = %s order by ordinal_position", (table,))],
        "indexes": sorted(r["sql"] for r in wh.query(
            "select sql from duckdb_indexes() where schema_name = 'main' and table_name = %s", (table,))),
    }


def state(wh: Warehouse) -> dict[str, Any]:
    """Each of the six tables' definition and rows (sorted), and the recorded version."""
    out: dict[str, Any] = {"version": runner.current_version(wh)}
    with wh.session():
        for table in TABLES:
            rows = wh.query(f"select * from {table}") if wh.table_exists(table) else []
            out[table] = (definition(wh, table), sorted(tuple(map(str, r.items())) for r in rows))
    return out


def columns(wh: Warehouse, table: str) -> list[str]:
    return [r["c"] for r in wh.query("select column_name as c from information_schema.columns where table_schema = %s "
                                     "and table_name = %s order by ordinal_position", (wh.schema, table))]


def unique_columns(wh: Warehouse, table: str, index: str) -> tuple[str, ...]:
    if wh.dialect == "mysql":
        return tuple(r["c"] for r in wh.query(
            "select column_name as c from information_schema.statistics where table_schema = %s and table_name = %s "
            "and index_name = %s and non_unique = 0 order by seq_in_index", (wh.schema, table, index)))
    rows = wh.query("select expressions as e from duckdb_indexes() where table_name = %s and index_name = %s "
                    "and is_unique", (table, index))
    return tuple(c.strip() for c in rows[0]["e"].strip("[]").split(",")) if rows else ()


def accounts(wh: Warehouse, table: str) -> dict[str | None, int]:
    return {r["account"]: int(r["n"]) for r in wh.query(f"select account, count(*) as n from {table} group by account")}


def counts(wh: Warehouse) -> dict[str, int]:
    return {t: int(wh.query(f"select count(*) as n from {t}")[0]["n"]) for t in TABLES if wh.table_exists(t)}


# --------------------------------------------------------------------------- up

def test_up_gives_every_table_the_account_every_row_default_and_keys_by_it(warehouse_url) -> None:
    wh = seed_version_5(warehouse_url)
    before_counts = counts(wh)
    assert set(before_counts) == set(TABLES) and all(before_counts.values())

    report = runner.up(wh)
    assert [line.split()[1] for line in report.applied] == ["0006"] and report.current_version == 6
    assert f"inventory_data: account added, 3 row(s) now 'default'; unique ux_inventory_grain (marketplace, account, " \
           "sku, warehouse_id, stock_type)" in str(report)
    assert counts(wh) == before_counts
    for table in TABLES:
        assert columns(wh, table)[-1] == "account", table
        assert accounts(wh, table) == {"default": before_counts[table]}, table
    definitions = {r["t"]: r for r in wh.query(
        "select table_name as t, data_type, character_maximum_length as n, is_nullable, column_default as d "
        "from information_schema.columns where table_schema = %s and column_name = 'account'", (wh.schema,))}
    for table in TABLES:
        d = definitions[table]
        if wh.dialect == "mysql":
            assert (d["data_type"], d["n"], d["is_nullable"], d["d"]) == ("varchar", 32, "NO", "'default'"), table
        else:
            assert (d["data_type"], d["is_nullable"], d["d"]) == ("VARCHAR", "YES", "'default'"), table

    # The unique keys gained the account after marketplace; the lookup indexes are as they were.
    assert unique_columns(wh, "inventory_data", "ux_inventory_grain") == \
        ("marketplace", "account", "sku", "warehouse_id", "stock_type")
    if wh.dialect == "mysql":
        for table, last in (("inventory_history", "valid_from"), ("inventory_daily", "stock_date"), ("stockouts", "started_at")):
            assert unique_columns(wh, table, "ux_grain") == ("marketplace", "account", "sku", "warehouse_id",
                                                             "stock_type", last), table
        assert {i[0] for i in shape(wh, "inventory_data")["indexes"]} == \
            {"ux_inventory_grain", "ix_inventory_marketplace_sync", "ix_inventory_product"}
        assert [i[3] for i in shape(wh, "inventory_data")["indexes"] if i[0] == "ix_inventory_marketplace_sync"] == \
            ["marketplace", "last_sync_at"]
    else:
        assert [r["n"] for r in wh.query("select index_name as n from duckdb_indexes() order by 1")] == ["ux_inventory_grain"]

    # Another account's row under an existing key is its own row; a true duplicate is refused.
    north = {**MART_ROWS["inventory_data"][0], "account": "north", "quantity_present": 3}
    insert(wh, "inventory_data", north)
    with pytest.raises(Exception, match="(?i)duplicate"):
        insert(wh, "inventory_data", north)
    if wh.dialect == "mysql":
        insert(wh, "inventory_history", {**MART_ROWS["inventory_history"][1], "account": "north"})
        with pytest.raises(Exception, match="(?i)duplicate"):
            insert(wh, "inventory_history", {**MART_ROWS["inventory_history"][1], "account": "north"})
    with pytest.raises(Exception, match="(?i)duplicate"):  # the default account's key is still unique
        insert(wh, "inventory_data", MART_ROWS["inventory_data"][0])
    # Writers that do not name the account yet write the default account's rows.
    insert(wh, "inventory_data", {**MART_ROWS["inventory_data"][2], "sku": "2000000000024"})
    sync_log.insert(wh, SyncRecord(run_id="r-new", marketplace="wb", sync_type="full", started_at=UTC2))
    assert accounts(wh, "inventory_data") == {"default": 4, "north": 1}
    assert wh.query("select account from sync_logs where run_id = 'r-new'") == [{"account": "default"}]

    # Applied: running it again does nothing.
    after = state(wh)
    assert ACCOUNT_STEP.up(wh).actions == []
    assert runner.up(wh).applied == [] and state(wh) == after


def test_status_reads_a_warehouse_from_before_the_account_as_the_default_accounts(warehouse_url) -> None:
    """A reader beside a sync that is migrating (or a warehouse nobody migrated since the upgrade)
    meets sync_logs and inventory_data without `account`: every row is the default account's."""
    from pipelines.config import load_settings
    from pipelines.status import read_status

    wh = seed_version_5(warehouse_url)
    assert "account" not in wh.columns("sync_logs") | wh.columns("inventory_data")
    records = {s.name: s for s in read_status(wh, load_settings({"WAREHOUSE_URL": warehouse_url}))}
    rows = MART_ROWS["inventory_data"]
    for marketplace in ("ozon", "wb"):
        mine = [r for r in rows if r["marketplace"] == marketplace]
        assert records[marketplace].account == "default"
        assert (records[marketplace].rows, records[marketplace].units_present) == (
            len(mine), sum(r["quantity_present"] for r in mine))


def test_up_on_a_fresh_warehouse_adds_the_account_to_the_product_tables_only(warehouse_url) -> None:
    wh = Warehouse(parse_warehouse_url(warehouse_url))
    report = runner.up(wh)
    assert report.current_version == 6
    notes = report.notes[next(line for line in report.applied if " 0006 " in line)]
    assert notes[:2] == ["sync_logs: account added, 0 row(s) now 'default'",
                         "validation_results: account added, 0 row(s) now 'default'"]
    assert all(f"{t}: not present (created with the account when it is built)" in notes for t in MARTS)
    assert not any(wh.table_exists(t) for t in MARTS)
    for table in ("sync_logs", "validation_results"):
        assert columns(wh, table)[-1] == "account"
    rec = SyncRecord(run_id="r1", marketplace="ozon", sync_type="full", started_at=UTC2)
    sync_log.insert(wh, rec)
    assert wh.query("select account from sync_logs") == [{"account": "default"}]

    runner.down(wh, 5)
    assert "account" not in columns(wh, "sync_logs") + columns(wh, "validation_results")
    assert len(wh.query("select * from sync_logs")) == 1
    assert runner.up(wh).current_version == 6 and columns(wh, "validation_results")[-1] == "account"


# --------------------------------------------------------------------------- down

def test_down_keeps_every_row_and_restores_the_old_keys_exactly(warehouse_url) -> None:
    wh = seed_version_5(warehouse_url)
    at_5 = state(wh)
    runner.up(wh)
    at_6 = state(wh)
    assert at_6 != at_5

    report = runner.down(wh)
    assert [line.split()[1] for line in report.applied] == ["0006"] and report.current_version == 5
    assert "inventory_data: account dropped, 3 row(s) kept; unique ux_inventory_grain (marketplace, sku, " \
           "warehouse_id, stock_type) again" in str(report)
    assert state(wh) == at_5  # definitions (SHOW CREATE TABLE / CREATE TABLE and indexes) and rows
    assert ACCOUNT_STEP.down(wh).actions == []  # reverted: nothing left to do

    # Up again gives the same tables; up and down once more, the same again.
    runner.up(wh)
    assert state(wh) == at_6
    runner.down(wh)
    assert state(wh) == at_5
    runner.up(wh)
    assert state(wh) == at_6


def test_interrupted_steps_are_finished_by_running_them_again(warehouse_url) -> None:
    wh = seed_version_5(warehouse_url)
    at_5 = state(wh)
    runner.up(wh)
    at_6 = state(wh)

    # `up` stopped after some tables (MySQL commits each ALTER TABLE): the version row is missing
    # and two tables are still as at version 5.
    run(wh, "delete from schema_migrations where version = 6", "alter table validation_results drop column account")
    if wh.dialect == "mysql":
        run(wh, "alter table stockouts drop index ux_grain, add unique index ux_grain "
                "(marketplace, sku, warehouse_id, stock_type, started_at), drop column account")
    report = runner.up(wh)
    assert report.applied and "sync_logs: already has the account" in str(report)
    assert state(wh) == at_6

    # `down` stopped after some tables.
    if wh.dialect == "mysql":
        run(wh, "alter table inventory_data drop index ux_inventory_grain, add unique index ux_inventory_grain "
                "(marketplace, sku, warehouse_id, stock_type), drop column account")
    run(wh, "alter table sync_logs drop column account")
    report = runner.down(wh)
    assert "sync_logs: has no account" in str(report)
    assert state(wh) == at_5


def test_down_refuses_while_rows_of_another_account_are_there_and_changes_nothing(warehouse_url, monkeypatch, capsys) -> None:
    wh = seed_version_5(warehouse_url)
    at_5 = state(wh)
    runner.up(wh)
    # A second account's rows under keys the default account has too.
    insert(wh, "inventory_data", {**MART_ROWS["inventory_data"][0], "account": "north"})
    insert(wh, "inventory_data", {**MART_ROWS["inventory_data"][1], "account": "north"})
    insert(wh, "stockouts", {**MART_ROWS["stockouts"][0], "account": "south"})
    sync_log.insert(wh, SyncRecord(run_id="r-north", marketplace="ozon", sync_type="full", started_at=UTC2))
    run(wh, "update sync_logs set account = 'north' where run_id = 'r-north'")
    before = state(wh)
    other = "account <> 'default'" if wh.dialect == "mysql" else "account is null or account <> 'default'"

    for target in (None, 5, 0):
        with pytest.raises(MigrationRefused) as refused:
            runner.down(wh, target, drop_data=True)
        assert refused.value.report.applied == []
        assert state(wh) == before
    problems = refused.value.problems
    assert len(problems) == 3
    assert problems[0].startswith("0006: sync_logs holds 1 row of accounts other than 'default' (north 1): ")
    assert "the table would lose which account each row belongs to" in problems[0]
    assert problems[1] == (
        "0006: inventory_data holds 2 rows of accounts other than 'default' (north 2): before version 6 there is one "
        "account, so they would collide with the 'default' account's rows under the old key; delete them "
        f"(`delete from inventory_data where {other}`) or stay on version 6")
    assert problems[2].startswith("0006: stockouts holds 1 row of accounts other than 'default' (south 1)")

    # The step refuses by itself too, not only through the runner's check.
    with pytest.raises(MigrationRefused, match="inventory_data holds 2 rows"):
        ACCOUNT_STEP.down(wh)
    assert state(wh) == before

    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)
    assert main(["migrate", "down"]) == 1
    out = capsys.readouterr().out
    assert "migrate down refused" in out and f"delete from inventory_data where {other}" in out
    assert state(wh) == before

    # Done as it says, down keeps the default account's rows and the old keys.
    run(wh, *(f"delete from {t} where {other}" for t in ("inventory_data", "stockouts", "sync_logs")))
    assert runner.down(wh).current_version == 5
    assert state(wh) == at_5


# --------------------------------------------------------------------------- a legacy-adopted sync_logs

@pytest.mark.mysql
def test_the_adopted_legacy_sync_logs_gets_the_account_and_loses_it_again(mysql_url) -> None:
    wh = seed_legacy(mysql_url)
    legacy = {t: shape(wh, t) for t in ("inventory_data", "sync_logs")}
    runner.up(wh, target=5)
    at_5 = everything(wh)
    virtual = [c[0] for c in shape(wh, "sync_logs")["columns"] if "VIRTUAL" in str(c[4])]
    assert virtual == ["source", "records_processed", "records_updated", "completed_at"]

    runner.up(wh)
    logs = wh.query("select * from sync_logs order by id")
    assert len(logs) == len(SYNC_LOG_ROWS) and {r["account"] for r in logs} == {"default"}
    assert [c[0] for c in shape(wh, "sync_logs")["columns"] if "VIRTUAL" in str(c[4])] == virtual
    assert unique_columns(wh, "inventory_data", "ux_inventory_grain")[:2] == ("marketplace", "account")
    # The product writes it, legacy readers still read it through the virtual columns.
    rec = SyncRecord(run_id="new-run", marketplace="wb", sync_type="full", started_at=UTC2)
    sync_log.insert(wh, rec)
    assert wh.query("select source, account from sync_logs where id = %s", (rec.id,)) == \
        [{"source": "Wildberries", "account": "default"}]
    run(wh, "delete from sync_logs where id = %s", params=(rec.id,))

    runner.down(wh, 5)
    assert data_of(everything(wh)) == data_of(at_5)
    runner.down(wh, 2)  # and on to the legacy tables, exactly
    assert {t: shape(wh, t) for t in legacy} == legacy and len(legacy_sync_logs(wh)) == len(SYNC_LOG_ROWS)


def data_of(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A snapshot without the version bookkeeping and the auto-increment counter (a row was
    inserted and deleted since)."""
    out = {k: v for k, v in snapshot.items() if k not in ("version", "schema_migrations")}
    definition_, rows = out["sync_logs"]
    out["sync_logs"] = ({**definition_, "ddl": no_counter(definition_["ddl"])}, rows)
    return out


def no_counter(ddl: str) -> str:
    return re.sub(r" AUTO_INCREMENT=\d+", "", ddl)
