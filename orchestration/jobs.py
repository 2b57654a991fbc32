"""Jobs: incremental sync per marketplace, the full resync, and the hourly freshness checks.

Run tags carry the concurrency contract of `dagster.yaml`: `invsync/<marketplace>` (limit 1)
keeps two syncs of one marketplace apart; a full resync carries both. `invsync/warehouse`
(limit 1) serialises the runs on one warehouse: DuckDB admits one writing process, and all
runs share the dbt tables of the write–audit–publish step (`int_inventory__snapshot`), so
overlapping runs could audit one run's snapshot and publish another's. Within one run both
marketplaces land in parallel (multiprocess executor on MySQL).
"""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from orchestration.assets import LANDING_ASSETS, inventory_audit, publish_inventory, stage_snapshot
from orchestration.checks import FRESHNESS_CHECKS
from orchestration.common import MARKETPLACES, TAG_FULL, TAG_MARKETPLACE, TAG_WAREHOUSE, lock_tag
from orchestration.resources import warehouse_kind

WAP_ASSETS = (stage_snapshot, inventory_audit, publish_inventory)


def run_tags(marketplaces: tuple[str, ...], full: bool) -> dict[str, str]:
    tags = {TAG_MARKETPLACE: marketplaces[0] if len(marketplaces) == 1 else "all", TAG_WAREHOUSE: warehouse_kind()}
    tags.update({lock_tag(m): "sync" for m in marketplaces})
    if full:
        tags[TAG_FULL] = "true"
    return tags


def sync_selection(marketplaces: tuple[str, ...]) -> AssetSelection:
    """The marketplaces' landing assets plus the whole stage → audit → publish chain (the dbt
    steps always build every model, as `invsync sync --marketplace` does), with their checks.
    The freshness check of a marketplace the job does not sync is left out (it would judge
    data this run cannot change)."""
    selection = AssetSelection.assets(*(LANDING_ASSETS[m] for m in marketplaces)) | AssetSelection.assets(*WAP_ASSETS)
    others = [FRESHNESS_CHECKS[m] for m in MARKETPLACES if m not in marketplaces]
    return selection - AssetSelection.checks(*others) if others else selection


def sync_job(marketplace: str) -> UnresolvedAssetJobDefinition:
    return define_asset_job(
        name=f"sync_{marketplace}",
        selection=sync_selection((marketplace,)),
        tags=run_tags((marketplace,), full=False),
        description=f"Incremental sync of {marketplace}: land → stage → audit → publish inventory_data.",
    )


SYNC_JOB = {name: sync_job(name) for name in MARKETPLACES}

full_resync = define_asset_job(
    name="full_resync",
    selection=sync_selection(MARKETPLACES),
    tags=run_tags(MARKETPLACES, full=True),
    description="Full resync of every marketplace (complete snapshots, statistics re-read from the start): "
                "the weekly reconciliation and the recovery after an outage.",
)

check_freshness = define_asset_job(
    name="check_freshness",
    selection=AssetSelection.checks(*FRESHNESS_CHECKS.values()),
    tags={TAG_WAREHOUSE: warehouse_kind()},
    description="Evaluate the freshness checks on inventory_data (hourly: staleness shows when nothing runs).",
)

SYNC_JOBS = {**{job.name: (name,) for name, job in SYNC_JOB.items()}, "full_resync": MARKETPLACES}
ASSET_JOBS = [*SYNC_JOB.values(), full_resync, check_freshness]
