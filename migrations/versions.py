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
moves a MySQL/MariaDB database to utf8mb4. Version 6 adds the seller account to every table
that exists (the product's and dbt's marts; every row `default`) and to the unique keys
(`ACCOUNT_TABLES` in specs); its `down` refuses while rows of another account are there.
"""

from __future__ import annotations

from typing import Any

from migrations.introspection import backup_row, column_names, count, indexes_of, lit, q, query, table_exists
from migrations.legacy import ADOPT_INVENTORY, ADOPT_SYNC_LOGS
from migrations.plan import DropTable, Migration, MigrationRefused, Plan
from migrations.specs import (
    ACCOUNT_COLUMN, ACCOUNT_COLUMN_DDL, ACCOUNT_TABLES, DEFAULT_ACCOUNT, SYNC_LOGS_ID_SEQUENCE, AccountTable,
    sync_logs_ddl, validation_results_ddl,
)
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


# --------------------------------------------------------------------------- 6: the account

def _ident(wh: Warehouse, name: str) -> str:
    return q(name) if wh.dialect == "mysql" else name


def _other_accounts(wh: Warehouse, table: str, conn: Any = None) -> str:
    """The rows of accounts other than `default`; where the column is nullable (DuckDB, or a
    table dbt created with it) a null is one too."""
    nullable = query(wh, "select is_nullable as n from information_schema.columns where table_schema = "
                         f"{lit(wh.schema)} and table_name = {lit(table)} and column_name = {lit(ACCOUNT_COLUMN)}", conn)
    other = f"{ACCOUNT_COLUMN} <> {lit(DEFAULT_ACCOUNT)}"
    return f"{ACCOUNT_COLUMN} is null or {other}" if nullable and nullable[0]["n"] == "YES" else other


def _unique_index(wh: Warehouse, spec: AccountTable, conn: Any = None) -> dict[str, Any] | None:
    """The table's unique index of the grain, where dbt creates it and it exists."""
    if spec.unique_index is None or wh.dialect not in spec.index_dialects:
        return None
    return next((i for i in indexes_of(wh, spec.table, conn) if i["name"] == spec.unique_index), None)


def _columns(cols: tuple[str, ...] | list[str]) -> str:
    return ", ".join(cols)


def _account_up(wh: Warehouse) -> Plan:
    """Every existing table gets `account`, 'default' on every row it holds, and its unique
    index the account after `marketplace`. A table that is not there is left to dbt (a first
    sync creates the marts with the column); one that has the column and index is left alone."""
    with wh.session():  # one connection for the look at every table
        return _plan_account_up(wh)


def _plan_account_up(wh: Warehouse) -> Plan:
    plan = Plan()
    for spec in ACCOUNT_TABLES:
        table = _ident(wh, spec.table)
        columns = column_names(wh, spec.table)
        if not columns:
            plan.notes.append(f"{spec.table}: not present (created with the account when it is built)")
            continue
        add = ACCOUNT_COLUMN not in columns
        index = _unique_index(wh, spec)
        rekey = index is not None and tuple(index["columns"]) != spec.account_unique_columns
        if not add and not rekey:
            plan.notes.append(f"{spec.table}: already has the account")
            continue
        name, keyed = (_ident(wh, spec.unique_index), _columns(spec.account_unique_columns)) if rekey else ("", "")
        if wh.dialect == "mysql":
            # One ALTER TABLE: MySQL applies it whole or not at all.
            parts = [f"add column {ACCOUNT_COLUMN_DDL['mysql']}"] if add else []
            if rekey:
                parts += [f"drop index {name}", f"add unique index {name} ({keyed})"]
            plan.actions.append(f"alter table {table} " + ", ".join(parts))
        else:
            # One transaction; the index is rebuilt because an ART index's columns cannot change.
            if rekey:
                plan.actions.append(f"drop index {name}")
            if add:
                plan.actions.append(f"alter table {table} add column {ACCOUNT_COLUMN_DDL['duckdb']}")
            if rekey:
                plan.actions.append(f"create unique index {name} on {table} ({keyed})")
        rows = count(wh, f"select 1 from {table}")
        note = f"{spec.table}: " + (f"account added, {rows} row(s) now '{DEFAULT_ACCOUNT}'" if add else "account kept")
        if rekey:
            note += f"; unique {spec.unique_index} ({_columns(spec.account_unique_columns)})"
        plan.notes.append(note)
    return plan


def _account_problems(wh: Warehouse, conn: Any = None) -> list[str]:
    """Each table holding rows of an account other than `default`: the versions before 6 have no
    place for them (the marts' rows would collide with the default account's under the old key)."""
    problems = []
    for spec in ACCOUNT_TABLES:
        if ACCOUNT_COLUMN not in column_names(wh, spec.table, conn):
            continue
        where = _other_accounts(wh, spec.table, conn)
        rows = query(wh, f"select {ACCOUNT_COLUMN} as a, count(*) as n from {_ident(wh, spec.table)} where {where} "
                         f"group by {ACCOUNT_COLUMN} order by {ACCOUNT_COLUMN}", conn)
        if not rows:
            continue
        n = sum(int(r["n"]) for r in rows)
        accounts = ", ".join(f"{r['a'] if r['a'] is not None else 'null'} {r['n']}" for r in rows[:5])
        why = ("they would collide with the 'default' account's rows under the old key" if spec.unique_index
               else "the table would lose which account each row belongs to")
        problems.append(
            f"{spec.table} holds {n} row{'' if n == 1 else 's'} of accounts other than '{DEFAULT_ACCOUNT}' "
            f"({accounts}): before version 6 there is one account, so {why}; delete them "
            f"(`delete from {spec.table} where {where}`) or stay on version 6"
        )
    return problems


def _check_account_down(wh: Warehouse) -> list[str]:
    with wh.session():
        return _account_problems(wh)


def _refuse_other_accounts(wh: Warehouse, conn: Any) -> None:
    """The step's own look (rows a sync wrote after the runner's check are refused too)."""
    problems = _account_problems(wh, conn)
    if problems:
        raise MigrationRefused(problems)


def _account_down(wh: Warehouse) -> Plan:
    """Every table with `account` loses it, keeping every row, and gets its old unique index
    back; refuses, changing nothing, while any row belongs to another account."""
    with wh.session():
        return _plan_account_down(wh)


def _plan_account_down(wh: Warehouse) -> Plan:
    problems = _account_problems(wh)
    if problems:
        raise MigrationRefused(problems)
    plan = Plan()
    for spec in ACCOUNT_TABLES:
        table = _ident(wh, spec.table)
        columns = column_names(wh, spec.table)
        if ACCOUNT_COLUMN not in columns:
            plan.notes.append(f"{spec.table}: " + ("not present" if not columns else "has no account"))
            continue
        index = _unique_index(wh, spec)
        restore = index is not None and tuple(index["columns"]) != spec.unique_columns
        name, old = (_ident(wh, spec.unique_index), _columns(spec.unique_columns)) if restore else ("", "")
        if wh.dialect == "mysql":
            parts = [f"drop index {name}", f"add unique index {name} ({old})"] if restore else []
            plan.actions.append(f"alter table {table} " + ", ".join([*parts, f"drop column {ACCOUNT_COLUMN}"]))
        else:
            plan.actions += _duckdb_drop_account(wh, spec)
        rows = count(wh, f"select 1 from {table}")
        note = f"{spec.table}: account dropped, {rows} row(s) kept"
        if restore:
            note += f"; unique {spec.unique_index} ({old}) again"
        plan.notes.append(note)
    if plan.actions:
        plan.actions.insert(0, _refuse_other_accounts)
    return plan


def _duckdb_drop_account(wh: Warehouse, spec: AccountTable) -> list[str]:
    """DuckDB (2.0) refuses to drop a column an index was built on, even after dropping the
    index in the same transaction. Such a table (inventory_data with its grain index) is rebuilt
    without the column, in the step's transaction, and its indexes created again: the grain
    index on its old columns, any other as it was (without the account, as MySQL's DROP COLUMN
    does). The tables with indexes are dbt's (CREATE TABLE AS SELECT: no constraints, no
    defaults), so the copy's columns are the whole definition."""
    table = spec.table
    indexes = indexes_of(wh, table)
    if not any(ACCOUNT_COLUMN in i["columns"] for i in indexes):
        return [f"alter table {table} drop column {ACCOUNT_COLUMN}"]
    scratch = f"{table}__account_down"
    out = [
        f"drop table if exists {scratch}",
        f"create table {scratch} as select * exclude ({ACCOUNT_COLUMN}) from {table}",
        f"drop table {table}",
        f"alter table {scratch} rename to {table}",
    ]
    for i in indexes:
        if i["name"] == spec.unique_index:
            out.append(f"create unique index {i['name']} on {table} ({_columns(spec.unique_columns)})")
        elif ACCOUNT_COLUMN not in i["columns"]:
            out.append(str(i["sql"]).rstrip(";"))
        elif len(i["columns"]) > 1:  # (an index of the account alone goes with it)
            rest = [c for c in i["columns"] if c != ACCOUNT_COLUMN]
            out.append(f"create {'unique ' if i['unique'] else ''}index {i['name']} on {table} ({_columns(rest)})")
    return out


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
    Migration(6, "the account column (every row 'default'; unique keys by account)", _account_up, _account_down,
              check_down=_check_account_down),
]
