"""Warehouse-side facts the checks, sensors and report share, and the settings at load time.

Freshness is `invsync status`'s own record (`pipelines.status.freshness`, judged by
`Settings.freshness`), so the CLI, the asset checks and the alert emails never disagree about
whether the data can be trusted.
"""

from __future__ import annotations

from datetime import datetime, timezone

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from orchestration.common import TAG_WAREHOUSE
from pipelines import sync_log
from pipelines.warehouse import Warehouse


# Runs that may hold the warehouse right now.
IN_PROGRESS = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]

def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def has_sync_logs(wh: Warehouse) -> bool:
    """False on a warehouse nobody has synced into yet (sensors must not create tables)."""
    return wh.table_exists("sync_logs")


def last_attempt_started(wh: Warehouse, marketplace: str) -> datetime | None:
    """When the latest sync of a marketplace started, whatever its outcome (UTC)."""
    row = sync_log.latest(wh, marketplace)
    if row is None:
        return None
    started = row["started_at"]
    if isinstance(started, str):
        started = datetime.fromisoformat(started)
    return started.replace(tzinfo=timezone.utc) if started.tzinfo is None else started


def warehouse_busy(instance: DagsterInstance) -> bool:
    """True while a run holds the DuckDB warehouse.

    DuckDB lets one process write a file at a time; a sensor that opened it now could make the
    running sync's dlt or dbt step fail. MySQL has no such limit.
    """
    records = instance.get_run_records(
        RunsFilter(statuses=IN_PROGRESS, tags={TAG_WAREHOUSE: "duckdb"}), limit=1
    )
    return bool(records)

