"""The expectation suites, as code: what a snapshot must satisfy before it is published.

Two kinds of finding are kept apart (`meta.kind`):
- **broken answer** (`severity: critical`, suite `inventory_broken_answers`): the answer cannot
  be the account's real state — no products while the account had some, the catalog listing
  suddenly shorter, the API's own counters disagreeing with what landed, per-warehouse rows
  not adding up to the totals of the same answer, units collapsing far beyond anything this
  account does and by a large absolute amount. The marketplace is held back; its previous good
  data stays.
- **unusual move** (`severity: warning`, suites `inventory_moves`, `inventory_warehouse_moves`):
  units or stocked items moving more than this account usually moves. Published, recorded,
  alerted.
Row rules (`inventory_validity`) hold keys critical only beyond a small share of rows.
Every bounded expectation records its range and where it came from (`meta.range_source`).
"""

from __future__ import annotations

import math

import great_expectations as gx

from expectations.bounds import Band
from pipelines.config import CheckThresholds
from pipelines.marketplaces import STOCK_TYPES

BROKEN_ANSWER, UNUSUAL_MOVE, ROW_CHECK = "broken answer", "unusual move", "row check"
SUITE_KINDS = {
    "inventory_validity": ROW_CHECK,
    "inventory_broken_answers": BROKEN_ANSWER,
    "inventory_moves": UNUSUAL_MOVE,
    "inventory_warehouse_moves": UNUSUAL_MOVE,
}


def _e(cls: type, severity: str, kind: str, source: str = "", finding: str = "", previous: float | None = None,
       **kwargs: object) -> object:
    """An expectation with its meta: `finding` names the sentence `pipelines.findings` words it
    with, `previous` the figure a move is measured from (so people read "fell 12 %", not bounds)."""
    meta: dict[str, object] = {"severity": severity, "kind": kind}
    if source:
        meta["range_source"] = source
    if finding:
        meta["finding"] = finding
    if previous is not None:
        meta["previous"] = previous
    return cls(meta=meta, **kwargs)


def validity_suite(t: CheckThresholds) -> gx.ExpectationSuite:
    """Row rules. Bad rows are already kept out of the mart by dbt (`rejection_reason`), so
    quantity rules warn; missing keys beyond `missing_share` of the rows are a broken answer."""
    suite = gx.ExpectationSuite(name="inventory_validity")
    x = gx.expectations
    mostly = 1 - t.missing_share
    for column in ("marketplace", "sku", "warehouse_id", "stock_type"):
        suite.add_expectation(_e(x.ExpectColumnValuesToNotBeNull, "critical", BROKEN_ANSWER, column=column, mostly=mostly))
    suite.add_expectation(_e(x.ExpectColumnValuesToBeInSet, "critical", BROKEN_ANSWER, column="stock_type",
                             value_set=list(STOCK_TYPES), mostly=mostly))
    for column in ("quantity_present", "quantity_reserved", "quantity_available"):
        suite.add_expectation(_e(x.ExpectColumnValuesToBeBetween, "warning", ROW_CHECK, column=column, min_value=0))
    suite.add_expectation(_e(x.ExpectColumnValueLengthsToBeBetween, "warning", ROW_CHECK, column="warehouse_name", min_value=1))
    suite.add_expectation(_e(x.ExpectColumnValuesToNotBeNull, "warning", ROW_CHECK, column="warehouse_name"))
    # A WB size that no card names is published under `chrt:<chrtId>`: worth knowing.
    suite.add_expectation(_e(x.ExpectColumnValuesToNotMatchRegex, "warning", ROW_CHECK, column="sku", regex="^chrt:",
                             notes="sizes of the stock answers that no product card names"))
    return suite


def catalog_suite(previous_catalog: int, api_count: int | None, t: CheckThresholds,
                  api_count_name: str = "product count") -> gx.ExpectationSuite:
    """On the products the catalog lists now (one row each): not empty when the account had
    products, not suddenly shorter, and as long as the API itself says (`api_count`, the
    answer's field `api_count_name`)."""
    suite = gx.ExpectationSuite(name="inventory_broken_answers")
    x = gx.expectations
    if previous_catalog > 0:
        suite.add_expectation(_e(x.ExpectTableRowCountToBeBetween, "critical", BROKEN_ANSWER,
                                 f"the account listed {previous_catalog} products before", "catalog_empty",
                                 previous_catalog, min_value=1,
                                 notes="a complete answer with no products while the account had some"))
        suite.add_expectation(_e(x.ExpectTableRowCountToBeBetween, "critical", BROKEN_ANSWER,
                                 f"INVSYNC_CATALOG_DROP_SHARE {t.catalog_drop_share:.0%} of {previous_catalog} listed before",
                                 "catalog_drop", previous_catalog,
                                 min_value=math.ceil(previous_catalog * (1 - t.catalog_drop_share)),
                                 notes="products the catalog listing suddenly misses"))
    if api_count is not None:
        suite.add_expectation(_e(x.ExpectTableRowCountToBeBetween, "critical", BROKEN_ANSWER,
                                 f"the API's own {api_count_name} {api_count}, ± INVSYNC_RECONCILE_SHARE {t.reconcile_share:.0%}",
                                 "api_count",
                                 min_value=math.floor(api_count * (1 - t.reconcile_share)),
                                 max_value=math.ceil(api_count * (1 + t.reconcile_share)),
                                 notes="products landed against the count the API reported"))
    return suite


def units_collapse_suite(previous_units: float, band: Band, t: CheckThresholds) -> gx.ExpectationSuite:
    """On the stocked items: units may not fall below both the critical band and
    `critical_drop_units` under the previous total — far outside the history *and* large."""
    suite = gx.ExpectationSuite(name="inventory_broken_answers")
    floor = max(0.0, min(band.bounds(previous_units)[0], previous_units - t.critical_drop_units))
    if floor > 0:
        suite.add_expectation(_e(gx.expectations.ExpectColumnSumToBeBetween, "critical", BROKEN_ANSWER,
                                 f"{band.source}; and at least INVSYNC_CRITICAL_DROP_UNITS {t.critical_drop_units} units",
                                 "units_collapse", previous_units,
                                 column="quantity_present", min_value=floor,
                                 notes=f"units collapsing from {previous_units:.0f}"))
    return suite


def sums_suite(pairs: list[tuple[str, str]], critical: bool, source: str, t: CheckThresholds) -> gx.ExpectationSuite:
    """Per-warehouse rows against the totals the same answer gives, one (reported, landed)
    column pair each; at most `reconcile_share` of the keys may disagree. Critical where the
    marketplace's two figures must agree; a row-check warning where they need not."""
    suite = gx.ExpectationSuite(name="inventory_broken_answers" if critical else "inventory_validity")
    for reported, landed in pairs:
        suite.add_expectation(_e(gx.expectations.ExpectColumnPairValuesToBeEqual, "critical" if critical else "warning",
                                 BROKEN_ANSWER if critical else ROW_CHECK, source, "answer_sums",
                                 column_A=reported, column_B=landed, mostly=1 - t.reconcile_share))
    return suite


def moves_suite(previous_units: float, units: Band, previous_items: float, items: Band) -> gx.ExpectationSuite:
    """On the stocked items (one row per sku and stock type): units and items within the bands."""
    suite = gx.ExpectationSuite(name="inventory_moves")
    x = gx.expectations
    if previous_units:
        low, high = units.bounds(previous_units)
        suite.add_expectation(_e(x.ExpectColumnSumToBeBetween, "warning", UNUSUAL_MOVE, units.source, "units_move", previous_units,
                                 column="quantity_present", min_value=low, max_value=high))
    if previous_items:
        low, high = items.bounds(previous_items)
        suite.add_expectation(_e(x.ExpectTableRowCountToBeBetween, "warning", UNUSUAL_MOVE, items.source, "items_move", previous_items,
                                 min_value=math.floor(low), max_value=math.ceil(high)))
    return suite


def warehouse_moves_suite() -> gx.ExpectationSuite:
    """Per place: the move in units of that place's own band (`band_position`: -1 and 1 are
    the band's edges; each row names where its band came from)."""
    suite = gx.ExpectationSuite(name="inventory_warehouse_moves")
    suite.add_expectation(_e(gx.expectations.ExpectColumnValuesToBeBetween, "warning", UNUSUAL_MOVE,
                             "per place: its own history, else the default share (see `source` per row)", "warehouse_move",
                             column="band_position", min_value=-1, max_value=1))
    return suite
