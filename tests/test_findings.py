"""The plain-words renderer of the audit's checks (pipelines.findings), on the shapes they are stored in."""

from __future__ import annotations

import json

from expectations.bounds import critical_band, move_band
from pipelines.config import CheckThresholds
from pipelines.findings import failed, finding, is_check_message, render, why_range

T = CheckThresholds()
HISTORY = [1000.0] * 31  # 30 changes of nothing: the band is the floor, ±10 %


def stored(**row: object) -> dict[str, object]:
    """A validation_results row as the audit writes it (JSON text in observed/unexpected/details)."""
    details = row.pop("details", {})
    base = {"marketplace": "wb", "suite": "inventory_moves", "expectation": "expect_column_sum_to_be_between",
            "column_name": "quantity_present", "severity": "warning", "success": False, "unexpected_count": None,
            "observed_value": json.dumps(row.pop("observed", None)),
            "unexpected_values": json.dumps(row.pop("examples", None), ensure_ascii=False),
            "details": json.dumps(details, ensure_ascii=False)}
    return {**base, **row}


def test_a_units_move_says_what_moved_by_how_much_against_what_range_and_why() -> None:
    band = move_band(HISTORY, T)
    low, high = band.bounds(10_000)
    row = stored(observed=8_800.0, details={"min_value": low, "max_value": high, "kind": "unusual move",
                                            "range_source": band.source, "finding": "units_move", "previous": 10_000})
    text = render(row)
    assert text.startswith("Wildberries units fell 12 % since the last sync (10,000 → 8,800); outside the usual range ")
    assert "±10 %" in text and text.endswith("from the last 31 syncs.")
    assert "expect_" not in text and "{" not in text
    f = finding(row)
    assert f.consequence == "unusual move, published" and f.ge["expectation"] == "expect_column_sum_to_be_between"
    assert f.ge["observed_value"] == 8800.0 and f.ge["range_source"] == band.source


def test_the_default_range_says_why_it_is_the_default() -> None:
    band = move_band([1000.0, 1010.0], T)  # one change: not enough history
    low, high = band.bounds(500)
    text = render(stored(observed=800.0, details={"min_value": low, "max_value": high, "range_source": band.source,
                                                  "finding": "units_move", "previous": 500}))
    assert "rose 60 %" in text and "±50 %" in text
    assert "the default, as the history holds 1 of the 5 sync-to-sync changes needed" in text
    assert why_range(move_band(HISTORY, T).source) == "from the last 31 syncs"


def test_warehouse_moves_name_each_place_and_its_own_range() -> None:
    band = move_band(HISTORY, T)
    examples = [{"warehouse": "Коледино", "change": -0.45, "source": band.source},
                {"warehouse": "Казань", "change": 0.8, "source": move_band([], T).source}]
    row = stored(suite="inventory_warehouse_moves", expectation="expect_column_values_to_be_between",
                 column_name="band_position", unexpected_count=3, examples=examples,
                 details={"min_value": -1, "max_value": 1, "range_source": "per place", "finding": "warehouse_move"})
    text = render(row)
    assert text.startswith("Wildberries: 3 warehouses moved more than usual since the last sync: Коледино fell 45 %")
    assert "Казань rose 80 % (usual range ±50 %, the default" in text and text.endswith("; and 1 more.")
    assert "band_position" not in text


def test_a_units_collapse_is_a_broken_answer_held_back() -> None:
    band = critical_band(HISTORY, T)
    row = stored(suite="inventory_broken_answers", severity="critical", observed=1_000.0,
                 details={"min_value": 9_000, "kind": "broken answer", "finding": "units_collapse", "previous": 20_000,
                          "range_source": f"{band.source}; and at least INVSYNC_CRITICAL_DROP_UNITS 1000 units"})
    f = finding(row)
    assert f.text.startswith("Wildberries units collapsed from 20,000 to 1,000 (fell 95 %); a broken answer is below 9,000")
    assert "far from anything in the last 31 syncs" in f.text
    assert f.line().endswith("(broken answer, held back)")


def test_rows_stored_before_the_finding_key_still_read_as_sentences() -> None:
    # No `finding`, no `previous`: the suite and expectation decide, the bounds are shown as numbers.
    row = stored(observed=7052.0, details={"min_value": 3526.0, "max_value": 10578.0, "kind": "unusual move",
                                           "range_source": "default ±50% (history holds 0 of the 5 changes needed)"})
    assert render(row).startswith("Wildberries units: 7,052 now; outside the usual range 3,526–10,578, the default")
    chrt = stored(suite="inventory_validity", expectation="expect_column_values_to_not_match_regex", column_name="sku",
                  unexpected_count=2, examples=["chrt:1", "chrt:2"], details={"regex": "^chrt:"})
    assert render(chrt) == ("Wildberries: 2 sizes have no barcode on any product card, so they are published as "
                            "chrt:<size id>, e.g. chrt:1; chrt:2.")
    bare = stored(observed=12, details=None)  # a row with no details at all
    assert render(bare) == "Wildberries units: 12 now, outside the usual range."
    odd = stored(expectation="expect_something_new", column_name=None, suite="x", observed={"a": 1})
    assert render(odd) == "Wildberries: something new failed."


def test_an_api_count_row_reads_as_such_with_or_without_its_key() -> None:
    """Rows stored before the `finding` key are recognised by the message the suite writes,
    whichever counter the marketplace names (`Marketplace.api_count`)."""
    for marketplace, field, key in (("ozon", "total_items", None), ("ozon", "total_items", "api_count"),
                                    ("ym", "product count", None)):
        details = {"min_value": 98, "max_value": 102, "range_source": f"the API's own {field} 100, ± INVSYNC_RECONCILE_SHARE 2%"}
        if key:
            details["finding"] = key
        row = stored(suite="inventory_broken_answers", severity="critical", marketplace=marketplace, column_name=None,
                     expectation="expect_table_row_count_to_be_between", observed=60, details=details)
        assert render(row).endswith(f"60 products landed, which does not match the API's own count (allowed 98–102; "
                                    f"the API's own {field} 100, ± INVSYNC_RECONCILE_SHARE 2%)."), (marketplace, key)


def test_passes_read_as_passes_and_failures_come_first() -> None:
    ok = stored(suite="inventory_validity", expectation="expect_column_values_to_be_between",
                column_name="quantity_present", success=True, details={"min_value": 0})
    bad = stored(suite="inventory_validity", expectation="expect_column_values_to_be_between", marketplace="ozon",
                 column_name="quantity_present", unexpected_count=4, examples=[-1, -2], details={"min_value": 0})
    assert render(ok) == "Wildberries: no row has negative units present."
    assert render(bad) == "Ozon: 4 rows have negative units present, e.g. -1; -2 and 2 more."
    crit = stored(suite="inventory_broken_answers", severity="critical", expectation="expect_table_row_count_to_be_between",
                  column_name=None, observed=0, details={"min_value": 1, "finding": "catalog_empty",
                                                         "range_source": "the account listed 120 products before"})
    assert render(crit) == "Wildberries' catalog listing came back empty, while the account had listed 120 products before."
    assert [f.severity for f in failed([ok, bad, crit])] == ["critical", "warning"]


def test_the_audits_own_dicts_render_like_stored_rows() -> None:
    check = {"marketplace": "ozon", "suite": "inventory_moves", "expectation": "expect_table_row_count_to_be_between",
             "column": None, "kwargs": {"min_value": 90, "max_value": 110}, "severity": "warning",
             "kind": "unusual move", "range_source": move_band(HISTORY, T).source, "success": False,
             "observed_value": 130, "unexpected_count": None, "unexpected_values": None,
             "finding": "items_move", "previous": 100}
    assert render(check).startswith("Ozon stocked items rose 30 % since the last sync (100 → 130); outside")
    assert is_check_message("unusual move: inventory_moves: expect_column_sum_to_be_between …")
    assert not is_check_message("wb: 3 sizes without a card")
