"""Write–audit–publish: the landed loads become `inventory_data` only if they pass the audit.

- write (`stage`): dbt builds staging and `int_inventory__snapshot` for exactly the loads that
  landed, with their tests; a failing model or error-severity test fails those marketplaces.
- audit (`audit`): the Great Expectations checks (`expectations/`) on the snapshot against
  the previous good state; a broken answer holds its marketplace back unless an operator
  overrides it (recorded).
- publish (`publish_inventory`): the approved snapshots merge into `inventory_data`; its tests
  run after, and can only warn (the data is published by then).

Each marketplace's `sync_logs` row ends as `success`, `partial` (published with rejected rows
or warnings) or `failed` (nothing published: the previous good data stays). Used by the sync
core (`pipelines.sync.core`) and, step by step, by the Dagster assets.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping

from pipelines import sync_log
from pipelines.config import Settings
from pipelines.config_accounts import account_key
from pipelines.sync import child
from pipelines.sync.dbt import APPROVE, PUBLISH, STAGE, DbtInvoker
from pipelines.sync.result import MarketplaceResult, Outcome
from pipelines.warehouse import Warehouse

log = logging.getLogger(__name__)

# Runs the checks on the staged snapshot: (settings, warehouse, landed, run id) -> {result key:
# AuditOutcome}. In this process (`audit_here`: the Dagster step, a process of its own anyway)
# or in a process of its own (`AuditWorker`: the CLI's sync, whose process goes on to publish).
Auditor = Callable[[Settings, Warehouse, Mapping[str, MarketplaceResult], str], Mapping[str, Any]]


def audit_here(settings: Settings, wh: Warehouse, landed: Mapping[str, MarketplaceResult], run_id: str) -> Mapping[str, Any]:
    from expectations.audit import audit_snapshot  # Great Expectations: imported when a sync gets here

    return audit_snapshot(settings, wh, landed, run_id)


class AuditWorker:
    """The sync's `Auditor` outside Dagster: the checks in a helper process (`audit_worker`),
    leased when the landing is over so Great Expectations' import overlaps dbt's staging build
    (not the landing, whose two cores it slowed, nor its memory), and ended
    after the audit (`audit_worker_for_sync`), so the audit's memory (its frames, GE's batches:
    ~900 MB at 100,000 products, which a process keeps once it has had it) is gone before
    dbt's publish, and this process never imports Great Expectations at all."""

    def __init__(self, helper: child.Helper, keep: bool) -> None:
        self._helper = helper
        self._keep = keep

    def __call__(self, settings: Settings, wh: Warehouse, landed: Mapping[str, MarketplaceResult],
                 run_id: str) -> Mapping[str, Any]:
        answer = self._helper.ask({"settings": settings, "run_id": run_id,
                                   "landed": {key: (r.marketplace, r.account, r.counts) for key, r in landed.items()}})
        if answer is None:
            raise RuntimeError(f"the audit process ended (exit code {self._helper.exit_code()}) before answering")
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer["outcomes"]

    def done(self) -> None:
        """After the audit: a process that will not wait for the next sync (`child.keepable`:
        INVSYNC_KEEP_HELPERS off, or grown large) ends now, before the publish, so its memory
        is gone when dbt's grows (it exits without Python's teardown: see `audit_worker.main`)."""
        if not child.keepable(self._helper, self._keep):
            self._helper.close(timeout=30)


@contextmanager
def audit_worker_for_sync(settings: Settings) -> Iterator[AuditWorker]:
    """An audit process for one sync (with INVSYNC_KEEP_HELPERS an idle small one is kept for the
    next sync; one grown past `child.KEEP_BELOW_MB` by a large account's audit is ended)."""
    with child.lease("pipelines.sync.audit_worker", keep=settings.keep_helpers) as helper:
        yield AuditWorker(helper, settings.keep_helpers)

# The models of the publish step that record history after `inventory_data` is merged.
HISTORY_MODELS = frozenset(PUBLISH.select.split()) - {"inventory_data"}


def landed_results(results: Mapping[str, MarketplaceResult]) -> dict[str, MarketplaceResult]:
    """The accounts whose landing succeeded and that still wait for their publish."""
    return {name: r for name, r in results.items() if r.landed}


def loads_of(landed: Mapping[str, MarketplaceResult]) -> dict[str, dict[str, str]]:
    """The loads dbt builds (INVSYNC_PUBLISH_LOADS): {marketplace: {account: load id}}."""
    loads: dict[str, dict[str, str]] = {}
    for r in landed.values():
        loads.setdefault(r.marketplace, {})[r.account] = r.record.load_id
    return loads


def enter_phase(wh: Warehouse, results: Mapping[str, MarketplaceResult], phase: str) -> None:
    """Record on each sync_logs row that its sync reached `phase` (see `sync_log.enter_phase`)."""
    for result in results.values():
        sync_log.enter_phase(wh, result.record, phase)


def fail_all(wh: Warehouse, results: Mapping[str, MarketplaceResult], message: str) -> None:
    """End the rows of these marketplaces as `failed`: nothing of them is published."""
    log.error(message)
    for result in results.values():
        result.message = message
        result.record.finish(Outcome.FAILED, message[:4000])
        sync_log.update(wh, result.record)


def stage(settings: Settings, wh: Warehouse, landed: Mapping[str, MarketplaceResult],
          dbt: DbtInvoker) -> dict[str, MarketplaceResult]:
    """Write: build staging and `int_inventory__snapshot` for exactly the landed loads; returns
    the accounts staged (the others are `failed`).

    One account's broken load must not hold the others back: when a build of several accounts
    fails, each is built alone to find the ones that fail, and the rest are built again
    together (the snapshot holds every account the audit and the publish read). This costs
    builds only on the failure path.
    """
    if not landed:
        return {}
    enter_phase(wh, landed, "staging")
    with wh.writing():  # dbt opens the warehouse: readers wait meanwhile (DuckDB)
        run = dbt(STAGE, loads_of(landed))
        if run.ok:
            return dict(landed)
        broken = {}
        if len(landed) > 1 and not run.error:
            for key, result in landed.items():
                alone = dbt(STAGE, loads_of({key: result}))
                if not alone.ok:
                    broken[key] = alone
        staged = {key: r for key, r in landed.items() if key not in broken}
        if broken and staged and dbt(STAGE, loads_of(staged)).ok:
            for key, alone in broken.items():
                fail_all(wh, {key: landed[key]}, settings.mask(f"dbt staging failed: {alone.describe()}"))
            return staged
    fail_all(wh, landed, settings.mask(f"dbt staging failed: {run.describe()}"))
    return {}


def snapshot_stats(wh: Warehouse, result: MarketplaceResult) -> dict[str, int]:
    rows = wh.query(
        "select count(*) as n, sum(case when rejection_reason is not null then 1 else 0 end) as rejected "
        "from int_inventory__snapshot where marketplace = %s and account = %s",
        (result.marketplace, result.account),
    )
    return {"rows": int(rows[0]["n"] or 0), "rejected": int(rows[0]["rejected"] or 0)}


def rejected_rows(wh: Warehouse, result: MarketplaceResult, limit: int = 20) -> list[dict[str, Any]]:
    return wh.query(
        "select sku, warehouse_id, stock_type, quantity_present, quantity_reserved, rejection_reason "
        "from int_inventory__snapshot where marketplace = %s and account = %s and rejection_reason is not null "
        "order by sku limit " + str(int(limit)),
        (result.marketplace, result.account),
    )


def audit(settings: Settings, wh: Warehouse, landed: Mapping[str, MarketplaceResult],
          override: str | None = None, auditor: Auditor = audit_here) -> dict[str, MarketplaceResult]:
    """Audit: run the checks; return the marketplaces that may be published.

    A critical failure marks the marketplace `failed` in sync_logs (its previous good data
    stays) unless an operator `override` ("who: why") is given, which is recorded. The rows of
    approved marketplaces are saved with the audit's notes (the publish may run in another process).
    """
    if not landed:
        return {}
    enter_phase(wh, landed, "audit")
    run_id = next(iter(landed.values())).record.run_id
    outcomes = auditor(settings, wh, landed, run_id)
    for name, outcome in outcomes.items():  # logged here, wherever the audit ran
        for line in outcome.critical:
            log.error("%s critical: %s", name, line)
        for line in outcome.warnings:
            log.warning("%s warning: %s", name, line)
    approved: dict[str, MarketplaceResult] = {}
    for name, result in landed.items():
        rec = result.record
        stats = snapshot_stats(wh, result)
        rec.records_rejected = stats["rejected"]
        if stats["rejected"]:
            rec.warnings.append(f"{stats['rejected']} rows rejected (not published), e.g. {rejected_rows(wh, result, 5)}")
        outcome = outcomes.get(name)
        if outcome is not None:
            rec.warnings.extend(outcome.warnings)
            rec.details["audit"] = outcome.summary()
            if outcome.critical and not override:
                fail_all(wh, {name: result}, "publish blocked by critical checks: " + "; ".join(outcome.critical))
                continue
            if outcome.critical:
                rec.warnings.extend(outcome.critical)  # what was overridden stays on record
                rec.warnings.append(f"critical checks overridden by operator {override}")
                rec.details["override"] = override
        sync_log.update(wh, rec)
        approved[name] = result
    return approved


def written_rows(wh: Warehouse, result: MarketplaceResult, synced_at: Any) -> int:
    rows = wh.query("select count(*) as n from inventory_data where marketplace = %s and account = %s and updated_at = %s",
                    (result.marketplace, result.account, synced_at))
    return int(rows[0]["n"] or 0)


def publish_inventory(settings: Settings, wh: Warehouse, approved: Mapping[str, MarketplaceResult],
                      dbt: DbtInvoker) -> bool:
    """Publish: merge the approved snapshots into `inventory_data`, test it, finish sync_logs.

    With nothing approved only the approval is emptied: `inventory_data` keeps the previous good data.
    Returns False when the merge failed (the rows are then `failed`).
    """
    if not approved:  # withdraw the landed loads from `int_sync__publishable`: a hand-run
        with wh.writing():  # `dbt build -s inventory_data` must not merge a held-back snapshot
            dbt(APPROVE, {})
        return True
    enter_phase(wh, approved, "publish")
    with wh.writing():
        run = dbt(PUBLISH, loads_of(approved))
    # A failing approval test skips the merge: nothing was published then, as when a model fails.
    # The history models build after the merge: when only they fail, inventory_data is published
    # (the sync must not say `failed`, which means nothing changed) and history is behind until
    # the next publish, which catches up (models/marts/history): a warning.
    failed_models = {name.split(":", 1)[0] for name in run.failed("model")} | set(run.skipped("model"))
    if run.error or failed_models - HISTORY_MODELS:
        fail_all(wh, approved, settings.mask(f"dbt publish failed: {run.describe()}"))
        return False
    if failed_models:
        for result in approved.values():
            result.record.warnings.append(settings.mask(
                "stock history not written (the next publish catches up): " + run.describe()))
    if run.failed("test"):  # the data is published by now: failing tests are reported, they cannot block
        for result in approved.values():
            result.record.warnings.append(settings.mask("dbt tests on inventory_data failed: " + "; ".join(run.failed("test"))))
    for result in approved.values():
        rec = result.record
        rec.records_written = written_rows(wh, result, sync_log.naive_utc(rec.started_at))
        rec.finish(Outcome.PARTIAL if rec.records_rejected or rec.warnings else Outcome.SUCCESS, rec.error_message)
        sync_log.update(wh, rec)
    return True


def fail_unfinished(wh: Warehouse, run_id: str, message: str) -> list[str]:
    """End every still-`running` row of a run as `failed`; returns their `account_key`s.

    A step that fails after landing (dbt, audit, publish) or a run that dies would otherwise
    leave rows that say `running` forever; `failed` is the truth: nothing of them was published.
    """
    closed = []
    for row in wh.query("select * from sync_logs where run_id = %s and status = 'running'", (run_id,)):
        rec = sync_log.from_row(row)
        rec.finish(Outcome.FAILED, message[:4000])
        sync_log.update(wh, rec)
        closed.append(account_key(rec.marketplace, rec.account))
    return closed
