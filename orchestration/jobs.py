"""Jobs: the sync of each marketplace, one seller account per run, and the hourly freshness checks.

`sync_<marketplace>` is partitioned by the marketplace's seller accounts (its landing assets'
`ACCOUNT_PARTITIONS`): a run lands one account, then stages, audits and publishes it. Its
schedules (`schedules.py`) launch one run per account every six hours, and once a week one
full resync run per account (tag `invsync/full: true`); by hand, launch it for a partition, or
backfill all of them from the UI.

Run tags carry the concurrency contract of `dagster.yaml`: `invsync/account` (limit 1 per
value) keeps two runs of one account apart; `invsync/<marketplace>` bounds the runs of one
marketplace at once (its API rate limits are per account, but an operator may want fewer);
`invsync/warehouse` (limit 1) serialises the runs on one warehouse: DuckDB admits one writing
process, and all runs share the dbt tables of the write–audit–publish step
(`int_inventory__snapshot`), so overlapping runs could audit one run's snapshot and publish
another's.
"""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from orchestration.assets import LANDING_ASSETS, inventory_audit, publish_inventory, stage_snapshot
from orchestration.assets.transform import marketplace_dbt_assets
from orchestration.checks import FRESHNESS_CHECKS
from orchestration.common import MARKETPLACES, TAG_FULL, TAG_MARKETPLACE, TAG_WAREHOUSE, account_tag, lock_tag
from orchestration.resources import warehouse_kind

WAP_ASSETS = (stage_snapshot, inventory_audit, publish_inventory)


def run_tags(marketplace: str, full: bool = False, account: str | None = None) -> dict[str, str]:
    """The tags of a run of `sync_<marketplace>` (the job's own, or a scheduled run's with its account)."""
    tags = {TAG_MARKETPLACE: marketplace, TAG_WAREHOUSE: warehouse_kind(), lock_tag(marketplace): "sync"}
    if account is not None:
        tags.update(account_tag(marketplace, account))
    if full:
        tags[TAG_FULL] = "true"
    return tags


def sync_selection(marketplace: str) -> AssetSelection:
    """The marketplace's landing assets plus the stage → audit → publish chain, with their
    checks, less the other marketplaces' own dbt models (`marketplace_dbt_assets`): a run builds
    the staging of the marketplace it lands, as `invsync sync --marketplace` does, so another
    marketplace's broken model cannot hold it back and its assets are not reported rebuilt.
    The freshness check of a marketplace the job does not sync is left out too (it would judge
    data this run cannot change)."""
    selection = AssetSelection.assets(LANDING_ASSETS[marketplace]) | AssetSelection.assets(*WAP_ASSETS)
    others = [m for m in MARKETPLACES if m != marketplace]
    if not others:
        return selection
    return (selection - AssetSelection.assets(*(key for m in others for key in marketplace_dbt_assets(m)))
            - AssetSelection.checks(*(FRESHNESS_CHECKS[m] for m in others)))


def sync_job(marketplace: str) -> UnresolvedAssetJobDefinition:
    return define_asset_job(
        name=f"sync_{marketplace}",
        selection=sync_selection(marketplace),
        tags=run_tags(marketplace),
        description=f"Sync of one {marketplace} seller account (the partition): land → stage → audit → publish "
                    "inventory_data. Tag `invsync/full: true` re-reads complete snapshots (the weekly resync, "
                    "recovery after an outage).",
    )


SYNC_JOB = {name: sync_job(name) for name in MARKETPLACES}

check_freshness = define_asset_job(
    name="check_freshness",
    selection=AssetSelection.checks(*FRESHNESS_CHECKS.values()),
    tags={TAG_WAREHOUSE: warehouse_kind()},
    description="Evaluate the freshness checks on inventory_data (hourly: staleness shows when nothing runs).",
)

SYNC_JOBS = {job.name: (name,) for name, job in SYNC_JOB.items()}
ASSET_JOBS = [*SYNC_JOB.values(), check_freshness]
