"""`run_sync`: one sync of the selected marketplaces, land → stage → audit → publish.

`invsync sync`, `invsync demo`, the web service's sync launcher and the benchmark call
`run_sync`; the Dagster assets call the same steps one asset at a time (`landing`, `wap`), so
both paths record, gate and publish alike (a test holds them to identical results).

Every seller account of the selected marketplaces is synced (`Settings.accounts`: the `default`
one of each marketplace and those of the accounts file), each into its own raw dataset with its
own `sync_logs` row; accounts land in parallel (they share no rate limits), an account without
credentials is skipped, not failed, and one account's failure never holds another back. Syncs of
one warehouse run one at a time (`SYNC_LOCK`).
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import Iterator, Sequence

from pipelines import sync_log
from pipelines.config import Settings
from pipelines.config_accounts import Account, account_key
from pipelines.config_sections import ConfigError
from pipelines.marketplaces import MARKETPLACES, Marketplace, selected
from pipelines.sync import landing, wap
from pipelines.sync.dbt import DbtInvoker, worker_for_sync
from pipelines.sync.result import MarketplaceResult, Outcome, SyncResult
from pipelines.warehouse import SYNC_LOCK, Warehouse, warehouse_for
from migrations import runner as migrations

log = logging.getLogger(__name__)
steps = logging.getLogger("invsync.steps")  # one line per step, shown without -v (pipelines/logs.py)

# How long a sync waits for another sync of the same warehouse to finish: longer than a WB
# sync on a Basic token, which legitimately takes ~30 min (its remains report allows one call
# per 15 min; issue 22), so a scheduled sync queues behind it instead of refusing.
SYNC_LOCK_WAIT_SECONDS = 2400


def prepare_warehouse(settings: Settings, wh: Warehouse | None = None) -> Warehouse:
    """Open the warehouse and bring the product's own tables up to date.

    On MySQL each dlt dataset is its own database. They are created here with the character
    set and collation of the main database, because dbt joins across them and MySQL refuses
    to compare text of different collations.
    """
    wh = wh or warehouse_for(settings.warehouse)
    migrations.up(wh)
    if not settings.warehouse.is_duckdb:
        main = wh.query(
            "select default_character_set_name as cs, default_collation_name as co "
            "from information_schema.schemata where schema_name = %s",
            (settings.warehouse.database,),
        )[0]
        datasets = [m.dataset(settings.for_account(a)) for m in MARKETPLACES for a in settings.accounts_of(m)]
        datasets += [f"{name}_staging" for name in datasets]  # dlt's merge staging datasets
        with wh.connection() as conn:
            for dataset in datasets:
                wh.execute(conn, f"create database if not exists `{dataset}` character set {main['cs']} collate {main['co']}")
    return wh


def sync_units(settings: Settings, markets: Sequence[Marketplace],
               accounts: Sequence[str] | None) -> list[tuple[Marketplace, Account]]:
    """The (marketplace, account) pairs a sync covers; an id no selected marketplace has is a
    ConfigError naming the configured ones."""
    units = [(m, a) for m in markets for a in settings.accounts_of(m) if accounts is None or a.id in accounts]
    unknown = sorted(set(accounts or ()) - {a.id for _, a in units})
    if unknown:
        known = ", ".join(sorted({f"{a.marketplace}/{a.id}" for m in markets for a in settings.accounts_of(m)}))
        raise ConfigError(f"no account {', '.join(unknown)} on {', '.join(m.name for m in markets)} "
                          f"(configured: {known})")
    return units


@contextmanager
def timed(timings: dict[str, float], phase: str) -> Iterator[None]:
    steps.info("step: %s", phase)  # the web console's "Sync now" reads the phase from this line
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[phase] = round(timings.get(phase, 0.0) + time.perf_counter() - started, 3)


def run_sync(
    settings: Settings,
    which: str = "all",
    full: bool = False,
    backoff_base: float = 1.0,
    publish: bool = True,
    override: str | None = None,
    dbt: DbtInvoker | None = None,
    accounts: Sequence[str] | None = None,
) -> SyncResult:
    """Sync `which` (`all` or a marketplace's name) and return what happened.

    `accounts` limits the sync to those account ids (`invsync sync --account`); None: all of them.

    `publish=False` lands only (the raw tables; their rows end `success` without touching
    `inventory_data`: for tests of the landing and for loading raw data by hand).
    `override` ("who: why") publishes despite critical checks, on record.
    """
    markets = selected(which)  # an unknown name fails before anything is written
    units = sync_units(settings, markets, accounts)  # so does an unknown account
    landing.configure_dlt()
    wh = prepare_warehouse(settings)  # migrations take their own lock and are idempotent
    # Syncs of one warehouse share dlt's working folders, the raw tables and the audited
    # snapshot: one at a time, from before the first sync_logs row to the last (a MySQL named
    # lock; on DuckDB an flock on `<file>.sync.lock`). A second sync waits, then refuses
    # having written no sync_logs row.
    with wh.exclusive(SYNC_LOCK, SYNC_LOCK_WAIT_SECONDS, "syncing"), ExitStack() as stack:
        # Holding the lock, no other CLI sync runs: rows still `running` belong to dead syncs.
        for rec in sync_log.settle_interrupted(wh, sync_lock_free=True):
            log.warning("%s sync %s (started %s) ended as %s: %s", rec.marketplace, rec.run_id,
                        rec.started_at, rec.status, rec.error_message or "its data had been published")
        run_id = str(uuid.uuid4())
        timings: dict[str, float] = {}
        results: dict[str, MarketplaceResult] = {}
        to_run = []
        for market, account in units:
            reason = market.skip_reason(settings.for_account(account))
            if reason:
                if account.is_default and len(settings.accounts_of(market)) > 1:
                    continue  # a marketplace synced by its accounts file's accounts only
                results[account_key(market.name, account.id)] = MarketplaceResult(market.name, message=reason,
                                                                                  account=account.id)
            else:
                to_run.append((market.name, account.id))
        # dbt's imports (seconds) and its first parse of a warehouse happen in its helper process
        # while the landing calls the APIs.
        if publish and to_run:
            dbt = dbt or stack.enter_context(worker_for_sync(settings, parse_ahead=True))
        landings = max(1, min(len(to_run), settings.parallel_landings))  # at most INVSYNC_PARALLEL_LANDINGS at once
        with timed(timings, "landing"), ThreadPoolExecutor(max_workers=landings) as pool:
            futures = {account_key(name, account): pool.submit(landing.land_marketplace, settings, wh, name, run_id,
                                                              full, backoff_base, "cli", account)
                       for name, account in to_run}
            for name, future in futures.items():
                results[name] = future.result()
        try:
            if publish:
                # The audit's process starts once the landing is over: Great Expectations' import
                # (~2 s of CPU, ~280 MB) then overlaps dbt's staging build instead of taking CPU
                # from the landing, and its memory is not added to the landing's. It ends after
                # the audit (`AuditWorker.done`).
                auditor = (stack.enter_context(wap.audit_worker_for_sync(settings))
                           if wap.landed_results(results) else None)
                write_audit_publish(settings, wh, results, dbt, override, timings, auditor)
            else:
                for result in wap.landed_results(results).values():
                    result.record.finish(Outcome.SUCCESS)
                    sync_log.update(wh, result.record)
        except Exception as exc:  # noqa: BLE001 - recorded on every unfinished row, never left `running`
            message = settings.mask(f"publish step failed: {landing.root_cause(exc)}")
            log.error(message)
            wap.fail_all(wh, {n: r for n, r in results.items() if r.status == Outcome.RUNNING}, message)
        return SyncResult(run_id, "full" if full else "incremental", results, timings)


def write_audit_publish(settings: Settings, wh: Warehouse, results: dict[str, MarketplaceResult], dbt: DbtInvoker,
                        override: str | None, timings: dict[str, float], auditor: wap.AuditWorker | None = None) -> None:
    """Stage, audit and publish every marketplace of `results` that landed; the audit in
    `auditor`'s process if given (ended after the audit, before the publish), else here."""
    with timed(timings, "staging"):
        staged = wap.stage(settings, wh, wap.landed_results(results), dbt)
    if not staged:
        return
    with timed(timings, "audit"):
        try:
            approved = wap.audit(settings, wh, staged, override, auditor or wap.audit_here)
        finally:
            if auditor is not None:
                auditor.done()
    with timed(timings, "publish"):
        wap.publish_inventory(settings, wh, approved, dbt)
