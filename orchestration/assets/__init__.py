"""The asset graph: landing (dlt) → staging (dbt) → audit (Great Expectations) → publish (dbt)."""

from __future__ import annotations

from dagster import AssetSpec

from orchestration.assets.audit import inventory_audit
from orchestration.assets.landing import LANDING_ASSETS
from orchestration.assets.transform import publish_inventory, stage_snapshot
from orchestration.common import SYNC_LOGS_KEY

# Written by every step through pipelines.sync_log, read by dbt (`source('ops', 'sync_logs')`).
sync_logs = AssetSpec(
    SYNC_LOGS_KEY,
    description="One row per marketplace per sync (pipelines/sync_log.py), written by the landing, "
                "audit and publish steps; the dbt models read it to pick the loads to publish.",
    group_name="ops",
    kinds={"sql"},
)

ALL_ASSETS = [*LANDING_ASSETS.values(), stage_snapshot, inventory_audit, publish_inventory, sync_logs]

__all__ = ["ALL_ASSETS", "LANDING_ASSETS", "inventory_audit", "publish_inventory",
           "stage_snapshot", "sync_logs"]
