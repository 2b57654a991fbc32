"""Apply and revert migrations, recording the version in `schema_migrations`.

`up` applies every step newer than the recorded version, `down` reverts the newest one (or
down to a target). Each step and its version row commit together where the dialect allows
(DuckDB: fully transactional DDL; MySQL commits DDL implicitly, so steps are idempotent and
plan from the current state: an interrupted step is finished by running it again).

Before a run applies anything, every step of it is checked (`check_up`/`check_down`): when
data cannot be carried over the run refuses with the reasons and changes nothing. On MySQL a
named lock keeps two processes (a sync and an operator, say) from migrating at once.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from migrations.steps import ADOPT_INVENTORY, ADOPT_SYNC_LOGS, MIGRATIONS, Migration, MigrationRefused, Plan, recorded_backups
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

    def __str__(self) -> str:
        lines = []
        for line in self.applied:
            lines.append(f"  {line}")
            lines.extend(f"      {note}" for note in self.notes.get(line, []))
        done = "\n".join(lines) or "  nothing to do"
        return f"{done}\nschema version: {self.current_version}"


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


def _apply(wh: Warehouse, step: Migration, direction: str) -> list[str]:
    """Run one step and record it; return its notes for the report."""
    plan = _plan(step.up(wh) if direction == "up" else step.down(wh))
    with wh.connection() as conn:
        for action in plan.actions:
            if callable(action):
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
    return plan.notes


def _run(wh: Warehouse, steps: list[Migration], direction: str) -> MigrationReport:
    checks = [(s, s.check_up if direction == "up" else s.check_down) for s in steps]
    problems = [f"{s.version:04d}: {p}" for s, check in checks if check for p in check(wh)]
    if problems:
        refused = MigrationRefused(problems)
        refused.report = MigrationReport([], current_version(wh))
        raise refused
    applied: list[str] = []
    notes: dict[str, list[str]] = {}
    for step in steps:
        line = f"{direction:4} {step.version:04d} {step.description}"
        try:
            notes[line] = _apply(wh, step, direction)
        except MigrationRefused as exc:
            exc.report = MigrationReport(applied, current_version(wh), notes)
            raise
        applied.append(line)
    return MigrationReport(applied, current_version(wh), notes)


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


def down(wh: Warehouse, target: int | None = None) -> MigrationReport:
    """Revert the newest applied step, or every step above `target`."""
    if not _pending_down(current_version(wh), target):
        return MigrationReport([], current_version(wh))
    with _lock(wh):
        return _run(wh, _pending_down(current_version(wh), target), "down")


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
