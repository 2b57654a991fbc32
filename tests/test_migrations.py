"""Migrations: fresh installs on DuckDB and MariaDB, and adopting a legacy importer's tables.

The legacy tests seed a real MariaDB database with the tables a legacy importer keeps
(`inventory_data` keyed by name and source, `sync_logs` with or without an id), migrate, and
compare values, schemas (SHOW CREATE TABLE, information_schema) and what `invsync migrate`
prints. One test runs a real sync (sandbox over HTTP -> dlt -> dbt) on the adopted tables.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pymysql
import pytest

from migrations import runner
from migrations.runner import MigrationRefused
from migrations.specs import ACCOUNT_COLUMN_DDL, BACKUP_DDL
from migrations.versions import MIGRATIONS
from pipelines import sync_log
from pipelines.cli import main
from pipelines.config import parse_warehouse_url
from pipelines.sync_log import SyncRecord
from pipelines.warehouse import Warehouse
from tests.conftest import TEST_MARKETPLACES, MYSQL_HOST, MYSQL_PASSWORD, MYSQL_PORT, MYSQL_USER, settings_for

LATEST = MIGRATIONS[-1].version

# What dbt's inventory_data model outputs, in its order (dbt inserts the existing table's columns).
MODEL_COLUMNS = [
    "marketplace", "sku", "marketplace_product_id", "offer_id", "product_id", "barcode", "product_name",
    "warehouse_id", "warehouse_name", "stock_type", "quantity_present", "quantity_reserved", "quantity_available",
    "last_sync_at", "updated_at", "source", "snapshot_date", "warehouse_kind",
]
INVENTORY_INDEXES = {
    "ux_inventory_grain": (True, ("marketplace", "sku", "warehouse_id", "stock_type")),
    "ix_inventory_marketplace_sync": (False, ("marketplace", "last_sync_at")),
    "ix_inventory_product": (False, ("product_id",)),
}
# From version 6 (the account): the grain is unique per account, the column comes last.
ACCOUNT_MODEL_COLUMNS = [*MODEL_COLUMNS, "account"]
ACCOUNT_INVENTORY_INDEXES = {
    **INVENTORY_INDEXES,
    "ux_inventory_grain": (True, ("marketplace", "account", "sku", "warehouse_id", "stock_type")),
}

LEGACY_INVENTORY_DDL = """
CREATE TABLE inventory_data (
  product_id INT NULL,
  sku VARCHAR(64) NOT NULL,
  source ENUM('Ozon','Wildberries') NOT NULL,
  warehouse_name VARCHAR(255) NOT NULL,
  stock_type ENUM('FBO','FBS','realFBS') NOT NULL DEFAULT 'FBO',
  quantity_present INT NOT NULL DEFAULT 0,
  quantity_reserved INT NOT NULL DEFAULT 0,
  snapshot_date DATE NOT NULL,
  last_sync_at DATETIME NULL,
  PRIMARY KEY (sku, source, warehouse_name, stock_type),
  KEY idx_product (product_id),
  KEY idx_snapshot (snapshot_date)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='stock snapshot (legacy importer)'
"""
LEGACY_SYNC_LOGS_DDL = """
CREATE TABLE sync_logs (
  {id}
  sync_type VARCHAR(32) NOT NULL,
  source ENUM('Ozon','Wildberries','Manual') NOT NULL,
  status VARCHAR(20) NOT NULL DEFAULT 'started',
  records_processed INT NOT NULL DEFAULT 0,
  records_updated INT NOT NULL DEFAULT 0,
  error_message TEXT NULL,
  started_at DATETIME NOT NULL,
  completed_at DATETIME NULL,
  duration_seconds INT NULL,
  {pk}KEY idx_source_started (source, started_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""

INVENTORY_ROWS = [
    # product_id, sku, source, warehouse_name, stock_type, present, reserved, snapshot_date, last_sync_at
    (1001, "1494000107", "Ozon", "Казань", "FBO", 12, 2, date(2024, 5, 1), datetime(2024, 5, 1, 9, 30)),
    (1001, "1494000107", "Ozon", "Склад продавца Москва", "FBS", 3, 0, date(2024, 5, 1), datetime(2024, 5, 1, 9, 30)),
    (None, "1494000999", "Ozon", "rFBS Екатеринбург", "realFBS", 0, 0, date(2024, 4, 28), datetime(2024, 4, 28, 18, 0)),
    (2002, "2000000000017", "Wildberries", "Коледино", "FBO", 40, 5, date(2024, 5, 1), datetime(2024, 5, 1, 9, 45)),
    (2002, "2000000000017", "Wildberries", "Электросталь", "FBO", 7, 7, date(2024, 5, 1), datetime(2024, 5, 1, 9, 45)),
    (None, "2000000000024", "Wildberries", "Мой склад", "FBS", 15, 0, date(2024, 4, 30), None),  # never stamped
]
SYNC_LOG_ROWS = [
    # sync_type, source, status, processed, updated, error, started_at, completed_at, duration
    ("stocks", "Ozon", "success", 120, 118, None, datetime(2024, 5, 1, 9, 29), datetime(2024, 5, 1, 9, 30), 61),
    ("stocks", "Wildberries", "success", 300, 290, None, datetime(2024, 5, 1, 9, 44), datetime(2024, 5, 1, 9, 45), 58),
    ("stocks", "Manual", "error", 0, 0, "file rejected: bad header", datetime(2024, 5, 2, 11, 0), datetime(2024, 5, 2, 11, 0), 0),
    ("stocks", "Ozon", "started", 0, 0, None, datetime(2024, 5, 3, 8, 0), None, None),  # never finished
]
SOURCE_TO_MARKETPLACE = {"Ozon": "ozon", "Wildberries": "wb", "Manual": "manual"}


def name_key(name: str) -> str:
    return hashlib.md5(name.encode("utf-8")).hexdigest()[:16]


def raw_conn(url: str) -> Any:
    return pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, password=MYSQL_PASSWORD,
                           database=url.rsplit("/", 1)[1], autocommit=True, charset="utf8mb4")


def sql(url: str, *statements: str, params: Any = None) -> None:
    conn = raw_conn(url)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement, params)
    finally:
        conn.close()


def seed_legacy(url: str, with_id: bool = True, inventory_rows: list[tuple] = INVENTORY_ROWS) -> Warehouse:
    ddl = LEGACY_SYNC_LOGS_DDL.format(id="id INT NOT NULL AUTO_INCREMENT," if with_id else "",
                                      pk="PRIMARY KEY (id), " if with_id else "")
    conn = raw_conn(url)
    try:
        with conn.cursor() as cur:
            cur.execute(LEGACY_INVENTORY_DDL)
            cur.execute(ddl)
            cur.executemany("insert into inventory_data values (%s, %s, %s, %s, %s, %s, %s, %s, %s)", inventory_rows)
            cur.executemany(
                "insert into sync_logs (sync_type, source, status, records_processed, records_updated, error_message, "
                "started_at, completed_at, duration_seconds) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                SYNC_LOG_ROWS,
            )
    finally:
        conn.close()
    return Warehouse(parse_warehouse_url(url))


def shape(wh: Warehouse, table: str) -> dict[str, Any]:
    """SHOW CREATE TABLE plus information_schema columns and indexes: everything `down` must restore."""
    if not wh.table_exists(table):
        return {}
    columns = wh.query(
        "select column_name, column_type, is_nullable, column_default, extra, collation_name, generation_expression "
        "from information_schema.columns where table_schema = %s and table_name = %s order by ordinal_position",
        (wh.schema, table),
    )
    indexes = wh.query(
        "select index_name, non_unique, seq_in_index, column_name from information_schema.statistics "
        "where table_schema = %s and table_name = %s order by index_name, seq_in_index",
        (wh.schema, table),
    )
    return {"ddl": wh.query(f"show create table `{table}`")[0]["Create Table"],
            "columns": [tuple(c.values()) for c in columns], "indexes": [tuple(i.values()) for i in indexes]}


def tables(wh: Warehouse) -> set[str]:
    return {r["t"] for r in wh.query(
        "select table_name as t from information_schema.tables where table_schema = %s", (wh.schema,))}


def everything(wh: Warehouse) -> dict[str, Any]:
    """Every table's shape and rows (sorted), and the recorded version."""
    out: dict[str, Any] = {"version": runner.current_version(wh)}
    for t in sorted(tables(wh)):
        rows = wh.query(f"select * from `{t}`")
        if t == "schema_migrations":
            out[t] = (shape(wh, t), sorted(r["version"] for r in rows))
            continue
        if t == "schema_migration_backup":  # when it was recorded differs between runs
            rows = [{k: v for k, v in r.items() if k != "recorded_at"} for r in rows]
        out[t] = (shape(wh, t), sorted(tuple(map(str, r.values())) for r in rows))
    return out


def data(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A snapshot without the version bookkeeping."""
    return {k: v for k, v in snapshot.items() if k not in ("version", "schema_migrations")}


def legacy_inventory(wh: Warehouse) -> list[tuple]:
    return sorted((tuple(r.values()) for r in wh.query(
        "select product_id, sku, source, warehouse_name, stock_type, quantity_present, quantity_reserved, "
        "snapshot_date, last_sync_at from inventory_data")), key=str)


def legacy_sync_logs(wh: Warehouse) -> list[tuple]:
    return sorted((tuple(r.values()) for r in wh.query(
        "select sync_type, source, status, records_processed, records_updated, error_message, started_at, "
        "completed_at, duration_seconds from sync_logs")), key=str)


def inventory_by_key(wh: Warehouse) -> dict[tuple, dict[str, Any]]:
    rows = wh.query("select * from inventory_data")
    return {(r["marketplace"], r["sku"], r["warehouse_id"], r["stock_type"]): r for r in rows}


# --------------------------------------------------------------------------- fresh installs

def test_fresh_duckdb_install_works_as_before_and_legacy_steps_are_no_ops(duckdb_url, monkeypatch, capsys) -> None:
    wh = Warehouse(parse_warehouse_url(duckdb_url))
    report = runner.up(wh)
    assert report.current_version == LATEST
    assert [line.split()[1] for line in report.applied] == [f"{m.version:04d}" for m in MIGRATIONS]
    assert any("nothing to adopt on duckdb" in n for notes in report.notes.values() for n in notes)
    assert {"sync_logs", "validation_results"} <= {r["table_name"] for r in wh.query(
        "select table_name from information_schema.tables where table_schema = 'main'")}
    # The product writes sync_logs as before.
    rec = SyncRecord(run_id="r1", marketplace="ozon", sync_type="full", started_at=datetime.now(timezone.utc))
    sync_log.insert(wh, rec)
    assert rec.id is not None and sync_log.latest(wh, "ozon")["run_id"] == "r1"

    assert "nothing to do" in str(runner.up(wh))
    monkeypatch.setenv("WAREHOUSE_URL", duckdb_url)
    assert main(["migrate", "status"]) == 0
    out = capsys.readouterr().out
    assert f"schema version: {LATEST} of {LATEST}" in out and "[pending]" not in out

    assert main(["migrate", "down", "--target", "0"]) == 1  # sync_logs holds the sync's row
    assert "dropping sync_logs would delete its 1 row" in capsys.readouterr().out and wh.table_exists("sync_logs")
    assert main(["migrate", "down", "--target", "0", "--drop-data"]) == 0
    out = capsys.readouterr().out
    assert "down 0004" in out and "down 0001" in out and out.strip().endswith("schema version: 0")
    assert "sync_logs: dropped (1 row)" in out
    assert not wh.table_exists("sync_logs")
    assert main(["migrate", "up"]) == 0
    assert f"schema version: {LATEST}" in capsys.readouterr().out and wh.table_exists("sync_logs")


@pytest.mark.mysql
def test_fresh_mysql_install_creates_the_product_tables_and_adopts_nothing(mysql_url) -> None:
    wh = Warehouse(parse_warehouse_url(mysql_url))
    report = runner.up(wh)
    assert report.current_version == LATEST
    notes = [n for ns in report.notes.values() for n in ns]
    assert "inventory_data: no legacy table — nothing to adopt" in notes
    assert "sync_logs: already the product's table — nothing to adopt" in notes
    # dbt creates inventory_data; nothing else appears (no backup table on a fresh install).
    assert tables(wh) == {"schema_migrations", "sync_logs", "validation_results"}
    assert "run_id" in {c["column_name"] for c in wh.query(
        "select column_name from information_schema.columns where table_schema = %s and table_name = 'sync_logs'",
        (wh.schema,))}
    first = everything(wh)
    assert runner.up(wh).applied == [] and everything(wh) == first

    runner.down(wh, 5)  # the account (6): see tests/test_migration_account.py
    at_5 = everything(wh)
    report = runner.down(wh, 2)
    assert [line.split()[1] for line in report.applied] == ["0005", "0004", "0003"]
    assert data(everything(wh)) == data(at_5) and runner.current_version(wh) == 2
    runner.down(wh, 0)
    assert tables(wh) == {"schema_migrations"}
    runner.up(wh)
    assert everything(wh) == first


# --------------------------------------------------------------------------- adopting a legacy schema

@pytest.mark.mysql
@pytest.mark.parametrize("with_id", [True, False], ids=["sync_logs-with-id", "sync_logs-without-id"])
def test_up_adopts_legacy_tables_and_keeps_every_row_mapped(mysql_url, with_id) -> None:
    wh = seed_legacy(mysql_url, with_id)
    before_inventory, before_logs = legacy_inventory(wh), legacy_sync_logs(wh)

    report = runner.up(wh)
    assert report.current_version == LATEST
    text = str(report)
    assert f"inventory_data: adopted the legacy table — {len(INVENTORY_ROWS)} rows kept" in text
    assert f"sync_logs: adopted the legacy table — {len(SYNC_LOG_ROWS)} rows kept" in text
    assert "product_id int(11) -> varchar(64)" in text and "PRIMARY KEY (sku, source, warehouse_name, stock_type)" in text

    # inventory_data: exactly the model's columns, the query indexes, every row mapped.
    columns = [c["column_name"] for c in wh.query(
        "select column_name from information_schema.columns where table_schema = %s and table_name = 'inventory_data' "
        "order by ordinal_position", (wh.schema,))]
    assert columns == ACCOUNT_MODEL_COLUMNS
    indexes = shape(wh, "inventory_data")["indexes"]
    found = {}
    for name, non_unique, _, col in indexes:
        found.setdefault(name, (not non_unique, ()))
        found[name] = (found[name][0], found[name][1] + (col,))
    assert found == ACCOUNT_INVENTORY_INDEXES
    got = inventory_by_key(wh)
    assert len(got) == len(INVENTORY_ROWS)
    for pid, sku, source, wname, stype, present, reserved, snap, synced in INVENTORY_ROWS:
        row = got[(SOURCE_TO_MARKETPLACE[source], sku, name_key(wname), stype)]
        expected_sync = synced or datetime.combine(snap, datetime.min.time())
        assert row["product_id"] == (str(pid) if pid is not None else None)
        assert (row["warehouse_name"], row["quantity_present"], row["quantity_reserved"]) == (wname, present, reserved)
        assert row["quantity_available"] == present - reserved
        assert row["last_sync_at"] == expected_sync and row["updated_at"] == expected_sync
        assert (row["source"], row["snapshot_date"]) == (source, snap)
        assert row["offer_id"] is None and row["marketplace_product_id"] is None
    # Legacy readers still get their columns and values (product_id now text).
    assert [(str(r[0]) if r[0] is not None else None, *r[1:8]) for r in legacy_inventory(wh)] == \
        [(str(r[0]) if r[0] is not None else None, *r[1:8]) for r in before_inventory]

    # sync_logs: the product's columns, ids and run ids, mapped values, legacy columns virtual.
    logs = wh.query("select * from sync_logs order by id")
    assert [r["id"] for r in logs] == list(range(1, len(SYNC_LOG_ROWS) + 1))
    for r, legacy in zip(logs, SYNC_LOG_ROWS):  # ids follow the legacy ids / started_at order (same here)
        sync_type, source, status, processed, updated, error, started, completed, duration = legacy
        assert r["run_id"] == f"legacy-{r['id']}"
        assert (r["marketplace"], r["sync_type"], r["status"]) == (SOURCE_TO_MARKETPLACE[source], sync_type, status)
        assert (r["records_fetched"], r["records_written"], r["error_message"]) == (processed, updated, error)
        assert (r["started_at"], r["finished_at"]) == (started, completed)
        assert r["duration_seconds"] == (float(duration) if duration is not None else None)
    assert legacy_sync_logs(wh) == before_logs  # read through the virtual columns
    extra = {r["column_name"]: r["extra"] for r in wh.query(
        "select column_name, extra from information_schema.columns where table_schema = %s and table_name = 'sync_logs'",
        (wh.schema,))}
    assert all("VIRTUAL" in extra[c] for c in ("source", "records_processed", "records_updated", "completed_at"))
    # The adopted sync_logs has the product's columns exactly as migration 1 creates them.
    wh_sql = MIGRATIONS[0].up(wh)[0].replace("create table if not exists sync_logs", "create table sync_logs_fresh")
    sql(mysql_url, wh_sql, f"alter table sync_logs_fresh add column {ACCOUNT_COLUMN_DDL['mysql']}")  # as 6 adds it
    product = lambda t: [c[:5] for c in shape(wh, t)["columns"] if "GENERATED" not in (c[4] or "")]  # noqa: E731
    assert product("sync_logs") == product("sync_logs_fresh")
    # The product writes and reads its rows on the adopted table; new ids follow the legacy ones.
    rec = SyncRecord(run_id="new-run", marketplace="wb", sync_type="incremental", started_at=datetime.now(timezone.utc))
    sync_log.insert(wh, rec)
    rec.records_fetched = 5
    rec.finish("success")
    sync_log.update(wh, rec)
    assert rec.id > len(SYNC_LOG_ROWS)
    assert sync_log.from_row(sync_log.latest(wh, "wb")).status == "success"
    assert wh.query("select source, records_processed from sync_logs where id = %s", (rec.id,))[0] == \
        {"source": "Wildberries", "records_processed": 5}


@pytest.mark.mysql
@pytest.mark.parametrize("with_id", [True, False], ids=["sync_logs-with-id", "sync_logs-without-id"])
def test_down_restores_the_legacy_schema_exactly_and_up_again_gives_the_same_schema(mysql_url, with_id) -> None:
    wh = seed_legacy(mysql_url, with_id)
    legacy = {t: shape(wh, t) for t in ("inventory_data", "sync_logs")}
    legacy_rows = legacy_inventory(wh), legacy_sync_logs(wh)

    runner.up(wh)
    adopted = everything(wh)
    assert "schema_migration_backup" in adopted
    assert {t: shape(wh, t) for t in legacy} != legacy

    report = runner.down(wh, 2)
    assert [line.split()[1] for line in report.applied] == ["0006", "0005", "0004", "0003"]
    assert {t: shape(wh, t) for t in legacy} == legacy  # SHOW CREATE TABLE, columns, keys, collation, comment
    assert "schema_migration_backup" not in tables(wh)
    inventory, logs = legacy_rows
    # Every value comes back; the one row whose last_sync_at was empty keeps the time it was given on adoption.
    stamped = [r if r[8] is not None else (*r[:8], datetime.combine(r[7], datetime.min.time())) for r in inventory]
    assert legacy_inventory(wh) == sorted(stamped, key=str)
    assert legacy_sync_logs(wh) == logs

    runner.up(wh)
    again = everything(wh)
    for key in ("inventory_data", "sync_logs"):
        assert again[key] == adopted[key], key
    assert again["schema_migration_backup"][0] == adopted["schema_migration_backup"][0]


@pytest.mark.mysql
def test_up_and_down_are_idempotent_and_finish_interrupted_runs(mysql_url) -> None:
    wh = seed_legacy(mysql_url)
    runner.up(wh)
    adopted = everything(wh)

    second = runner.up(wh)
    assert second.applied == [] and "nothing to do" in str(second)
    assert everything(wh) == adopted

    # The DDL committed but the version rows were lost (a crash before the commit): re-running is harmless.
    sql(mysql_url, "delete from schema_migrations where version >= 3")
    report = runner.up(wh)
    assert [line.split()[1] for line in report.applied] == ["0003", "0004", "0005", "0006"]
    assert "inventory_data: already the product's table — nothing to adopt" in str(report)
    assert everything(wh) == adopted

    # Interrupted after the swap, before the retired legacy table was dropped.
    sql(mysql_url, "create table inventory_data__legacy_old (x int)", "delete from schema_migrations where version >= 4",
        "delete from schema_migrations where version = 3")
    assert "dropped the legacy table an interrupted run had already copied" in str(runner.up(wh))
    assert everything(wh) == adopted

    # Interrupted before the swap: a half-filled scratch table is rebuilt, the legacy table adopted.
    runner.down(wh, 2)
    restored = everything(wh)
    sql(mysql_url, "create table inventory_data__adopt (marketplace varchar(16))", "insert into inventory_data__adopt values ('x')")
    runner.up(wh)
    assert everything(wh) == adopted

    # Interrupted down: the legacy table is back but the bookkeeping was not finished.
    backup = wh.query("select * from schema_migration_backup where table_name = 'inventory_data'")[0]
    runner.down(wh, 2)
    assert everything(wh) == restored
    assert runner.down(wh, 2).applied == [] and everything(wh) == restored
    sql(mysql_url, BACKUP_DDL, "create table inventory_data__down (x int)",
        "insert into schema_migrations values (3, 'adopt', now())")
    sql(mysql_url, "insert into schema_migration_backup values (%s, %s, %s, %s, %s, %s, %s)", params=tuple(backup.values()))
    report = str(runner.down(wh, 2))
    assert "dropped the scratch table" in report and "finished an interrupted run" in report
    assert everything(wh) == restored


@pytest.mark.mysql
def test_status_reports_versions_legacy_tables_and_adoptions(mysql_url) -> None:
    wh = seed_legacy(mysql_url)
    before = runner.status(wh)
    assert before.splitlines()[0] == f"schema version: 0 of {LATEST}"
    assert before.count("[pending]") == LATEST
    assert "legacy tables found: inventory_data, sync_logs" in before

    runner.up(wh, target=3)
    after = runner.status(wh)
    assert after.splitlines()[0] == f"schema version: 3 of {LATEST}"
    assert "0003 [applied]" in after and "0004 [pending]" in after
    assert "legacy tables found: sync_logs" in after
    assert f"adopted legacy inventory_data in 0003 ({len(INVENTORY_ROWS)} rows" in after


@pytest.mark.mysql
def test_down_refuses_rows_the_legacy_shape_cannot_hold_and_changes_nothing(mysql_url) -> None:
    wh = seed_legacy(mysql_url)
    runner.up(wh)
    now = datetime(2024, 6, 1, 12, 0)
    insert = ("insert into inventory_data (marketplace, sku, product_id, warehouse_id, warehouse_name, stock_type, "
              "quantity_present, quantity_reserved, quantity_available, last_sync_at, updated_at, source, snapshot_date) "
              "values (%s, %s, %s, %s, %s, %s, %s, 0, %s, %s, %s, %s, %s)")
    conn = raw_conn(mysql_url)
    with conn.cursor() as cur:
        cur.executemany(insert, [
            ("ozon", "777", None, "42", "Ozon FBP Шушары", "FBP", 5, 5, now, now, "Ozon", now.date()),
            ("ozon", "778", "P000001", "43", "Тверь", "FBS", 1, 1, now, now, "Ozon", now.date()),
            # Two warehouses with stock under one name: the legacy key (sku, source, name, type) holds one row.
            ("wb", "2000000000017", None, "507", "Коледино", "FBO", 9, 9, now, now, "Wildberries", now.date()),
        ])
    conn.close()
    snapshot = everything(wh)

    with pytest.raises(MigrationRefused) as refused:
        runner.down(wh, 0)
    message = str(refused.value)
    assert "inventory_data.stock_type" in message and "'FBP'" in message
    assert "inventory_data.product_id" in message and "'P000001'" in message
    assert "more than one row with stock" in message and "Коледино" in message
    assert refused.value.report.applied == []
    assert everything(wh) == snapshot  # not even sync_logs (step 4) was reverted

    # The step itself refuses too (the runner's check is not the only guard).
    with pytest.raises(MigrationRefused, match="'FBP'"):
        MIGRATIONS[2].down(wh)
    assert everything(wh) == snapshot
    # Reverting only sync_logs (and the account, 6, and utf8mb4, 5) is fine: its rows fit the legacy table.
    runner.down(wh, 5)
    at_5 = shape(wh, "inventory_data")
    runner.down(wh, 3)
    assert shape(wh, "inventory_data") == at_5
    assert len(legacy_sync_logs(wh)) == len(SYNC_LOG_ROWS)


@pytest.mark.mysql
def test_down_fills_legacy_columns_for_rows_the_product_wrote(mysql_url) -> None:
    wh = seed_legacy(mysql_url)
    runner.up(wh)
    synced = datetime(2024, 6, 1, 12, 0, 0, 250000)
    conn = raw_conn(mysql_url)
    with conn.cursor() as cur:
        # A row a sync wrote without the legacy columns (source, snapshot_date empty).
        cur.execute(
            "insert into inventory_data (marketplace, sku, product_id, warehouse_id, warehouse_name, stock_type, "
            "quantity_present, quantity_reserved, quantity_available, last_sync_at, updated_at) "
            "values ('ozon', '1494000555', '77', '15431806189000', 'Тверь', 'FBS', 4, 1, 3, %s, %s)", (synced, synced))
        # A sync confirmed the Ozon FBO stock under the warehouse's real id and zeroed the md5-keyed legacy row.
        cur.execute(
            "insert into inventory_data (marketplace, sku, product_id, warehouse_id, warehouse_name, stock_type, "
            "quantity_present, quantity_reserved, quantity_available, last_sync_at, updated_at, source, snapshot_date) "
            "values ('ozon', '1494000107', '1001', '17717042926000', 'Казань', 'FBO', 20, 1, 19, %s, %s, 'Ozon', %s)",
            (synced, synced, synced.date()))
        cur.execute("update inventory_data set quantity_present = 0, quantity_reserved = 0, quantity_available = 0, "
                    "last_sync_at = %s, updated_at = %s where warehouse_id = %s", (synced, synced, name_key("Казань")))
    conn.close()
    finished = SyncRecord(run_id="run-1", marketplace="wb", sync_type="incremental", started_at=synced.replace(tzinfo=timezone.utc))
    running = SyncRecord(run_id="run-2", marketplace="ozon", sync_type="full", started_at=synced.replace(tzinfo=timezone.utc))
    for rec in (finished, running):
        sync_log.insert(wh, rec)
    finished.records_fetched, finished.records_written = 946, 940
    finished.finish("success")
    sync_log.update(wh, finished)

    report = runner.down(wh, 2)
    assert "1 zero-quantity row(s) merged" in str(report)
    rows = {(r[1], r[3], r[4]): r for r in legacy_inventory(wh)}
    assert len(rows) == len(INVENTORY_ROWS) + 1
    assert rows[("1494000555", "Тверь", "FBS")] == (77, "1494000555", "Ozon", "Тверь", "FBS", 4, 1, synced.date(),
                                                    rows[("1494000555", "Тверь", "FBS")][8])
    assert abs(rows[("1494000555", "Тверь", "FBS")][8] - synced) < timedelta(seconds=1)
    kazan = rows[("1494000107", "Казань", "FBO")]
    assert (kazan[5], kazan[6]) == (20, 1)  # the row with stock, not its zeroed md5-keyed twin

    logs = {r["id"]: r for r in wh.query("select * from sync_logs")}
    new = logs[finished.id]
    assert (new["source"], new["status"], new["sync_type"]) == ("Wildberries", "success", "incremental")
    assert (new["records_processed"], new["records_updated"]) == (946, 940)
    assert abs(new["completed_at"] - sync_log.naive_utc(finished.finished_at)) < timedelta(seconds=1)
    assert isinstance(new["duration_seconds"], int)
    still = logs[running.id]
    assert (still["source"], still["status"], still["completed_at"], still["records_processed"]) == ("Ozon", "running", None, 0)


@pytest.mark.mysql
def test_migration_1_down_never_drops_a_legacy_sync_logs(mysql_url) -> None:
    wh = seed_legacy(mysql_url)
    legacy = shape(wh, "sync_logs")
    runner.up(wh, target=2)  # migration 1 meets the legacy table and leaves it alone
    assert shape(wh, "sync_logs") == legacy
    report = runner.down(wh, 0)
    assert "sync_logs: kept — it is the legacy importer's table" in str(report)
    assert shape(wh, "sync_logs") == legacy and len(legacy_sync_logs(wh)) == len(SYNC_LOG_ROWS)

    # Adopted rows are never dropped either, even if the version table says migration 4 is gone.
    runner.up(wh)
    sql(mysql_url, "delete from schema_migrations where version >= 4")
    with pytest.raises(MigrationRefused, match="revert migration 4 first") as refused:
        runner.down(wh, 0)
    assert [line.split()[1] for line in refused.value.report.applied] == ["0003", "0002"]
    assert wh.query("select count(*) as n from sync_logs where run_id like 'legacy-%%'")[0]["n"] == len(SYNC_LOG_ROWS)


@pytest.mark.mysql
def test_up_refuses_a_table_it_cannot_adopt_and_changes_nothing(mysql_url) -> None:
    wh = seed_legacy(mysql_url)
    sql(mysql_url, "alter table inventory_data add column comment varchar(100) null",
        "insert into sync_logs (sync_type, source, status, started_at) values ('stocks-and-prices-nightly', 'Ozon', 'success', now())")
    snapshot = everything(wh)
    with pytest.raises(MigrationRefused) as refused:
        runner.up(wh)
    message = str(refused.value)
    assert "inventory_data: columns comment are not part of the legacy importer's table" in message
    assert "sync_logs.sync_type" in message and "longer than 16" in message and "stocks-and-prices-nightly" in message
    assert everything(wh) == snapshot and runner.current_version(wh) == 0


@pytest.mark.mysql
def test_one_process_migrates_at_a_time(mysql_url, monkeypatch) -> None:
    wh = seed_legacy(mysql_url)
    monkeypatch.setattr(runner, "LOCK_WAIT_SECONDS", 1)
    other = raw_conn(mysql_url)
    try:
        with other.cursor() as cur:  # e.g. a sync that is adopting the tables right now
            cur.execute("select get_lock(%s, 0)", (f"invsync_migrate:{wh.schema}",))
        with pytest.raises(RuntimeError, match="another process"):
            runner.up(wh)
        assert runner.current_version(wh) == 0 and "sync_logs" in tables(wh)
        assert "run_id" not in {c[0] for c in shape(wh, "sync_logs")["columns"]}
    finally:
        other.close()
    assert runner.up(wh).current_version == LATEST


@pytest.mark.mysql
def test_cli_migrate_prints_the_report(mysql_url, monkeypatch, capsys) -> None:
    wh = seed_legacy(mysql_url)
    monkeypatch.setenv("WAREHOUSE_URL", mysql_url)

    assert main(["migrate", "status"]) == 0
    out = capsys.readouterr().out
    assert f"schema version: 0 of {LATEST}" in out and "legacy tables found: inventory_data, sync_logs" in out

    assert main(["migrate", "up"]) == 0
    out = capsys.readouterr().out
    assert "up   0003 adopt a legacy inventory_data" in out
    assert f"inventory_data: adopted the legacy table — {len(INVENTORY_ROWS)} rows kept" in out
    assert "legacy columns kept as VIRTUAL generated columns for old readers: source, records_processed" in out
    assert out.strip().endswith(f"schema version: {LATEST}")

    assert main(["migrate", "up"]) == 0
    assert capsys.readouterr().out == f"  nothing to do\nschema version: {LATEST}\n"

    sql(mysql_url, "insert into inventory_data (marketplace, sku, warehouse_id, warehouse_name, stock_type, "
                   "quantity_present, quantity_reserved, quantity_available, last_sync_at, updated_at) "
                   "values ('ozon', '1', 'w', 'FBP Шушары', 'FBP', 1, 0, 1, now(), now())")
    assert main(["migrate", "down", "--target", "2"]) == 1
    captured = capsys.readouterr()
    assert "migrate down refused" in captured.out and "'FBP'" in captured.out
    assert captured.err.strip() == "invsync: migrate down refused: 1 problem(s), see above"
    assert runner.current_version(wh) == LATEST

    sql(mysql_url, "delete from inventory_data where stock_type = 'FBP'")
    assert main(["migrate", "down", "--target", "2"]) == 0
    out = capsys.readouterr().out
    assert "down 0004" in out and "down 0003" in out and "inventory_data: restored the legacy definition" in out
    assert out.strip().endswith("schema version: 2")
    assert wh.query("select data_type from information_schema.columns where table_schema = %s and "
                    "table_name = 'inventory_data' and column_name = 'product_id'", (wh.schema,))[0]["data_type"] == "int"


# --------------------------------------------------------------------------- down keeps history

def add_history(wh: Warehouse, syncs: int, results: int) -> None:
    """`syncs` sync_logs rows and `results` validation_results rows, as a sync writes them."""
    started = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)
    present = set(wh.columns("sync_logs"))  # the shape of the version the warehouse is at
    for i in range(syncs):
        rec = SyncRecord(run_id=f"run-{i}", marketplace="ozon", sync_type="full", started_at=started + timedelta(hours=i))
        row = {c: v for c, v in zip(sync_log.COLUMNS, sync_log._values(rec)) if c in present}
        with wh.connection() as conn:
            wh.execute(conn, f"insert into sync_logs ({', '.join(row)}) values ({', '.join(['%s'] * len(row))})",
                       tuple(row.values()))
    with wh.connection() as conn:
        for i in range(results):
            wh.execute(conn, "insert into validation_results (run_id, marketplace, suite, expectation, severity, success, "
                             "validated_at) values (%s, 'ozon', 'inventory', %s, 'critical', %s, %s)",
                       (f"run-{i}", f"expectation-{i}", True, started.replace(tzinfo=None)))


def history_snapshot(wh: Warehouse) -> dict[str, Any]:
    """The version and every row of the product's tables (None for a table that is not there)."""
    out: dict[str, Any] = {"version": runner.current_version(wh)}
    for t in ("sync_logs", "validation_results", "schema_migrations"):
        out[t] = sorted(map(str, wh.query(f"select * from {t}"))) if wh.table_exists(t) else None
    return out


def test_down_that_would_drop_rows_refuses_with_tables_and_counts_and_changes_nothing(warehouse_url, monkeypatch, capsys) -> None:
    wh = Warehouse(parse_warehouse_url(warehouse_url))
    runner.up(wh)
    add_history(wh, syncs=3, results=2)
    before = history_snapshot(wh)

    with pytest.raises(MigrationRefused) as refused:
        runner.down(wh, 0)
    assert refused.value.losses == {"validation_results": 2, "sync_logs": 3}
    assert refused.value.problems == [
        "0002: dropping validation_results would delete its 2 rows",
        "0001: dropping sync_logs would delete its 3 rows (the sync history `invsync status` reads)",
    ]
    assert refused.value.advice[0] == "5 rows would be lost: validation_results (2 rows), sync_logs (3 rows)"
    assert refused.value.advice[-1] == "then drop them: invsync migrate down --target 0 --drop-data"
    assert ("mysqldump" if wh.dialect == "mysql" else "copy ") in refused.value.advice[1]
    assert refused.value.report.applied == []
    assert history_snapshot(wh) == before  # not even the steps that drop nothing (4, 3) ran

    # Only the newest step: validation_results alone, with its own command.
    with pytest.raises(MigrationRefused) as refused:
        runner.down(wh, 1)
    assert refused.value.losses == {"validation_results": 2}
    assert refused.value.advice[-1] == "then drop them: invsync migrate down --target 1 --drop-data"
    assert history_snapshot(wh) == before

    # The CLI: the same lines on stdout, exit 1 and one line on stderr.
    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)
    assert main(["migrate", "down", "--target", "0"]) == 1
    captured = capsys.readouterr()
    assert "migrate down refused, nothing more was changed:" in captured.out
    assert "  - 0002: dropping validation_results would delete its 2 rows" in captured.out
    assert "  - 0001: dropping sync_logs would delete its 3 rows" in captured.out
    assert "then drop them: invsync migrate down --target 0 --drop-data" in captured.out
    assert captured.err.count("\n") == 1
    assert captured.err.strip() == ("invsync: migrate down refused: it would delete 5 row(s) (validation_results 2, "
                                    "sync_logs 3); back them up, then add --drop-data to drop them")
    assert history_snapshot(wh) == before
    assert main(["migrate", "up", "--drop-data"]) == 2 and "only applies to `migrate down`" in capsys.readouterr().err


def test_down_with_drop_data_drops_and_reports_every_table_with_its_rows(warehouse_url, monkeypatch, capsys) -> None:
    wh = Warehouse(parse_warehouse_url(warehouse_url))
    runner.up(wh)
    add_history(wh, syncs=3, results=2)

    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)
    assert main(["migrate", "down", "--target", "0", "--drop-data"]) == 0
    out = capsys.readouterr().out
    assert "down 0002 create validation_results (expectation outcomes per sync)\n      validation_results: dropped (2 rows)" in out
    assert "down 0001 create sync_logs (one row per marketplace per sync)\n      sync_logs: dropped (3 rows)" in out
    assert out.strip().endswith("tables dropped: validation_results (2 rows), sync_logs (3 rows)\nschema version: 0")
    assert not wh.table_exists("sync_logs") and not wh.table_exists("validation_results")
    assert runner.current_version(wh) == 0

    # The API says the same; an empty table is reported with its 0 rows.
    runner.up(wh)
    add_history(wh, syncs=1, results=0)
    report = runner.down(wh, 0, drop_data=True)
    assert report.dropped == {"validation_results": 0, "sync_logs": 1}
    assert "tables dropped: validation_results (0 rows), sync_logs (1 row)" in str(report)
    assert runner.up(wh).current_version == LATEST and wh.table_exists("sync_logs")


def test_down_drops_empty_tables_without_the_flag(warehouse_url) -> None:
    wh = Warehouse(parse_warehouse_url(warehouse_url))
    runner.up(wh)
    add_history(wh, syncs=2, results=0)

    # validation_results is empty: reverting 2 needs no flag, although sync_logs has rows.
    report = runner.down(wh, 1)
    assert report.dropped == {"validation_results": 0} and not wh.table_exists("validation_results")
    assert len(wh.query("select * from sync_logs")) == 2 and runner.current_version(wh) == 1

    with wh.connection() as conn:
        wh.execute(conn, "delete from sync_logs")
    report = runner.down(wh, 0)
    assert report.dropped == {"sync_logs": 0} and "sync_logs: dropped (0 rows)" in str(report)
    assert not wh.table_exists("sync_logs") and runner.current_version(wh) == 0


def test_down_refuses_rows_written_after_the_check_at_the_step(warehouse_url, monkeypatch) -> None:
    """The runner checks every step first; the drop itself counts again in its own connection."""
    import dataclasses

    wh = Warehouse(parse_warehouse_url(warehouse_url))
    runner.up(wh)
    add_history(wh, syncs=0, results=1)
    # As if the rows arrived (a sync) between the runner's check and the step.
    unchecked = [dataclasses.replace(m, down_losses=None) if m.version == 2 else m for m in MIGRATIONS]
    monkeypatch.setattr(runner, "MIGRATIONS", unchecked)
    with pytest.raises(MigrationRefused) as refused:
        runner.down(wh, 0)
    assert refused.value.losses == {"validation_results": 1}
    assert [line.split()[1] for line in refused.value.report.applied] == ["0006", "0005", "0004", "0003"]
    assert runner.current_version(wh) == 2  # the refused step changed nothing
    assert len(wh.query("select * from validation_results")) == 1 and wh.table_exists("sync_logs")


@pytest.mark.mysql
def test_down_through_an_adopted_sync_logs_counts_only_rows_it_would_lose(mysql_url, monkeypatch, capsys) -> None:
    wh = seed_legacy(mysql_url)
    runner.up(wh)
    add_history(wh, syncs=2, results=3)  # the product's rows on the adopted sync_logs, and its validations
    logs = len(SYNC_LOG_ROWS) + 2
    before = everything(wh)

    # Migration 4 moves every sync_logs row back into the legacy table and 1 then keeps it:
    # only validation_results would lose rows.
    with pytest.raises(MigrationRefused) as refused:
        runner.down(wh, 0)
    assert refused.value.losses == {"validation_results": 3}
    assert refused.value.problems == ["0002: dropping validation_results would delete its 3 rows"]
    assert "mysqldump" in refused.value.advice[1] and "validation_results > invsync-history.sql" in refused.value.advice[1]
    assert everything(wh) == before

    # Restoring the legacy tables needs no flag: no row is lost.
    report = runner.down(wh, 2)
    assert report.dropped == {} and len(legacy_sync_logs(wh)) == logs

    monkeypatch.setenv("WAREHOUSE_URL", mysql_url)
    assert main(["migrate", "down", "--target", "0", "--drop-data"]) == 0
    out = capsys.readouterr().out
    assert "validation_results: dropped (3 rows)" in out and "sync_logs: kept — it is the legacy importer's table" in out
    assert "tables dropped: validation_results (3 rows)\n" in out
    assert len(legacy_sync_logs(wh)) == logs and len(legacy_inventory(wh)) == len(INVENTORY_ROWS)


# --------------------------------------------------------------------------- a real sync on adopted tables

@pytest.mark.mysql
def test_sync_publishes_into_the_adopted_legacy_tables(sandbox, mysql_url) -> None:
    from pipelines.sync import run_sync
    from pipelines.status import collect_status

    # The legacy importer ran until today: it holds the same stock, keyed by warehouse *name*
    # (so Ozon and WB FBS rows will come back under their real warehouse ids), a few WB FBO
    # quantities have drifted since, and it still has rows the marketplaces no longer report.
    source_of = {v: k for k, v in SOURCE_TO_MARKETPLACE.items()}
    imported_at = datetime(2024, 5, 1, 9, 45)
    legacy: dict[tuple, tuple] = {}
    for r in sandbox.account.expected_inventory(TEST_MARKETPLACES):
        if r["stock_type"] not in ("FBO", "FBS", "realFBS"):  # the legacy ENUM knew no other scheme
            continue
        key = (r["sku"], source_of[r["marketplace"]], r["warehouse_name"], r["stock_type"])
        legacy.setdefault(key, (None, *key, r["quantity_present"], r["quantity_reserved"], imported_at.date(), imported_at))
    wb_fbo = [k for k in legacy if k[1] == "Wildberries" and k[3] == "FBO" and legacy[k][5] > 0]
    drifted = set(wb_fbo[:3])
    for k in drifted:
        legacy[k] = (*legacy[k][:5], legacy[k][5] + 5, *legacy[k][6:])
    for row in INVENTORY_ROWS:
        legacy.setdefault(row[1:5], row)
    wh = seed_legacy(mysql_url, inventory_rows=list(legacy.values()))
    keys = {(SOURCE_TO_MARKETPLACE[k[1]], k[0], name_key(k[2]), k[3]): k for k in legacy}

    settings = settings_for(sandbox.env(), mysql_url)
    result = run_sync(settings, backoff_base=0.01)  # migrates up first
    # Published; `partial` only for the per-warehouse change warnings (rows moved to real warehouse ids).
    assert result.ok and {r.status for r in result.synced.values()} <= {"success", "partial"}, result.summary()
    assert runner.current_version(wh) == LATEST

    # The adopted table kept the model's columns and the account (6) (dbt appended nothing) and the query indexes.
    assert [c[0] for c in shape(wh, "inventory_data")["columns"]] == ACCOUNT_MODEL_COLUMNS
    assert {i[0] for i in shape(wh, "inventory_data")["indexes"]} == set(INVENTORY_INDEXES)

    truth = {(r["marketplace"], r["sku"], r["warehouse_id"], r["stock_type"]): r
             for r in sandbox.account.expected_inventory(TEST_MARKETPLACES)}
    got = inventory_by_key(wh)
    assert wh.query("select count(*) as n from inventory_data")[0]["n"] == len(got)  # one row per grain
    synced = {r["marketplace"]: r["started_at"] for r in wh.query(
        "select marketplace, started_at from sync_logs where run_id = %s", (result.run_id,))}
    assert set(synced) == {"ozon", "wb"}
    for key, expected in truth.items():
        row = got[key]
        assert (row["quantity_present"], row["quantity_reserved"], row["quantity_available"]) == (
            expected["quantity_present"], expected["quantity_reserved"], expected["quantity_available"]), key
        assert row["last_sync_at"] == synced[key[0]]
        assert row["source"] == source_of[key[0]] and row["snapshot_date"] == synced[key[0]].date()
    # WB FBO rows the importer knew are the same rows, updated in place: attributes filled in,
    # `updated_at` kept where the quantities did not change, moved where they had drifted.
    matched = set(keys) & set(truth)
    assert matched and all(k[0] == "wb" and k[3] == "FBO" for k in matched)
    for key in matched:
        row = got[key]
        assert row["offer_id"] == truth[key]["offer_id"]
        assert row["updated_at"] == (synced["wb"] if keys[key] in drifted else imported_at), key
    assert {keys[k] for k in matched} >= drifted
    # Legacy rows the snapshot does not contain went to zero; none was deleted.
    gone = set(keys) - set(truth)
    assert len(gone) >= len(INVENTORY_ROWS) and set(got) == set(truth) | gone
    for key in gone:
        row = got[key]
        assert (row["quantity_present"], row["quantity_reserved"], row["quantity_available"]) == (0, 0, 0), key
        assert row["last_sync_at"] == synced[key[0]], key

    # sync_logs: the legacy history is kept, the sync's rows follow it and legacy readers see them too.
    logs = wh.query("select * from sync_logs order by id")
    assert [r["run_id"] for r in logs[:len(SYNC_LOG_ROWS)]] == [f"legacy-{i}" for i in range(1, len(SYNC_LOG_ROWS) + 1)]
    new = [r for r in logs if r["run_id"] == result.run_id]
    assert {r["status"] for r in new} <= {"success", "partial"} and min(r["id"] for r in new) > len(SYNC_LOG_ROWS)
    for r in new:
        assert r["source"] == source_of[r["marketplace"]]
        assert r["records_processed"] == r["records_fetched"] > 0
        assert abs(r["completed_at"] - r["finished_at"]) < timedelta(seconds=1)
    statuses = {s.marketplace: s for s in collect_status(settings)}
    assert statuses["ozon"].level == statuses["wb"].level == "fresh"

    # The next sync runs on the product's own state: clean, and the zeroed legacy rows stay zero.
    again = run_sync(settings, backoff_base=0.01)
    assert again.clean, again.summary()
    after = inventory_by_key(wh)
    assert set(after) == set(got) and all(after[k]["quantity_present"] == 0 for k in gone)


@pytest.mark.mysql
def test_status_and_report_on_unmigrated_legacy_tables_say_what_to_do_and_change_nothing(mysql_url, monkeypatch, capsys) -> None:
    wh = seed_legacy(mysql_url)
    before = everything(wh)
    monkeypatch.setenv("WAREHOUSE_URL", mysql_url)
    assert main(["status"]) == 2  # critical: nothing can be trusted before the migration
    out = capsys.readouterr().out
    assert out.startswith("CRITICAL sync_logs in ") and "lacks the columns finished_at, marketplace" in out
    assert "invsync migrate up" in out
    assert main(["report"]) == 1
    assert "invsync migrate up" in capsys.readouterr().err
    assert everything(wh) == before
    assert runner.up(wh).current_version == LATEST
    main(["status"])  # after the migration the adopted history is read
    out = capsys.readouterr().out
    assert out.startswith("ozon") and "\nwb " in out and "lacks the columns" not in out
