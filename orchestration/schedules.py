"""Schedules: each marketplace every 6 hours (staggered by 3 hours), a weekly full resync, the
hourly freshness checks and the weekly report.

Staggering keeps the two syncs from queueing behind each other on the warehouse lock (see
`jobs.py`). The full resync runs on Sunday at 04:30, between the WB (03:00) and Ozon (06:00)
ticks. Times are in Europe/Moscow unless INVSYNC_SCHEDULE_TIMEZONE names another IANA zone.
"""

from __future__ import annotations

import os
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dagster import DefaultScheduleStatus, JobDefinition, ScheduleDefinition
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from orchestration.jobs import check_freshness, full_resync, sync_ozon, sync_wb

DEFAULT_TIMEZONE = "Europe/Moscow"

SYNC_CRON = {"ozon": "0 0,6,12,18 * * *", "wb": "0 3,9,15,21 * * *"}
SYNC_INTERVAL_HOURS = 6
FULL_RESYNC_CRON = "30 4 * * 0"
FRESHNESS_CRON = "15 * * * *"
WEEKLY_REPORT_CRON = "0 9 * * 1"


def schedule_timezone() -> str:
    """INVSYNC_SCHEDULE_TIMEZONE or Europe/Moscow; an unknown zone fails loudly at load time."""
    name = os.environ.get("INVSYNC_SCHEDULE_TIMEZONE", "").strip() or DEFAULT_TIMEZONE
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"INVSYNC_SCHEDULE_TIMEZONE '{name}' is not an IANA time zone (e.g. Europe/Moscow)") from None
    return name


TIMEZONE = schedule_timezone()


def _schedule(name: str, job: UnresolvedAssetJobDefinition | JobDefinition, cron: str, description: str) -> ScheduleDefinition:
    return ScheduleDefinition(name=name, job=job, cron_schedule=cron, execution_timezone=TIMEZONE,
                              default_status=DefaultScheduleStatus.RUNNING, description=description)


sync_ozon_schedule = _schedule("sync_ozon_every_6h", sync_ozon, SYNC_CRON["ozon"], "Ozon incremental sync, 00/06/12/18 h.")
sync_wb_schedule = _schedule("sync_wb_every_6h", sync_wb, SYNC_CRON["wb"], "WB incremental sync, 03/09/15/21 h.")
full_resync_schedule = _schedule("full_resync_weekly", full_resync, FULL_RESYNC_CRON, "Full resync, Sunday 04:30.")
freshness_schedule = _schedule("check_freshness_hourly", check_freshness, FRESHNESS_CRON, "Freshness checks, hourly.")


def weekly_report_schedule(job: JobDefinition) -> ScheduleDefinition:
    return _schedule("weekly_report_monday", job, WEEKLY_REPORT_CRON, "Weekly stock report email, Monday 09:00.")


SYNC_SCHEDULES = [sync_ozon_schedule, sync_wb_schedule, full_resync_schedule, freshness_schedule]
