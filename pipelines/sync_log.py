"""The `sync_logs` table: one row per marketplace per sync (DESIGN.md).

A row is written as `running` when a marketplace's sync starts and finished with its
outcome (`success`, `partial`, `failed`), counts and errors, so an interrupted sync is
visible as a row that never finished. The table's shape is owned by `migrations/`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pipelines.warehouse import Warehouse

STATUSES = ("running", "success", "partial", "failed")


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


COLUMNS = (
    "run_id", "marketplace", "sync_type", "status", "started_at", "finished_at", "duration_seconds",
    "api_requests", "retries", "records_fetched", "records_written", "records_rejected", "load_id",
    "error_message", "warnings", "details",
)


def _values(rec: SyncRecord) -> list[Any]:
    return [
        rec.run_id, rec.marketplace, rec.sync_type, rec.status, naive_utc(rec.started_at),
        naive_utc(rec.finished_at), rec.duration_seconds, rec.api_requests, rec.retries,
        rec.records_fetched, rec.records_written, rec.records_rejected, rec.load_id,
        (rec.error_message or None) and rec.error_message[:4000],
        json.dumps(rec.warnings, ensure_ascii=False) if rec.warnings else None,
        json.dumps(rec.details, ensure_ascii=False, default=str),
    ]


def insert(wh: Warehouse, rec: SyncRecord) -> None:
    """Insert the record and remember its id."""
    placeholders = ", ".join(["%s"] * len(COLUMNS))
    with wh.connection() as conn:
        wh.execute(conn, f"insert into sync_logs ({', '.join(COLUMNS)}) values ({placeholders})", _values(rec))
        rows = wh.query(
            "select max(id) as id from sync_logs where run_id = %s and marketplace = %s",
            (rec.run_id, rec.marketplace), conn,
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
    )


def latest(wh: Warehouse, marketplace: str, status: str | None = None) -> dict[str, Any] | None:
    sql = "select * from sync_logs where marketplace = %s"
    params: list[Any] = [marketplace]
    if status:
        sql += " and status = %s"
        params.append(status)
    rows = wh.query(sql + " order by started_at desc, id desc limit 1", params)
    return rows[0] if rows else None
