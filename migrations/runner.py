"""Apply and revert migrations, recording the version in `schema_migrations`.

`up` applies every step newer than the recorded version, `down` reverts the newest one (or
down to a target). Each step and its version row commit together where the dialect allows
(DuckDB: fully transactional DDL; MySQL commits DDL implicitly, so steps are idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass

from migrations.steps import MIGRATIONS, Migration
from pipelines.warehouse import Warehouse

VERSION_TABLE_DDL = (
    "create table if not exists schema_migrations ("
    "version integer primary key, description varchar(200) not null, applied_at timestamp not null)"
)


@dataclass
class MigrationReport:
    applied: list[str]
    current_version: int

    def __str__(self) -> str:
        done = "\n".join(f"  {line}" for line in self.applied) or "  nothing to do"
        return f"{done}\nschema version: {self.current_version}"


def current_version(wh: Warehouse) -> int:
    with wh.connection() as conn:
        wh.execute(conn, VERSION_TABLE_DDL)
        rows = wh.query("select max(version) as v from schema_migrations", (), conn)
    return int(rows[0]["v"] or 0)


def _apply(wh: Warehouse, step: Migration, direction: str) -> None:
    statements = step.up(wh) if direction == "up" else step.down(wh)
    with wh.connection() as conn:
        for sql in statements:
            wh.execute(conn, sql)
        if direction == "up":
            wh.execute(
                conn,
                "insert into schema_migrations (version, description, applied_at) values (%s, %s, current_timestamp)",
                (step.version, step.description),
            )
        else:
            wh.execute(conn, "delete from schema_migrations where version = %s", (step.version,))


def up(wh: Warehouse, target: int | None = None) -> MigrationReport:
    version = current_version(wh)
    applied = []
    for step in MIGRATIONS:
        if step.version > version and (target is None or step.version <= target):
            _apply(wh, step, "up")
            applied.append(f"up   {step.version:04d} {step.description}")
    return MigrationReport(applied, current_version(wh))


def down(wh: Warehouse, target: int | None = None) -> MigrationReport:
    """Revert the newest applied step, or every step above `target`."""
    version = current_version(wh)
    floor = version - 1 if target is None else target
    applied = []
    for step in reversed(MIGRATIONS):
        if floor < step.version <= version:
            _apply(wh, step, "down")
            applied.append(f"down {step.version:04d} {step.description}")
    return MigrationReport(applied, current_version(wh))


def status(wh: Warehouse) -> str:
    version = current_version(wh)
    lines = [f"schema version: {version} of {MIGRATIONS[-1].version}"]
    for step in MIGRATIONS:
        mark = "applied" if step.version <= version else "pending"
        lines.append(f"  {step.version:04d} [{mark}] {step.description}")
    return "\n".join(lines)
