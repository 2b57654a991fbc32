"""WB aggregate places are read from the answer, not from a list of names (issue 22).

The source marks each FBO place `aggregate` or `physical` from what the answer says (the
stocks report's negative `warehouseId`, the remains report's "Склад WB…" names); a name WB has
not documented is kept as its own place with a warning, and totals per size never change.
Tested at the source, over HTTP against the sandbox (its answers renamed by a fault), without
a warehouse: what staging does with `place_kind` is a coalesce.
"""

from __future__ import annotations

from collections import Counter

import orjson
import pyarrow as pa
import pytest

from pipelines.marketplaces.wb import source as wildberries
from pipelines.api_client import SyncStats
from pipelines.sandbox import WB_API_TOKEN, Fault, Sandbox, SandboxOptions
from pipelines.marketplaces.wb.token import read_token
from pipelines.pages import FETCHED_AT
from tests.conftest import settings_for


def fbo_rows(sb: Sandbox) -> tuple[list[dict], list[str]]:
    """The stocks report's rows as the source lands them, and the warnings it gave."""
    settings = settings_for(sb.env(), "duckdb:///unused.duckdb", INVSYNC_RATE_LIMIT_SCALE="0")
    plan = wildberries.plan_for(read_token(WB_API_TOKEN))
    api = wildberries.WildberriesApi(wildberries.make_client(settings, SyncStats(), 0.01, plan), settings)
    counts: dict = {}
    source = wildberries.wildberries_source(api, counts=counts, method_plan=plan)
    rows = [r for table in source.resources["wb_warehouse_stocks"] for r in table.to_pylist()]
    return rows, counts["warnings"]


def per_size(rows: list[dict]) -> Counter:
    totals: Counter = Counter()
    for r in rows:
        totals[r["chrtId"]] += r["quantity"] + r["inWayToClient"] + r["inWayFromClient"]
    return totals


@pytest.mark.parametrize("new_name", ["Склад WB Россия", "Все склады"])  # with and without WB's marker
def test_a_renamed_aggregate_place_is_kept_as_its_own_place_with_a_warning_and_totals_stay_exact(new_name) -> None:
    with Sandbox(SandboxOptions(products=40, seed=5, rate_limit_scale=0.0, wb_aggregation=True)) as sb:
        before, warnings = fbo_rows(sb)
        assert warnings == [] and {(r["warehouseName"], r["place_kind"]) for r in before} == {("Склад WB", "aggregate")}
        sb.add_fault(Fault(kind="bad_value", path=wildberries.STOCKS_REPORT_WB, field="warehouseName", value=new_name))
        after, warnings = fbo_rows(sb)
    renamed = [r for r in after if r["warehouseName"] == new_name]
    assert len(renamed) == 1 and renamed[0]["place_kind"] == "aggregate"  # its id (−999999) says so
    assert warnings == [f"WB FBO place '{new_name}' is not a documented WB place name; read as an aggregate "
                        "place (a total over several warehouses) and kept as its own place"]
    assert per_size(after) == per_size(before)


def test_remains_places_are_marked_from_their_names_and_pseudo_entries_are_not_places() -> None:
    items = [{"barcode": "460001", "nmId": 1, "warehouses": [
        {"warehouseName": "В пути до получателей", "quantity": 2},
        {"warehouseName": "Всего находится на складах", "quantity": 9},
        {"warehouseName": "Коледино", "quantity": 3},
        {"warehouseName": "Склад WB РФ", "quantity": 4},
        {"warehouseName": "Склад WB Беларусь", "quantity": 2},
    ]}]
    rows = wildberries.flatten_remains(items)
    kinds = {r["warehouseName"]: r.get("place_kind") for r in rows}
    assert kinds == {"В пути до получателей": None, "Всего находится на складах": None, "Коледино": "physical",
                     "Склад WB РФ": "aggregate", "Склад WB Беларусь": "aggregate"}
    assert wildberries.undocumented_aggregates(rows) == ["Склад WB Беларусь"]
    # Every unit is still at some place: the places add up to the report's own total.
    assert sum(r["quantity"] for r in rows if r.get("place_kind")) == 9


def test_a_report_page_read_by_arrow_lands_as_the_row_by_row_way_lands_it() -> None:
    def item(chrt: int, warehouse_id, name=None, **fields) -> dict:
        row = {"nmId": 1, "chrtId": chrt, "warehouseId": warehouse_id, "warehouseName": name, "regionName": "",
               "quantity": 3, "inWayToClient": 1, "inWayFromClient": 0, **fields}
        return {k: v for k, v in row.items() if v is not None or k != "warehouseName"}

    items = [item(1, -999999, "Склад WB"), item(2, 507, " Склад WB Казахстан "), item(3, -5, "Все склады"),
             item(4, 120762, "Электросталь"), item(5, None, "Склад WB РФ"), item(6, 130744)]
    body = orjson.dumps({"data": {"items": items}})
    page = wildberries.report_page(body)
    assert isinstance(page, pa.Table)  # read by Arrow
    by_arrow, arrow_news = wildberries.report_table(page)
    by_rows, row_news = wildberries.report_table(wildberries.report_items(orjson.loads(body), "report"))
    assert by_arrow.schema == by_rows.schema
    assert by_arrow.drop_columns([FETCHED_AT]).equals(by_rows.drop_columns([FETCHED_AT]))
    assert by_arrow.column("place_kind").to_pylist() == ["aggregate", "aggregate", "aggregate", "physical", "aggregate", "physical"]
    assert arrow_news == row_news == [" Склад WB Казахстан ", "Все склады"]

    items[1]["quantity"] = "3 шт"  # a bad value: parsed as JSON, and only its row is rejected, with the reason
    answer = wildberries.report_page(orjson.dumps({"data": {"items": items}}))
    assert isinstance(answer, dict)
    table, _ = wildberries.report_table(wildberries.report_items(answer, "report"))
    assert table.column("_invalid_reason").to_pylist() == [None, 'invalid quantity: quantity: text, not a number ("3 шт")',
                                                          None, None, None, None]
