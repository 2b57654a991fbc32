"""Run the expectation suites on a freshly built snapshot, before it is published.

GE runs on pandas batches read from the warehouse (its SQL datasource fails on DuckDB with
the pinned versions), which works the same on DuckDB and MySQL. Results go to the
`validation_results` table (one row per expectation, with the failing values) and to GE's own
JSON under `expectations/results/<run>/`, so people can see why a sync was blocked.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from expectations.bounds import critical_band, move_band
from expectations.outcome import AuditOutcome
from expectations.suites import (
    SUITE_KINDS,
    catalog_suite,
    moves_suite,
    sums_suite,
    units_collapse_suite,
    validity_suite,
    warehouse_moves_suite,
)
from pipelines.config import PROJECT_ROOT, CheckThresholds, Settings
from pipelines.config_accounts import DEFAULT_ACCOUNT
from pipelines.marketplaces import Marketplace, get
from pipelines.warehouse import Warehouse

RESULTS_DIR = PROJECT_ROOT / "expectations" / "results"


class _Validator:
    """One ephemeral GE context for a whole audit (creating one is slow)."""

    def __init__(self) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults
        from great_expectations.execution_engine import pandas_execution_engine

        # GE fingerprints every pandas batch by hashing the whole frame when it is under
        # HASH_THRESHOLD bytes: about 40% of an audit of 800,000 rows, for a batch marker
        # nothing here reads. Frames are always fingerprint-free here.
        pandas_execution_engine.HASH_THRESHOLD = 0
        # GX's own ephemeral defaults, with its usage analytics off in the context's config
        # (nothing is set in the process environment).
        self.context = gx.get_context(mode="ephemeral", project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=True), analytics_enabled=False))
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
            "kind": (cfg.meta or {}).get("kind") or SUITE_KINDS.get(result.suite_name, ""),
            "range_source": (cfg.meta or {}).get("range_source"),
            # For the plain-words renderer (pipelines.findings): which sentence, and from what figure.
            "finding": (cfg.meta or {}).get("finding"),
            "previous": (cfg.meta or {}).get("previous"),
            "success": bool(r.success),
            "observed_value": r.result.get("observed_value"),
            "unexpected_count": r.result.get("unexpected_count"),
            # The failing rows by key when the suite names index columns, else the bad values.
            "unexpected_values": _plain(r.result.get("partial_unexpected_index_list") or r.result.get("partial_unexpected_list")),
        })
    return checks


def _message(check: dict[str, Any]) -> str:
    """One line: the kind of finding first (broken answer / unusual move / row check), then the
    check, the observed value, the range and where the range came from."""
    where = f"{check['column']} " if check["column"] else ""
    observed = check["observed_value"]
    bounds = {k: (round(v, 1) if isinstance(v, float) else v) for k, v in check["kwargs"].items()
              if k in ("min_value", "max_value", "value_set", "column_A", "column_B")}
    text = f"{check['kind'] or check['suite']}: {check['suite']}: {check['expectation']} {where}{bounds}"
    if observed is not None:
        text += f" observed {round(observed, 1) if isinstance(observed, float) else observed}"
    if check.get("range_source"):
        text += f" (range: {check['range_source']})"
    if check["unexpected_count"]:
        examples = json.dumps(check["unexpected_values"][:5], ensure_ascii=False, default=str)
        text += f", {check['unexpected_count']} unexpected e.g. {examples}"
    return text


def previous_state(wh: Warehouse, marketplace: str, account: str) -> dict[str, float]:
    """The account's published state before this sync: units, stocked items, products in stock."""
    if not wh.table_exists("inventory_data"):
        return {"rows": 0, "products": 0, "units": 0}
    # `rows` counts stocked items (sku and stock type), not places: WB reporting several named
    # warehouses one day and one aggregate place the next is the same stock.
    row = wh.query(
        "select count(distinct concat(sku, '|', stock_type)) as rows_, count(distinct marketplace_product_id) as products, "
        "coalesce(sum(quantity_present), 0) as units "
        "from inventory_data where marketplace = %s and account = %s and quantity_present > 0",
        (marketplace, account),
    )[0]
    return {"rows": float(row["rows_"]), "products": float(row["products"]), "units": float(row["units"])}


def published_history(wh: Warehouse, marketplace: str, account: str, syncs: int) -> list[dict[str, Any]]:
    """The totals of the last `syncs` published syncs of an account, oldest first: each account's
    own history draws its bands (one client's catalogue must not make another's moves look odd).

    They live in `sync_logs.details.totals` (written by the audit, kept when the sync is
    published), so the history needs no table of its own and goes wherever sync_logs goes.
    """
    rows = wh.query(
        "select details from sync_logs where marketplace = %s and account = %s and status in ('success', 'partial') "
        "and details is not null order by started_at desc, id desc limit " + str(int(syncs)),
        (marketplace, account),
    )
    out = []
    for row in reversed(rows):
        details = json.loads(row["details"]) if isinstance(row["details"], str) else row["details"]
        totals = ((details or {}).get("audit") or {}).get("totals")
        if totals:
            out.append(totals)
    return out


POOLED_FBO_PLACES = "all FBO places (named and aggregate)"


def place_key(warehouse_id: Any, stock_type: Any) -> str:
    return f"{warehouse_id}|{stock_type}"


def warehouse_changes(wh: Warehouse, snapshot: pd.DataFrame, marketplace: str, account: str,
                      history: list[dict[str, Any]], t: CheckThresholds) -> pd.DataFrame:
    """Units per place now vs before, each against the band its own history allows.

    `band_position` is the change in units of the band (-1 and 1 are its edges). When the
    marketplace changed how it splits its own warehouses (WB reporting named warehouses one
    sync and aggregate places such as "Склад WB" the next, or back), the FBO places are
    compared as one pool: units moved between places, they did not vanish.
    """
    empty = pd.DataFrame(columns=["warehouse", "change", "band_position", "source"])
    if not wh.table_exists("inventory_data"):
        return empty
    kind = "warehouse_kind" if "warehouse_kind" in wh.columns("inventory_data") else "cast(null as char(1))"
    before = wh.frame(
        f"select warehouse_id, stock_type, max(warehouse_name) as warehouse_name, max({kind}) as warehouse_kind, "
        "sum(quantity_present) as units_before "
        "from inventory_data where marketplace = %s and account = %s group by warehouse_id, stock_type",
        (marketplace, account),
    )
    if before.empty:
        return empty
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
        frame["place"] = [place_key(w, st) for w, st in zip(frame["warehouse_id"], frame["stock_type"])]
        frame["label"] = frame["warehouse_name"].fillna(frame["warehouse_id"])
        if pooled:
            fbo = frame["stock_type"] == "FBO"
            frame.loc[fbo, "place"] = frame.loc[fbo, "label"] = POOLED_FBO_PLACES
    before = before.groupby("place", as_index=False).agg(units_before=("units_before", "sum"), warehouse=("label", "max"))
    now = now.groupby("place", as_index=False)["quantity_present"].sum()
    merged = before.merge(now, on="place", how="left").fillna({"quantity_present": 0})
    merged = merged[merged["units_before"] > 0].reset_index(drop=True)
    merged["change"] = (merged["quantity_present"].astype(float) - merged["units_before"]) / merged["units_before"]
    positions, sources = [], []
    for place, change in zip(merged["place"], merged["change"]):
        series = [float(h["places"][place]) for h in history if place in (h.get("places") or {})]
        band = move_band(series, t)
        half = (band.high - band.low) / 2 or 1.0
        positions.append((change - (band.high + band.low) / 2) / half)
        sources.append(band.source)
    merged["band_position"] = positions
    merged["source"] = sources
    return merged[["warehouse", "change", "band_position", "source", "units_before", "quantity_present"]]


def catalog_listing(wh: Warehouse, market: Marketplace, account: str) -> pd.DataFrame:
    """The products the account's catalog lists after this landing, one row each, from the
    marketplace's `catalog_model` (every product of the load, stock or not)."""
    model = market.catalog_model
    return wh.frame(f"select distinct marketplace_product_id from {model} "
                    "where marketplace_product_id is not null and account = %s", (account,))


def store_results(wh: Warehouse, run_id: str, outcome: AuditOutcome, raw_results: list[Any]) -> Path:
    """Write one `validation_results` row per expectation and GE's JSON to the results folder."""
    folder = RESULTS_DIR / run_id
    folder.mkdir(parents=True, exist_ok=True)
    suffix = "" if outcome.account == DEFAULT_ACCOUNT else f"__{outcome.account}"
    path = folder / f"{outcome.marketplace}{suffix}.json"
    path.write_text(json.dumps([r.to_json_dict() for r in raw_results], ensure_ascii=False, indent=1, default=str))
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with wh.connection() as conn:
        for check in outcome.checks:
            wh.execute(
                conn,
                "insert into validation_results (run_id, marketplace, account, suite, expectation, column_name, severity, "
                "success, observed_value, unexpected_count, unexpected_values, details, validated_at) "
                "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    run_id, outcome.marketplace, outcome.account, check["suite"], check["expectation"], check["column"],
                    check["severity"], check["success"], json.dumps(check["observed_value"], default=str),
                    check["unexpected_count"], json.dumps(check["unexpected_values"], ensure_ascii=False, default=str),
                    json.dumps({**check["kwargs"], "kind": check["kind"], "range_source": check["range_source"],
                                "finding": check["finding"], "previous": check["previous"]},
                               ensure_ascii=False, default=str), now,
                ),
            )
    return path


def audit_marketplace(
    wh: Warehouse, validator: _Validator, market: Marketplace, counts: Mapping[str, Any], t: CheckThresholds,
    account: str = DEFAULT_ACCOUNT,
) -> tuple[AuditOutcome, list[Any]]:
    """The checks of one account's snapshot, against that account's own published state and history."""
    marketplace = market.name
    snapshot = wh.frame(
        "select marketplace, sku, marketplace_product_id, warehouse_id, warehouse_name, warehouse_kind, stock_type, "
        "quantity_present, quantity_reserved, quantity_available, rejection_reason "
        "from int_inventory__snapshot where marketplace = %s and account = %s",
        (marketplace, account),
    )
    for col in ("quantity_present", "quantity_reserved", "quantity_available"):
        snapshot[col] = pd.to_numeric(snapshot[col])
    valid = snapshot[snapshot["rejection_reason"].isna()]
    in_stock = valid[valid["quantity_present"] > 0]
    items = in_stock.groupby(["sku", "stock_type"], as_index=False).agg(
        quantity_present=("quantity_present", "sum"), marketplace_product_id=("marketplace_product_id", "max"))
    listing = catalog_listing(wh, market, account)
    previous = previous_state(wh, marketplace, account)
    history = published_history(wh, marketplace, account, t.history_syncs)

    raw = [validator.validate(snapshot, validity_suite(t), ["marketplace", "sku", "warehouse_id", "stock_type"])]
    # Broken answers: the listing, the API's own counters, the answer's own totals, a collapse.
    previous_catalog = int(history[-1].get("catalog") or 0) if history else int(previous["products"])
    api_count = counts.get(market.api_count) if market.api_count else None
    raw.append(validator.validate(listing, catalog_suite(previous_catalog, None if api_count is None else int(api_count), t,
                                                         market.api_count or "product count")))
    for check in market.answer_checks:  # in the marketplace's package (`<name>/checks.py`)
        totals = check(wh, account)
        if totals is not None:
            suite = sums_suite(list(totals.pairs), totals.critical, totals.description, t)
            raw.append(validator.validate(totals.frame, suite, list(totals.index_columns)))
    units_series = [float(h["units"]) for h in history if "units" in h]
    items_series = [float(h["items"]) for h in history if "items" in h]
    if previous["units"]:
        raw.append(validator.validate(items, units_collapse_suite(previous["units"], critical_band(units_series, t), t)))
    # Unusual moves: this account's own history decides what is usual.
    if previous["rows"]:
        raw.append(validator.validate(items, moves_suite(previous["units"], move_band(units_series, t),
                                                         previous["rows"], move_band(items_series, t))))
        changes = warehouse_changes(wh, snapshot, marketplace, account, history, t)
        if not changes.empty:
            raw.append(validator.validate(changes, warehouse_moves_suite(), ["warehouse", "change", "source"]))

    outcome = AuditOutcome(marketplace, account, totals={
        "units": float(valid["quantity_present"].sum()),
        "items": int(len(items)),
        "products": int(items["marketplace_product_id"].nunique()),
        "catalog": int(len(listing)),
        "places": {place_key(w, st): float(u) for (w, st), u in
                   valid.groupby(["warehouse_id", "stock_type"])["quantity_present"].sum().items()},
    })
    for result in raw:
        for check in _describe(result):
            outcome.checks.append(check)
            if not check["success"]:
                (outcome.critical if check["severity"] == "critical" else outcome.warnings).append(_message(check))
    return outcome, raw


def audit_snapshot(settings: Settings, wh: Warehouse, landed: Mapping[str, Any], run_id: str = "manual") -> dict[str, AuditOutcome]:
    """Audit each landed account's snapshot. `landed` maps an `account_key` to its MarketplaceResult
    (or anything with its marketplace, account and counts)."""
    t = settings.checks
    validator = _Validator()
    outcomes = {}
    for key, result in landed.items():
        outcome, raw = audit_marketplace(wh, validator, get(result.marketplace), result.counts, t,  # resolved once, here
                                         result.account)
        store_results(wh, run_id, outcome, raw)
        outcomes[key] = outcome
    return outcomes
