"""The ordered list of migrations. Append new ones; never change what a shipped one does to a
database it has already been applied to.

Its own module so the history reads top to bottom in one place: each version and what its `up`
and `down` do, with the shapes (`migrations/specs.py`), the look at the database
(`migrations/introspection.py`) and the adoption of legacy tables (`migrations/legacy.py`)
kept elsewhere. The contract of a step is in `migrations/plan.py`.

Steps must be re-runnable on their own: MySQL commits DDL implicitly, so a step interrupted
half-way is finished by running it again, which means every step looks at the current state
before it plans anything (IF NOT EXISTS / IF EXISTS, or an explicit look at information_schema).
A `down` never drops a table that holds rows unless the run was told to (`--drop-data`): it drops
tables through `DropTable`, and `down_losses` says beforehand how many rows each table the step
would drop holds, so a run that would lose rows refuses before it changes anything.

Versions 1 and 2 create the product's own tables. Versions 3 and 4 adopt the tables a legacy
importer left in MySQL (`inventory_data`, `sync_logs`), see `migrations/README.md`. Version 5
moves a MySQL/MariaDB database to utf8mb4.
"""

from __future__ import annotations

from typing import Any

from migrations.introspection import backup_row, column_names, count, lit, q, query, table_exists
from migrations.legacy import ADOPT_INVENTORY, ADOPT_SYNC_LOGS
from migrations.plan import DropTable, Migration, MigrationRefused, Plan
from migrations.specs import SYNC_LOGS_ID_SEQUENCE, sync_logs_ddl, validation_results_ddl
from pipelines.warehouse import Warehouse


# --------------------------------------------------------------------------- 1: sync_logs

def _sync_logs_up(wh: Warehouse) -> list[str]:
    # On a legacy MySQL database this is a no-op (IF NOT EXISTS): the legacy sync_logs stays as
    # it is until migration 4 adopts it.
    return sync_logs_ddl(wh.dialect)


def _sync_logs_down(wh: Warehouse) -> list[str] | Plan:
    if wh.dialect == "duckdb":
        return Plan([DropTable("sync_logs"), f"drop sequence if exists {SYNC_LOGS_ID_SEQUENCE}"])
    # Never drop a table this product did not create: a legacy sync_logs (restored by
    # migration 4's down, or never adopted) stays, with its rows.
    columns = column_names(wh, "sync_logs")
    if not columns:
        return Plan([], ["sync_logs: not present"])
    if "run_id" not in columns:
        return Plan([], ["sync_logs: kept — it is the legacy importer's table, not one this product created"])
    backup = backup_row(wh, "sync_logs")
    legacy_rows = count(wh, "select 1 from sync_logs where run_id like 'legacy-%'")
    if backup is not None or legacy_rows:
        raise MigrationRefused([
            f"sync_logs holds {legacy_rows} rows adopted from the legacy importer"
            + (" and its legacy definition is still recorded in schema_migration_backup" if backup else "")
            + ": revert migration 4 first (`invsync migrate down --target 3`), which restores the legacy table"
        ])
    return Plan([DropTable("sync_logs")])


def _sync_logs_down_losses(wh: Warehouse) -> dict[str, int]:
    if not table_exists(wh, "sync_logs"):
        return {}
    if wh.dialect == "mysql":
        if "run_id" not in column_names(wh, "sync_logs"):
            return {}  # the legacy importer's table: kept
        if backup_row(wh, "sync_logs") is not None or count(wh, "select 1 from sync_logs where run_id like 'legacy-%'"):
            # Adopted: migration 4's down restores the legacy table with every row (this step then
            # keeps it), or, when 4 is not part of the run, this step refuses.
            return {}
    n = count(wh, "select 1 from sync_logs")
    return {"sync_logs": n} if n else {}


# --------------------------------------------------------------------------- 2: validation_results

def _validation_results_up(wh: Warehouse) -> list[str]:
    return [validation_results_ddl(wh.dialect)]


def _validation_results_down(wh: Warehouse) -> Plan:
    return Plan([DropTable("validation_results")])


def _validation_results_down_losses(wh: Warehouse) -> dict[str, int]:
    if not table_exists(wh, "validation_results"):
        return {}
    n = count(wh, "select 1 from validation_results")
    return {"validation_results": n} if n else {}


# --------------------------------------------------------------------------- 5: utf8mb4

def utf8mb4_collation(wh: Warehouse, collation: str | None, conn: Any = None) -> str:
    """The utf8mb4 twin of a collation (utf8mb3_general_ci -> utf8mb4_general_ci), else utf8mb4's default."""
    name = str(collation or "")
    for old in ("utf8mb3_", "utf8_", "latin1_", "ascii_"):
        if name.startswith(old):
            name = "utf8mb4_" + name[len(old):]
    if name.startswith("utf8mb4_") and query(wh, f"select 1 from information_schema.collations where collation_name = {lit(name)}", conn):
        return name
    return str(query(wh, "select default_collate_name as c from information_schema.character_sets "
                         "where character_set_name = 'utf8mb4'", conn)[0]["c"])


def to_utf8mb4(wh: Warehouse, schema: str, conn: Any = None) -> list[str]:
    """Statements that make a database utf8mb4: its default, then every base table not in it
    yet (`convert to` re-encodes the text columns; utf8mb4 holds everything utf8mb3 does).
    One collation for all of them, so joins never meet an illegal mix of collations."""
    row = query(wh, "select default_character_set_name as cs, default_collation_name as co "
                    f"from information_schema.schemata where schema_name = {lit(schema)}", conn)
    if not row:
        return []
    collation = row[0]["co"] if row[0]["cs"] == "utf8mb4" else utf8mb4_collation(wh, row[0]["co"], conn)
    out = []
    if row[0]["cs"] != "utf8mb4":
        out.append(f"alter database {q(schema)} character set utf8mb4 collate {collation}")
    tables = query(wh, "select table_name as t from information_schema.tables where table_schema = "
                       f"{lit(schema)} and table_type = 'BASE TABLE' and table_collation not like 'utf8mb4%'", conn)
    for t in sorted(r["t"] for r in tables):
        out.append(f"alter table {q(schema)}.{q(t)} convert to character set utf8mb4 collate {collation}")
    return out


def _utf8mb4_up(wh: Warehouse) -> Plan:
    """MySQL/MariaDB: the database and every table in it in utf8mb4, whatever the server or the
    database was created with, so a product name with an emoji loads. The raw datasets are
    created later with the main database's character set (the sync runner), so they follow."""
    if wh.dialect != "mysql":
        return Plan([], ["DuckDB stores text as UTF-8 already"])
    statements = to_utf8mb4(wh, wh.schema)
    return Plan(list(statements), [f"{len(statements)} change(s) to utf8mb4"] if statements else ["already utf8mb4"])


def _utf8mb4_down(wh: Warehouse) -> Plan:
    # utf8mb4 holds everything the old character set held, and going back could not hold an
    # emoji a sync has stored since: the character set stays.
    return Plan([], ["character set kept as utf8mb4 (going back could lose characters)"])


MIGRATIONS: list[Migration] = [
    Migration(1, "create sync_logs (one row per marketplace per sync)", _sync_logs_up, _sync_logs_down,
              down_losses=_sync_logs_down_losses),
    Migration(2, "create validation_results (expectation outcomes per sync)", _validation_results_up,
              _validation_results_down, down_losses=_validation_results_down_losses),
    Migration(3, "adopt a legacy inventory_data (map rows, grain key, query indexes)",
              ADOPT_INVENTORY.up, ADOPT_INVENTORY.down, ADOPT_INVENTORY.check_up, ADOPT_INVENTORY.check_down),
    Migration(4, "adopt a legacy sync_logs (map rows, keep legacy columns as virtual)",
              ADOPT_SYNC_LOGS.up, ADOPT_SYNC_LOGS.down, ADOPT_SYNC_LOGS.check_up, ADOPT_SYNC_LOGS.check_down),
    Migration(5, "utf8mb4 for the database and every table in it (MySQL/MariaDB)", _utf8mb4_up, _utf8mb4_down),
]
