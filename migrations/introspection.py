"""Reading what the database holds: tables, columns, indexes and definitions from
information_schema (MySQL/MariaDB; `table_exists`, `query` and `count` work on DuckDB too),
the legacy definitions adoption recorded, and the quoting the generated SQL needs.

Its own module because every step plans from the current state rather than from the recorded
version (MySQL commits DDL implicitly, so an interrupted step is finished by planning again):
the versions, the fit checks and the adoption engine all look before they act, the same way.
"""

from __future__ import annotations

import json
from typing import Any

from migrations.specs import BACKUP_TABLE
from pipelines.warehouse import Warehouse


def q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def lit(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _information_schema(wh: Warehouse, view: str, columns: str, order: str, table: str,
                        conn: Any = None) -> list[dict[str, Any]]:
    """Rows of `information_schema.<view>` for one table of this schema: keys lower-case, bytes decoded."""
    rows = wh.query(f"select {columns} from information_schema.{view} where table_schema = %s and table_name = %s "
                    f"order by {order}", (wh.schema, table), conn)
    return [{k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in r.items()} for r in rows]


def columns_of(wh: Warehouse, table: str, conn: Any = None) -> list[dict[str, Any]]:
    """information_schema.columns of a table, in order (empty when the table does not exist)."""
    rows = _information_schema(
        wh, "columns", "column_name as name, data_type, column_type, is_nullable, character_maximum_length as "
        "max_length, column_default as default_value, extra, ordinal_position as position", "ordinal_position",
        table, conn,
    )
    out = []
    for r in rows:
        r["data_type"], r["extra"] = str(r["data_type"]).lower(), str(r["extra"] or "").lower()
        r["max_length"] = int(r["max_length"]) if r["max_length"] is not None else None
        r["position"] = int(r["position"])
        out.append(r)
    return out


def column_names(wh: Warehouse, table: str, conn: Any = None) -> list[str]:
    """A table's columns in order (empty when it does not exist), on both dialects."""
    if wh.dialect == "duckdb":
        rows = wh.query("select column_name as name from information_schema.columns where table_schema = %s "
                        "and table_name = %s order by ordinal_position", (wh.schema, table), conn)
        return [r["name"] for r in rows]
    return [c["name"] for c in columns_of(wh, table, conn)]


def indexes_of(wh: Warehouse, table: str, conn: Any = None) -> list[dict[str, Any]]:
    """Indexes of a table: [{name, unique, columns}], PRIMARY first, then by name.

    DuckDB: its CREATE INDEX statements (duckdb_indexes(); a primary key's is not listed), each
    with its `sql` too; an index on expressions lists them as its columns."""
    if wh.dialect == "duckdb":
        rows = wh.query("select index_name as name, is_unique as u, expressions as e, sql from duckdb_indexes() "
                        "where schema_name = %s and table_name = %s order by index_name", (wh.schema, table), conn)
        return [{"name": r["name"], "unique": bool(r["u"]), "sql": r["sql"],
                 "columns": [c.strip().strip("'\"") for c in str(r["e"]).strip("[]").split(",") if c.strip()]}
                for r in rows]
    rows = _information_schema(wh, "statistics", "index_name as name, non_unique, column_name as col, "
                               "seq_in_index as seq", "index_name, seq_in_index", table, conn)
    found: dict[str, dict[str, Any]] = {}
    for r in rows:
        idx = found.setdefault(r["name"], {"name": r["name"], "unique": not int(r["non_unique"]), "columns": []})
        idx["columns"].append(r["col"])
    return sorted(found.values(), key=lambda i: (i["name"] != "PRIMARY", i["name"]))


def show_create(wh: Warehouse, table: str, conn: Any = None) -> str:
    row = wh.query(f"show create table {q(table)}", (), conn)[0]
    return row.get("Create Table") or next(v for k, v in row.items() if k.lower() == "create table")


def table_exists(wh: Warehouse, table: str, conn: Any = None) -> bool:
    return wh.table_exists(table, conn=conn)


def backup_row(wh: Warehouse, table: str, conn: Any = None) -> dict[str, Any] | None:
    if wh.dialect != "mysql" or not table_exists(wh, BACKUP_TABLE, conn):
        return None
    rows = wh.query(f"select * from {BACKUP_TABLE} where table_name = %s", (table,), conn)
    if not rows:
        return None
    row = rows[0]
    row["columns"] = json.loads(row["columns_json"])
    row["indexes"] = json.loads(row["indexes_json"])
    return row


def recorded_backups(wh: Warehouse) -> list[dict[str, Any]]:
    """The legacy definitions kept by adoption steps (for `invsync migrate status`)."""
    if wh.dialect != "mysql" or not table_exists(wh, BACKUP_TABLE):
        return []
    return wh.query(f"select table_name, version, row_count, recorded_at from {BACKUP_TABLE} order by version")


def query(wh: Warehouse, sql: str, conn: Any = None) -> list[dict[str, Any]]:
    """A SELECT without parameters (literal `%` escaped for pymysql's formatting)."""
    return wh.query(sql.replace("%", "%%") if wh.dialect == "mysql" else sql, (), conn)


def count(wh: Warehouse, sql: str, conn: Any = None) -> int:
    return int(query(wh, f"select count(*) as n from ({sql}) counted", conn)[0]["n"])
