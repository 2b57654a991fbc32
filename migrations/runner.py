"""Apply and revert migrations, recording the version in `schema_migrations`.

`up` applies every step newer than the recorded version, `down` reverts the newest one (or
down to a target). Each step and its version row commit together where the dialect allows
(DuckDB: fully transactional DDL; MySQL commits DDL implicitly, so steps are idempotent and
plan from the current state: an interrupted step is finished by running it again).

Before a run applies anything, every step of it is checked (`check_up`/`check_down`): when
data cannot be carried over the run refuses with the reasons and changes nothing. A `down` that
would drop tables holding rows (the sync history in `sync_logs`, `validation_results`) refuses
the same way, naming every table and its row count, unless `drop_data=True` (`--drop-data`);
empty tables are dropped without it, and the report lists every dropped table with its rows.
On MySQL a named lock keeps two processes (a sync and an operator, say) from migrating at once.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from migrations.introspection import recorded_backups
from migrations.legacy import ADOPT_INVENTORY, ADOPT_SYNC_LOGS
from migrations.plan import DropTable, Migration, MigrationRefused, Plan
from migrations.versions import MIGRATIONS
from pipelines.warehouse import Warehouse

__all__ = ["MigrationReport", "MigrationRefused", "current_version", "up", "down", "status"]

VERSION_TABLE_DDL = (
    "create table if not exists schema_migrations ("
    "version integer primary key, description varchar(200) not null, applied_at timestamp not null)"
)
LOCK_WAIT_SECONDS = 120


@dataclass
class MigrationReport:
    applied: list[str]
    current_version: int
    notes: dict[str, list[str]] = field(default_factory=dict)  # applied line -> what it changed
    dropped: dict[str, int] = field(default_factory=dict)  # table -> rows it held when `down` dropped it

    def __str__(self) -> str:
        lines = []
        for line in self.applied:
            lines.append(f"  {line}")
            lines.extend(f"      {note}" for note in self.notes.get(line, []))
        done = "\n".join(lines) or "  nothing to do"
        if self.dropped:
            done += f"\ntables dropped: {_rows_by_table(self.dropped)}"
        return f"{done}\nschema version: {self.current_version}"


def _rows_by_table(rows: dict[str, int]) -> str:
    return ", ".join(f"{table} ({n} row{'' if n == 1 else 's'})" for table, n in rows.items())


def _data_loss_refusal(wh: Warehouse, losses: dict[str, tuple[int, int]], target: int | None) -> MigrationRefused:
    """The refusal of a `down` that would drop tables holding rows: every table, its rows, what to do."""
    problems = [
        f"{version:04d}: dropping {table} would delete its {n} row{'' if n == 1 else 's'}"
        + (" (the sync history `invsync status` reads)" if table == "sync_logs" else "")
        for table, (version, n) in losses.items()
    ]
    total = sum(n for _, n in losses.values())
    command = "invsync migrate down" + (f" --target {target}" if target is not None else "") + " --drop-data"
    tables = " ".join(losses)
    if wh.dialect == "duckdb":
        backup = f"copy {wh.target.path} while no sync is running"
    else:
        t = wh.target
        backup = f"mysqldump -h {t.host} -P {t.port} -u {t.user} -p {t.database} {tables} > invsync-history.sql"
    advice = [
        f"{total} row{'' if total == 1 else 's'} would be lost: {_rows_by_table({t: n for t, (_, n) in losses.items()})}",
        f"back them up first if they may be needed: {backup}",
        f"then drop them: {command}",
    ]
    return MigrationRefused(problems, {table: n for table, (_, n) in losses.items()}, advice)


def current_version(wh: Warehouse) -> int:
    with wh.connection() as conn:
        wh.execute(conn, VERSION_TABLE_DDL)
        rows = wh.query("select max(version) as v from schema_migrations", (), conn)
    return int(rows[0]["v"] or 0)


def _lock(wh: Warehouse) -> contextlib.AbstractContextManager[None]:
    """One migrating process per database."""
    return wh.exclusive("invsync_migrate", LOCK_WAIT_SECONDS, "migrating")


def _plan(result: list[str] | Plan) -> Plan:
    return result if isinstance(result, Plan) else Plan(list(result), [])


def _drop(wh: Warehouse, conn: object, step: Migration, action: DropTable, plan: Plan,
          drop_data: bool, target: int | None, dropped: dict[str, int]) -> None:
    """Drop a table of the product's data, counting its rows in the step's connection first."""
    if not wh.table_exists(action.table, conn=conn):
        plan.notes.append(f"{action.table}: not present")
        return
    n = int(wh.query(f"select count(*) as n from {action.table}", (), conn)[0]["n"])
    if n and not drop_data:
        # The runner checked before the run; rows written since (a sync) are refused here too.
        raise _data_loss_refusal(wh, {action.table: (step.version, n)}, target)
    wh.execute(conn, f"drop table {action.table}")
    dropped[action.table] = n
    plan.notes.append(f"{action.table}: dropped ({n} row{'' if n == 1 else 's'})")


def _apply(wh: Warehouse, step: Migration, direction: str, drop_data: bool = False, target: int | None = None,
           dropped: dict[str, int] | None = None) -> list[str]:
    """Run one step and record it; return its notes for the report (tables dropped go to `dropped`)."""
    plan = _plan(step.up(wh) if direction == "up" else step.down(wh))
    dropped_here: dict[str, int] = {}
    with wh.connection() as conn:
        for action in plan.actions:
            if isinstance(action, DropTable):
                _drop(wh, conn, step, action, plan, drop_data, target, dropped_here)
            elif callable(action):
                action(wh, conn)
            else:
                # No parameters: pymysql would still %-format the text, so escape literal %.
                wh.execute(conn, action.replace("%", "%%") if wh.dialect == "mysql" else action)
        if direction == "up":
            wh.execute(
                conn,
                "insert into schema_migrations (version, description, applied_at) values (%s, %s, current_timestamp)",
                (step.version, step.description),
            )
        else:
            wh.execute(conn, "delete from schema_migrations where version = %s", (step.version,))
    if dropped is not None:
        dropped.update(dropped_here)  # committed with the step
    return plan.notes


def _run(wh: Warehouse, steps: list[Migration], direction: str, drop_data: bool = False,
         target: int | None = None) -> MigrationReport:
    checks = [(s, s.check_up if direction == "up" else s.check_down) for s in steps]
    problems = [f"{s.version:04d}: {p}" for s, check in checks if check for p in check(wh)]
    losses: dict[str, tuple[int, int]] = {}  # table -> (version that drops it, rows)
    if direction == "down" and not drop_data:
        for s in steps:
            for table, n in (s.down_losses(wh) if s.down_losses else {}).items():
                if n:
                    losses[table] = (s.version, n)
    if problems or losses:
        loss = _data_loss_refusal(wh, losses, target) if losses else MigrationRefused([])
        refused = MigrationRefused(problems + loss.problems, loss.losses, loss.advice)
        refused.report = MigrationReport([], current_version(wh))
        raise refused
    applied: list[str] = []
    notes: dict[str, list[str]] = {}
    dropped: dict[str, int] = {}
    for step in steps:
        line = f"{direction:4} {step.version:04d} {step.description}"
        try:
            notes[line] = _apply(wh, step, direction, drop_data, target, dropped)
        except MigrationRefused as exc:
            exc.report = MigrationReport(applied, current_version(wh), notes, dropped)
            raise
        applied.append(line)
    return MigrationReport(applied, current_version(wh), notes, dropped)


def _pending_up(version: int, target: int | None) -> list[Migration]:
    return [s for s in MIGRATIONS if s.version > version and (target is None or s.version <= target)]


def _pending_down(version: int, target: int | None) -> list[Migration]:
    floor = version - 1 if target is None else target
    return [s for s in reversed(MIGRATIONS) if floor < s.version <= version]


def up(wh: Warehouse, target: int | None = None) -> MigrationReport:
    """Apply every step newer than the recorded version (up to `target`)."""
    if not _pending_up(current_version(wh), target):
        return MigrationReport([], current_version(wh))
    with _lock(wh):
        return _run(wh, _pending_up(current_version(wh), target), "up")


def down(wh: Warehouse, target: int | None = None, drop_data: bool = False) -> MigrationReport:
    """Revert the newest applied step, or every step above `target`.

    Refuses, changing nothing, when a step would drop a table that holds rows, unless
    `drop_data`; the report's `dropped` lists every table dropped with its rows."""
    if not _pending_down(current_version(wh), target):
        return MigrationReport([], current_version(wh))
    with _lock(wh):
        return _run(wh, _pending_down(current_version(wh), target), "down", drop_data, target)


def status(wh: Warehouse) -> str:
    version = current_version(wh)
    lines = [f"schema version: {version} of {MIGRATIONS[-1].version}"]
    for step in MIGRATIONS:
        mark = "applied" if step.version <= version else "pending"
        lines.append(f"  {step.version:04d} [{mark}] {step.description}")
    if wh.dialect == "mysql":
        legacy = [a.table for a in (ADOPT_INVENTORY, ADOPT_SYNC_LOGS) if a.state(wh) == "legacy"]
        if legacy:
            lines.append(f"legacy tables found: {', '.join(legacy)} (`invsync migrate up` adopts them)")
        for b in recorded_backups(wh):
            lines.append(f"adopted legacy {b['table_name']} in {int(b['version']):04d} ({b['row_count']} rows at "
                         f"{b['recorded_at']}); its definition is kept in schema_migration_backup for `down`")
    return "\n".join(lines)
