"""The `sync_logs` table: one row per marketplace per sync (DESIGN.md).

A row is written as `running` when a marketplace's sync starts and finished with its
outcome (`success`, `partial`, `failed`), counts and errors. The table's shape is owned by
`migrations/specs.py` (`status` is a varchar(16): `interrupted` needs no migration).

While it runs, the row says who runs it and how far it got, in `details`: `process` (pid,
host, the process's start time, `cli` or `dagster`) and `phase` (`landing`, `staging`,
`audit`, `publish`) with `phase_at`, the moment it entered that phase. A row whose process
died stays `running` in the table; `interrupted_rows` finds such rows and
`settle_interrupted` ends them, as the next sync does:

- `interrupted` (with the phase it reached) when nothing of it was published;
- `success` / `partial` when its data *was* published (killed after the publish commit:
  `inventory_data` carries `last_sync_at` = the row's `started_at`), so the last success shown
  is the sync whose data is published.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from migrations.specs import ACCOUNT_COLUMN, SYNC_LOGS_COLUMNS
from pipelines.config_accounts import DEFAULT_ACCOUNT
from pipelines.warehouse import Warehouse

log = logging.getLogger(__name__)

STATUSES = ("running", "success", "partial", "failed", "interrupted")
PHASES = ("landing", "staging", "audit", "publish")

# Dagster runs its steps in processes of their own: between two steps no process of the run
# is alive, so a Dagster row counts as dead only when its step's process is gone AND it has
# not moved for this long.
DAGSTER_STEP_GRACE = timedelta(minutes=15)
# A row that has not moved for this long is dead wherever its process ran (no sync lasts a day).
ABANDONED_AFTER = timedelta(hours=24)


@dataclass
class SyncRecord:
    """What one marketplace's sync did; written to `sync_logs`."""

    run_id: str
    marketplace: str
    sync_type: str  # incremental | full
    started_at: datetime
    status: str = "running"
    finished_at: datetime | None = None
    api_requests: int = 0
    retries: int = 0
    records_fetched: int = 0
    records_written: int = 0
    records_rejected: int = 0
    load_id: str | None = None
    error_message: str | None = None
    warnings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    account: str = DEFAULT_ACCOUNT  # the seller account (`pipelines.config_accounts`)

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 3)

    def finish(self, status: str, error: str | None = None) -> None:
        assert status in STATUSES, status
        self.status = status
        self.error_message = error
        self.finished_at = datetime.now(timezone.utc)


def naive_utc(ts: datetime | None) -> datetime | None:
    """Both DuckDB TIMESTAMP and MySQL DATETIME store naive values: we store UTC."""
    return ts.astimezone(timezone.utc).replace(tzinfo=None) if ts else None


# Every column of the table but its id, in the order `_values` follows: migration 1's, then the
# `account` migration 6 added.
COLUMNS = (*(c.name for c in SYNC_LOGS_COLUMNS if not c.identity), ACCOUNT_COLUMN)


def _values(rec: SyncRecord) -> list[Any]:
    return [
        rec.run_id, rec.marketplace, rec.sync_type, rec.status, naive_utc(rec.started_at),
        naive_utc(rec.finished_at), rec.duration_seconds, rec.api_requests, rec.retries,
        rec.records_fetched, rec.records_written, rec.records_rejected, rec.load_id,
        (rec.error_message or None) and rec.error_message[:4000],
        json.dumps(rec.warnings, ensure_ascii=False) if rec.warnings else None,
        json.dumps(rec.details, ensure_ascii=False, default=str),
        rec.account,
    ]


def insert(wh: Warehouse, rec: SyncRecord) -> None:
    """Insert the record and remember its id. A run writes one row per account, and the
    accounts of one marketplace start side by side: the id is looked up by the account too
    (by run and marketplace alone, two accounts' syncs could both take the newer row)."""
    placeholders = ", ".join(["%s"] * len(COLUMNS))
    with wh.connection() as conn:
        wh.execute(conn, f"insert into sync_logs ({', '.join(COLUMNS)}) values ({placeholders})", _values(rec))
        rows = wh.query(
            f"select max(id) as id from sync_logs where run_id = %s and marketplace = %s and {ACCOUNT_COLUMN} = %s",
            (rec.run_id, rec.marketplace, rec.account), conn,
        )
        rec.id = rows[0]["id"]


def update(wh: Warehouse, rec: SyncRecord) -> None:
    assignments = ", ".join(f"{c} = %s" for c in COLUMNS)
    with wh.connection() as conn:
        wh.execute(conn, f"update sync_logs set {assignments} where id = %s", [*_values(rec), rec.id])


def from_row(row: dict[str, Any]) -> SyncRecord:
    """A SyncRecord back from its sync_logs row (timestamps are stored as naive UTC)."""
    def aware(ts: Any) -> datetime | None:
        if ts is None:
            return None
        if isinstance(ts, str):
            ts = datetime.fromisoformat(ts)
        return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts

    return SyncRecord(
        id=row["id"], run_id=row["run_id"], marketplace=row["marketplace"], sync_type=row["sync_type"],
        status=row["status"], started_at=aware(row["started_at"]), finished_at=aware(row["finished_at"]),
        api_requests=row["api_requests"] or 0, retries=row["retries"] or 0,
        records_fetched=row["records_fetched"] or 0, records_written=row["records_written"] or 0,
        records_rejected=row["records_rejected"] or 0, load_id=row["load_id"], error_message=row["error_message"],
        warnings=json.loads(row["warnings"]) if row["warnings"] else [],
        details=json.loads(row["details"]) if row["details"] else {},
        account=row.get("account") or DEFAULT_ACCOUNT,
    )


def latest(wh: Warehouse, marketplace: str, status: str | None = None) -> dict[str, Any] | None:
    sql = "select * from sync_logs where marketplace = %s"
    params: list[Any] = [marketplace]
    if status:
        sql += " and status = %s"
        params.append(status)
    rows = wh.query(sql + " order by started_at desc, id desc limit 1", params)
    return rows[0] if rows else None


# --------------------------------------------------------------------------- process and phase

def _proc_start(pid: int) -> str | None:
    """The kernel's start time of a process (tells a reused pid apart); None off Linux."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def process_info(via: str = "cli") -> dict[str, Any]:
    """Who runs a sync: recorded on its rows, so a later look can tell whether it still lives."""
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "proc_start": _proc_start(pid), "via": via}


def enter_phase(wh: Warehouse, rec: SyncRecord, phase: str, via: str | None = None) -> None:
    """Record that the sync reached `phase` (and which process now carries it) on its row."""
    assert phase in PHASES, phase
    previous = rec.details.get("process") or {}
    rec.details["phase"] = phase
    rec.details["phase_at"] = naive_utc(datetime.now(timezone.utc)).isoformat()
    rec.details["process"] = process_info(via or previous.get("via") or "cli")
    if rec.id is not None:
        update(wh, rec)
    log.info("%s sync %s: %s", rec.marketplace, rec.run_id, phase)


def _alive_here(process: dict[str, Any]) -> bool | None:
    """Whether the recorded process still runs; None when it ran on another host."""
    if process.get("host") != socket.gethostname() or not process.get("pid"):
        return None
    pid = int(process["pid"])
    if not os.path.isdir("/proc/self"):  # no procfs: the pid alone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    if _state(pid) in ("gone", "Z"):  # a zombie is a dead process its parent has not collected yet
        return False
    recorded = process.get("proc_start")
    return recorded is None or recorded == _proc_start(pid)  # else the pid was reused


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"


def _moved_at(rec: SyncRecord) -> datetime:
    at = rec.details.get("phase_at")
    if at:
        try:
            return datetime.fromisoformat(at).replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    return rec.started_at


def is_dead(rec: SyncRecord, sync_lock_free: bool, now: datetime | None = None) -> bool:
    """Whether a `running` row's sync can no longer finish it.

    A CLI sync holds the sync lock from before its first row to its end: with the lock free
    (or held by the caller itself, which passes True), every CLI row still `running` is dead.
    With the lock held by someone, a row is dead when its process is gone (same host).
    Dagster rows: their step's process is gone and the row has not moved for a while.
    Any row that has not moved for a day is dead.
    """
    now = now or datetime.now(timezone.utc)
    process = rec.details.get("process") or {}
    idle = now - _moved_at(rec)
    if idle > ABANDONED_AFTER:
        return True
    alive = _alive_here(process)
    if process.get("via") == "dagster":
        return alive is False and idle > DAGSTER_STEP_GRACE
    return sync_lock_free or alive is False


def account_of(wh: Warehouse, table: str) -> str:
    """The account of a row of `table` in SQL: its `account` column, or `'default'` on a table
    from before migration 6 (a sync is migrating it right now, beside this reader, or nobody has
    run `invsync migrate up` since the upgrade): every row then was the default account's."""
    return ACCOUNT_COLUMN if ACCOUNT_COLUMN in wh.columns(table) else f"'{DEFAULT_ACCOUNT}'"


def _published(wh: Warehouse, rec: SyncRecord) -> int:
    """Rows of `inventory_data` this sync's publish stamped (its `last_sync_at` is the row's
    start), of its own account only: another account's rows never prove that this one published,
    even when both syncs started at the same moment."""
    if rec.load_id is None or not wh.table_exists("inventory_data"):
        return 0
    rows = wh.query("select count(*) as n from inventory_data where marketplace = %s and last_sync_at = %s "
                    f"and {account_of(wh, 'inventory_data')} = %s",
                    (rec.marketplace, naive_utc(rec.started_at), rec.account))
    return int(rows[0]["n"] or 0)


def conclude_dead(wh: Warehouse, rec: SyncRecord, found_by: str) -> SyncRecord:
    """What a dead sync's row must say (not written): interrupted, or published after all."""
    phase = rec.details.get("phase") or "landing"
    process = rec.details.get("process") or {}
    who = f"pid {process['pid']} on {process.get('host')}" if process.get("pid") else "its process"
    published = _published(wh, rec)
    rec.details["interrupted"] = {"phase": phase, "found_by": found_by,
                                  "found_at": naive_utc(datetime.now(timezone.utc)).isoformat()}
    moved = _moved_at(rec)
    if published:
        # Killed after the publish commit: the data is this sync's, so it is the last success.
        rec.records_written = rec.records_written or published
        rec.details["interrupted"]["published"] = True
        status = "partial" if rec.records_rejected or rec.warnings else "success"
        rec.finish(status, None)
        rec.finished_at = moved  # the publish committed after this; never claims fresher data
        return rec
    rec.finish("interrupted", f"interrupted during {phase}: the sync process ({who}) ended before it finished; "
                              "nothing of it was published")
    rec.finished_at = max(moved, rec.started_at)
    return rec


def interrupted_rows(wh: Warehouse, sync_lock_free: bool, exclude_run: str | None = None,
                     found_by: str = "status") -> list[SyncRecord]:
    """The `running` rows whose sync died, each concluded (see `conclude_dead`), not written."""
    out = []
    for row in wh.query("select * from sync_logs where status = 'running' order by started_at, id"):
        rec = from_row(row)
        if rec.run_id == exclude_run or not is_dead(rec, sync_lock_free):
            continue
        out.append(conclude_dead(wh, rec, found_by))
    return out


def settle_interrupted(wh: Warehouse, sync_lock_free: bool, exclude_run: str | None = None,
                       found_by: str = "the next sync") -> list[SyncRecord]:
    """End the rows of dead syncs in `sync_logs` (guarded: a row that moved meanwhile stays)."""
    settled = []
    for rec in interrupted_rows(wh, sync_lock_free, exclude_run, found_by):
        assignments = ", ".join(f"{c} = %s" for c in COLUMNS)
        with wh.connection() as conn:
            wh.execute(conn, f"update sync_logs set {assignments} where id = %s and status = 'running'",
                       [*_values(rec), rec.id])
        settled.append(rec)
    return settled
