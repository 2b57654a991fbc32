"""Turn one page of API rows into an Arrow table for dlt.

Yielding Arrow tables instead of dicts lets dlt write Parquet straight away and skip its
row-by-row normalizer, which is what makes a million stock rows land in seconds. The columns
are the union of the keys of every row (so a field the API starts sending lands as a new
column, even if only some rows carry it), nested values become JSON text (portable to MySQL),
and every row gets `_fetched_at`.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Iterable

import orjson
import pyarrow as pa

FETCHED_AT = "_fetched_at"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _json_text(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        try:
            return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:  # what orjson refuses (integers beyond 64 bits): the standard library
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def _column(values: list[Any]) -> pa.Array:
    """One column: Arrow infers the type; nested values become JSON text; mixed types become text."""
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        array = None
    if array is None or pa.types.is_nested(array.type):
        texts = [_json_text(v) for v in values]
        try:
            array = pa.array(texts)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # Mixed types in one field (say 12 and "12"): keep the text, never drop data.
            array = pa.array([None if v is None else str(v) for v in texts], type=pa.string())
    return array


def _columns_fast(rows: list[dict[str, Any]]) -> dict[str, pa.Array] | None:
    """All columns in one C++ pass: Arrow infers a struct over the union of the keys.

    None when a field holds mixed types; the per-column path then keeps them as text.
    """
    try:
        struct = pa.array(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if not pa.types.is_struct(struct.type):
        return None
    out: dict[str, pa.Array] = {}
    for i, f in enumerate(struct.type):
        array = struct.field(i)
        if pa.types.is_nested(f.type):
            array = _column([row.get(f.name) for row in rows])
        out[f.name] = array
    return out


def rows_to_table(rows: list[dict[str, Any]], fetched_at: datetime | None = None) -> pa.Table:
    """Build an Arrow table from a list of flat dicts (see module docstring)."""
    fast = _columns_fast(rows) if rows else None
    if fast is None:
        names: dict[str, None] = {}
        for row in rows:
            names.update(dict.fromkeys(row))
        fast = {name: _column([row.get(name) for row in rows]) for name in names}
    arrays: dict[str, pa.Array] = {}
    for name, array in fast.items():
        if pa.types.is_null(array.type):
            # A column with no value on this page: keep it typed as text so dlt can store it.
            array = array.cast(pa.string())
        arrays[name] = array
    stamp = fetched_at or utc_now()
    arrays[FETCHED_AT] = pa.array([stamp] * len(rows), type=pa.timestamp("us", tz="UTC"))
    return pa.table(arrays)


def chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
