"""Landing: one dlt multi-asset per marketplace, one asset per raw table (`raw_ozon/…`, `raw_wb/…`).

A thin wrapper over the sync core's landing (`pipelines.sync.landing.land_marketplace`, the
same call `invsync sync` makes: a child process calls the API, this step loads the package and
records it in `sync_logs` under the Dagster run id). `@dlt_assets` only describes the raw
tables; each one is reported with the rows this landing wrote to it. The staging, audit and
publish steps find what landed through `landing.pending_results(wh, run_id)`, so no data
passes between steps in memory.

The assets are partitioned by seller account (`ACCOUNT_PARTITIONS`: `default` and the accounts
file's): a run lands one account, its partition key, into that account's raw dataset. An
account without credentials is skipped, never failed: its assets report "skipped".
"""

# No `from __future__ import annotations`: Dagster reads these functions' type hints (context, resources).
import tempfile
from pathlib import Path
from typing import Any, Iterator

import dlt
from dagster import AssetExecutionContext, AssetsDefinition, Failure, MaterializeResult
from dagster_dlt import DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from orchestration.common import ACCOUNT_PARTITIONS, GROUP_LANDING, LANDING_OP, RAW_DATASET, TAG_FULL, raw_key
from orchestration.resources import InvsyncResource, warehouse_kind
from pipelines import sync_log
from pipelines.api_client import SyncStats
from pipelines.config import Settings
from pipelines.marketplaces import MARKETPLACES, get
from pipelines.sync import landing
from pipelines.config_accounts import account_key
from pipelines.sync.result import Outcome
from pipelines.warehouse import SYNC_LOCK


class InvsyncDltTranslator(DagsterDltTranslator):
    """Raw tables are keyed `<dataset>/<resource>` (e.g. `raw_ozon/product_stocks`), which is
    also what dbt calls them (`source('raw_ozon', 'product_stocks')`), so both halves meet in
    one lineage graph. A transformer depends on the resource that feeds it."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> Any:
        spec = super().get_asset_spec(data)
        resource = data.resource
        market = get(resource.source_name)  # dlt source names are the marketplaces' names
        parent = resource._pipe.parent  # dlt exposes the feeding resource only on the pipe
        deps = [raw_key(market.name, parent.name)] if parent is not None else []
        return spec.replace_attributes(
            key=raw_key(market.name, resource.name),
            deps=deps,
            group_name=GROUP_LANDING,
            description=f"{market.raw_dataset}.{resource.name}: raw {market.label} API answers landed by dlt "
                        f"({market.source_module.replace('.', '/')}.py).",
        )


TRANSLATOR = InvsyncDltTranslator()


def _spec_pipeline(marketplace: str) -> dlt.Pipeline:
    """A throwaway pipeline (temp folder) that names the destination kind for the specs."""
    destination = dlt.destinations.duckdb() if warehouse_kind() == "duckdb" else dlt.destinations.sqlalchemy()
    return dlt.pipeline(
        pipeline_name=f"invsync_{marketplace}_specs",
        destination=destination,
        dataset_name=RAW_DATASET[marketplace],
        pipelines_dir=str(Path(tempfile.gettempdir()) / "invsync-dagster-specs"),
    )


def land(context: AssetExecutionContext, invsync: InvsyncResource, marketplace: str) -> Iterator[MaterializeResult]:
    """Land the run's seller account (its partition key) with the sync core; raise `Failure`
    (masked) when it fails."""
    settings = invsync.settings()
    selected = [spec.key for spec in context.assets_def.specs if spec.key in context.selected_asset_keys]
    if len(selected) != len(context.assets_def.specs):  # one API answer feeds several raw tables
        raise Failure(description=f"{marketplace}: its raw tables land together; select all of "
                                  f"{LANDING_OP[marketplace]} (or run the sync_{marketplace} job)")
    account = settings.account(marketplace, context.partition_key)  # a partition removed from the file: ConfigError
    name = account_key(marketplace, account.id)
    reason = get(marketplace).skip_reason(settings.for_account(account))
    if reason:
        context.log.warning(f"{name} skipped: {reason}")
        for key in selected:
            yield MaterializeResult(asset_key=key, metadata={"skipped": reason})
        return

    landing.configure_dlt()
    wh = invsync.warehouse(settings)
    # Rows of syncs that died (a killed CLI sync, a run whose step process was killed) end as
    # `interrupted`, or as published when their data was, before this run adds its own.
    sync_log.settle_interrupted(wh, wh.lock_free(SYNC_LOCK), exclude_run=context.run.run_id, found_by="a Dagster run")
    full = context.run.tags.get(TAG_FULL, "").lower() == "true"
    result = landing.land_marketplace(settings, wh, marketplace, context.run.run_id, full, invsync.backoff_base,
                                      via="dagster", account=account.id)
    rec = result.record
    if result.status == Outcome.FAILED:
        raise Failure(description=f"{name} landing failed: {result.message}",
                      metadata={"marketplace": marketplace, "account": account.id, "sync_log_id": rec.id or 0,
                                "api_requests": rec.api_requests, "retries": rec.retries})
    common = {"marketplace": marketplace, "account": account.id, "sync_type": rec.sync_type, "load_id": rec.load_id or "",
              "sync_log_id": rec.id or 0, "api_requests": rec.api_requests, "retries": rec.retries,
              "records_fetched": rec.records_fetched}
    for key in selected:
        yield MaterializeResult(asset_key=key, metadata={**common, "rows_loaded": result.row_counts.get(key.path[-1], 0)})


def _spec_source(marketplace: str) -> Any:
    """The source with placeholder settings: only its resource names shape the asset specs."""
    return get(marketplace).make_source(Settings(), SyncStats(), {}, False, 1.0)


def build_landing_assets(marketplace: str) -> AssetsDefinition:
    @dlt_assets(
        dlt_source=_spec_source(marketplace),
        dlt_pipeline=_spec_pipeline(marketplace),
        name=LANDING_OP[marketplace],
        dagster_dlt_translator=TRANSLATOR,
        partitions_def=ACCOUNT_PARTITIONS[marketplace],
    )
    def _landing(context: AssetExecutionContext, invsync: InvsyncResource) -> Iterator[MaterializeResult]:
        yield from land(context, invsync, marketplace)

    return _landing


LANDING_ASSETS = {m.name: build_landing_assets(m.name) for m in MARKETPLACES}
