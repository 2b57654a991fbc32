"""dbt as Dagster assets: the write and publish halves of write–audit–publish.

Thin wrappers over the sync core (`pipelines.sync.wap`), which runs the same dbt steps with the
same gates as `invsync sync`:
- `stage_snapshot` (the nodes of `STAGE`): seed, staging models and `int_inventory__snapshot`
  for exactly the loads this run landed, with their tests (asset checks); a failing model or
  error-severity test fails the landed marketplaces and the run.
- `publish_inventory` (the nodes of `PUBLISH`): `int_sync__publishable` with only the approved
  loads, then the merge into `inventory_data`, the stock history and their tests (asset checks
  that report, they cannot block: the data is published by then), in one dbt invocation.

The custom translator maps the dbt sources `raw_ozon.*` / `raw_wb.*` onto the dlt asset keys
and makes `inventory_data` depend on the audit, so landing → staging → audit → publish is one
graph.
"""

# No `from __future__ import annotations`: Dagster reads these functions' type hints (context, resources).
import json
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

from dagster import AssetExecutionContext, AssetKey, Failure, Output
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, dbt_assets

from orchestration.common import (
    AUDIT_KEY, DATASET_MARKETPLACE, GROUP_PUBLISH, GROUP_STAGING, INVENTORY_KEY, PUBLISH_OP, STAGE_OP, raw_key,
)
from orchestration.resources import DBT_PROJECT, DagsterDbt, InvsyncDbtCliResource, InvsyncResource, prepare_manifest
from pipelines.marketplaces import get
from pipelines.sync import landing, wap
from pipelines.sync.dbt import PUBLISH, STAGE, marketplace_folders


class InvsyncDbtTranslator(DagsterDbtTranslator):
    """Raw sources → dlt asset keys; groups by layer; `inventory_data` waits for the audit."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            source, table = dbt_resource_props["source_name"], dbt_resource_props["name"]
            if source in DATASET_MARKETPLACE:
                market = get(DATASET_MARKETPLACE[source])
                return raw_key(market.name, market.table_written_by.get(table, table))
            return AssetKey([source, table])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return GROUP_PUBLISH if dbt_resource_props["name"] in PUBLISH.select.split() else GROUP_STAGING

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> Any:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if spec.key == INVENTORY_KEY:
            spec = spec.merge_attributes(deps=[AUDIT_KEY])
        return spec


TRANSLATOR = InvsyncDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_duplicate_source_asset_keys=True)
)
MANIFEST = prepare_manifest(DBT_PROJECT)



@contextmanager
def closing_rows_on_error(settings: Any, wh: Any, run_id: str, step: str) -> Iterator[None]:
    """A step that fails outside dbt (the warehouse busy, a sync_logs write) ends the run's
    unfinished rows as `failed` at once, as the CLI does, and fails the step without secrets."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001
        message = settings.mask(f"{step} failed: {exc}")
        wap.fail_unfinished(wh, run_id, message)
        raise Failure(description=message) from None


@dbt_assets(manifest=MANIFEST, project=DBT_PROJECT, select=STAGE.select, name=STAGE_OP,
            dagster_dbt_translator=TRANSLATOR)
def stage_snapshot(context: AssetExecutionContext, dbt: InvsyncDbtCliResource, invsync: InvsyncResource) -> Iterator[Any]:
    """Write: build the snapshot of the loads this run landed (nothing landed: nothing to do)."""
    settings = invsync.settings()
    wh = invsync.warehouse(settings)
    landed = landing.pending_results(wh, context.run.run_id)
    if not landed:
        context.log.info("No marketplace landed in this run: nothing to stage.")
        return
    invoker = DagsterDbt(dbt, context, STAGE)
    with closing_rows_on_error(settings, wh, context.run.run_id, "dbt staging"):
        staged = wap.stage(settings, wh, landed, invoker)
    yield from invoker.events
    for key in landed.keys() - staged.keys():
        context.log.error(f"{key}: {landed[key].message}")
    if not staged:
        raise Failure(description=next(iter(landed.values())).message)


@dbt_assets(manifest=MANIFEST, project=DBT_PROJECT, select=PUBLISH.select, name=PUBLISH_OP,
            dagster_dbt_translator=TRANSLATOR)
def publish_inventory(context: AssetExecutionContext, dbt: InvsyncDbtCliResource, invsync: InvsyncResource) -> Iterator[Any]:
    """Publish: merge the snapshots the audit approved, test them, finish their sync_logs rows.

    With nothing approved only the approval is emptied, so `inventory_data` keeps the previous
    good data; the output still reports it, so the audit's checks on inventory_data (a
    held-back marketplace is an ERROR there) are evaluated and alerted on.
    """
    settings = invsync.settings()
    wh = invsync.warehouse(settings)
    approved = landing.pending_results(wh, context.run.run_id)
    invoker = DagsterDbt(dbt, context, PUBLISH)
    with closing_rows_on_error(settings, wh, context.run.run_id, "dbt publish"):
        published = wap.publish_inventory(settings, wh, approved, invoker)
    if not approved:
        context.log.info("No marketplace was approved in this run: inventory_data keeps the previous good data.")
        yield Output(None, output_name=context.assets_def.get_output_name_for_asset_key(INVENTORY_KEY),
                     metadata={"published": "none", "records_written": 0})
        return
    if not published:
        yield from (e for e in invoker.events if not isinstance(e, Output))
        raise Failure(description=next(iter(approved.values())).message)
    outcome = {name: str(result.status) for name, result in approved.items()}
    written = sum(r.record.records_written for r in approved.values())
    for event in invoker.events:
        if isinstance(event, Output):
            event = Output(value=event.value, output_name=event.output_name, data_version=event.data_version,
                           tags=event.tags, metadata={**event.metadata, "published": json.dumps(outcome),
                                                      "records_written": written})
        yield event


def marketplace_dbt_assets(name: str) -> list[AssetKey]:
    """The staging op's assets of one marketplace's own dbt folders (`marketplace_folders`):
    what a run of another marketplace's job leaves out, as `invsync sync` leaves them out of
    its dbt build (their checks go with them)."""
    folders = tuple(selector.removeprefix("path:") + "/" for selector in marketplace_folders(name))
    nodes = json.loads(MANIFEST.read_text())["nodes"].values()
    keys = {TRANSLATOR.get_asset_key(node) for node in nodes
            if node["resource_type"] in ("model", "seed") and node["original_file_path"].startswith(folders)}
    return sorted(keys & set(stage_snapshot.keys), key=lambda key: key.to_user_string())
