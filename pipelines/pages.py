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

import json
import math
import re
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

import orjson
import pyarrow as pa

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
    stamp = fetched_at or utc_now()
    arrays[FETCHED_AT] = pa.array([stamp] * len(rows), type=pa.timestamp("us", tz="UTC"))
    return pa.table(arrays)


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
