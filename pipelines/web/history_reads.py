"""The stock history queries of the API and the console (issue 25): intervals, stockouts, and
one product's stock over time per warehouse.

Why here and not in `stock_reads`: history has its own key (the grain key plus `valid_from`)
and its own tables (`inventory_history`, `stockouts`, written only by a publish: see
dbt_project/models/marts/history). It shares the console's `StockFilter`, so "this filter"
means the same rows in the history as in the stock table: the filter applies to each
interval's quantities and to the key's current attributes (name, article, warehouse name from
`inventory_data`, which never drops a key). Every value is a bound parameter.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from typing import Any

from pipelines.account_scope import AccountScope, and_account
from pipelines.warehouse import Warehouse
from pipelines.web.reads import KEY_COLUMNS, BadCursor, plain_row
from pipelines.web.stock_reads import StockFilter

HISTORY_KEY = (*KEY_COLUMNS, "valid_from")
HISTORY_COLUMNS = (
    *HISTORY_KEY, "valid_to", "quantity_present", "quantity_reserved", "quantity_available",
    "marketplace_product_id", "offer_id", "product_name", "barcode", "warehouse_name",
)
# The filterable columns of the joined view (StockFilter.where picks its text fields from these).
_VIEW = (
    "select h.marketplace, h.account, h.sku, h.warehouse_id, h.stock_type, h.valid_from, h.valid_to, "
    "h.quantity_present, h.quantity_reserved, h.quantity_available, "
    "i.marketplace_product_id, i.offer_id, i.product_name, i.barcode, i.warehouse_name "
    "from inventory_history h left join inventory_data i on i.marketplace = h.marketplace and i.account = h.account "
    "and i.sku = h.sku and i.warehouse_id = h.warehouse_id and i.stock_type = h.stock_type"
)


def encode_cursor(row: dict[str, Any]) -> str:
    key = [str(row[c]) for c in KEY_COLUMNS] + [row["valid_from"].isoformat()]
    return base64.urlsafe_b64encode(json.dumps(key, ensure_ascii=False).encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    """The cursor's key, typed for binding; BadCursor when this service did not make it."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if (not isinstance(key, list) or len(key) != len(HISTORY_KEY)
                or not all(isinstance(v, str) and len(v) <= 512 for v in key)):
            raise ValueError
        key[-1] = datetime.fromisoformat(key[-1])
    except (ValueError, TypeError):
        raise BadCursor("`after` is not a cursor this API returned") from None
    return key


def _window(since: datetime | None, until: datetime | None) -> tuple[list[str], list[Any]]:
    """Intervals that overlap [since, until) (either end open)."""
    where, params = [], []
    if since is not None:
        where.append("(valid_to is null or valid_to > %s)")
        params.append(since)
    if until is not None:
        where.append("valid_from < %s")
        params.append(until)
    return where, params


def intervals(wh: Warehouse, f: StockFilter, *, since: datetime | None = None, until: datetime | None = None,
              after: str | None = None, limit: int = 100) -> dict[str, Any]:
    """One keyset page of history intervals (key order, then valid_from), as the API serves them."""
    with wh.session():
        if not (wh.table_exists("inventory_history") and wh.table_exists("inventory_data")):
            return {"items": [], "next": None, "limit": limit}
        where, params = f.where(set(HISTORY_COLUMNS))
        extra, extra_params = _window(since, until)
        if after:
            extra.append(f"({', '.join(HISTORY_KEY)}) > ({', '.join(['%s'] * len(HISTORY_KEY))})")
            extra_params += decode_cursor(after)
        if extra:
            where += (" and " if where else " where ") + " and ".join(extra)
        found = wh.query(f"select {', '.join(HISTORY_COLUMNS)} from ({_VIEW}) x{where} "
                         f"order by {', '.join(HISTORY_KEY)} limit %s", [*params, *extra_params, limit + 1])
    more = len(found) > limit
    found = found[:limit]
    return {"items": [plain_row(r) for r in found], "next": encode_cursor(found[-1]) if more and found else None,
            "limit": limit}


def product_history(wh: Warehouse, marketplace: str, product_id: str, days: int = 90,
                    stockout_limit: int = 50, scope: AccountScope = None) -> dict[str, Any]:
    """One product's last `days` of history for its page: units available over time per
    warehouse (its sizes and stock types summed) and its stockouts, newest first, over the
    accounts of `scope` (the caller's token's).

    `series`: {warehouse name: [(time, units available), ...]}, a step function that starts at
    the window's start (or the product's first interval) and ends at the latest publish.
    """
    empty: dict[str, Any] = {"series": {}, "start": None, "end": None, "stockouts": []}
    with wh.session():
        if not (wh.table_exists("inventory_history") and wh.table_exists("inventory_data")):
            return empty
        # One condition on `i.account` for all three: the joins hold h's and s's account equal to it.
        scoped, scope_params = and_account(scope, "i.account")
        end = wh.query(f"select max(i.last_sync_at) as t from inventory_data i where i.marketplace = %s{scoped}",
                       (marketplace, *scope_params))[0]["t"]
        if end is None:
            return empty
        start = end - timedelta(days=days)
        rows = wh.query(
            "select h.sku, h.warehouse_id, h.stock_type, h.valid_from, h.valid_to, h.quantity_available, "
            "coalesce(i.warehouse_name, h.warehouse_id) as warehouse "
            "from inventory_history h inner join inventory_data i on i.marketplace = h.marketplace "
            "and i.account = h.account and i.sku = h.sku and i.warehouse_id = h.warehouse_id and i.stock_type = h.stock_type "
            "where h.marketplace = %s and i.marketplace_product_id = %s and (h.valid_to is null or h.valid_to > %s)"
            f"{scoped} order by h.valid_from", (marketplace, product_id, start, *scope_params))
        spells = wh.query(
            "select s.sku, s.warehouse_id, s.stock_type, s.started_at, s.ended_at, s.duration_hours, "
            "coalesce(i.warehouse_name, s.warehouse_id) as warehouse "
            "from stockouts s inner join inventory_data i on i.marketplace = s.marketplace "
            "and i.account = s.account and i.sku = s.sku and i.warehouse_id = s.warehouse_id and i.stock_type = s.stock_type "
            f"where s.marketplace = %s and i.marketplace_product_id = %s{scoped} "
            "order by s.started_at desc, s.sku, s.warehouse_id limit %s",
            (marketplace, product_id, *scope_params, stockout_limit)) if wh.table_exists("stockouts") else []
    if not rows:
        return {**empty, "stockouts": [plain_row(r) for r in spells]}
    start = max(start, min(r["valid_from"] for r in rows))
    by_place: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_place.setdefault(r["warehouse"], []).append(r)
    series = {place: _step_series(ivs, start, end) for place, ivs in sorted(by_place.items())}
    return {"series": series, "start": start, "end": end, "stockouts": [plain_row(r) for r in spells]}


def _step_series(ivs: list[dict[str, Any]], start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """The sum over several keys' intervals as (time, units) steps from `start` to `end`: at
    each time an interval begins or ends, the units of every interval covering it."""
    times = sorted({start, end, *(r["valid_from"] for r in ivs if start < r["valid_from"] < end),
                    *(r["valid_to"] for r in ivs if r["valid_to"] is not None and start < r["valid_to"] < end)})
    points = []
    for t in times:
        units = sum(int(r["quantity_available"]) for r in ivs
                    if r["valid_from"] <= t and (r["valid_to"] is None or r["valid_to"] > t))
        if not points or points[-1][1] != units or t == end:
            points.append((t, units))
    return points
