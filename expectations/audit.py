"""Run the expectation suites on a freshly built snapshot, before it is published.

GE runs on pandas batches read from the warehouse (its SQL datasource fails on DuckDB with
the pinned versions), which works the same on DuckDB and MySQL. Results go to the
`validation_results` table (one row per expectation, with the failing values) and to GE's own
JSON under `expectations/results/<run>/`, so people can see why a sync was blocked.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from expectations.suites import (
    Thresholds,
    anomaly_suite,
    reconciliation_suite,
    validity_suite,
    warehouse_suite,
)
from pipelines.config import PROJECT_ROOT, Settings
from pipelines.warehouse import Warehouse

log = logging.getLogger(__name__)

RESULTS_DIR = PROJECT_ROOT / "expectations" / "results"


@dataclass
class AuditOutcome:
    """What the checks said about one marketplace's snapshot."""

    marketplace: str
    critical: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.critical

    def summary(self) -> dict[str, Any]:
        return {"passed": self.passed, "critical": self.critical, "warnings": self.warnings,
                "checks": len(self.checks), "failed": sum(1 for c in self.checks if not c["success"])}


def thresholds_from_env(env: Mapping[str, str] | None = None) -> Thresholds:
    env = os.environ if env is None else env
    return Thresholds(
        anomaly_share=float(env.get("INVSYNC_ANOMALY_SHARE", 0.5)),
        critical_drop_share=float(env.get("INVSYNC_CRITICAL_DROP_SHARE", 0.1)),
    )


class _Validator:
    """One ephemeral GE context for a whole audit (creating one is slow)."""

    def __init__(self) -> None:
        import great_expectations as gx

        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        from great_expectations.execution_engine import pandas_execution_engine

        # GE fingerprints every pandas batch by hashing the whole frame when it is under
        # HASH_THRESHOLD bytes: about 40% of an audit of 800,000 rows, for a batch marker
        # nothing here reads. Frames are always fingerprint-free here.
        pandas_execution_engine.HASH_THRESHOLD = 0
        self.context = gx.get_context(mode="ephemeral")
        try:
            from great_expectations.data_context.types.base import ProgressBarsConfig

            self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        except Exception:  # noqa: BLE001 - cosmetic only
            pass
        source = self.context.data_sources.add_pandas("warehouse")
        self.batch_definition = source.add_dataframe_asset("frames").add_batch_definition_whole_dataframe("frame")

    def validate(self, frame: pd.DataFrame, suite: Any, index_columns: list[str] | None = None) -> Any:
        """Validate a frame; `index_columns` name the failing rows (their keys) in the results."""
        batch = self.batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result_format: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": 10}
        if index_columns:
            result_format["unexpected_index_column_names"] = index_columns
        return batch.validate(suite, result_format=result_format)


def _plain(value: Any) -> Any:
    """numpy scalars and the like as plain JSON values."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value.item() if hasattr(value, "item") else value


def _describe(result: Any) -> list[dict[str, Any]]:
    checks = []
    for r in result.results:
        cfg = r.expectation_config
        kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id",)}
        checks.append({
            "suite": result.suite_name,
            "expectation": cfg.type,
            "column": kwargs.get("column"),
            "kwargs": kwargs,
            "severity": (cfg.meta or {}).get("severity", "warning"),
            "success": bool(r.success),
            "observed_value": r.result.get("observed_value"),
            "unexpected_count": r.result.get("unexpected_count"),
            # The failing rows by key when the suite names index columns, else the bad values.
            "unexpected_values": _plain(r.result.get("partial_unexpected_index_list") or r.result.get("partial_unexpected_list")),
        })
    return checks


def _message(check: dict[str, Any]) -> str:
    where = f"{check['column']} " if check["column"] else ""
    observed = check["observed_value"]
    bounds = {k: v for k, v in check["kwargs"].items() if k in ("min_value", "max_value", "value_set")}
    text = f"{check['suite']}: {check['expectation']} {where}{bounds}"
    if observed is not None:
        text += f" observed {observed}"
    if check["unexpected_count"]:
        examples = json.dumps(check["unexpected_values"][:5], ensure_ascii=False, default=str)
        text += f", {check['unexpected_count']} unexpected e.g. {examples}"
    return text


def previous_state(wh: Warehouse, marketplace: str) -> dict[str, float]:
    if not wh.table_exists("inventory_data"):
        return {"rows": 0, "products": 0, "units": 0}
    # `rows` counts stocked items (sku and stock type), not places: WB reporting several named
    # warehouses one day and one aggregate place the next is the same stock.
    row = wh.query(
        "select count(distinct concat(sku, '|', stock_type)) as rows_, count(distinct marketplace_product_id) as products, "
        "coalesce(sum(quantity_present), 0) as units "
        "from inventory_data where marketplace = %s and quantity_present > 0",
        (marketplace,),
    )[0]
    return {"rows": float(row["rows_"]), "products": float(row["products"]), "units": float(row["units"])}


POOLED_FBO_PLACES = "all FBO places (named and aggregate)"


def warehouse_changes(wh: Warehouse, snapshot: pd.DataFrame, marketplace: str) -> pd.DataFrame:
    """Units per warehouse now vs before, as a share of before (-0.6 = a 60% drop).

    When the marketplace changed how it splits its own warehouses (WB reporting named
    warehouses one sync and aggregate places such as "Склад WB" the next, or back), the FBO
    places are compared as one pool: units moved between places, they did not vanish.
    """
    if not wh.table_exists("inventory_data"):
        return pd.DataFrame(columns=["warehouse", "change"])
    kind = "warehouse_kind" if "warehouse_kind" in wh.columns("inventory_data") else "cast(null as char(1))"
    before = wh.frame(
        f"select warehouse_id, stock_type, max(warehouse_name) as warehouse_name, max({kind}) as warehouse_kind, "
        "sum(quantity_present) as units_before "
        "from inventory_data where marketplace = %s group by warehouse_id, stock_type",
        (marketplace,),
    )
    if before.empty:
        return pd.DataFrame(columns=["warehouse", "change"])
    now = (snapshot[snapshot["rejection_reason"].isna()]
           .groupby(["warehouse_id", "stock_type"], as_index=False)
           .agg(quantity_present=("quantity_present", "sum"), warehouse_kind=("warehouse_kind", "max"),
                warehouse_name=("warehouse_name", "max")))

    def aggregate_fbo(frame: pd.DataFrame, units: str) -> set[str]:
        rows = frame[(frame["warehouse_kind"] == "aggregate") & (frame["stock_type"] == "FBO") & (frame[units] > 0)]
        return set(rows["warehouse_id"])

    before["units_before"] = before["units_before"].astype(float)
    pooled = aggregate_fbo(before, "units_before") != aggregate_fbo(now, "quantity_present")
    for frame in (before, now):
        frame["place"] = frame["warehouse_id"]
        frame["label"] = frame["warehouse_name"].fillna(frame["warehouse_id"])
        if pooled:
            fbo = frame["stock_type"] == "FBO"
            frame.loc[fbo, "place"] = frame.loc[fbo, "label"] = POOLED_FBO_PLACES
    before = before.groupby("place", as_index=False).agg(units_before=("units_before", "sum"), warehouse=("label", "max"))
    now = now.groupby("place", as_index=False)["quantity_present"].sum()
    merged = before.merge(now, on="place", how="left").fillna({"quantity_present": 0})
    merged = merged[merged["units_before"] > 0]
    merged["change"] = (merged["quantity_present"].astype(float) - merged["units_before"]) / merged["units_before"]
    return merged[["warehouse", "change", "units_before", "quantity_present"]].reset_index(drop=True)


def api_product_count(marketplace: str, counts: Mapping[str, Any], full: bool) -> int | None:
    """What the API itself said about the account's size, when it said it."""
    if marketplace == "ozon":
        value = counts.get("total_items")
    else:
        value = counts.get("nm_ids_fetched")  # every sync reads a complete FBO report
    return int(value) if value is not None else None


def landed_products(wh: Warehouse, marketplace: str) -> pd.DataFrame:
    model = "stg_ozon__stocks" if marketplace == "ozon" else "stg_wb__fbo_stocks"
    if marketplace == "wb" and wh.query("select count(*) as n from stg_wb__warehouse_remains")[0]["n"]:
        model = "stg_wb__warehouse_remains"
    return wh.frame(f"select distinct marketplace_product_id from {model}")


def store_results(wh: Warehouse, run_id: str, outcome: AuditOutcome, raw_results: list[Any]) -> Path:
    """Write one `validation_results` row per expectation and GE's JSON to the results folder."""
    folder = RESULTS_DIR / run_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{outcome.marketplace}.json"
    path.write_text(json.dumps([r.to_json_dict() for r in raw_results], ensure_ascii=False, indent=1, default=str))
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with wh.connection() as conn:
        for check in outcome.checks:
            wh.execute(
                conn,
                "insert into validation_results (run_id, marketplace, suite, expectation, column_name, severity, "
                "success, observed_value, unexpected_count, unexpected_values, details, validated_at) "
                "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    run_id, outcome.marketplace, check["suite"], check["expectation"], check["column"],
                    check["severity"], check["success"], json.dumps(check["observed_value"], default=str),
                    check["unexpected_count"], json.dumps(check["unexpected_values"], ensure_ascii=False, default=str),
                    json.dumps(check["kwargs"], ensure_ascii=False, default=str), now,
                ),
            )
    return path


def audit_marketplace(
    wh: Warehouse, validator: _Validator, marketplace: str, counts: Mapping[str, Any], full: bool, t: Thresholds
) -> tuple[AuditOutcome, list[Any]]:
    snapshot = wh.frame(
        "select marketplace, sku, marketplace_product_id, warehouse_id, warehouse_name, warehouse_kind, stock_type, "
        "quantity_present, quantity_reserved, quantity_available, rejection_reason "
        "from int_inventory__snapshot where marketplace = %s",
        (marketplace,),
    )
    for col in ("quantity_present", "quantity_reserved", "quantity_available"):
        snapshot[col] = pd.to_numeric(snapshot[col])
    in_stock = snapshot[(snapshot["quantity_present"] > 0) & snapshot["rejection_reason"].isna()]

    raw = [validator.validate(snapshot, validity_suite(), ["marketplace", "sku", "warehouse_id", "stock_type"])]
    previous = previous_state(wh, marketplace)
    if previous["rows"]:
        items = in_stock.groupby(["sku", "stock_type"], as_index=False).agg(
            quantity_present=("quantity_present", "sum"), marketplace_product_id=("marketplace_product_id", "max"))
        raw.append(validator.validate(items, anomaly_suite(previous, t)))
        changes = warehouse_changes(wh, snapshot, marketplace)
        if not changes.empty:
            raw.append(validator.validate(changes, warehouse_suite(t), ["warehouse"]))
    api_count = api_product_count(marketplace, counts, full)
    if api_count is not None:
        raw.append(validator.validate(landed_products(wh, marketplace), reconciliation_suite(api_count, t)))

    outcome = AuditOutcome(marketplace)
    for result in raw:
        for check in _describe(result):
            outcome.checks.append(check)
            if not check["success"]:
                (outcome.critical if check["severity"] == "critical" else outcome.warnings).append(_message(check))
    return outcome, raw


def audit_snapshot(settings: Settings, wh: Warehouse, landed: Mapping[str, Any], run_id: str = "manual") -> dict[str, AuditOutcome]:
    """Audit each landed marketplace's snapshot. `landed` maps marketplace -> MarketplaceResult."""
    t = thresholds_from_env()
    validator = _Validator()
    outcomes = {}
    for marketplace, result in landed.items():
        full = bool(result.record and result.record.sync_type == "full")
        outcome, raw = audit_marketplace(wh, validator, marketplace, result.counts, full, t)
        store_results(wh, run_id, outcome, raw)
        for line in outcome.critical:
            log.error("%s critical: %s", marketplace, line)
        for line in outcome.warnings:
            log.warning("%s warning: %s", marketplace, line)
        outcomes[marketplace] = outcome
    return outcomes
