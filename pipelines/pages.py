"""Turn one page of API rows into an Arrow table for dlt.

Yielding Arrow tables instead of dicts lets dlt write Parquet straight away and skip its
row-by-row normalizer, which is what makes a million stock rows land in seconds. The columns
are the union of the keys of every row (so a field the API starts sending lands as a new
column, even if only some rows carry it), nested values become JSON text (portable to MySQL),
and every row gets `_fetched_at`.

Quantities are checked at the edge (`check_quantities`): a stock count must be a whole number
that fits a signed 64-bit column. One that is not (text such as "12 pcs" or "many", empty
text, null, missing, a fraction such as 3.7, a number beyond 64 bits, true/false) is never
rounded, truncated or coerced: the row lands with that column null and the reason, with the
value as the API sent it, in `_invalid_reason`; staging rejects the row. So one bad value can
neither break the load (the column keeps its integer type on every page) nor publish a wrong
number. Lossless forms are read as the number they are: 12.0, and the decimal text "12"
(how protobuf's JSON mapping sends 64-bit integers).
"""

from __future__ import annotations

import io
import json
import math
import re
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

import orjson
import pyarrow as pa
import pyarrow.json as pa_json

FETCHED_AT = "_fetched_at"
INVALID_REASON = "_invalid_reason"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_MISSING = object()
_DECIMAL = re.compile(r"-?[0-9]+")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _shown(value: Any) -> str:
    """The value as the API sent it, short enough for a reason."""
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def clean_quantity(value: Any) -> tuple[int | None, str | None]:
    """(the integer, None), or (None, what is wrong with the value)."""
    if value is _MISSING:
        return None, "missing"
    if value is None:
        return None, "null"
    if isinstance(value, bool):
        return None, f"not a number ({_shown(value)})"
    number: int
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None, f"not a whole number ({_shown(value)})"
        if not INT64_MIN <= value <= INT64_MAX:
            return None, f"out of the 64-bit range ({_shown(value)})"
        number = int(value)
    elif isinstance(value, str):
        if value == "":
            return None, "empty text"
        if not _DECIMAL.fullmatch(value):
            return None, f"text, not a number ({_shown(value)})"
        number = int(value)
    else:
        return None, f"not a number ({_shown(value)})"
    if not INT64_MIN <= number <= INT64_MAX:
        return None, f"out of the 64-bit range ({_shown(value)})"
    return number, None


def check_quantities(rows: list[dict[str, Any]], fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """Check the quantity `fields` of every row in place (see the module docstring).

    A bad value becomes null and the row gets `_invalid_reason`, e.g.
    `present: text, not a number ("12 pcs"); reserved: missing`. Negative numbers pass:
    staging rejects them with their own reason.
    """
    for row in rows:
        problems = None
        for name in fields:
            value = row.get(name, _MISSING)
            if type(value) is int and INT64_MIN <= value <= INT64_MAX:
                continue  # the common case, kept fast
            number, problem = clean_quantity(value)
            row[name] = number
            if problem:
                problems = (problems or []) + [f"{name}: {problem}"]
        if problems:
            row[INVALID_REASON] = "invalid quantity: " + "; ".join(problems)
    return rows


def _json_text(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        try:
            return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:  # what orjson refuses (integers beyond 64 bits): the standard library
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def _text_column(values: list[Any]) -> pa.Array:
    """A column kept as text: nested values as JSON text; mixed types (say 12 and "12") as their
    text, never dropped."""
    texts = [_json_text(v) for v in values]
    try:
        return pa.array(texts)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in texts], type=pa.string())


def _json_column(values: list[Any]) -> pa.Array:
    """A column whose values are all nested (or null): each value's JSON text, encoded by orjson
    straight into an Arrow binary column that is then read as UTF-8 text (no Python string per
    value). Any other mix goes the general way (`_text_column`), which gives the same text."""
    encoded: list[bytes | None] = []
    dumps, option = orjson.dumps, orjson.OPT_NON_STR_KEYS
    try:
        for value in values:
            if value is None:
                encoded.append(None)
            elif isinstance(value, (list, dict)):
                encoded.append(dumps(value, option=option))
            else:
                return _text_column(values)
    except TypeError:  # what orjson refuses (integers beyond 64 bits)
        return _text_column(values)
    return pa.array(encoded, type=pa.binary()).cast(pa.string())


def _column(values: list[Any]) -> pa.Array:
    """One column: nested values become JSON text, mixed types text; otherwise Arrow infers the
    type. A column nested on its first value goes straight to text: inferring deep structs only
    to turn them into text cost more than all the rest of a catalog page."""
    first = next((v for v in values if v is not None), None)
    if isinstance(first, (list, dict)):
        return _json_column(values)
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _text_column(values)
    return _text_column(values) if pa.types.is_nested(array.type) else array


def _column_names(rows: list[dict[str, Any]]) -> list[str]:
    """The union of the rows' keys in the order they first appear (usually every row has the
    first row's keys, which is checked cheaply)."""
    first = rows[0].keys()
    if all(row.keys() == first for row in rows):
        return list(first)
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    return list(names)


def rows_to_table(
    rows: list[dict[str, Any]], fetched_at: datetime | None = None, integers: tuple[str, ...] = ()
) -> pa.Table:
    """Build an Arrow table from a list of flat dicts (see module docstring), column by column.
    The rows are not changed.

    `integers`: columns that are int64 on every page, even when a page has only nulls in them
    (the checked quantities), so pages and loads never disagree on their type.
    """
    arrays: dict[str, pa.Array] = {}
    for name in _column_names(rows) if rows else []:
        array = _column([row.get(name) for row in rows])
        if name in integers and not pa.types.is_int64(array.type):
            array = array.cast(pa.int64())  # checked integers (or all null): safe, never lossy
        elif pa.types.is_null(array.type):
            # A column with no value on this page: keep it typed as text so dlt can store it.
            array = array.cast(pa.string())
        arrays[name] = array
    arrays[FETCHED_AT] = fetched_at_column(len(rows), fetched_at)
    return pa.table(arrays)


def fetched_at_column(rows: int, fetched_at: datetime | None = None) -> pa.Array:
    """`_fetched_at` for `rows` rows: now, unless given."""
    return pa.repeat(pa.scalar(fetched_at or utc_now(), type=pa.timestamp("us", tz="UTC")), rows)


def stamped(table: pa.Table, fetched_at: datetime | None = None) -> pa.Table:
    """`table` with `_fetched_at` as its last column (see `fetched_at_column`)."""
    return table.append_column(FETCHED_AT, fetched_at_column(table.num_rows, fetched_at))


# The column types Arrow's JSON reader may give for `json_rows` to keep its table: exactly what
# `rows_to_table` builds from the same values (whole numbers, text, true/false; a column with no
# value becomes text). A nested value, a fraction, or a date (which Arrow would read as a
# timestamp, `rows_to_table` keeps text) sends the page the row-by-row way.
_PLAIN_COLUMNS = (pa.types.is_int64, pa.types.is_string, pa.types.is_boolean, pa.types.is_null)


def json_rows(body: bytes, path: tuple[str, ...], integers: tuple[str, ...] = ()) -> pa.Table | None:
    """The array of objects at `path` in a JSON answer (`("data", "items")` for
    `{"data": {"items": [...]}}`), read by Arrow's JSON reader straight into columns, or None.

    Why: a WB stocks-report page holds 250,000 rows; parsed into Python dicts it took ~140 MB
    and most of its CPU went to building a dict per row and reading them back column by
    column. Arrow builds the columns without a Python object per value. The table is the one
    `rows_to_table(check_quantities(rows, integers), integers=integers)` would give the same
    rows, without `_fetched_at` (`stamped` adds it): None (parse the body as JSON and take the
    row-by-row way) unless every column is plain (`_PLAIN_COLUMNS`) and every `integers` column
    is a whole number on every row, so the checks of the edge (`_invalid_reason`) stay in one
    place. Invalid JSON also gives None (the JSON parser then says what is wrong).
    """
    try:
        whole = pa_json.read_json(io.BytesIO(body),
                                  read_options=pa_json.ReadOptions(use_threads=False, block_size=len(body) + 1),
                                  parse_options=pa_json.ParseOptions(newlines_in_values=True))
    except pa.ArrowException:  # not JSON, mixed kinds in one field, ...: the JSON parser's way
        return None
    if whole.num_rows != 1 or not whole.num_columns:  # one JSON object, not several
        return None
    node: pa.Array = whole.to_batches()[0].to_struct_array()
    for key in path:
        if not pa.types.is_struct(node.type) or node.type.get_field_index(key) < 0:
            return None
        node = node.field(key)
    if not pa.types.is_list(node.type) or node.null_count or not pa.types.is_struct(node.type.value_type):
        return None
    items = node.flatten()
    if items.null_count:  # a null among the objects
        return None
    table = pa.Table.from_batches([pa.RecordBatch.from_struct_array(items)])
    columns: dict[str, Any] = {}
    for name, column in zip(table.column_names, table.columns):
        if name in columns or not any(plain(column.type) for plain in _PLAIN_COLUMNS):
            return None
        if name in integers and (not pa.types.is_int64(column.type) or column.null_count):
            return None
        columns[name] = column.cast(pa.string()) if pa.types.is_null(column.type) else column
    if any(name not in columns for name in integers):
        return None
    return pa.table(columns)


# Rows per Arrow table where an API's pages are small (WB's 100-card pages, one seller warehouse's
# answer): dlt's work per item (schema, naming, a Parquet row group) is about a millisecond, so
# one table per 100-card page cost more than the rows in it. Still a bounded batch.
ROWS_PER_TABLE = 5_000


def row_batches(pages: Iterable[list[Any]], rows: int = ROWS_PER_TABLE) -> Iterator[list[Any]]:
    """The rows of consecutive pages, gathered into batches of at least `rows` (the last one
    may be smaller; none if there are no rows), in their order."""
    batch: list[Any] = []
    for page in pages:
        batch.extend(page)
        if len(batch) >= rows:
            yield batch
            batch = []
    if batch:
        yield batch


def chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
