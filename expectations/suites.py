"""The expectation suites, as code: what a published snapshot must satisfy.

Every expectation carries `meta.severity`: `critical` blocks the publish (the previous good
data stays), `warning` publishes and records the warning. Thresholds come from `Thresholds`
so an operator can tune them (INVSYNC_ANOMALY_SHARE, INVSYNC_CRITICAL_DROP_SHARE).
"""

from __future__ import annotations

from dataclasses import dataclass

import great_expectations as gx

STOCK_TYPES = ["FBO", "FBS", "realFBS", "FBP", "DBS", "DBW", "C&C", "EDBS"]


@dataclass(frozen=True)
class Thresholds:
    anomaly_share: float = 0.5  # units per marketplace/warehouse may move this much (50%)
    critical_drop_share: float = 0.1  # rows/products may drop this much (10%) before it is critical
    reconcile_share: float = 0.1  # distinct products vs what the API reported
    empty_after_rows: int = 1000  # zero rows while the previous state had at least this many


def _e(cls: type, severity: str, **kwargs: object) -> object:
    return cls(meta={"severity": severity}, **kwargs)


def validity_suite() -> gx.ExpectationSuite:
    """Row-level rules on the snapshot. Bad rows are already kept out of the mart by dbt
    (`rejection_reason`), so these are warnings: they record and alert, never block."""
    suite = gx.ExpectationSuite(name="inventory_validity")
    x = gx.expectations
    for column in ("marketplace", "sku", "warehouse_id", "stock_type"):
        suite.add_expectation(_e(x.ExpectColumnValuesToNotBeNull, "critical", column=column))
    suite.add_expectation(_e(x.ExpectColumnValuesToBeInSet, "critical", column="stock_type", value_set=STOCK_TYPES))
    suite.add_expectation(_e(x.ExpectColumnValuesToBeBetween, "warning", column="quantity_present", min_value=0))
    suite.add_expectation(_e(x.ExpectColumnValuesToBeBetween, "warning", column="quantity_reserved", min_value=0))
    suite.add_expectation(_e(x.ExpectColumnValuesToBeBetween, "warning", column="quantity_available", min_value=0))
    suite.add_expectation(_e(x.ExpectColumnValueLengthsToBeBetween, "warning", column="warehouse_name", min_value=1))
    suite.add_expectation(_e(x.ExpectColumnValuesToNotBeNull, "warning", column="warehouse_name"))
    # A WB size that no card names is published under `chrt:<chrtId>`: worth knowing.
    suite.add_expectation(_e(x.ExpectColumnValuesToNotMatchRegex, "warning", column="sku", regex="^chrt:",
                             notes="sizes of the stock answers that no product card names"))
    return suite


def anomaly_suite(previous: dict[str, float], t: Thresholds) -> gx.ExpectationSuite:
    """Totals of the new snapshot against the previous good state of the same marketplace.

    `previous` holds `rows`, `products` and `units` (stocked items, i.e. sku and stock type
    over all places, distinct products in stock, units present) from inventory_data before
    this publish; the frame validated has one row per stocked item too.
    """
    suite = gx.ExpectationSuite(name="inventory_anomalies")
    x = gx.expectations
    rows, products, units = previous["rows"], previous["products"], previous["units"]
    if rows >= t.empty_after_rows:
        suite.add_expectation(_e(x.ExpectTableRowCountToBeBetween, "critical", min_value=1,
                                 notes=f"the previous state had {int(rows)} items in stock"))
    if rows:
        suite.add_expectation(_e(x.ExpectTableRowCountToBeBetween, "critical",
                                 min_value=int(rows * (1 - t.critical_drop_share))))
    if products:
        suite.add_expectation(_e(x.ExpectColumnUniqueValueCountToBeBetween, "critical", column="marketplace_product_id",
                                 min_value=int(products * (1 - t.critical_drop_share))))
    if units:
        suite.add_expectation(_e(x.ExpectColumnSumToBeBetween, "critical", column="quantity_present",
                                 min_value=units * (1 - t.anomaly_share), max_value=units * (1 + t.anomaly_share)))
    return suite


def warehouse_suite(t: Thresholds) -> gx.ExpectationSuite:
    """Per warehouse: the share by which units moved (`change`, from the audit's comparison frame)."""
    suite = gx.ExpectationSuite(name="inventory_warehouse_anomalies")
    suite.add_expectation(_e(gx.expectations.ExpectColumnValuesToBeBetween, "warning", column="change",
                             min_value=-t.anomaly_share, max_value=t.anomaly_share))
    return suite


def reconciliation_suite(api_products: int, t: Thresholds) -> gx.ExpectationSuite:
    """Distinct products in the snapshot against the count the API itself reported."""
    suite = gx.ExpectationSuite(name="inventory_reconciliation")
    suite.add_expectation(_e(gx.expectations.ExpectColumnUniqueValueCountToBeBetween, "critical",
                             column="marketplace_product_id",
                             min_value=int(api_products * (1 - t.reconcile_share)),
                             max_value=int(api_products * (1 + t.reconcile_share)) + 1))
    return suite
