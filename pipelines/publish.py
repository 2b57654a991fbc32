"""After landing: build the snapshot with dbt, audit it, publish it into `inventory_data`.

Write–audit–publish: dbt builds staging and `int_inventory__snapshot` for exactly the loads
that just landed; the audit (`expectations/`) checks that snapshot against the previous good
state; only what passes is merged into `inventory_data`. Each marketplace's `sync_logs` row
ends as `success`, `partial` (published with rejected rows or warnings) or `failed`
(landing failed, or the audit blocked the publish: the previous good data stays).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

from pipelines import sync_log
from pipelines.dbt_build import DbtError, failed_models, failure_message, run_dbt
from pipelines.runner import MarketplaceResult
from pipelines.config import Settings
from pipelines.warehouse import Warehouse

log = logging.getLogger(__name__)

# audit(settings, warehouse, landed results, run id) -> {marketplace: AuditOutcome}
Auditor = Callable[[Settings, Warehouse, Mapping[str, MarketplaceResult], str], Mapping[str, Any]]


def _default_auditor() -> Auditor | None:
    try:
        from expectations.audit import audit_snapshot
    except ImportError:  # the expectations package is optional for a bare landing
        return None
    return audit_snapshot


def warm_up() -> None:
    """Import dbt and Great Expectations ahead of the publish step (seconds of imports each).

    `run_sync` calls this in a background thread while the landing processes call the APIs,
    so the write-audit-publish step starts at once when the data is in.
    """
    import dbt.cli.main  # noqa: F401

    _default_auditor()


def snapshot_stats(wh: Warehouse, marketplace: str) -> dict[str, int]:
    rows = wh.query(
        "select count(*) as n, "
        "sum(case when rejection_reason is not null then 1 else 0 end) as rejected "
        "from int_inventory__snapshot where marketplace = %s",
        (marketplace,),
    )
    return {"rows": int(rows[0]["n"] or 0), "rejected": int(rows[0]["rejected"] or 0)}


def rejected_rows(wh: Warehouse, marketplace: str, limit: int = 20) -> list[dict[str, Any]]:
    return wh.query(
        "select sku, warehouse_id, stock_type, quantity_present, quantity_reserved, rejection_reason "
        "from int_inventory__snapshot where marketplace = %s and rejection_reason is not null "
        "order by sku limit " + str(int(limit)),
        (marketplace,),
    )


def written_rows(wh: Warehouse, marketplace: str, synced_at: Any) -> int:
    rows = wh.query(
        "select count(*) as n from inventory_data where marketplace = %s and updated_at = %s",
        (marketplace, synced_at),
    )
    return int(rows[0]["n"] or 0)


def landed_results(results: Mapping[str, MarketplaceResult]) -> dict[str, MarketplaceResult]:
    """The marketplaces whose landing succeeded and that still wait for their publish."""
    return {n: r for n, r in results.items() if r.status == "success" and r.record and r.record.load_id
            and r.record.status == "running"}


def loads_of(landed: Mapping[str, MarketplaceResult]) -> dict[str, str]:
    return {name: r.record.load_id for name, r in landed.items()}


def enter_phase(wh: Warehouse, results: Mapping[str, MarketplaceResult], phase: str) -> None:
    """Record on each sync_logs row that its sync reached `phase` (see `sync_log.enter_phase`)."""
    for result in results.values():
        sync_log.enter_phase(wh, result.record, phase)


def stage(settings: Settings, wh: Warehouse, landed: Mapping[str, MarketplaceResult]) -> bool:
    """Write: build staging and `int_inventory__snapshot` for exactly the landed loads."""
    enter_phase(wh, landed, "staging")
    try:
        # One dbt invocation (each one re-reads the project): the catalog seed and the models.
        with wh.writing():  # dbt opens the warehouse: readers wait meanwhile (DuckDB)
            run_dbt(settings, ["build", "--select", "+int_inventory__snapshot", "--resource-type", "seed",
                               "--resource-type", "model"], loads_of(landed))
    except DbtError as exc:
        _fail_all(wh, landed, f"dbt staging failed: {exc}")
        return False
    return True


def audit(
    settings: Settings,
    wh: Warehouse,
    landed: Mapping[str, MarketplaceResult],
    auditor: Auditor | None | str = "default",
    override: str | None = None,
) -> dict[str, MarketplaceResult]:
    """Audit: run the checks; return the marketplaces that may be published.

    A critical failure marks the marketplace `failed` in sync_logs (its previous good data
    stays) unless an operator `override` ("who: why") is given, which is recorded.
    """
    check = _default_auditor() if auditor == "default" else auditor
    enter_phase(wh, landed, "audit")
    run_id = next(iter(landed.values())).record.run_id if landed else "manual"
    outcomes = check(settings, wh, landed, run_id) if (check and landed) else {}
    approved: dict[str, MarketplaceResult] = {}
    for name, result in landed.items():
        rec = result.record
        stats = snapshot_stats(wh, name)
        rec.records_rejected = stats["rejected"]
        if stats["rejected"]:
            sample = rejected_rows(wh, name, 5)
            rec.warnings.append(f"{stats['rejected']} rows rejected (not published), e.g. {sample}")
        outcome = outcomes.get(name)
        if outcome is not None:
            rec.warnings.extend(outcome.warnings)
            rec.details["audit"] = outcome.summary()
            if outcome.critical and not override:
                result.status = "failed"
                rec.finish("failed", "publish blocked by critical checks: " + "; ".join(outcome.critical))
                sync_log.update(wh, rec)
                continue
            if outcome.critical:
                rec.warnings.extend(outcome.critical)  # what was overridden stays on record
                rec.warnings.append(f"critical checks overridden by operator {override}")
                rec.details["override"] = override
        approved[name] = result
    return approved


def publish_inventory(settings: Settings, wh: Warehouse, approved: Mapping[str, MarketplaceResult]) -> None:
    """Publish: merge the approved snapshots into `inventory_data`, test it, finish sync_logs."""
    if not approved:
        return
    loads = loads_of(approved)
    enter_phase(wh, approved, "publish")
    # One dbt invocation (each one re-reads the project): the models, then their tests.
    args = ["build", "--select", "int_sync__publishable", "inventory_data"]
    with wh.writing():
        result = run_dbt(settings, args, loads, check=False)
    if failed_models(result):
        _fail_all(wh, approved, f"dbt publish failed: {failure_message(settings, args, result)}")
        return
    if not result.success:
        # The data is published by now: failing tests on it are reported, they cannot block.
        for r in approved.values():
            r.record.warnings.append(f"dbt tests on inventory_data failed: {failure_message(settings, args, result)}")
    finish_published(wh, approved)


def finish_published(wh: Warehouse, approved: Mapping[str, MarketplaceResult]) -> None:
    """End the sync_logs rows of published marketplaces as `success` or `partial`."""
    for name, result in approved.items():
        rec = result.record
        rec.records_written = written_rows(wh, name, sync_log.naive_utc(rec.started_at))
        result.status = "partial" if rec.records_rejected or rec.warnings else "success"
        rec.finish(result.status, rec.error_message)
        sync_log.update(wh, rec)


def publish(
    settings: Settings,
    wh: Warehouse,
    results: dict[str, MarketplaceResult],
    auditor: Auditor | None | str = "default",
    override: str | None = None,
) -> None:
    """Write–audit–publish every marketplace that landed (the runner's `after_landing`)."""
    landed = landed_results(results)
    if landed and stage(settings, wh, landed):
        publish_inventory(settings, wh, audit(settings, wh, landed, auditor, override))


def _fail_all(wh: Warehouse, results: Mapping[str, MarketplaceResult], message: str) -> None:
    log.error(message)
    for result in results.values():
        result.status = "failed"
        result.record.finish("failed", message)
        sync_log.update(wh, result.record)
