"""Landing: one dlt multi-asset per marketplace, one asset per raw table (`raw_ozon/…`, `raw_wb/…`).

The run is the CLI's landing step, step by step (`pipelines.runner`): a `running` row in
`sync_logs` with the Dagster run id, the same dlt pipeline and source, then `record_landed`
or `record_failed`. The staging, audit and publish steps find what landed through
`runner.pending_results(wh, run_id)`, so no data passes between steps in memory.

A marketplace without credentials is skipped, never failed: its assets report "skipped" so
that the other marketplace of a full resync is still published.
"""

# No `from __future__ import annotations`: Dagster reads these functions' type hints (context, resources).
import tempfile
import traceback
from pathlib import Path
from typing import Any, Iterator

import dlt
from dagster import AssetExecutionContext, AssetsDefinition, Failure, MaterializeResult
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from orchestration.common import GROUP_LANDING, LANDING_OP, RAW_DATASET, TAG_FULL, raw_key
from orchestration.resources import InvsyncResource, warehouse_kind
from pipelines import runner, sync_log
from pipelines.api_client import SyncStats
from pipelines.config import Settings

SOURCE_MARKETPLACE = {"ozon": "ozon", "wb": "wb"}  # dlt source name -> marketplace


class InvsyncDltTranslator(DagsterDltTranslator):
    """Raw tables are keyed `<dataset>/<resource>` (e.g. `raw_ozon/product_stocks`), which is
    also what dbt calls them (`source('raw_ozon', 'product_stocks')`), so both halves meet in
    one lineage graph. A transformer depends on the resource that feeds it."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> Any:
        spec = super().get_asset_spec(data)
        resource = data.resource
        marketplace = SOURCE_MARKETPLACE[resource.source_name]
        parent = resource._pipe.parent  # dlt exposes the feeding resource only on the pipe
        deps = [raw_key(marketplace, parent.name)] if parent is not None else []
        return spec.replace_attributes(
            key=raw_key(marketplace, resource.name),
            deps=deps,
            group_name=GROUP_LANDING,
            description=f"{RAW_DATASET[marketplace]}.{resource.name}: raw API answers landed by dlt "
                        f"(pipelines/{'ozon' if marketplace == 'ozon' else 'wildberries'}.py).",
        )


TRANSLATOR = InvsyncDltTranslator()


def _spec_source(marketplace: str) -> Any:
    """The source with placeholder settings: only its resource names shape the asset specs.
    Runs build the real source from the current settings."""
    return runner.build_source(Settings(), marketplace, SyncStats(), {}, False, 1.0)


def _spec_pipeline(marketplace: str) -> dlt.Pipeline:
    """A throwaway pipeline (temp folder) that names the destination kind for the specs."""
    destination = dlt.destinations.duckdb() if warehouse_kind() == "duckdb" else dlt.destinations.sqlalchemy()
    return dlt.pipeline(
        pipeline_name=f"invsync_{marketplace}_specs",
        destination=destination,
        dataset_name=RAW_DATASET[marketplace],
        pipelines_dir=str(Path(tempfile.gettempdir()) / "invsync-dagster-specs"),
    )


def land(context: AssetExecutionContext, dlt_resource: DagsterDltResource, invsync: InvsyncResource,
         marketplace: str) -> Iterator[MaterializeResult]:
    """Land one marketplace and record it in sync_logs; raise `Failure` (masked) when it fails."""
    settings = invsync.settings()
    reason = runner.selected_marketplaces(settings, marketplace)[marketplace]
    if reason:
        context.log.warning(f"{marketplace} {reason}")
        for spec in context.assets_def.specs:  # in dlt's resource order: a feeding resource first
            if spec.key in context.selected_asset_keys:
                yield MaterializeResult(asset_key=spec.key, metadata={"skipped": reason})
        return

    runner.configure_dlt()
    wh = invsync.warehouse(settings)
    full = context.run.tags.get(TAG_FULL, "").lower() == "true"
    # Rows of syncs that died (a killed CLI sync, a run whose step process was killed) end as
    # `interrupted`, or as published when their data was, before this run adds its own.
    sync_log.settle_interrupted(wh, wh.lock_free(runner.SYNC_LOCK), exclude_run=context.run.run_id,
                                found_by="a Dagster run")
    result = runner.begin_landing(wh, marketplace, context.run.run_id, full, via="dagster")
    stats = SyncStats()
    try:
        # dlt opens the warehouse in this step (load_pending, then `run`): readers wait meanwhile.
        with wh.writing():
            # A package an interrupted sync left behind loads first: dlt's `run` would load it
            # instead of extracting, and this run would publish old stock as fresh.
            runner.load_pending(runner.make_pipeline(settings, marketplace))
            pipeline = runner.make_pipeline(settings, marketplace)
            # What published syncs landed, never a blocked sync's catalog or cursor (as in the CLI).
            base = runner.catalog_base(settings, wh, marketplace, full)
            source = runner.build_source(settings, marketplace, stats, result.counts, full, invsync.backoff_base,
                                         **base)
            events = list(dlt_resource.run(context=context, dlt_source=source, dlt_pipeline=pipeline,
                                           dagster_dlt_translator=TRANSLATOR))
        runner.record_landed(wh, result, pipeline, stats)
    except Exception as exc:  # noqa: BLE001 - recorded, then re-raised without secrets
        runner.record_failed(settings, wh, result, exc, stats)
        context.log.error(settings.mask(traceback.format_exc()))
        raise Failure(
            description=f"{marketplace} landing failed: {result.message}",
            metadata={"marketplace": marketplace, "sync_log_id": result.record.id or 0,
                      "api_requests": stats.requests, "retries": stats.retries},
        ) from None

    rec = result.record
    common = {"marketplace": marketplace, "sync_type": rec.sync_type, "load_id": rec.load_id or "",
              "sync_log_id": rec.id or 0, "api_requests": rec.api_requests, "retries": rec.retries,
              "records_fetched": rec.records_fetched}
    for event in events:
        yield MaterializeResult(asset_key=event.asset_key, metadata={**(event.metadata or {}), **common},
                                check_results=event.check_results, data_version=event.data_version, tags=event.tags)


def build_landing_assets(marketplace: str) -> AssetsDefinition:
    @dlt_assets(
        dlt_source=_spec_source(marketplace),
        dlt_pipeline=_spec_pipeline(marketplace),
        name=LANDING_OP[marketplace],
        dagster_dlt_translator=TRANSLATOR,
    )
    def _landing(context: AssetExecutionContext, dlt: DagsterDltResource, invsync: InvsyncResource) -> Iterator[MaterializeResult]:
        yield from land(context, dlt, invsync, marketplace)

    return _landing


landing_ozon = build_landing_assets("ozon")
landing_wb = build_landing_assets("wb")
LANDING_ASSETS = {"ozon": landing_ozon, "wb": landing_wb}
