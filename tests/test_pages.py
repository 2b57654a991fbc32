"""Answer pages as Arrow tables (`pipelines.pages.rows_to_table`): every value lands, typed or as text."""

from __future__ import annotations

import json

import orjson
import pyarrow as pa
import pytest

from pipelines.pages import FETCHED_AT, check_quantities, json_rows, rows_to_table


def column(table: pa.Table, name: str) -> list:
    return table.column(name).to_pylist()


def test_nested_values_land_as_json_text_whichever_row_first_has_them() -> None:
    rows = [
        {"id": 1, "barcodes": ["460", "461"], "price": {"value": 10}, "late": None},
        {"id": 2, "barcodes": [], "price": {"value": 11.5}, "late": {"x": [1, 2]}},  # nested only from row 2 on
        {"id": 3, "price": None, "late": [{"y": "тест"}]},  # a key missing: null, never dropped
    ]
    table = rows_to_table(rows)
    assert column(table, "id") == [1, 2, 3]
    assert [None if v is None else json.loads(v) for v in column(table, "barcodes")] == [["460", "461"], [], None]
    assert [None if v is None else json.loads(v) for v in column(table, "price")] == [{"value": 10}, {"value": 11.5}, None]
    assert [None if v is None else json.loads(v) for v in column(table, "late")] == [None, {"x": [1, 2]}, [{"y": "тест"}]]
    assert table.schema.field("barcodes").type == pa.string() and table.schema.field("late").type == pa.string()
    assert table.schema.field(FETCHED_AT).type == pa.timestamp("us", tz="UTC")


def test_mixed_types_in_one_field_are_kept_as_text_and_integer_columns_stay_integers() -> None:
    table = rows_to_table([{"code": 12, "present": None, "note": None}, {"code": "12a", "present": None, "note": None}],
                          integers=("present",))
    assert column(table, "code") == ["12", "12a"]
    assert table.schema.field("present").type == pa.int64()  # all null on this page, still int64
    assert table.schema.field("note").type == pa.string()  # no value at all: typed as text


def test_a_scalar_first_and_nested_later_keeps_both_as_text() -> None:
    table = rows_to_table([{"v": 5}, {"v": {"a": 1}}, {"v": [1]}])
    assert column(table, "v") == ["5", '{"a":1}', "[1]"]


# -- answers read by Arrow's JSON reader (`json_rows`) -----------------------------------------------
def answer(items: list) -> bytes:
    return orjson.dumps({"data": {"items": items}})


def row_by_row(body: bytes, integers: tuple[str, ...]) -> pa.Table:
    """What the row-by-row way lands from the same answer (without `_fetched_at`)."""
    rows = orjson.loads(body)["data"]["items"]
    return rows_to_table(check_quantities(rows, integers), integers=integers).drop_columns([FETCHED_AT])


def test_a_plain_answer_read_by_arrow_is_the_table_the_row_by_row_way_lands() -> None:
    body = answer([
        {"id": 1, "name": "Коледино", "qty": 5, "ok": True, "note": None},
        {"id": 2, "name": " Склад WB ", "qty": -3, "ok": False, "late": "a key from row 2 on"},
        {"name": "", "qty": 0, "id": 3, "note": None},  # another key order, keys missing
    ])
    table = json_rows(body, ("data", "items"), integers=("qty",))
    expected = row_by_row(body, ("qty",))
    assert table is not None and table.schema == expected.schema and table.equals(expected)
    assert table.column_names == ["id", "name", "qty", "ok", "note", "late"]
    assert table.schema.field("note").type == pa.string()  # no value at all: text, as the row-by-row way types it


@pytest.mark.parametrize("items", [
    [{"qty": 1}, {"qty": "12 pcs"}],  # a bad quantity: only the row-by-row way names it
    [{"qty": 1}, {"qty": 3.5}],
    [{"qty": 1}, {"qty": None}],
    [{"qty": 1}, {"other": 2}],  # a quantity missing
    [{"qty": 1}],  # ...and below with another column that is not plain
    [{"qty": 1, "price": 10.5}],
    [{"qty": 1, "sizes": [1, 2]}],
    [{"qty": 1, "dims": {"w": 1}}],
    [{"qty": 1, "updatedAt": "2026-12-07T10:00:00Z"}],  # Arrow would make it a timestamp
    [{"qty": 1, "code": 12}, {"qty": 2, "code": "12a"}],
    [{"qty": 1}, None],
    [],
])
def test_what_arrow_would_read_differently_is_left_to_the_row_by_row_way(items: list) -> None:
    body = answer(items)
    if items == [{"qty": 1}]:  # the control: this one Arrow reads
        assert json_rows(body, ("data", "items"), integers=("qty",)) is not None
        body = answer(items)[:-3] + b"}"  # ...unless it is cut short
    assert json_rows(body, ("data", "items"), integers=("qty",)) is None


def test_arrow_reads_only_an_object_with_an_array_of_objects_at_the_path() -> None:
    items = [{"qty": 1}]
    assert json_rows(orjson.dumps({"items": items}), ("data", "items")) is None
    assert json_rows(orjson.dumps({"data": {"items": {"qty": 1}}}), ("data", "items")) is None
    assert json_rows(orjson.dumps(items), ("data", "items")) is None
    assert json_rows(b'{"data": {"items": [{"qty": 1}]}}\n{"data": {"items": []}}', ("data", "items")) is None
    assert json_rows(b'{"data": {"items": [{"qty": 99999999999999999999}]}}', ("data", "items"), ("qty",)) is None
    pretty = json.dumps({"data": {"items": [{"qty": 1, "name": "a\\nb"}]}}, indent=2).encode()  # newlines between values
    assert json_rows(pretty, ("data", "items"), ("qty",)).to_pylist() == [{"qty": 1, "name": "a\\nb"}]
