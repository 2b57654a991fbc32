"""dbt as Dagster assets: the write and publish halves of write–audit–publish.

- `stage_snapshot` builds the seed, staging models and `int_inventory__snapshot` (plus
  `int_sync__publishable`) for exactly the loads this run landed (INVSYNC_PUBLISH_LOADS),
  like `pipelines.publish.stage`. Their dbt tests run too and appear as asset checks.
- `publish_inventory` merges the audited snapshot into `inventory_data` for the marketplaces
  the audit approved, like `pipelines.publish.publish_inventory`, then ends their `sync_logs`
  rows with `publish.finish_published`. Its tests are asset checks on `inventory_data`; as in
  the CLI they report, they cannot block (the data is published by then).

The custom translator maps the dbt sources `raw_ozon.*` / `raw_wb.*` onto the dlt asset keys
and makes `inventory_data` depend on the audit, so landing → staging → audit → publish is one
graph.
"""

# No `from __future__ import annotations`: Dagster reads these functions' type hints (context, resources).
import json
import re
import shutil
from typing import Any, Iterator, Mapping

from dagster import AssetExecutionContext, AssetKey, Failure, Output
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliInvocation, dbt_assets

from orchestration.common import (
    AUDIT_KEY, DATASET_MARKETPLACE, GROUP_PUBLISH, GROUP_STAGING, INVENTORY_KEY, PUBLISH_OP, STAGE_OP, raw_key,
)
from orchestration.health import fail_unfinished
from orchestration.resources import DBT_PROJECT, InvsyncDbtCliResource, InvsyncResource, prepare_manifest
from pipelines import publish, runner
from pipelines.dbt_build import publish_loads_env, temporary_environment

# Tables that a resource writes under another name (a fallback method's answer).
TABLE_PRODUCED_BY = {
    ("raw_ozon", "analytics_stocks"): "fbo_stocks",  # Ozon's FBO fallback method
    ("raw_ozon", "warehouses"): "fbs_stocks",  # the seller warehouse list, read with their stock
    ("raw_wb", "warehouse_remains"): "wb_warehouse_stocks",  # WB's report fallback for FBO stock
}


class InvsyncDbtTranslator(DagsterDbtTranslator):
    """Raw sources → dlt asset keys; groups by layer; `inventory_data` waits for the audit."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            source, table = dbt_resource_props["source_name"], dbt_resource_props["name"]
            if source in DATASET_MARKETPLACE:
                return raw_key(DATASET_MARKETPLACE[source], TABLE_PRODUCED_BY.get((source, table), table))
            return AssetKey([source, table])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return GROUP_PUBLISH if dbt_resource_props["name"] == INVENTORY_KEY.path[-1] else GROUP_STAGING

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> Any:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if spec.key == INVENTORY_KEY:
            spec = spec.merge_attributes(deps=[AUDIT_KEY])
        return spec


TRANSLATOR = InvsyncDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_duplicate_source_asset_keys=True)
)
MANIFEST = prepare_manifest(DBT_PROJECT)


def clean_error(text: str) -> str:
    """dbt's error text without terminal colour codes (it ends up in sync_logs and emails)."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def dbt_for_loads(dbt: InvsyncDbtCliResource, args: list[str], loads: Mapping[str, str], **kwargs: Any) -> DbtCliInvocation:
    """Start a dbt command that builds exactly `loads` (read by the `publish_load_id` macro)."""
    with temporary_environment(publish_loads_env(loads)):
        return dbt.cli(args, **kwargs)  # the dbt process starts here, with this environment


@dbt_assets(manifest=MANIFEST, project=DBT_PROJECT, select="+int_inventory__snapshot", name=STAGE_OP,
            dagster_dbt_translator=TRANSLATOR)
def stage_snapshot(context: AssetExecutionContext, dbt: InvsyncDbtCliResource, invsync: InvsyncResource) -> Iterator[Any]:
    """Write: build the snapshot of the loads this run landed (nothing landed: nothing to do)."""
    settings = invsync.settings()
    wh = invsync.warehouse(settings)
    landed = runner.pending_results(wh, context.run.run_id)
    if not landed:
        context.log.info("No marketplace landed in this run: nothing to stage.")
        return
    publish.enter_phase(wh, landed, "staging")
    try:
        with wh.writing():  # dbt opens the warehouse: readers wait meanwhile (DuckDB)
            invocation = dbt_for_loads(dbt, ["build"], publish.loads_of(landed), context=context)
            yield from invocation.stream()
    except Exception as exc:  # noqa: BLE001 - the rows must not stay `running`
        message = settings.mask(clean_error(f"dbt staging failed: {exc}"))
        fail_unfinished(wh, context.run.run_id, message)
        raise Failure(description=message) from None
    discard(invocation)


def discard(invocation: DbtCliInvocation) -> None:
    """Remove a successful invocation's artifacts: dagster-dbt gives every dbt call its own
    folder under dbt_project/target, which would grow with every run. A failed call keeps its
    folder, since the error message points at the dbt.log in it."""
    shutil.rmtree(invocation.target_path, ignore_errors=True)


def _failed_nodes(run_results: Mapping[str, Any], prefix: str) -> list[str]:
    return [f"{r['unique_id']}: {(r.get('message') or r.get('status'))}".strip()
            for r in run_results.get("results", [])
            if r["unique_id"].startswith(prefix) and r.get("status") in ("error", "fail", "runtime error")]


@dbt_assets(manifest=MANIFEST, project=DBT_PROJECT, select="inventory_data", name=PUBLISH_OP,
            dagster_dbt_translator=TRANSLATOR)
def publish_inventory(context: AssetExecutionContext, dbt: InvsyncDbtCliResource, invsync: InvsyncResource) -> Iterator[Any]:
    """Publish: merge the approved snapshots, test them, finish their sync_logs rows.

    `int_sync__publishable` (a view) is rebuilt first with only the approved loads, as the CLI
    does: a marketplace the audit blocked must not reach `inventory_data`. With nothing
    approved the view is empty, so the merge changes nothing.
    """
    settings = invsync.settings()
    wh = invsync.warehouse(settings)
    approved = runner.pending_results(wh, context.run.run_id)
    loads = publish.loads_of(approved)
    publish.enter_phase(wh, approved, "publish")
    try:
        with wh.writing():  # dbt opens the warehouse: readers wait meanwhile (DuckDB)
            discard(dbt_for_loads(dbt, ["run", "--select", "int_sync__publishable"], loads).wait())
            invocation = dbt_for_loads(dbt, ["build"], loads, context=context, raise_on_error=False)
            events = list(invocation.stream())
            results = invocation.get_artifact("run_results.json")
    except Exception as exc:  # noqa: BLE001
        message = settings.mask(clean_error(f"dbt publish failed: {exc}"))
        fail_unfinished(wh, context.run.run_id, message)
        raise Failure(description=message) from None
    model_errors = _failed_nodes(results, "model.")
    if model_errors:
        message = settings.mask(clean_error("dbt publish failed: " + "; ".join(model_errors)))
        fail_unfinished(wh, context.run.run_id, message)
        raise Failure(description=message)
    discard(invocation)
    test_failures = _failed_nodes(results, "test.")
    for result in approved.values():
        if test_failures:
            result.record.warnings.append(settings.mask("dbt tests on inventory_data failed: " + "; ".join(test_failures)))
    publish.finish_published(wh, approved)

    outcome = {name: result.status for name, result in approved.items()}
    for event in events:
        if isinstance(event, Output):
            event = Output(value=event.value, output_name=event.output_name, data_version=event.data_version,
                           tags=event.tags, metadata={**event.metadata, "published": json.dumps(outcome),
                                                      "records_written": sum(r.record.records_written for r in approved.values())})
        yield event
