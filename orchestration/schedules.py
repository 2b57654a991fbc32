"""Schedules: each marketplace every 6 hours (staggered by 3 hours), a weekly full resync, the
hourly freshness checks and the weekly report.

A marketplace's schedules launch one run of `sync_<marketplace>` per seller account that has
credentials (its partition, tagged `invsync/account`), so each account stands alone: its own
run, its own failure and alert. Staggering keeps the marketplaces' syncs from queueing behind
each other on the warehouse lock (see `jobs.py`). The full resync runs on Sunday at 04:30,
between the WB (03:00) and Ozon (06:00) ticks. Times are in Europe/Moscow unless INVSYNC_SCHEDULE_TIMEZONE names another IANA zone
(`Settings.schedule_timezone`, read when the code location loads).
"""

from __future__ import annotations

from typing import Callable, Iterator

from dagster import (DefaultScheduleStatus, JobDefinition, RunRequest, ScheduleDefinition,
                     ScheduleEvaluationContext)
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from orchestration.common import ACCOUNT_PARTITIONS, load_time_settings
from orchestration.jobs import SYNC_JOB, check_freshness, run_tags
from pipelines import config
from pipelines.config import Settings
from pipelines.config_accounts import DEFAULT_ACCOUNT
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


def _schedule(name: str, job: UnresolvedAssetJobDefinition | JobDefinition, cron: str, description: str,
              execution_fn: Callable[[ScheduleEvaluationContext], Iterator[RunRequest]] | None = None) -> ScheduleDefinition:
    return ScheduleDefinition(name=name, job=job, cron_schedule=cron, execution_timezone=TIMEZONE,
                              default_status=DefaultScheduleStatus.RUNNING, description=description,
                              execution_fn=execution_fn)


def scheduled_accounts(settings: Settings, marketplace: str) -> list[str]:
    """The accounts a tick syncs: `Settings.accounts_to_run` that are partitions of the code location
    (an account added to the file since it loaded waits for its reload)."""
    partitions = ACCOUNT_PARTITIONS[marketplace].get_partition_keys()
    return [a for a in settings.accounts_to_run(marketplace) if a in partitions] or [DEFAULT_ACCOUNT]


def account_runs(marketplace: str, full: bool) -> Callable[[ScheduleEvaluationContext], Iterator[RunRequest]]:
    """A tick's runs: one per account (settings read at the tick: a changed secret needs no reload)."""
    def run_requests(context: ScheduleEvaluationContext) -> Iterator[RunRequest]:
        tick = context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else "now"
        for account in scheduled_accounts(load_time_settings(), marketplace):
            yield RunRequest(run_key=f"{account}@{tick}", partition_key=account, tags=run_tags(marketplace, full, account))

    return run_requests


SYNC_SCHEDULE = {m.name: _schedule(f"sync_{m.name}_every_{SYNC_INTERVAL_HOURS}h", SYNC_JOB[m.name], m.cron,
                                   f"{m.label} incremental sync of every account ({m.cron}).",
                                   account_runs(m.name, full=False)) for m in REGISTRY}
FULL_RESYNC_SCHEDULE = {m.name: _schedule(f"full_resync_{m.name}_weekly", SYNC_JOB[m.name], FULL_RESYNC_CRON,
                                          f"{m.label} full resync of every account, Sunday 04:30.",
                                          account_runs(m.name, full=True)) for m in REGISTRY}
freshness_schedule = _schedule("check_freshness_hourly", check_freshness, FRESHNESS_CRON, "Freshness checks, hourly.")


def weekly_report_schedule(job: JobDefinition) -> ScheduleDefinition:
    return _schedule("weekly_report_monday", job, WEEKLY_REPORT_CRON, "Weekly stock report email, Monday 09:00.")


SYNC_SCHEDULES = [*SYNC_SCHEDULE.values(), *FULL_RESYNC_SCHEDULE.values(), freshness_schedule]
