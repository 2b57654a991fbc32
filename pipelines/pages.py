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

import pyarrow as pa

FETCHED_AT = "_fetched_at"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _plain(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def rows_to_table(rows: list[dict[str, Any]], fetched_at: datetime | None = None) -> pa.Table:
    """Build an Arrow table from a list of flat dicts (see module docstring)."""
    columns: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key not in columns:
                columns[key] = None
    arrays: dict[str, pa.Array] = {}
    for name in columns:
        values = [_plain(row.get(name)) for row in rows]
        try:
            array = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # Mixed types in one field (say 12 and "12"): keep the text, never drop data.
            array = pa.array([None if v is None else str(v) for v in values], type=pa.string())
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
