"""The shapes of the tables the product owns: `sync_logs`, `validation_results`, the
`inventory_data` dbt builds, the adoption bookkeeping in `schema_migration_backup`, and the
account column and unique keys version 6 gives them and the history marts.

One place for each shape, so the migration that creates a table, the adoption that rebuilds a
legacy one into it, the checks that judge whether rows fit it and the code that writes it
(`pipelines.sync_log`) cannot drift apart. A shape is what the shipped migrations create:
changing one here changes what a fresh database gets, so it needs a new migration for the
databases that already have the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.config_accounts import DEFAULT_ACCOUNT


@dataclass(frozen=True)
class Column:
    """One column of a table the product creates, on both dialects."""

    name: str
    mysql: str  # its type on MySQL/MariaDB
    duckdb: str = ""  # its type on DuckDB, where it is spelled differently
    nullable: bool = True
    default: str | None = None
    identity: bool = False  # the auto-numbered primary key

    def type_on(self, dialect: str) -> str:
        return (self.duckdb or self.mysql) if dialect == "duckdb" else self.mysql


def column_definitions(columns: tuple[Column, ...], dialect: str, sequence: str = "") -> list[str]:
    """The CREATE TABLE lines of `columns` (`sequence` numbers the identity column on DuckDB)."""
    out = []
    for col in columns:
        line = f"{col.name} {col.type_on(dialect)}"
        if col.identity:
            line += (f" primary key default nextval('{sequence}')" if dialect == "duckdb"
                     else " not null auto_increment primary key")
        elif not col.nullable:
            line += " not null"
        elif col.default is not None:
            line += f" default {col.default}"
        elif dialect == "mysql":
            line += " null"
        out.append(line)
    return out


# --------------------------------------------------------------------------- sync_logs

# One row per marketplace per sync (migration 1 creates it, migration 4 adopts a legacy one into it).
SYNC_LOGS_COLUMNS: tuple[Column, ...] = (
    Column("id", "bigint", nullable=False, identity=True),
    Column("run_id", "varchar(36)", nullable=False),
    Column("marketplace", "varchar(16)", nullable=False),
    Column("sync_type", "varchar(16)", nullable=False),
    Column("status", "varchar(16)", nullable=False),
    Column("started_at", "datetime(6)", "timestamp", nullable=False),
    Column("finished_at", "datetime(6)", "timestamp"),
    Column("duration_seconds", "double"),
    Column("api_requests", "int", "integer", default="0"),
    Column("retries", "int", "integer", default="0"),
    Column("records_fetched", "bigint", default="0"),
    Column("records_written", "bigint", default="0"),
    Column("records_rejected", "bigint", default="0"),
    Column("load_id", "varchar(64)"),
    Column("error_message", "text", "varchar"),
    Column("warnings", "text", "varchar"),
    Column("details", "text", "varchar"),
)
SYNC_LOGS_ID_SEQUENCE = "sync_logs_id_seq"  # DuckDB
SYNC_LOGS_MYSQL_INDEX = "key ix_sync_logs_marketplace_started (marketplace, started_at)"
# (name, MySQL column type, nullable), for the fit checks and the adoption report.
SYNC_LOGS_SPEC: list[tuple[str, str, bool]] = [
    (c.name, c.mysql + (" auto_increment" if c.identity else ""), c.nullable) for c in SYNC_LOGS_COLUMNS
]


def sync_logs_ddl(dialect: str) -> list[str]:
    """The statements that create the product's sync_logs when it does not exist."""
    if dialect == "duckdb":
        columns = ",\n                ".join(column_definitions(SYNC_LOGS_COLUMNS, dialect, SYNC_LOGS_ID_SEQUENCE))
        return [
            f"create sequence if not exists {SYNC_LOGS_ID_SEQUENCE}",
            f"create table if not exists sync_logs (\n                {columns}\n            )",
        ]
    body = ",\n            ".join([*column_definitions(SYNC_LOGS_COLUMNS, dialect), SYNC_LOGS_MYSQL_INDEX])
    return [f"create table if not exists sync_logs (\n            {body}\n        )"]


# --------------------------------------------------------------------------- validation_results

def validation_results_ddl(dialect: str) -> str:
    """The statement that creates validation_results (one row per expectation per sync)."""
    text = "varchar" if dialect == "duckdb" else "text"
    ts = "timestamp" if dialect == "duckdb" else "datetime(6)"
    boolean = "boolean" if dialect == "duckdb" else "tinyint(1)"
    return f"""create table if not exists validation_results (
            run_id varchar(36) not null,
            marketplace varchar(16) not null,
            suite varchar(64) not null,
            expectation varchar(128) not null,
            column_name varchar(128),
            severity varchar(16) not null,
            success {boolean} not null,
            observed_value {text},
            unexpected_count bigint,
            unexpected_values {text},
            details {text},
            validated_at {ts} not null
        )"""


# --------------------------------------------------------------------------- inventory_data

# The columns and types dbt's inventory_data model creates on MySQL/MariaDB (CREATE TABLE AS
# SELECT of its casts), in its order; all nullable, as dbt creates them.
INVENTORY_SPEC: list[tuple[str, str, bool]] = [
    ("marketplace", "varchar(16)", True), ("sku", "varchar(64)", True),
    ("marketplace_product_id", "varchar(64)", True), ("offer_id", "varchar(255)", True),
    ("product_id", "varchar(64)", True), ("barcode", "varchar(64)", True), ("product_name", "varchar(500)", True),
    ("warehouse_id", "varchar(64)", True), ("warehouse_name", "varchar(255)", True), ("stock_type", "varchar(16)", True),
    ("quantity_present", "bigint(21)", True), ("quantity_reserved", "bigint(21)", True),
    ("quantity_available", "bigint(21)", True), ("last_sync_at", "datetime(6)", True),
    ("updated_at", "datetime(6)", True), ("source", "varchar(16)", True), ("snapshot_date", "date", True),
    ("warehouse_kind", "varchar(16)", True),
]
# The same names dbt's `ensure_inventory_indexes` post-hook creates when they are missing.
INVENTORY_INDEXES: list[tuple[str, bool, list[str]]] = [
    ("ux_inventory_grain", True, ["marketplace", "sku", "warehouse_id", "stock_type"]),
    ("ix_inventory_marketplace_sync", False, ["marketplace", "last_sync_at"]),
    ("ix_inventory_product", False, ["product_id"]),
]


# --------------------------------------------------------------------------- schema_migration_backup

# The legacy definitions adoption records before it changes a table (MySQL only).
BACKUP_TABLE = "schema_migration_backup"
BACKUP_DDL = f"""create table if not exists {BACKUP_TABLE} (
    table_name varchar(64) not null primary key,
    version integer not null,
    create_statement longtext not null,
    columns_json longtext not null,
    indexes_json longtext not null,
    row_count bigint not null,
    recorded_at datetime(6) not null
)"""


# --------------------------------------------------------------------------- the account (migration 6)

# Every table's grain gains the seller account (issue 24). The installation of one account per
# marketplace is the account `default` (DEFAULT_ACCOUNT, the configuration's own name for it); an
# id is `[a-z][a-z0-9_]{0,31}`, so 32 characters hold any.
ACCOUNT_COLUMN = "account"
# The column migration 6 adds to an existing table, per dialect. Rows already there get the
# default. DuckDB's ALTER TABLE ADD COLUMN takes a default but no NOT NULL (a constraint),
# so the column stays nullable there, as the columns of dbt's CREATE TABLE AS SELECT are.
ACCOUNT_COLUMN_DDL = {
    "mysql": f"{ACCOUNT_COLUMN} varchar(32) not null default '{DEFAULT_ACCOUNT}'",
    "duckdb": f"{ACCOUNT_COLUMN} varchar default '{DEFAULT_ACCOUNT}'",
}

# The grain shared by the marts (without the account).
GRAIN = ("marketplace", "sku", "warehouse_id", "stock_type")


def with_account(columns: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Key columns with the account right after `marketplace` (or first, without one)."""
    cols = [c for c in columns if c != ACCOUNT_COLUMN]
    at = cols.index("marketplace") + 1 if "marketplace" in cols else 0
    return (*cols[:at], ACCOUNT_COLUMN, *cols[at:])


@dataclass(frozen=True)
class AccountTable:
    """A table that holds the account from version 6, and its unique index (if it has one)."""

    table: str
    unique_index: str | None = None  # its name; the same before and after version 6
    unique_columns: tuple[str, ...] = ()  # its columns before version 6 (without the account)
    index_dialects: tuple[str, ...] = ()  # where the index exists (dbt's post-hooks create it)

    @property
    def account_unique_columns(self) -> tuple[str, ...]:
        """The unique index's columns from version 6."""
        return with_account(self.unique_columns)


# The product's own tables (migrations 1-2) and the marts dbt builds (they exist only after a
# first sync). The unique indexes are the ones dbt's post-hooks create when missing:
# `ensure_inventory_indexes` (inventory_data, MySQL and DuckDB; its lookup indexes
# ix_inventory_marketplace_sync and ix_inventory_product stay as they are) and
# `ensure_history_indexes` (the history tables, MySQL only; DuckDB history tables have none).
# INVENTORY_INDEXES keeps the version-3 grain: migration 3 adopts into that shape.
ACCOUNT_TABLES: tuple[AccountTable, ...] = (
    AccountTable("sync_logs"),
    AccountTable("validation_results"),
    AccountTable("inventory_data", "ux_inventory_grain",
                 tuple(next(cs for n, _, cs in INVENTORY_INDEXES if n == "ux_inventory_grain")), ("mysql", "duckdb")),
    AccountTable("inventory_history", "ux_grain", (*GRAIN, "valid_from"), ("mysql",)),
    AccountTable("inventory_daily", "ux_grain", (*GRAIN, "stock_date"), ("mysql",)),
    AccountTable("stockouts", "ux_grain", (*GRAIN, "started_at"), ("mysql",)),
)
