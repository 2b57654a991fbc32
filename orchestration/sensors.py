"""Alert sensors: failed runs, failed checks and stale data, missed schedules.

Each sensor keeps its open incidents in its cursor (`alerts.Ledger`) and mails an incident
once (see alerts.py). They read Dagster's event log through the instance, and the warehouse
only when no run holds a DuckDB warehouse (one writer per file: a sensor must never make a
running sync fail).

Plain `@sensor`s rather than `@run_failure_sensor`: the dedupe has to span runs (the same
401 on every 6-hourly run is one incident), which needs state of our own in the cursor.
"""

# No `from __future__ import annotations`: Dagster reads these functions' type hints (context, resources).
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from dagster import (
    DagsterEventType, DagsterInstance, DagsterRun, DefaultSensorStatus, RunStatusChangeRecordsFilter,
    SensorEvaluationContext, SkipReason, sensor,
)
from dagster._core.storage.tags import PARTITION_NAME_TAG as PARTITION_TAG

from orchestration.alerts import Incident, Ledger, error_signature, notify
from orchestration.common import LANDING_OP, MARKETPLACES, TAG_MARKETPLACE, load_time_settings
from orchestration.health import has_sync_logs, last_attempt_started, utc_now, warehouse_busy
from orchestration.jobs import SYNC_JOBS
from orchestration.mailer import AlertMailer
from orchestration.resources import InvsyncResource, masker
from orchestration.schedules import SYNC_INTERVAL_HOURS, SYNC_SCHEDULE, TIMEZONE
from pipelines.config_accounts import account_key
from pipelines.marketplaces import get
from pipelines.status import Freshness, read_status
from pipelines.sync.wap import fail_unfinished

FIRST_LOOK_BACK = timedelta(hours=24)  # a new sensor (no cursor) reports what failed in the last day
MISSED_GRACE = timedelta(minutes=45)  # a scheduled sync may start this late (queued behind another run)
MISSED_SLACK = timedelta(minutes=10)  # a manual sync shortly before the tick counts
STEP_MARKETPLACE = {op: m for m, op in LANDING_OP.items()}


# An asset check's execution that has a verdict (not planned, running or skipped).
COMPLETED_CHECK_STATUSES = ("SUCCEEDED", "FAILED")


def latest_tick(cron: str, before: datetime, timezone: str) -> datetime:
    """When `cron` (in `timezone`) last fired before `before`."""
    return croniter(cron, before.astimezone(ZoneInfo(timezone))).get_prev(datetime)


def run_marketplaces(run: DagsterRun) -> tuple[str, ...]:
    if run.job_name in SYNC_JOBS:
        return SYNC_JOBS[run.job_name]
    tag = run.tags.get(TAG_MARKETPLACE)
    return MARKETPLACES if tag == "all" else ((tag,) if tag in MARKETPLACES else ())


def _deepest_message(error: Any) -> str:
    while error is not None and error.cause is not None:
        error = error.cause
    return (error.message if error is not None else "").strip()


def failure_details(instance: DagsterInstance, run_id: str, fallback: str) -> tuple[str, str]:
    """(failing step, error) of a failed run, from its first STEP_FAILURE event."""
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        data = entry.dagster_event.step_failure_data
        described = data.user_failure_data.description if data.user_failure_data else None
        return entry.step_key or "?", (described or _deepest_message(data.error) or "step failed").strip()
    return "run", fallback or "the run failed before any step ran"


def run_events(instance: DagsterInstance, after_id: int | None, after_ts: float, limit: int = 200) -> list[Any]:
    """Run failures and successes after the cursor, in order. When one kind fills its page,
    the other kind is read only up to that page's end, so the cursor never skips an event."""
    pages = []
    for event_type in (DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_SUCCESS):
        records_filter = RunStatusChangeRecordsFilter(event_type=event_type, after_storage_id=after_id,
                                                      after_timestamp=None if after_id else after_ts)
        pages.append(instance.fetch_run_status_changes(records_filter, limit=limit, ascending=True))
    ends = [page.records[-1].storage_id for page in pages if page.has_more and page.records]
    records = sorted((r for page in pages for r in page.records), key=lambda r: r.storage_id)
    return [r for r in records if not ends or r.storage_id <= min(ends)]


def run_account(run: DagsterRun) -> str | None:
    """The seller account a sync run synced, as people name it (`ozon`, `ozon/acme`): its
    marketplace and its partition. None for a run of no single account."""
    marketplaces, partition = run_marketplaces(run), run.tags.get(PARTITION_TAG)
    return account_key(marketplaces[0], partition) if partition and len(marketplaces) == 1 else None


def run_incident(run: DagsterRun, step: str, error: str) -> Incident:
    marketplace = run_account(run) or STEP_MARKETPLACE.get(step) or run.tags.get(TAG_MARKETPLACE) or "-"
    return Incident(
        key=f"run:{run.job_name}:{marketplace}:{step}:{error_signature(error)}",
        severity="ERROR",
        title=f"{run.job_name} failed at step {step}",
        marketplace=marketplace,
        step=step,
        error=error,
        details={"Job": run.job_name, "Run id": run.run_id},
        hint="Open the run in the Dagster UI (Runs) for the logs; `invsync status` shows the last good data. "
             "Repeats of the same error are not mailed again until a run of this marketplace succeeds.",
    )


@sensor(name="run_failure_alerts", minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING,
        description="Mails each failed-run incident once (marketplace, failing step, masked error).")
def run_failure_alerts(context: SensorEvaluationContext, invsync: InvsyncResource, mailer: AlertMailer) -> SkipReason:
    ledger = Ledger(context.cursor)
    instance, mask = context.instance, masker()
    after_id = ledger.position.get("run_event_id")
    after_ts = (utc_now() - FIRST_LOOK_BACK).timestamp()
    records = run_events(instance, after_id, after_ts)
    mailed = 0
    to_close: list[list[str]] = ledger.position.get("to_close", [])
    for record in records:
        ledger.position["run_event_id"] = record.storage_id
        run = instance.get_run_by_id(record.run_id)
        if run is None:
            continue
        covered, account = run_marketplaces(run), run_account(run)
        if record.event_log_entry.dagster_event.event_type == DagsterEventType.RUN_SUCCESS:
            if account is not None:  # one account's success closes that account's incidents only
                ledger.resolve(lambda key, info: key.startswith("run:") and info["marketplace"] == account)
                continue
            ledger.resolve(lambda key, info: key.startswith(f"run:{run.job_name}:")
                           or (key.startswith("run:") and info["marketplace"] in covered)
                           or (key.startswith("run:") and info["marketplace"] == "all" and set(covered) == set(MARKETPLACES)))
            continue
        step, error = failure_details(instance, run.run_id, record.event_log_entry.dagster_event.message or "")
        mailed += notify(ledger, run_incident(run, step, mask(error)), mailer, mask, context.log)
        if covered:
            to_close.append([run.run_id, mask(f"run failed at step {step}: {error}")])
    ledger.position["to_close"] = _close_unfinished(context, invsync, to_close)
    context.update_cursor(ledger.dumps())
    return SkipReason(f"{len(records)} run events read, {mailed} new incident(s)")


def _close_unfinished(context: SensorEvaluationContext, invsync: InvsyncResource, pending: list[list[str]]) -> list[list[str]]:
    """End the `running` sync_logs rows a failed run left behind; keep them for later while busy."""
    if not pending:
        return []
    try:
        settings = invsync.settings()
        if settings.warehouse.is_duckdb and warehouse_busy(context.instance):
            return pending
        wh = invsync.reader(settings)
        if has_sync_logs(wh):
            for run_id, message in pending:
                fail_unfinished(wh, run_id, message)
    except Exception as exc:  # noqa: BLE001 - retried on the next tick
        context.log.warning(f"could not close unfinished sync_logs rows yet: {exc}")
        return pending[-50:]
    return []


def check_incident(evaluation: Any, run_id: str) -> Incident:
    asset, name = evaluation.asset_key.to_user_string(), evaluation.check_name
    severity = "ERROR" if evaluation.severity.value == "ERROR" else "WARNING"
    metadata = {k: getattr(v, "value", v) for k, v in (evaluation.metadata or {}).items()}
    return Incident(
        key=f"check:{asset}:{name}:{severity}",
        severity=severity,
        title=f"check {name} on {asset} failed",
        marketplace=str(metadata.get("marketplaces") or "all"),
        step=f"asset check {asset}:{name}",
        error=evaluation.description or "; ".join(f"{k}={v}" for k, v in metadata.items()) or "check failed",
        details={"Run id": run_id},
        hint="The Dagster UI shows the check's history under Assets → inventory_data → Checks.",
    )


def latest_check_evaluations(context: SensorEvaluationContext) -> dict[Any, tuple[Any, str]]:
    """Check key -> (its latest finished evaluation, run id), for the checks of this code location.

    The latest execution per check (rather than scanning the event log) works on every event
    log storage, including the run-sharded SQLite one of `dagster dev`.
    """
    repository = context.repository_def
    keys = sorted(repository.asset_graph.asset_check_keys) if repository else []
    records = context.instance.event_log_storage.get_latest_asset_check_execution_by_key(keys) if keys else {}
    out = {}
    for key, record in records.items():
        if record.status.value in COMPLETED_CHECK_STATUSES and record.event is not None:
            out[key] = (record.event.dagster_event.event_specific_data, record.run_id)
    return out


def freshness_incident(info: Freshness) -> Incident:
    critical = info.level == "critical"
    limit = info.policy.limit_hours(info.level)
    return Incident(
        key=f"freshness:{info.name}:{info.level}",
        severity="ERROR" if critical else "WARNING",
        title=f"no successful sync in {limit} hours" if critical else f"data older than {limit} hours",
        marketplace=info.name,  # `ozon/acme` for a seller account other than `default`: the mail names it
        step=f"freshness check freshness_{info.marketplace}",
        error=info.message() + (f"; last error: {info.last_error}" if info.last_error else ""),
        details={"Last attempt": str(info.last_attempt_status or "none")},
        hint="Check the last runs of the sync job and `invsync status`; a forced resync is the `full_resync` job.",
    )


@sensor(name="check_alerts", minimum_interval_seconds=300, default_status=DefaultSensorStatus.RUNNING,
        description=f"Mails failed asset checks and stale data ({load_time_settings().freshness.describe()}), "
                    "once per incident.")
def check_alerts(context: SensorEvaluationContext, invsync: InvsyncResource, mailer: AlertMailer) -> SkipReason:
    ledger = Ledger(context.cursor)
    instance, mask = context.instance, masker()
    mailed = 0
    for key, (evaluation, run_id) in latest_check_evaluations(context).items():
        if key.name.startswith("freshness_"):
            continue  # judged below from sync_logs, also when no run evaluates the check
        prefix = f"check:{key.asset_key.to_user_string()}:{key.name}:"
        if evaluation.passed:
            ledger.resolve(lambda k, _: k.startswith(prefix))
        else:
            mailed += notify(ledger, check_incident(evaluation, run_id), mailer, mask, context.log)

    settings = invsync.settings()
    if settings.warehouse.is_duckdb and warehouse_busy(instance):
        context.update_cursor(ledger.dumps())
        return SkipReason(f"{mailed} new incident(s); freshness deferred: a run holds the DuckDB warehouse")
    wh = invsync.reader(settings)
    for info in read_status(wh, settings):  # one record per seller account
        stale = info.relevant and info.level != "fresh"
        ledger.resolve(lambda key, _: key.startswith(f"freshness:{info.name}:")
                       and (not stale or key != f"freshness:{info.name}:{info.level}"))
        if stale:
            mailed += notify(ledger, freshness_incident(info), mailer, mask, context.log)
    context.update_cursor(ledger.dumps())
    return SkipReason(f"{mailed} new incident(s)")


@sensor(name="missed_sync_alerts", minimum_interval_seconds=900, default_status=DefaultSensorStatus.RUNNING,
        description="Mails when a scheduled sync of a marketplace did not start (no sync_logs row since the tick).")
def missed_sync_alerts(context: SensorEvaluationContext, invsync: InvsyncResource, mailer: AlertMailer) -> SkipReason:
    ledger = Ledger(context.cursor)
    now = utc_now()
    ledger.position.setdefault("watch_since", now.timestamp())  # ticks before the sensor existed do not count
    settings = invsync.settings()
    if settings.warehouse.is_duckdb and warehouse_busy(context.instance):
        context.update_cursor(ledger.dumps())
        return SkipReason("a run holds the DuckDB warehouse")
    wh = invsync.reader(settings)
    mailed = 0
    for marketplace in MARKETPLACES:
        key = f"missed:{marketplace}"
        market, schedule = get(marketplace), SYNC_SCHEDULE[marketplace]
        due = latest_tick(market.cron, now - MISSED_GRACE, TIMEZONE)
        started = last_attempt_started(wh, marketplace) if has_sync_logs(wh) else None
        if not market.enabled(settings) or due.timestamp() < ledger.position["watch_since"] \
                or (started is not None and started >= due - MISSED_SLACK):
            ledger.resolve(lambda k, _: k == key)
            continue
        mailed += notify(ledger, Incident(
            key=key, severity="ERROR", title="scheduled sync did not run", marketplace=marketplace,
            step=f"schedule {schedule.name}",
            error=f"no sync started since the {due:%Y-%m-%d %H:%M %Z} tick (checked {MISSED_GRACE} after it); "
                  f"last sync started {started or 'never'}",
            details={"Schedule": f"{market.cron} ({TIMEZONE}), every {SYNC_INTERVAL_HOURS} h"},
            hint="Is dagster-daemon running and the schedule on (Overview → Schedules)? Is the run queue stuck?",
        ), mailer, masker(), context.log)
    context.update_cursor(ledger.dumps())
    return SkipReason(f"{mailed} new missed-sync incident(s)")


ALL_SENSORS = [run_failure_alerts, check_alerts, missed_sync_alerts]
