"""Warehouse-side facts the checks, sensors and report share: freshness, unfinished syncs.

Freshness is judged exactly like `invsync status` (`pipelines.status.marketplace_status`:
older than 6 hours is stale, no success in 24 hours is critical), so the CLI, the asset
checks and the alert emails never disagree about whether the data can be trusted.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from dagster import DagsterInstance, RunsFilter
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

from orchestration.common import TAG_WAREHOUSE
from pipelines import status, sync_log
from pipelines.config import Settings
from pipelines.warehouse import Warehouse

STALE_AFTER_HOURS = status.STALE_AFTER_HOURS
CRITICAL_AFTER_HOURS = status.CRITICAL_AFTER_HOURS


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def enabled(settings: Settings, marketplace: str) -> bool:
    return settings.ozon_enabled if marketplace == "ozon" else settings.wb_enabled


def has_sync_logs(wh: Warehouse) -> bool:
    """False on a warehouse nobody has synced into yet (sensors must not create tables)."""
    return wh.table_exists("sync_logs")


def freshness(wh: Warehouse, settings: Settings, marketplace: str, now: datetime | None = None) -> dict[str, Any]:
    """`invsync status` for one marketplace, plus whether it matters at all.

    A marketplace that is neither configured nor has any history is not relevant: it is
    skipped by design and must not raise a "critical" alarm.
    """
    now = now or utc_now()
    on = enabled(settings, marketplace)
    if not has_sync_logs(wh):
        return {"marketplace": marketplace, "configured": on, "relevant": on, "level": "critical",
                "age_hours": None, "last_success_at": None, "last_attempt_status": None, "last_error": None}
    info = status.marketplace_status(wh, marketplace, now, on)
    info["relevant"] = bool(on or info["last_attempt_at"])
    return info


def freshness_message(info: dict[str, Any]) -> str:
    if info["age_hours"] is None:
        return f"{info['marketplace']}: no successful sync recorded"
    limit = CRITICAL_AFTER_HOURS if info["level"] == "critical" else STALE_AFTER_HOURS
    return (f"{info['marketplace']}: last successful sync {info['last_success_at']} UTC, "
            f"{info['age_hours']} h ago (limit {limit} h)")


def last_attempt_started(wh: Warehouse, marketplace: str) -> datetime | None:
    """When the latest sync of a marketplace started, whatever its outcome (UTC)."""
    row = sync_log.latest(wh, marketplace)
    if row is None:
        return None
    started = row["started_at"]
    if isinstance(started, str):
        started = datetime.fromisoformat(started)
    return started.replace(tzinfo=timezone.utc) if started.tzinfo is None else started


def fail_unfinished(wh: Warehouse, run_id: str, message: str) -> list[str]:
    """End every still-`running` sync_logs row of a run as `failed`; returns the marketplaces.

    A step that fails after landing (dbt, audit, publish) or a run that dies leaves rows that
    would otherwise say `running` forever; `failed` is the truth: nothing of them was published.
    """
    closed = []
    for row in wh.query("select * from sync_logs where run_id = %s and status = 'running'", (run_id,)):
        rec = sync_log.from_row(row)
        rec.finish("failed", message[:4000])
        sync_log.update(wh, rec)
        closed.append(rec.marketplace)
    return closed


def warehouse_busy(instance: DagsterInstance) -> bool:
    """True while a run holds the DuckDB warehouse.

    DuckDB lets one process write a file at a time; a sensor that opened it now could make the
    running sync's dlt or dbt step fail. MySQL has no such limit.
    """
    records = instance.get_run_records(
        RunsFilter(statuses=list(IN_PROGRESS_RUN_STATUSES), tags={TAG_WAREHOUSE: "duckdb"}), limit=1
    )
    return bool(records)

