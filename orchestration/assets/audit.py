"""Audit: the Great Expectations gate between the staged snapshot and `inventory_data`.

A thin wrapper over the sync core's audit (`pipelines.sync.wap.audit`) on what this run landed. A marketplace with a critical
failure is marked `failed` there (its previous good data stays); the approved ones keep their
`running` row, now carrying the audit's warnings and counts, which the publish step reads
back with `landing.pending_results`. An operator can override a block by launching the run
with the tag `invsync/force-publish: "who: why"` (the CLI's `--force-publish`).
"""

# No `from __future__ import annotations`: Dagster reads these functions' type hints (context, resources).
import json

from dagster import AssetExecutionContext, Failure, MaterializeResult, asset

from orchestration.common import AUDIT_KEY, GROUP_AUDIT, SNAPSHOT_KEY, TAG_FORCE_PUBLISH
from orchestration.resources import InvsyncResource
from pipelines.sync import landing, wap


@asset(key=AUDIT_KEY, deps=[SNAPSHOT_KEY], group_name=GROUP_AUDIT, kinds={"great_expectations"},
       description="Great Expectations audit of int_inventory__snapshot; decides which marketplaces are published.")
def inventory_audit(context: AssetExecutionContext, invsync: InvsyncResource) -> MaterializeResult:
    settings = invsync.settings()
    wh = invsync.warehouse(settings)
    landed = landing.pending_results(wh, context.run.run_id)
    override = context.run.tags.get(TAG_FORCE_PUBLISH) or None
    try:
        approved = wap.audit(settings, wh, landed, override=override)
    except Exception as exc:  # noqa: BLE001 - the rows must not stay `running`
        message = settings.mask(f"audit failed: {exc}")
        wap.fail_unfinished(wh, context.run.run_id, message)
        raise Failure(description=message) from None
    blocked = {name: r.record.error_message or "" for name, r in landed.items() if name not in approved}
    for name, reason in blocked.items():
        context.log.error(f"{name}: {reason}")
    summaries = {name: r.record.details.get("audit", {}) for name, r in landed.items()}
    return MaterializeResult(metadata={
        "approved": ", ".join(sorted(approved)) or "none",
        "blocked": json.dumps(blocked, ensure_ascii=False) if blocked else "none",
        "override": override or "none",
        "audit": json.dumps(summaries, ensure_ascii=False, default=str),
    })
