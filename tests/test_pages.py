"""Answer pages as Arrow tables (`pipelines.pages.rows_to_table`): every value lands, typed or as text."""

from __future__ import annotations

import json

import pyarrow as pa

from pipelines.pages import FETCHED_AT, rows_to_table


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
