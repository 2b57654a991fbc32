"""The ordered list of migrations. Append new ones; never change what a shipped one does to a
database it has already been applied to.

Each step has `up` and `down` functions of the warehouse (dialect `duckdb` or `mysql`) that
return the SQL to run, either as a plain list of statements or as a `Plan` (statements and
checks, plus notes for the report). Steps must be re-runnable on their own: MySQL commits DDL
implicitly, so a step interrupted half-way is finished by running it again, which means every
step looks at the current state before it plans anything (IF NOT EXISTS / IF EXISTS, or an
explicit look at information_schema). A step refuses (`MigrationRefused`, nothing changed) when
the data cannot be carried over; `check_up`/`check_down` let the runner find such problems for
every step of a run before it applies any of them.

A `down` never drops a table that holds rows unless the run was told to (`--drop-data`): it drops
tables through `DropTable`, which the runner counts, refuses or reports, and `down_losses` says
beforehand how many rows each table the step would drop holds, so a run that would lose rows
refuses before it changes anything.

Versions 1 and 2 create the product's own tables. Versions 3 and 4 adopt the tables a legacy
importer left in MySQL (`inventory_data`, `sync_logs`), see `migrations/README.md`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, Union

from pipelines.warehouse import Warehouse


@dataclass(frozen=True)
class DropTable:
    """Drop a table of the product's data (sync history, validation results).

    The runner counts its rows inside the step's connection, refuses (dropping nothing) when
    it holds rows and the run was not allowed to drop data, and reports the count."""

    table: str


# A statement, a callable run with the plan's connection (a check, or SQL that depends on
# what an earlier statement of the same plan did), or a guarded drop.
Action = Union[str, Callable[[Warehouse, Any], None], DropTable]


@dataclass
class Plan:
    """What a step will run, and what it tells the operator (`MigrationReport`)."""

    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class MigrationRefused(RuntimeError):
    """A step cannot run without losing or corrupting data; nothing was changed by it."""

    def __init__(self, problems: Sequence[str], losses: dict[str, int] | None = None,
                 advice: Sequence[str] = ()):
        self.problems = list(problems)
        self.losses = dict(losses or {})  # table -> rows a `down` would drop (refused without drop_data)
        self.advice = list(advice)  # how to proceed
        self.report: Any = None  # the runner attaches what was done before the refusal
        super().__init__("; ".join(self.problems))


SqlFor = Callable[[Warehouse], Union[list[str], Plan]]
Check = Callable[[Warehouse], list[str]]
Losses = Callable[[Warehouse], dict[str, int]]


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    up: SqlFor
    down: SqlFor
    check_up: Check | None = None  # problems that make `up` refuse (checked before any step runs)
    check_down: Check | None = None
    # Rows `down` would drop, per table, judged from the state before the run: rows a later step
    # of the same run restores elsewhere (migrations 3-4) and tables the step keeps are not losses.
    down_losses: Losses | None = None


# --------------------------------------------------------------------------- 1: sync_logs

# The MySQL column list of the product's sync_logs (migration 1; adoption builds the same table).
_SYNC_LOGS_MYSQL_COLUMNS = """id bigint not null auto_increment primary key,
            run_id varchar(36) not null,
            marketplace varchar(16) not null,
            sync_type varchar(16) not null,
            status varchar(16) not null,
            started_at datetime(6) not null,
            finished_at datetime(6) null,
            duration_seconds double null,
            api_requests int default 0,
            retries int default 0,
            records_fetched bigint default 0,
            records_written bigint default 0,
            records_rejected bigint default 0,
            load_id varchar(64) null,
            error_message text null,
            warnings text null,
            details text null"""
_SYNC_LOGS_MYSQL_INDEX = "key ix_sync_logs_marketplace_started (marketplace, started_at)"


def _sync_logs_up(wh: Warehouse) -> list[str]:
    if wh.dialect == "duckdb":
        return [
            "create sequence if not exists sync_logs_id_seq",
            """create table if not exists sync_logs (
                id bigint primary key default nextval('sync_logs_id_seq'),
                run_id varchar(36) not null,
                marketplace varchar(16) not null,
                sync_type varchar(16) not null,
                status varchar(16) not null,
                started_at timestamp not null,
                finished_at timestamp,
                duration_seconds double,
                api_requests integer default 0,
                retries integer default 0,
                records_fetched bigint default 0,
                records_written bigint default 0,
                records_rejected bigint default 0,
                load_id varchar(64),
                error_message varchar,
                warnings varchar,
                details varchar
            )""",
        ]
    # On a legacy database this is a no-op (IF NOT EXISTS): the legacy sync_logs stays as it
    # is until migration 4 adopts it.
    return [
        f"""create table if not exists sync_logs (
            {_SYNC_LOGS_MYSQL_COLUMNS},
            {_SYNC_LOGS_MYSQL_INDEX}
        )""",
    ]


def _sync_logs_down(wh: Warehouse) -> list[str] | Plan:
    if wh.dialect == "duckdb":
        return Plan([DropTable("sync_logs"), "drop sequence if exists sync_logs_id_seq"])
    # Never drop a table this product did not create: a legacy sync_logs (restored by
    # migration 4's down, or never adopted) stays, with its rows.
    columns = _column_names(wh, "sync_logs")
    if not columns:
        return Plan([], ["sync_logs: not present"])
    if "run_id" not in columns:
        return Plan([], ["sync_logs: kept — it is the legacy importer's table, not one this product created"])
    backup = _backup_row(wh, "sync_logs")
    legacy_rows = _count(wh, "select 1 from sync_logs where run_id like 'legacy-%'")
    if backup is not None or legacy_rows:
        raise MigrationRefused([
            f"sync_logs holds {legacy_rows} rows adopted from the legacy importer"
            + (" and its legacy definition is still recorded in schema_migration_backup" if backup else "")
            + ": revert migration 4 first (`invsync migrate down --target 3`), which restores the legacy table"
        ])
    return Plan([DropTable("sync_logs")])


def _sync_logs_down_losses(wh: Warehouse) -> dict[str, int]:
    if not _table_exists(wh, "sync_logs"):
        return {}
    if wh.dialect == "mysql":
        if "run_id" not in _column_names(wh, "sync_logs"):
            return {}  # the legacy importer's table: kept
        if _backup_row(wh, "sync_logs") is not None or _count(wh, "select 1 from sync_logs where run_id like 'legacy-%'"):
            # Adopted: migration 4's down restores the legacy table with every row (this step then
            # keeps it), or, when 4 is not part of the run, this step refuses.
            return {}
    n = _count(wh, "select 1 from sync_logs")
    return {"sync_logs": n} if n else {}


# --------------------------------------------------------------------------- 2: validation_results

def _validation_results_up(wh: Warehouse) -> list[str]:
    text = "varchar" if wh.dialect == "duckdb" else "text"
    ts = "timestamp" if wh.dialect == "duckdb" else "datetime(6)"
    boolean = "boolean" if wh.dialect == "duckdb" else "tinyint(1)"
    tail = ""
    return [
        f"""create table if not exists validation_results (
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
        ){tail}""",
    ]


def _validation_results_down(wh: Warehouse) -> Plan:
    return Plan([DropTable("validation_results")])


def _validation_results_down_losses(wh: Warehouse) -> dict[str, int]:
    if not _table_exists(wh, "validation_results"):
        return {}
    n = _count(wh, "select 1 from validation_results")
    return {"validation_results": n} if n else {}


# --------------------------------------------------------------------------- introspection (MySQL)

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

# Copies between shapes run strict: a value that does not fit fails the statement instead of
# being truncated or zeroed. Zero dates are allowed (legacy importers wrote them).
STRICT_SESSION = "set session sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _lit(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def columns_of(wh: Warehouse, table: str, conn: Any = None) -> list[dict[str, Any]]:
    """information_schema.columns of a table, in order (empty when the table does not exist)."""
    rows = wh.query(
        "select column_name as name, data_type, column_type, is_nullable, character_maximum_length as max_length, "
        "column_default as default_value, extra, ordinal_position as position "
        "from information_schema.columns where table_schema = %s and table_name = %s order by ordinal_position",
        (wh.schema, table), conn,
    )
    out = []
    for r in rows:
        r = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in r.items()}
        r["data_type"], r["extra"] = str(r["data_type"]).lower(), str(r["extra"] or "").lower()
        r["max_length"] = int(r["max_length"]) if r["max_length"] is not None else None
        r["position"] = int(r["position"])
        out.append(r)
    return out


def _column_names(wh: Warehouse, table: str, conn: Any = None) -> list[str]:
    return [c["name"] for c in columns_of(wh, table, conn)]


def indexes_of(wh: Warehouse, table: str, conn: Any = None) -> list[dict[str, Any]]:
    """Indexes of a table: [{name, unique, columns}], PRIMARY first, then by name."""
    rows = wh.query(
        "select index_name as name, non_unique, column_name as col, seq_in_index as seq "
        "from information_schema.statistics where table_schema = %s and table_name = %s "
        "order by index_name, seq_in_index",
        (wh.schema, table), conn,
    )
    found: dict[str, dict[str, Any]] = {}
    for r in rows:
        r = {k.lower(): v for k, v in r.items()}
        idx = found.setdefault(r["name"], {"name": r["name"], "unique": not int(r["non_unique"]), "columns": []})
        idx["columns"].append(r["col"])
    return sorted(found.values(), key=lambda i: (i["name"] != "PRIMARY", i["name"]))


def show_create(wh: Warehouse, table: str, conn: Any = None) -> str:
    row = wh.query(f"show create table {_q(table)}", (), conn)[0]
    return row.get("Create Table") or next(v for k, v in row.items() if k.lower() == "create table")


def _table_exists(wh: Warehouse, table: str, conn: Any = None) -> bool:
    return wh.table_exists(table, conn=conn)


def _backup_row(wh: Warehouse, table: str, conn: Any = None) -> dict[str, Any] | None:
    if wh.dialect != "mysql" or not _table_exists(wh, BACKUP_TABLE, conn):
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
    if wh.dialect != "mysql" or not _table_exists(wh, BACKUP_TABLE):
        return []
    return wh.query(f"select table_name, version, row_count, recorded_at from {BACKUP_TABLE} order by version")


def _query(wh: Warehouse, sql: str, conn: Any = None) -> list[dict[str, Any]]:
    """A SELECT without parameters (literal `%` escaped for pymysql's formatting)."""
    return wh.query(sql.replace("%", "%%") if wh.dialect == "mysql" else sql, (), conn)


def _count(wh: Warehouse, sql: str, conn: Any = None) -> int:
    return int(_query(wh, f"select count(*) as n from ({sql}) counted", conn)[0]["n"])


# --------------------------------------------------------------------------- fit checks

_INT_BITS = {"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "integer": 32, "bigint": 64}


def _spec_columns(spec: Sequence[tuple[str, str, bool]]) -> list[dict[str, Any]]:
    """(name, column type, nullable) -> the information_schema-like dicts the checks use."""
    out = []
    for name, column_type, nullable in spec:
        m = re.match(r"(\w+)(?:\((\d+)\))?", column_type)
        assert m, column_type
        data_type = m.group(1).lower()
        out.append({
            "name": name, "data_type": data_type, "column_type": column_type,
            "is_nullable": "YES" if nullable else "NO",
            "max_length": int(m.group(2)) if data_type in ("char", "varchar") and m.group(2) else None,
            "extra": "auto_increment" if "auto_increment" in column_type else "",
        })
    return out


def _is_generated(col: dict[str, Any]) -> bool:
    extra = str(col.get("extra") or "").lower()
    return "virtual generated" in extra or "stored generated" in extra or "persistent" in extra


def _enum_values(column_type: str) -> list[str]:
    return [v.replace("''", "'") for v in re.findall(r"'((?:[^']|'')*)'", column_type)]


def _column_conditions(col: dict[str, Any]) -> list[tuple[str, str]]:
    """(SQL condition over `m`.`name` that marks a row the column cannot hold, what it means)."""
    c = f"m.{_q(col['name'])}"
    conds: list[tuple[str, str]] = []
    if col["is_nullable"] == "NO" and "auto_increment" not in col["extra"] and not _is_generated(col):
        conds.append((f"{c} is null", "would be NULL, but the column is NOT NULL"))
    dt = col["data_type"]
    if dt == "enum":
        values = ", ".join(_lit(v) for v in _enum_values(col["column_type"]))
        conds.append((f"{c} is not null and {c} not in ({values})", "hold values the column cannot hold"))
    elif dt in ("char", "varchar") and col.get("max_length"):
        conds.append((f"char_length({c}) > {int(col['max_length'])}", f"are longer than {col['max_length']} characters"))
    elif dt in _INT_BITS:
        bits = _INT_BITS[dt]
        lo, hi = (0, 2 ** bits - 1) if "unsigned" in col["column_type"].lower() else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        conds.append((
            f"{c} is not null and (cast({c} as char) not regexp '^[-+]?[0-9]+([.][0-9]+)?$' "
            f"or cast({c} as decimal(65, 0)) not between {lo} and {hi})",
            "hold values that are not whole numbers in range",
        ))
    return conds


def fit_problems(
    wh: Warehouse,
    label: str,
    rows_sql: str,
    target: Sequence[dict[str, Any]],
    unique_keys: Sequence[tuple[str, Sequence[str]]],
    shape: str,
    conn: Any = None,
) -> list[str]:
    """What in `rows_sql` (already mapped to the target's column names) the target cannot hold."""
    selected = {c["name"] for c in target}
    checks = [(col, cond, meaning) for col in target for cond, meaning in _column_conditions(col)]
    problems: list[str] = []
    if checks:
        sums = ", ".join(f"sum(case when {cond} then 1 else 0 end) as c{i}" for i, (_, cond, _) in enumerate(checks))
        counts = _query(wh, f"select {sums} from ({rows_sql}) m", conn)[0]
        for i, (col, cond, meaning) in enumerate(checks):
            n = int(counts[f"c{i}"] or 0)
            if not n:
                continue
            sample = _query(wh, f"select distinct m.{_q(col['name'])} as v from ({rows_sql}) m where {cond} limit 3", conn)
            shown = ", ".join(repr(r["v"]) for r in sample)
            problems.append(
                f"{label}.{col['name']}: {n} row(s) {meaning} ({shape} column `{col['name']}` {col['column_type']}), e.g. {shown}"
            )
    for name, key in unique_keys:
        if not set(key) <= selected:
            continue
        cols = ", ".join(f"m.{_q(k)}" for k in key)
        not_null = " and ".join(f"m.{_q(k)} is not null" for k in key)
        dups = _query(
            wh, f"select {cols}, count(*) as n from ({rows_sql}) m where {not_null} group by {cols} having count(*) > 1", conn,
        )
        if dups:
            sample = "; ".join(str(tuple(d[k] for k in key)) for d in dups[:3])
            problems.append(
                f"{label}: {len(dups)} value(s) of the {shape} unique key {name} ({', '.join(key)}) would repeat, e.g. {sample}"
            )
    return problems


# --------------------------------------------------------------------------- adoption engine

SOURCE_TO_MARKETPLACE = {"Ozon": "ozon", "Wildberries": "wb", "Manual": "manual"}


def _case(expr: str, mapping: dict[str, str]) -> str:
    whens = " ".join(f"when {_lit(k)} then {_lit(v)}" for k, v in mapping.items())
    return f"case {expr} {whens} end"


def source_to_marketplace(expr: str) -> str:
    return _case(expr, SOURCE_TO_MARKETPLACE)


def marketplace_to_source(expr: str) -> str:
    return _case(expr, {v: k for k, v in SOURCE_TO_MARKETPLACE.items()})


@dataclass(frozen=True)
class Adoption:
    """Carries one legacy table into the product's shape (`up`) and back (`down`).

    Both directions copy into a scratch table, check, and swap with one atomic RENAME TABLE,
    so the live table is never half-converted; the legacy definition (SHOW CREATE TABLE,
    columns, indexes) is recorded in `schema_migration_backup` before anything changes, and
    `down` recreates the table from it: types, nullability, defaults, keys, charset, comment.
    """

    table: str
    version: int
    product_marker: str  # a column only the product's shape has
    legacy_columns: tuple[str, ...]  # every column the legacy importer's table may have
    required: tuple[str, ...]  # the columns that identify the legacy shape
    product_ddl: Callable[[str, dict[str, dict[str, Any]]], str]  # (scratch name, legacy columns) -> CREATE TABLE
    product_spec: Callable[[dict[str, dict[str, Any]]], list[dict[str, Any]]]  # columns the copy writes, for checks
    up_select: Callable[[dict[str, dict[str, Any]]], list[tuple[str, str]]]  # [(product column, expr over `l`)]
    up_after: Callable[[str, dict[str, dict[str, Any]]], list[str]]  # statements after the copy, per scratch name
    product_keys: Callable[[dict[str, dict[str, Any]]], list[tuple[str, list[str]]]]
    down_map: dict[str, tuple[str, str | None]]  # legacy column -> (expr over `a`, expr when NOT NULL)
    up_order: Callable[[dict[str, dict[str, Any]]], str]
    down_order: str
    collapse: tuple[str, str] | None  # (expr: row holds stock, tiebreak expr) for duplicates under the legacy key
    up_notes: Callable[[dict[str, dict[str, Any]]], list[str]]

    # ---- state
    @property
    def scratch_up(self) -> str:
        return f"{self.table}__adopt"

    @property
    def retired_legacy(self) -> str:
        return f"{self.table}__legacy_old"

    @property
    def scratch_down(self) -> str:
        return f"{self.table}__down"

    @property
    def retired_product(self) -> str:
        return f"{self.table}__adopted_old"

    def legacy_columns_of(self, wh: Warehouse, conn: Any = None) -> dict[str, dict[str, Any]]:
        return {c["name"]: c for c in columns_of(wh, self.table, conn)}

    def state(self, wh: Warehouse, conn: Any = None) -> str:
        """missing | product | legacy | unknown (MySQL only)."""
        names = set(self.legacy_columns_of(wh, conn))
        if not names:
            return "missing"
        if self.product_marker in names:
            return "product"
        if set(self.required) <= names:
            return "legacy"
        return "unknown"

    # ---- up
    def _unknown_shape(self, wh: Warehouse) -> str:
        names = ", ".join(self.legacy_columns_of(wh))
        return (f"{self.table} exists but is neither the product's table nor the legacy importer's "
                f"(columns: {names}); rename it or convert it by hand, then run `invsync migrate up` again")

    def _up_rows_sql(self, legacy: dict[str, dict[str, Any]]) -> str:
        select = ", ".join(f"{expr} as {_q(name)}" for name, expr in self.up_select(legacy))
        return f"select {select} from {_q(self.table)} l"

    def adoption_problems(self, wh: Warehouse) -> list[str]:
        legacy = self.legacy_columns_of(wh)
        problems = []
        unknown = [c for c in legacy if c not in self.legacy_columns]
        if unknown:
            problems.append(
                f"{self.table}: columns {', '.join(unknown)} are not part of the legacy importer's table, so adopting it "
                f"would lose them; move them to another table first (known columns: {', '.join(self.legacy_columns)})"
            )
        fks = wh.query(
            "select constraint_name as name, table_name as t from information_schema.key_column_usage "
            "where table_schema = %s and referenced_table_name is not null and (table_name = %s or referenced_table_name = %s)",
            (wh.schema, self.table, self.table),
        )
        if fks:
            problems.append(f"{self.table}: foreign keys {sorted({f['name'] for f in fks})} point to or from it; "
                            "drop them first (the table is rebuilt under the same name)")
        triggers = wh.query(
            "select trigger_name as name from information_schema.triggers where event_object_schema = %s and event_object_table = %s",
            (wh.schema, self.table),
        )
        if triggers:
            problems.append(f"{self.table}: triggers {[t['name'] for t in triggers]} would be lost; drop them first")
        unmapped = _query(
            wh, f"select distinct source as v from {_q(self.table)} where {source_to_marketplace('source')} is null limit 5"
        )
        if unmapped:
            problems.append(f"{self.table}: `source` values {[r['v'] for r in unmapped]} have no marketplace "
                            f"(known: {', '.join(f'{k}->{v}' for k, v in SOURCE_TO_MARKETPLACE.items())})")
        if problems:
            return problems
        written = {name for name, _ in self.up_select(legacy)}
        target = [c for c in self.product_spec(legacy) if c["name"] in written]
        return fit_problems(wh, self.table, self._up_rows_sql(legacy), target, self.product_keys(legacy), "product")

    def check_up(self, wh: Warehouse) -> list[str]:
        if wh.dialect != "mysql":
            return []
        state = self.state(wh)
        if state == "unknown":
            return [self._unknown_shape(wh)]
        return self.adoption_problems(wh) if state == "legacy" else []

    def up(self, wh: Warehouse) -> Plan:
        if wh.dialect != "mysql":
            return Plan([], [f"{self.table}: nothing to adopt on {wh.dialect} (legacy tables live in MySQL)"])
        state = self.state(wh)
        plan = Plan()
        if state == "unknown":
            raise MigrationRefused([self._unknown_shape(wh)])
        if state in ("missing", "product"):
            if _table_exists(wh, self.scratch_up):
                plan.actions.append(f"drop table if exists {_q(self.scratch_up)}")
                plan.notes.append(f"{self.scratch_up}: dropped the scratch table of an interrupted run")
            if _table_exists(wh, self.retired_legacy):
                if state == "product" and _backup_row(wh, self.table) is not None:
                    # The swap happened (atomically) and the legacy definition is recorded.
                    plan.actions.append(f"drop table if exists {_q(self.retired_legacy)}")
                    plan.notes.append(f"{self.retired_legacy}: dropped the legacy table an interrupted run had already copied")
                else:
                    plan.notes.append(f"{self.retired_legacy}: left alone (no recorded adoption explains it)")
            if not plan.notes:
                plan.notes.append(
                    f"{self.table}: already the product's table — nothing to adopt" if state == "product"
                    else f"{self.table}: no legacy table — nothing to adopt"
                )
            return plan
        problems = self.adoption_problems(wh)
        if problems:
            raise MigrationRefused(problems)

        legacy = self.legacy_columns_of(wh)
        legacy_indexes = indexes_of(wh, self.table)
        n_rows = _count(wh, f"select 1 from {_q(self.table)}")
        mapping = self.up_select(legacy)
        targets = ", ".join(_q(name) for name, _ in mapping)
        exprs = ", ".join(expr for _, expr in mapping)

        def record_backup(wh: Warehouse, conn: Any) -> None:
            wh.execute(conn, BACKUP_DDL)
            wh.execute(
                conn,
                f"replace into {BACKUP_TABLE} (table_name, version, create_statement, columns_json, indexes_json, "
                "row_count, recorded_at) values (%s, %s, %s, %s, %s, %s, current_timestamp(6))",
                (self.table, self.version, show_create(wh, self.table, conn),
                 json.dumps(columns_of(wh, self.table, conn), default=str),
                 json.dumps(indexes_of(wh, self.table, conn)), n_rows),
            )

        def verify_copy(wh: Warehouse, conn: Any) -> None:
            before = _count(wh, f"select 1 from {_q(self.table)}", conn)
            after = _count(wh, f"select 1 from {_q(self.scratch_up)}", conn)
            if before != after:
                raise RuntimeError(f"{self.table}: copied {after} of {before} rows (is the legacy importer still "
                                   "writing?); nothing was swapped, run `invsync migrate up` again")

        plan.actions = [
            STRICT_SESSION,
            record_backup,  # before anything changes
            f"drop table if exists {_q(self.scratch_up)}",
            self.product_ddl(self.scratch_up, legacy),
            f"insert into {_q(self.scratch_up)} ({targets}) select {exprs} from {_q(self.table)} l {self.up_order(legacy)}",
            *self.up_after(self.scratch_up, legacy),
            verify_copy,
            f"rename table {_q(self.table)} to {_q(self.retired_legacy)}, {_q(self.scratch_up)} to {_q(self.table)}",
            f"drop table {_q(self.retired_legacy)}",
            lambda wh, conn: plan.notes.insert(
                -1, f"  keys now: {'; '.join(_describe_index(i) for i in indexes_of(wh, self.table, conn))}"),
        ]
        new_columns = {c["name"]: c for c in self.product_spec(legacy)}
        added = [n for n in new_columns if n not in legacy]
        changed = [
            f"{n} {legacy[n]['column_type']}{'' if legacy[n]['is_nullable'] == 'YES' else ' not null'} -> {new_columns[n]['column_type']}"
            for n in new_columns if n in legacy and (
                legacy[n]["column_type"].lower() != new_columns[n]["column_type"].lower()
                or legacy[n]["is_nullable"] != new_columns[n]["is_nullable"])
        ]
        plan.notes = [
            f"{self.table}: adopted the legacy table — {n_rows} rows kept (copied, counted, swapped atomically)",
            *(f"  {line}" for line in self.up_notes(legacy)),
            f"  columns added: {', '.join(added) or '-'}",
            f"  columns changed: {'; '.join(changed) or '-'}",
            f"  legacy keys replaced: {'; '.join(_describe_index(i) for i in legacy_indexes) or '-'}",
            f"  legacy definition saved in {BACKUP_TABLE}; `invsync migrate down` restores it",
        ]
        return plan

    # ---- down
    def _down_columns(self, backup: dict[str, Any]) -> list[dict[str, Any]]:
        """The legacy columns the copy back writes (generated columns compute themselves)."""
        return [c for c in backup["columns"] if not _is_generated(c)]

    def _legacy_keys(self, backup: dict[str, Any]) -> list[tuple[str, list[str]]]:
        return [(i["name"], i["columns"]) for i in backup["indexes"] if i["unique"]]

    def _down_rows_sql(self, backup: dict[str, Any]) -> tuple[str, str]:
        """(every adopted row mapped to the legacy columns, the same after merging zero duplicates)."""
        cols = self._down_columns(backup)
        parts = []
        for col in cols:
            expr, not_null_expr = self.down_map[col["name"]]
            if col["is_nullable"] == "NO" and not_null_expr:
                expr = not_null_expr
            parts.append(f"{expr} as {_q(col['name'])}")
        names = ", ".join(f"x.{_q(c['name'])}" for c in cols)
        if self.collapse is None:
            mapped = f"select {', '.join(parts)} from {_q(self.table)} a"
            return mapped, mapped
        holds, tiebreak = self.collapse
        mapped = f"select {', '.join(parts)}, ({holds}) as holds__, {tiebreak} as tiebreak__ from {_q(self.table)} a"
        keys = self._legacy_keys(backup)
        if not keys:
            return mapped, f"select {names} from ({mapped}) x"
        partition = ", ".join(f"m.{_q(k)}" for k in keys[0][1])
        final = (
            f"select {names} from (select m.*, row_number() over (partition by {partition} "
            f"order by m.holds__ desc, m.tiebreak__ desc) as rn__ from ({mapped}) m) x where x.rn__ = 1"
        )
        return mapped, final

    def restore_problems(self, wh: Warehouse, backup: dict[str, Any]) -> list[str]:
        cols = self._down_columns(backup)
        problems = []
        unmapped = _query(
            wh, f"select distinct marketplace as v from {_q(self.table)} where {marketplace_to_source('marketplace')} is null limit 5"
        )
        if unmapped:
            problems.append(f"{self.table}: marketplace values {[r['v'] for r in unmapped]} have no legacy `source` value")
        mapped, final = self._down_rows_sql(backup)
        keys = self._legacy_keys(backup)
        if self.collapse is not None and keys:
            key = keys[0][1]
            by = ", ".join(f"m.{_q(k)}" for k in key)
            clash = _query(
                wh, f"select {by}, count(*) as n from ({mapped}) m group by {by} having count(*) > 1 and sum(m.holds__) > 1"
            )
            if clash:
                sample = "; ".join(str(tuple(r[k] for k in key)) for r in clash[:3])
                problems.append(
                    f"{self.table}: {len(clash)} legacy key value(s) ({', '.join(key)}) would hold more than one row "
                    f"with stock (e.g. {sample}); the legacy table keeps one row per key"
                )
        problems += fit_problems(wh, self.table, final, cols, keys, "legacy")
        return problems

    def check_down(self, wh: Warehouse) -> list[str]:
        if wh.dialect != "mysql":
            return []
        backup = _backup_row(wh, self.table)
        if backup is None or self.state(wh) != "product":
            return []
        return self.restore_problems(wh, backup)

    def down(self, wh: Warehouse) -> Plan:
        if wh.dialect != "mysql":
            return Plan([], [f"{self.table}: nothing to restore on {wh.dialect}"])
        backup = _backup_row(wh, self.table)
        plan = Plan()
        if _table_exists(wh, self.scratch_down):
            plan.actions.append(f"drop table if exists {_q(self.scratch_down)}")
            plan.notes.append(f"{self.scratch_down}: dropped the scratch table of an interrupted run")
        if backup is None:
            plan.notes.append(f"{self.table}: was not adopted from a legacy table — nothing to restore")
            plan.actions.append(_drop_backup_table_if_empty)
            return plan
        state = self.state(wh)
        create = re.sub(r"^CREATE TABLE `[^`]+`", f"CREATE TABLE {_q(self.scratch_down)}",
                        backup["create_statement"], count=1)
        forget = [f"delete from {BACKUP_TABLE} where table_name = {_lit(self.table)}", _drop_backup_table_if_empty]
        if state == "missing":
            plan.actions += [create.replace(_q(self.scratch_down), _q(self.table), 1), *forget]
            plan.notes.append(f"{self.table}: was missing; recreated the legacy table (empty) from {BACKUP_TABLE}")
            return plan
        if state != "product":
            # The swap back happened; only the bookkeeping is left.
            plan.actions += [f"drop table if exists {_q(self.retired_product)}", *forget]
            plan.notes.append(f"{self.table}: already the legacy table; finished an interrupted run")
            return plan
        problems = self.restore_problems(wh, backup)
        if problems:
            raise MigrationRefused(problems)

        cols = self._down_columns(backup)
        mapped, final = self._down_rows_sql(backup)
        n_all, n_final = _count(wh, mapped), _count(wh, final)
        names = ", ".join(_q(c["name"]) for c in cols)

        def verify_copy(wh: Warehouse, conn: Any) -> None:
            want = _count(wh, final, conn)
            got = _count(wh, f"select 1 from {_q(self.scratch_down)}", conn)
            if want != got:
                raise RuntimeError(f"{self.table}: copied {got} of {want} rows back; nothing was swapped, run down again")

        plan.actions += [
            STRICT_SESSION,
            f"drop table if exists {_q(self.scratch_down)}",
            create,
            f"insert into {_q(self.scratch_down)} ({names}) select {names} from ({final}) f {self.down_order}",
            verify_copy,
            f"rename table {_q(self.table)} to {_q(self.retired_product)}, {_q(self.scratch_down)} to {_q(self.table)}",
            f"drop table {_q(self.retired_product)}",
            *forget,
        ]
        product_only = [c for c in _column_names(wh, self.table) if c not in {c["name"] for c in backup["columns"]}]
        plan.notes = [
            f"{self.table}: restored the legacy definition recorded at {backup['recorded_at']} — {n_final} rows copied back",
            "  legacy NOT NULL columns of rows the product wrote were filled from the new ones "
            "(source from marketplace, dates from the sync times, counts 0 where unknown)",
            f"  columns the legacy table has no place for were dropped: {', '.join(product_only) or '-'}",
        ]
        if n_all != n_final:
            plan.notes.append(f"  {n_all - n_final} zero-quantity row(s) merged into the row with stock under the same legacy key")
        return plan


def _describe_index(i: dict[str, Any]) -> str:
    kind = "PRIMARY KEY" if i["name"] == "PRIMARY" else ("UNIQUE " if i["unique"] else "KEY ") + i["name"]
    return f"{kind} ({', '.join(i['columns'])})"


def _drop_backup_table_if_empty(wh: Warehouse, conn: Any) -> None:
    if _table_exists(wh, BACKUP_TABLE, conn) and not _count(wh, f"select 1 from {BACKUP_TABLE}", conn):
        wh.execute(conn, f"drop table {BACKUP_TABLE}")


# --------------------------------------------------------------------------- 3: inventory_data

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
LEGACY_INVENTORY_COLUMNS = ("product_id", "sku", "source", "warehouse_name", "stock_type", "quantity_present",
                            "quantity_reserved", "snapshot_date", "last_sync_at")


def _inventory_ddl(name: str, legacy: dict[str, dict[str, Any]]) -> str:
    cols = [f"{_q(n)} {t} default null" for n, t, _ in INVENTORY_SPEC]
    keys = [f"{'unique key' if unique else 'key'} {_q(n)} ({', '.join(_q(c) for c in cs)})" for n, unique, cs in INVENTORY_INDEXES]
    return f"create table {_q(name)} (\n  " + ",\n  ".join(cols + keys) + "\n)"


def _inventory_up_select(legacy: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    has = legacy.__contains__
    present = "l.quantity_present"
    reserved = "l.quantity_reserved" if has("quantity_reserved") else "0"
    synced = {
        (True, True): "coalesce(l.last_sync_at, cast(l.snapshot_date as datetime))",
        (True, False): "l.last_sync_at",
        (False, True): "cast(l.snapshot_date as datetime)",
        (False, False): "null",
    }[(has("last_sync_at"), has("snapshot_date"))]
    return [
        ("marketplace", source_to_marketplace("l.source")),
        ("sku", "l.sku"),
        ("product_id", "cast(l.product_id as char)" if has("product_id") else "null"),
        # The rule the dbt models use for warehouses known by name only (macro name_key).
        ("warehouse_id", "substr(md5(convert(l.warehouse_name using utf8mb4)), 1, 16)"),
        ("warehouse_name", "l.warehouse_name"),
        ("stock_type", "cast(l.stock_type as char)"),
        ("quantity_present", present),
        ("quantity_reserved", reserved),
        ("quantity_available", f"{present} - {reserved}"),
        ("last_sync_at", synced),
        ("updated_at", synced),
        ("source", "cast(l.source as char)"),
        ("snapshot_date", "l.snapshot_date" if has("snapshot_date") else f"cast({synced} as date)"),
    ]


def _inventory_notes(legacy: dict[str, dict[str, Any]]) -> list[str]:
    return [
        "source -> marketplace (Ozon->ozon, Wildberries->wb); warehouse_id = first 16 hex chars of md5(warehouse_name)",
        "quantity_available = quantity_present - quantity_reserved; updated_at = last_sync_at "
        "(snapshot_date where last_sync_at was empty); source and snapshot_date kept for legacy readers",
        "offer_id, barcode, product_name, marketplace_product_id stay empty until a sync confirms the row; "
        "rows a complete snapshot does not contain go to zero, never deleted",
    ]


ADOPT_INVENTORY = Adoption(
    table="inventory_data",
    version=3,
    product_marker="marketplace",
    legacy_columns=LEGACY_INVENTORY_COLUMNS,
    required=("sku", "source", "warehouse_name", "stock_type", "quantity_present"),
    product_ddl=_inventory_ddl,
    product_spec=lambda legacy: _spec_columns(INVENTORY_SPEC),
    up_select=_inventory_up_select,
    up_after=lambda name, legacy: [],
    product_keys=lambda legacy: [(n, cs) for n, unique, cs in INVENTORY_INDEXES if unique],
    down_map={
        "product_id": ("a.product_id", None),
        "sku": ("a.sku", None),
        "source": (marketplace_to_source("a.marketplace"), None),
        "warehouse_name": ("a.warehouse_name", None),
        "stock_type": ("a.stock_type", None),
        "quantity_present": ("a.quantity_present", "coalesce(a.quantity_present, 0)"),
        "quantity_reserved": ("a.quantity_reserved", "coalesce(a.quantity_reserved, 0)"),
        "snapshot_date": ("coalesce(a.snapshot_date, cast(a.last_sync_at as date))",
                          "coalesce(a.snapshot_date, cast(a.last_sync_at as date), cast(a.updated_at as date), current_date)"),
        "last_sync_at": ("a.last_sync_at", "coalesce(a.last_sync_at, a.updated_at, current_timestamp)"),
    },
    up_order=lambda legacy: "",
    down_order="",
    # Rows a sync zeroed can share the legacy key with a live row (e.g. the md5-keyed legacy row
    # of an Ozon warehouse and the row under its real id): keep the one with stock.
    collapse=("coalesce(a.quantity_present, 0) <> 0 or coalesce(a.quantity_reserved, 0) <> 0",
              "coalesce(a.last_sync_at, a.updated_at)"),
    up_notes=_inventory_notes,
)


# --------------------------------------------------------------------------- 4: sync_logs

LEGACY_SYNC_LOGS_COLUMNS = ("id", "sync_type", "source", "status", "records_processed", "records_updated",
                            "error_message", "started_at", "completed_at", "duration_seconds")
# Legacy columns the product's table has under another name: kept as VIRTUAL generated columns
# (the product inserts with an explicit column list, so they cost nothing and old readers work).
LEGACY_SYNC_LOGS_VIRTUAL = {
    "source": marketplace_to_source("marketplace"),
    "records_processed": "records_fetched",
    "records_updated": "records_written",
    "completed_at": "finished_at",
}
# The product's sync_logs columns (migration 1), for the checks and the report.
SYNC_LOGS_SPEC: list[tuple[str, str, bool]] = [
    ("id", "bigint auto_increment", False), ("run_id", "varchar(36)", False), ("marketplace", "varchar(16)", False),
    ("sync_type", "varchar(16)", False), ("status", "varchar(16)", False), ("started_at", "datetime(6)", False),
    ("finished_at", "datetime(6)", True), ("duration_seconds", "double", True), ("api_requests", "int", True),
    ("retries", "int", True), ("records_fetched", "bigint", True), ("records_written", "bigint", True),
    ("records_rejected", "bigint", True), ("load_id", "varchar(64)", True), ("error_message", "text", True),
    ("warnings", "text", True), ("details", "text", True),
]


def _sync_logs_ddl(name: str, legacy: dict[str, dict[str, Any]]) -> str:
    virtual = [
        f"{_q(col)} {legacy[col]['column_type']} generated always as ({expr}) virtual"
        for col, expr in LEGACY_SYNC_LOGS_VIRTUAL.items() if col in legacy
    ]
    body = ",\n            ".join([_SYNC_LOGS_MYSQL_COLUMNS, *virtual, _SYNC_LOGS_MYSQL_INDEX])
    return f"create table {_q(name)} (\n            {body}\n        )"


def _sync_logs_up_select(legacy: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    has = legacy.__contains__
    out = []
    if has("id"):
        out += [("id", "l.id"), ("run_id", "concat('legacy-', l.id)")]
    else:
        out.append(("run_id", "''"))  # numbered after the copy, from the new ids
    opt = lambda col: f"l.{col}" if has(col) else "null"  # noqa: E731
    out += [
        ("marketplace", source_to_marketplace("l.source")),
        ("sync_type", "l.sync_type"),
        ("status", "l.status"),
        ("started_at", "l.started_at"),
        ("finished_at", opt("completed_at")),
        ("duration_seconds", opt("duration_seconds")),
        ("records_fetched", opt("records_processed")),
        ("records_written", opt("records_updated")),
        ("error_message", opt("error_message")),
    ]
    return out


def _sync_logs_notes(legacy: dict[str, dict[str, Any]]) -> list[str]:
    kept = [c for c in LEGACY_SYNC_LOGS_VIRTUAL if c in legacy]
    return [
        "source -> marketplace (Ozon->ozon, Wildberries->wb, Manual->manual); completed_at -> finished_at; "
        "records_processed -> records_fetched; records_updated -> records_written",
        ("run_id = 'legacy-<id>' (legacy ids kept)" if "id" in legacy
         else "the legacy table had no id: rows numbered by started_at, run_id = 'legacy-<new id>'"),
        f"legacy columns kept as VIRTUAL generated columns for old readers: {', '.join(kept) or '-'}",
    ]


ADOPT_SYNC_LOGS = Adoption(
    table="sync_logs",
    version=4,
    product_marker="run_id",
    legacy_columns=LEGACY_SYNC_LOGS_COLUMNS,
    required=("source", "sync_type", "status", "started_at"),
    product_ddl=_sync_logs_ddl,
    product_spec=lambda legacy: _spec_columns(SYNC_LOGS_SPEC),
    up_select=_sync_logs_up_select,
    up_after=lambda name, legacy: [] if "id" in legacy else [
        f"update {_q(name)} set run_id = concat('legacy-', id) where run_id = ''"
    ],
    product_keys=lambda legacy: [("PRIMARY", ["id"])] if "id" in legacy else [],
    down_map={
        "id": ("a.id", None),
        "sync_type": ("a.sync_type", None),
        "source": (marketplace_to_source("a.marketplace"), None),
        "status": ("a.status", None),
        "records_processed": ("a.records_fetched", "coalesce(a.records_fetched, 0)"),
        "records_updated": ("a.records_written", "coalesce(a.records_written, 0)"),
        "error_message": ("a.error_message", "coalesce(a.error_message, '')"),
        "started_at": ("a.started_at", None),
        "completed_at": ("a.finished_at", "coalesce(a.finished_at, a.started_at)"),
        "duration_seconds": ("a.duration_seconds", "coalesce(a.duration_seconds, 0)"),
    },
    up_order=lambda legacy: "order by l.id" if "id" in legacy else "order by l.started_at",
    down_order="",
    collapse=None,
    up_notes=_sync_logs_notes,
)


# --------------------------------------------------------------------------- 5: utf8mb4

def utf8mb4_collation(wh: Warehouse, collation: str | None, conn: Any = None) -> str:
    """The utf8mb4 twin of a collation (utf8mb3_general_ci -> utf8mb4_general_ci), else utf8mb4's default."""
    name = str(collation or "")
    for old in ("utf8mb3_", "utf8_", "latin1_", "ascii_"):
        if name.startswith(old):
            name = "utf8mb4_" + name[len(old):]
    if name.startswith("utf8mb4_") and _query(wh, f"select 1 from information_schema.collations where collation_name = {_lit(name)}", conn):
        return name
    return str(_query(wh, "select default_collate_name as c from information_schema.character_sets "
                          "where character_set_name = 'utf8mb4'", conn)[0]["c"])


def to_utf8mb4(wh: Warehouse, schema: str, conn: Any = None) -> list[str]:
    """Statements that make a database utf8mb4: its default, then every base table not in it
    yet (`convert to` re-encodes the text columns; utf8mb4 holds everything utf8mb3 does).
    One collation for all of them, so joins never meet an illegal mix of collations."""
    row = _query(wh, "select default_character_set_name as cs, default_collation_name as co "
                     f"from information_schema.schemata where schema_name = {_lit(schema)}", conn)
    if not row:
        return []
    collation = row[0]["co"] if row[0]["cs"] == "utf8mb4" else utf8mb4_collation(wh, row[0]["co"], conn)
    out = []
    if row[0]["cs"] != "utf8mb4":
        out.append(f"alter database {_q(schema)} character set utf8mb4 collate {collation}")
    tables = _query(wh, "select table_name as t from information_schema.tables where table_schema = "
                        f"{_lit(schema)} and table_type = 'BASE TABLE' and table_collation not like 'utf8mb4%'", conn)
    for t in sorted(r["t"] for r in tables):
        out.append(f"alter table {_q(schema)}.{_q(t)} convert to character set utf8mb4 collate {collation}")
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
