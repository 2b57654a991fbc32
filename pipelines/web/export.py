"""CSV of stock rows, safe to open in a spreadsheet: the API's `text/csv` answer and the console's export.

Why a module of its own: both routers write the same cells, and the console's stock pages
imported the API router for it (inside a function, to dodge the routers' import circle).
"""

from __future__ import annotations

import csv
import io
from typing import Any, Sequence

from pipelines.web.reads import INVENTORY_COLUMNS


def safe_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet will not run as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        try:
            float(value)
            return value
        except ValueError:
            return "'" + value
    return value


def to_csv(rows: list[dict[str, Any]], columns: Sequence[str] = INVENTORY_COLUMNS) -> str:
    """Rows as one CSV text (header first, CRLF line ends)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(row.get(c)) for c in columns])
    return out.getvalue()
