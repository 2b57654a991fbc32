"""Schedules: each marketplace every 6 hours (staggered by 3 hours), a weekly full resync, the
hourly freshness checks and the weekly report.

Staggering keeps the two syncs from queueing behind each other on the warehouse lock (see
`jobs.py`). The full resync runs on Sunday at 04:30, between the WB (03:00) and Ozon (06:00)
ticks. Times are in Europe/Moscow unless INVSYNC_SCHEDULE_TIMEZONE names another IANA zone
(`Settings.schedule_timezone`, read when the code location loads).
"""

from __future__ import annotations

from dagster import DefaultScheduleStatus, JobDefinition, ScheduleDefinition
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from orchestration.jobs import SYNC_JOB, check_freshness, full_resync
from pipelines import config
from pipelines.marketplaces import MARKETPLACES as REGISTRY

SYNC_CRON = {m.name: m.cron for m in REGISTRY}
SYNC_INTERVAL_HOURS = 6
FULL_RESYNC_CRON = "30 4 * * 0"
FRESHNESS_CRON = "15 * * * *"
WEEKLY_REPORT_CRON = "0 9 * * 1"


def schedule_timezone() -> str:
    """`Settings.schedule_timezone`; an unknown zone fails loudly at load time (ConfigError).

    Another invalid setting does not stop the code location from loading (its steps report
    it): the zone is then read on its own, as `load_settings` reads it.
    """
    try:
        return config.load_settings().schedule_timezone
    except config.ConfigError as exc:
        if "INVSYNC_SCHEDULE_TIMEZONE" in str(exc):
            raise
        return config.schedule_timezone(config.environment())


TIMEZONE = schedule_timezone()


def _schedule(name: str, job: UnresolvedAssetJobDefinition | JobDefinition, cron: str, description: str) -> ScheduleDefinition:
    return ScheduleDefinition(name=name, job=job, cron_schedule=cron, execution_timezone=TIMEZONE,
                              default_status=DefaultScheduleStatus.RUNNING, description=description)


SYNC_SCHEDULE = {m.name: _schedule(f"sync_{m.name}_every_{SYNC_INTERVAL_HOURS}h", SYNC_JOB[m.name], m.cron,
                                   f"{m.label} incremental sync ({m.cron}).") for m in REGISTRY}
full_resync_schedule = _schedule("full_resync_weekly", full_resync, FULL_RESYNC_CRON, "Full resync, Sunday 04:30.")
freshness_schedule = _schedule("check_freshness_hourly", check_freshness, FRESHNESS_CRON, "Freshness checks, hourly.")


def weekly_report_schedule(job: JobDefinition) -> ScheduleDefinition:
    return _schedule("weekly_report_monday", job, WEEKLY_REPORT_CRON, "Weekly stock report email, Monday 09:00.")


SYNC_SCHEDULES = [*SYNC_SCHEDULE.values(), full_resync_schedule, freshness_schedule]
