"""Ozon Seller API handlers: stock, warehouses, catalogue and the stock report.

(Over 400 lines on purpose: one handler per published Ozon method, beside each other as in ozon.md.)

Shapes, paging and validation follow docs/api/ozon.md (§2). Why each page is built here on
demand from the account's columns: a 1000-item page costs a few milliseconds and nothing is
kept per row. Ordering is by product_id (then warehouse_id), so cursors are stable positions.

Cursor paging of the `cursor` + `has_next` methods (FBO, FBS v2, warehouse stocks): a page
with rows carries the position of its last row as `cursor` (non-empty even when `has_next` is
false, like the official example of /v1/product/info/warehouse/stocks); asking again from the
end answers no rows, `cursor: ""` and `has_next: false`. So a client that stops on
`has_next == false` and one that stops on an empty cursor both end, without losing rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
from bisect import bisect_right
from typing import Any, Callable, Iterable, Iterator

from .account import N_OZ_FBO, N_OZ_SELLER, VISIBILITIES, Account
from .errors import ApiError
from .reference import OZON_FBO_WAREHOUSES, OZON_SELLER_WAREHOUSES, TURNOVER_GRADES, mix, utc_iso
from .routing import Request, decode_cursor, encode_cursor, id_list, int_field, str_list, sub_object

SHIPMENT = "SHIPMENT_TYPE_GENERAL"
REPORT_COLUMNS = (
    "Идентификатор склада", "Название склада", "SKU", "Артикул", "Наименование товара",
    "Доступно на моем складе, шт", "Зарезервировано на моем складе, шт",
)
# FBO slots in warehouse_id order: rows of one product are listed by warehouse_id.
FBO_ORDER = sorted(range(N_OZ_FBO), key=lambda w: OZON_FBO_WAREHOUSES[w].warehouse_id)
SELLER_ORDER = sorted(range(N_OZ_SELLER), key=lambda w: OZON_SELLER_WAREHOUSES[w].warehouse_id)
WEEK = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
# ---------------------------------------------------------------------- product selection
def _selection(acc: Account, flt: dict[str, Any]) -> tuple[str, list[int] | None]:
    """(visibility, explicit product indices or None) from an Ozon product filter."""
    visibility = flt.get("visibility") or "ALL"
    if visibility not in VISIBILITIES:
        raise ApiError(400, f"invalid visibility '{visibility}'")
    offers = str_list(flt, "offer_id", 1000)
    pids = id_list(flt, "product_id", 1000)
    if not offers and not pids:
        return visibility, None
    found = {acc.index_by_offer(o) for o in offers} | {acc.index_by_pid(p) for p in pids}
    found.discard(None)
    return visibility, sorted(found)  # type: ignore[arg-type]


def _after(acc: Account, chosen: list[int] | None, after_pid: int | None) -> Iterable[int]:
    """Product indices, in product_id order, after the one a cursor points at."""
    if chosen is None:
        start = 0 if after_pid is None else bisect_right(acc.oz_pid, after_pid)
        return range(start, acc.n_products)
    if after_pid is None:
        return chosen
    return [i for i in chosen if acc.oz_pid[i] > after_pid]


def _count(acc: Account, visibility: str, chosen: list[int] | None) -> int:
    if chosen is None:
        return acc.ozon_count(visibility)
    return sum(1 for i in chosen if acc.ozon_matches(i, visibility))


# ---------------------------------------------------------------------- /v4/product/info/stocks
def product_info_stocks(req: Request) -> dict[str, Any]:
    """Totals per product and scheme (§2.1). `filter` and `limit` (1..1000) are required.

    Last page: `cursor: ""`, `items: []` (the SDK fixture's shape; a page with items always
    carries a non-empty cursor, so the end is one extra empty page). `total_items` = products
    matching the filter. `total` is omitted unless `SandboxOptions.ozon_total_field` (it was
    announced off from 23 Nov 2026, §6.1). fbo `present`/`reserved` are sums of the
    per-warehouse present/reserved; supply-request and transit units are not in them.
    """
    body = req.json_object()
    acc = req.account
    if not isinstance(body.get("filter"), dict):
        raise ApiError(400, "filter is required")
    limit = int_field(body, "limit", 1, 1000)
    visibility, chosen = _selection(acc, sub_object(body, "filter"))
    cursor = body.get("cursor") or ""
    after = decode_cursor(cursor, 1)
    items = []
    for i in _after(acc, chosen, after[0] if after else None):
        if acc.ozon_matches(i, visibility):
            items.append(_v4_item(acc, i))
            if len(items) == limit:
                break
    out: dict[str, Any] = {
        "cursor": encode_cursor([items[-1]["product_id"]]) if items else "",
        "items": items,
        "total_items": _count(acc, visibility, chosen),
    }
    if req.sandbox.options.ozon_total_field:
        out["total"] = out["total_items"]
    return out


def _v4_item(acc: Account, i: int) -> dict[str, Any]:
    sku = acc.oz_sku[i]
    return {
        "product_id": acc.oz_pid[i],
        "offer_id": acc.offer_id(i),
        "stocks": [
            {"type": kind, "present": present, "reserved": reserved, "sku": sku,
             "warehouse_ids": [str(w) for w in ids], "shipment_type": SHIPMENT}
            for kind, present, reserved, ids in acc.ozon_stock_totals(i)
        ],
    }


def negate_v4(item: dict[str, Any]) -> bool:
    if not item.get("stocks"):
        return False
    item["stocks"][0]["present"] = -5
    return True


# ---------------------------------------------------------------------- cursor paging helper
def _cursor_page(rows: Iterable[tuple[tuple[int, int], Callable[[], dict[str, Any]]]],
                 cursor: str, limit: int) -> dict[str, Any]:
    """One page of (key, build) pairs given in key order, after the cursor's key."""
    after = decode_cursor(cursor, 2)
    after_key = tuple(after) if after else None
    out: list[dict[str, Any]] = []
    last: tuple[int, int] | None = None
    has_next = False
    for key, build in rows:
        if after_key is not None and key <= after_key:
            continue
        if len(out) == limit:
            has_next = True
            break
        out.append(build())
        last = key
    return {"cursor": encode_cursor(list(last)) if last else "", "has_next": has_next, "products": out}


def _chosen_products(acc: Account, ids: list[int], offers: list[str], by: str) -> list[int]:
    found = {acc.index_by_sku(s) if by == "sku" else acc.index_by_pid(s) for s in ids}
    found |= {acc.index_by_offer(o) for o in offers}
    found.discard(None)
    return sorted(found)  # type: ignore[arg-type]


def _require_ids(body: dict[str, Any], ids_name: str, offers_name: str) -> tuple[list[int], list[str]]:
    """The sku / offer id chunk of a per-warehouse method: 1..1000 of them, never empty."""
    ids, offers = id_list(body, ids_name), str_list(body, offers_name)
    for name, values in ((ids_name, ids), (offers_name, offers)):
        if len(values) > 1000:
            raise ApiError(400, f"{name}: value must contain at most 1000 items, got {len(values)}")
    if not ids and not offers:
        raise ApiError(400, f"invalid request: {ids_name} or {offers_name} must contain between 1 and 1000 items")
    return ids, offers


# ---------------------------------------------------------------------- FBO per Ozon warehouse
def stocks_by_warehouse_fbo(req: Request) -> dict[str, Any]:
    """`/v1/product/info/stocks-by-warehouse/fbo` (§2.2, beta): present/reserved per product x
    Ozon warehouse, for 1..1000 `skus` or `offer_ids` (both given: their union). `limit`
    (1..1000) required. Unknown ids are left out. Rows: placements with present or reserved
    > 0 (a warehouse holding only supply-request or transit units for the product is not a
    row); all placements, zeros included, with `SandboxOptions.ozon_fbo_zero_rows`. No
    warehouse name: names come from /v1/warehouse/ozon/list (same ids)."""
    body = req.json_object()
    acc = req.account
    limit = int_field(body, "limit", 1, 1000)
    skus, offers = _require_ids(body, "skus", "offer_ids")
    chosen = _chosen_products(acc, skus, offers, "sku")

    def rows() -> Iterator[tuple[tuple[int, int], Callable[[], dict[str, Any]]]]:
        for i in chosen:
            for w in FBO_ORDER:
                slot = i * N_OZ_FBO + w
                if acc.fbo_listed(slot):
                    wid = OZON_FBO_WAREHOUSES[w].warehouse_id
                    yield (acc.oz_pid[i], wid), lambda i=i, slot=slot, wid=wid: {
                        "sku": acc.oz_sku[i], "offer_id": acc.offer_id(i), "product_id": acc.oz_pid[i],
                        "warehouse_id": wid, "present": acc.fbo_pr[slot], "reserved": acc.fbo_res[slot]}

    return _cursor_page(rows(), body.get("cursor") or "", limit)


def negate_present(item: dict[str, Any]) -> bool:
    item["present"] = -5
    if "free_stock" in item:
        item["free_stock"] = -5 - item.get("reserved", 0)
    return True


def ozon_warehouse_list(req: Request) -> dict[str, Any]:
    """`/v1/warehouse/ozon/list` (§2.6): the Ozon FBO warehouses, no paging; optional
    `warehouse_types` filter (the sandbox has FULL_FILLMENT warehouses only)."""
    body = req.json_object()
    types = str_list(body, "warehouse_types")
    out = []
    for wh in OZON_FBO_WAREHOUSES:
        if types and "FULL_FILLMENT" not in types:
            continue
        out.append({"warehouse_id": wh.warehouse_id, "name": wh.name, "short_name": wh.short_name,
                    "address": wh.address, "warehouse_type": "FULL_FILLMENT", "is_active": True,
                    "is_express": False, "is_for_supply": True, "timezone": wh.timezone,
                    "cluster_id": wh.cluster_id})
    return {"warehouses": out}


# ---------------------------------------------------------------------- seller warehouses
def warehouse_list(req: Request) -> dict[str, Any]:
    """`/v2/warehouse/list` (§2.6): FBS and rFBS warehouses; `limit` (1..200) required; cursor
    paging with `has_next`; optional `warehouse_ids`."""
    body = req.json_object()
    limit = int_field(body, "limit", 1, 200)
    wanted = set(id_list(body, "warehouse_ids"))
    after = decode_cursor(body.get("cursor") or "", 1)
    start = after[0] if after else 0
    listed = [w for w in OZON_SELLER_WAREHOUSES if not wanted or w.warehouse_id in wanted]
    page = listed[start:start + limit]
    end = start + len(page)
    return {
        "cursor": encode_cursor([end]) if page else "",
        "has_next": end < len(listed),
        "warehouses": [_v2_warehouse(w) for w in page],
    }


def _v2_warehouse(w: Any) -> dict[str, Any]:
    return {
        "warehouse_id": w.warehouse_id, "name": w.name, "is_rfbs": w.is_rfbs, "status": "created",
        "warehouse_type": "RFBS" if w.is_rfbs else "FBS",
        "first_mile": {"dropoff_point_id": "", "first_mile_is_changing": False, "timeslot_from": "",
                       "timeslot_id": 0, "timeslot_to": "", "type": "PICK_UP"},
        "working_days": WEEK[:5] if not w.is_rfbs else WEEK,
        "address_info": {"address": w.address, "latitude": w.latitude, "longitude": w.longitude,
                         "utc": "UTC+03:00"},
        "is_express": False, "is_comfort": False, "is_kgt": False, "pause_at": None,
        "has_entrusted_acceptance": False, "has_postings_limit": False, "postings_limit": -1,
        "min_postings_limit": 10, "is_auto_assembly": False, "is_waybill_enabled": False,
        "with_item_list": False, "carriage_label_type": "UNSPECIFIED", "courier_comment": "",
        "courier_phones": [], "phone": "", "cut_in_time": 0, "sla_cut_in": 1440,
        "created_at": "2025-03-01T09:00:00Z", "updated_at": "2026-05-20T09:00:00Z",
        "timetable": {"timetable_from": "2025-03-01T00:00:00Z", "timetable_to": "2030-01-01T00:00:00Z",
                      "working_hours": [{"time_from": "2025-03-01T09:00:00Z", "time_to": "2025-03-01T21:00:00Z"}]},
    }


# ---------------------------------------------------------------------- FBS/rFBS per seller warehouse
def warehouse_stocks(req: Request) -> dict[str, Any]:
    """`/v1/product/info/warehouse/stocks` (§2.4): every product placed on one seller
    warehouse (zero stock included), by product_id. `warehouse_id` and `limit` (1..1000)
    required. An id that is not one of the seller's FBS/rFBS warehouses (an Ozon FBO id, a
    typo) answers 400 code 3 by default; with `SandboxOptions.ozon_unknown_warehouse_error`
    False it answers an empty page instead. `free_stock` = present - reserved."""
    body = req.json_object()
    acc = req.account
    wid = body.get("warehouse_id")
    if wid is None or wid == "":
        raise ApiError(400, "warehouse_id is required")
    try:
        wid = int(wid)
    except (TypeError, ValueError):
        raise ApiError(400, "warehouse_id must be an integer") from None
    limit = int_field(body, "limit", 1, 1000)
    cursor = body.get("cursor") or ""
    slot = next((k for k, w in enumerate(OZON_SELLER_WAREHOUSES) if w.warehouse_id == wid), None)
    if slot is None:
        if req.sandbox.options.ozon_unknown_warehouse_error:
            raise ApiError(400, f"warehouse {wid} not found")
        decode_cursor(cursor, 2)
        return {"cursor": "", "has_next": False, "stocks": []}
    after = decode_cursor(cursor, 2)
    start = bisect_right(acc.oz_pid, after[0] - 1) if after else 0
    stamp = acc.clock

    def rows() -> Iterator[tuple[tuple[int, int], Callable[[], dict[str, Any]]]]:
        for i in range(start, acc.n_products):
            b = i * N_OZ_SELLER + slot
            if acc.fbs_on[b] and not acc.archived[i]:
                yield (acc.oz_pid[i], wid), lambda i=i, b=b: {
                    "sku": acc.oz_sku[i], "offer_id": acc.offer_id(i), "product_id": acc.oz_pid[i],
                    "warehouse_id": wid, "present": acc.fbs_pr[b], "reserved": acc.fbs_res[b],
                    "free_stock": acc.fbs_pr[b] - acc.fbs_res[b],
                    "updated_at": utc_iso(stamp - mix(acc.seed, i, slot) % 86_400)[:-1] + ".000000Z"}

    page = _cursor_page(rows(), cursor, limit)
    return {"cursor": page["cursor"], "has_next": page["has_next"], "stocks": page["products"]}


def stocks_by_warehouse_fbs(req: Request) -> dict[str, Any]:
    """`/v2/product/info/stocks-by-warehouse/fbs` (§2.5): FBS and realFBS rows per (product,
    seller warehouse) for 1..1000 `sku` or `offer_id` (required: an empty or missing chunk is a
    400, §6.2 resolved the strict way); `limit` (1..1000) required."""
    body = req.json_object()
    acc = req.account
    limit = int_field(body, "limit", 1, 1000)
    skus, offers = _require_ids(body, "sku", "offer_id")
    chosen = _chosen_products(acc, skus, offers, "sku")

    def rows() -> Iterator[tuple[tuple[int, int], Callable[[], dict[str, Any]]]]:
        for i in chosen:
            if acc.archived[i]:
                continue
            for w in SELLER_ORDER:
                b = i * N_OZ_SELLER + w
                if acc.fbs_on[b]:
                    wh = OZON_SELLER_WAREHOUSES[w]
                    yield (acc.oz_pid[i], wh.warehouse_id), lambda i=i, b=b, wh=wh: {
                        "sku": acc.oz_sku[i], "offer_id": acc.offer_id(i), "product_id": acc.oz_pid[i],
                        "warehouse_id": wh.warehouse_id, "warehouse_name": wh.name,
                        "present": acc.fbs_pr[b], "reserved": acc.fbs_res[b],
                        "free_stock": acc.fbs_pr[b] - acc.fbs_res[b]}

    return _cursor_page(rows(), body.get("cursor") or "", limit)


negate_fbs = negate_present


# ---------------------------------------------------------------------- FBO analytics (fallback)
_COUNTERS = ("available_stock_count", "valid_stock_count", "requested_stock_count", "transit_stock_count",
             "return_from_customer_stock_count", "return_to_seller_stock_count", "stock_defect_stock_count",
             "transit_defect_stock_count", "excess_stock_count", "expiring_stock_count", "other_stock_count",
             "waiting_docs_stock_count", "waiting_docs_to_export_stock_count")


def analytics_stocks(req: Request) -> dict[str, Any]:
    """`/v1/analytics/stocks` (§2.3): one row per (requested sku, Ozon warehouse it is placed
    in), then for every cluster of those rows one aggregate row with `warehouse_id` 0 and
    `warehouse_name` "" whose counters repeat the sum of that cluster's rows (summing every row
    double-counts, as live answers do). `available_stock_count` = present - reserved;
    `requested_stock_count` = supply-request units and `transit_stock_count` = supplies on
    the way (neither is stock). `skus`: 1..100 (empty -> 400 "...between 1 and 100 items").
    Own rate limit 2 rps (429 "...max rate per sec.: 2")."""
    body = req.json_object()
    acc = req.account
    skus = id_list(body, "skus")
    if not 1 <= len(skus) <= 100:
        raise ApiError(400, "invalid request: skus: value must contain between 1 and 100 items")
    if body.get("cluster_ids") and body.get("macrolocal_cluster_ids"):
        raise ApiError(400, "invalid request: cluster_ids and macrolocal_cluster_ids cannot be used together")
    wh_filter = set(id_list(body, "warehouse_ids"))
    cluster_filter = set(id_list(body, "cluster_ids"))
    macro_filter = set(id_list(body, "macrolocal_cluster_ids"))
    found = {acc.index_by_sku(s) for s in skus}
    found.discard(None)
    items = []
    for i in sorted(found):  # type: ignore[type-var]
        clusters: dict[int, dict[str, Any]] = {}
        for w in FBO_ORDER:
            wh = OZON_FBO_WAREHOUSES[w]
            a = i * N_OZ_FBO + w
            if not acc.fbo_on[a]:
                continue
            if ((wh_filter and wh.warehouse_id not in wh_filter) or (cluster_filter and wh.cluster_id not in cluster_filter)
                    or (macro_filter and wh.macrolocal_cluster_id not in macro_filter)):
                continue
            row = _analytics_item(acc, i, w)
            items.append(row)
            agg = clusters.get(wh.cluster_id)
            if agg is None:
                agg = clusters[wh.cluster_id] = dict(row, warehouse_id=0, warehouse_name="",
                                                     **{c: 0 for c in _COUNTERS})
            for c in _COUNTERS:
                agg[c] += row[c]
        items.extend(clusters.values())
    return {"items": items}


def _analytics_item(acc: Account, i: int, w: int) -> dict[str, Any]:
    wh = OZON_FBO_WAREHOUSES[w]
    a = i * N_OZ_FBO + w
    available = acc.fbo_pr[a] - acc.fbo_res[a]
    h = mix(acc.seed, i, w)
    ads = round((h % 400) / 100, 2)
    return {
        "sku": acc.oz_sku[i], "offer_id": acc.offer_id(i), "name": acc.name(i),
        "warehouse_id": wh.warehouse_id, "warehouse_name": wh.name,
        "cluster_id": wh.cluster_id, "cluster_name": wh.cluster_name,
        "macrolocal_cluster_id": wh.macrolocal_cluster_id, "placement_zone": "GENERAL",
        "available_stock_count": available, "valid_stock_count": 1 if h % 11 == 0 else 0,
        "requested_stock_count": acc.fbo_req[a], "transit_stock_count": acc.fbo_tr[a],
        "return_from_customer_stock_count": (h >> 4) % 3 if h % 5 == 0 else 0,
        "return_to_seller_stock_count": 0,
        "stock_defect_stock_count": 1 if h % 17 == 0 else 0, "transit_defect_stock_count": 0,
        "excess_stock_count": 0, "expiring_stock_count": 0, "other_stock_count": 0,
        "waiting_docs_stock_count": 0, "waiting_docs_to_export_stock_count": 0,
        "ads": ads, "idc": round(available / ads, 1) if ads else 0.0,
        "ads_cluster": ads if h % 7 else None, "idc_cluster": (round(available / ads, 1) if ads else 0.0) if h % 7 else None,
        "days_without_sales": 0 if ads else (h >> 8) % 60,
        "days_without_sales_cluster": 0 if ads else (h >> 8) % 60,
        "turnover_grade": TURNOVER_GRADES[(h >> 12) % len(TURNOVER_GRADES)],
        "turnover_grade_cluster": TURNOVER_GRADES[(h >> 14) % len(TURNOVER_GRADES)],
        "item_tags": [],
    }


def negate_analytics(item: dict[str, Any]) -> bool:
    if item.get("warehouse_id") == 0:
        return False
    item["available_stock_count"] = -5
    return True


def stock_on_warehouses(req: Request) -> dict[str, Any]:
    """`/v2/analytics/stock_on_warehouses` (legacy, still served): FBO rows per placement,
    offset paging. free_to_sell_amount = present - reserved, reserved_amount = reserved,
    promised_amount = supply-request units (planned inbound)."""
    body = req.json_object()
    acc = req.account
    limit = int_field(body, "limit", 1, 1000)
    offset = int_field(body, "offset", 0, 10**9, default=0)
    kind = body.get("warehouse_type") or "ALL"
    if kind not in ("ALL", "EXPRESS_DARK_STORE", "NOT_EXPRESS_DARK_STORE"):
        raise ApiError(400, f"invalid warehouse_type '{kind}'")
    rows: list[dict[str, Any]] = []
    if kind != "EXPRESS_DARK_STORE":  # the sandbox has no dark stores
        cum = acc.cached("fbo_cum", lambda: _fbo_cumulative(acc))
        i = max(0, bisect_right(cum, offset) - 1)
        skip = offset - cum[i] if i < acc.n_products else 0
        while i < acc.n_products and len(rows) < limit:
            for w in range(N_OZ_FBO):
                a = i * N_OZ_FBO + w
                if not acc.fbo_on[a]:
                    continue
                if skip:
                    skip -= 1
                    continue
                if len(rows) == limit:
                    break
                rows.append({
                    "sku": acc.oz_sku[i], "item_code": acc.offer_id(i), "item_name": acc.name(i),
                    "free_to_sell_amount": acc.fbo_pr[a] - acc.fbo_res[a],
                    "promised_amount": acc.fbo_req[a],
                    "reserved_amount": acc.fbo_res[a],
                    "warehouse_name": OZON_FBO_WAREHOUSES[w].name,
                })
            i += 1
    return {"result": {"rows": rows}}


def _fbo_cumulative(acc: Account) -> list[int]:
    """cum[i] = FBO rows of products before i (archived products have none)."""
    cum = [0] * (acc.n_products + 1)
    on = acc.fbo_on
    total = 0
    for i in range(acc.n_products):
        cum[i] = total
        total += on.count(1, i * N_OZ_FBO, (i + 1) * N_OZ_FBO)
    cum[acc.n_products] = total
    return cum


def negate_stock_on_warehouses(item: dict[str, Any]) -> bool:
    item["free_to_sell_amount"] = -5
    return True


# ---------------------------------------------------------------------- catalogue
def product_list(req: Request) -> dict[str, Any]:
    """`/v3/product/list` (§2.7): wrapped in `result`; `sku` per item; `total_items`; `total`
    only with `SandboxOptions.ozon_total_field`; paging on `last_id` ("" on the last page)."""
    body = req.json_object()
    acc = req.account
    limit = int_field(body, "limit", 1, 1000)
    visibility, chosen = _selection(acc, sub_object(body, "filter"))
    after = decode_cursor(body.get("last_id") or "", 1, "last_id")
    items = []
    for i in _after(acc, chosen, after[0] if after else None):
        if acc.ozon_matches(i, visibility):
            totals = {kind: present for kind, present, _r, _ids in acc.ozon_stock_totals(i)}
            items.append({
                "product_id": acc.oz_pid[i], "offer_id": acc.offer_id(i), "sku": acc.oz_sku[i],
                "archived": bool(acc.archived[i]),
                "has_fbo_stocks": totals.get("fbo", 0) > 0,
                "has_fbs_stocks": totals.get("fbs", 0) + totals.get("rfbs", 0) > 0,
                "is_discounted": False, "quants": [],
            })
            if len(items) == limit:
                break
    result: dict[str, Any] = {
        "items": items,
        "last_id": encode_cursor([items[-1]["product_id"]]) if items else "",
        "total_items": _count(acc, visibility, chosen),
    }
    if req.sandbox.options.ozon_total_field:
        result["total"] = result["total_items"]
    return {"result": result}


def product_info_list(req: Request) -> dict[str, Any]:
    """`/v3/product/info/list` (§2.7): top-level `items`; one kind of id per call, <= 1000;
    unknown ids give 200 with fewer (or no) items."""
    body = req.json_object()
    acc = req.account
    pids, offers, skus = id_list(body, "product_id"), str_list(body, "offer_id"), id_list(body, "sku")
    asked = len(pids) + len(offers) + len(skus)
    if not asked:
        raise ApiError(400, "product_id, offer_id or sku is required")
    if asked > 1000:
        raise ApiError(400, f"at most 1000 identifiers per request, got {asked}")
    found = ({acc.index_by_pid(p) for p in pids} | {acc.index_by_offer(o) for o in offers}
             | {acc.index_by_sku(s) for s in skus})
    found.discard(None)
    return {"items": [_info_item(acc, i) for i in sorted(found)]}  # type: ignore[type-var]


def _price_index(value: str, index: int) -> dict[str, Any]:
    return {"minimal_price": value, "minimal_price_currency": "RUB", "price_index_value": index}


def _info_item(acc: Account, i: int) -> dict[str, Any]:
    sku = acc.oz_sku[i]
    cat = acc.category(i)
    created = utc_iso(acc.created[i])
    updated = utc_iso(acc.card_updated[i])
    totals = acc.ozon_stock_totals(i)
    price = acc.price[i]
    has_stock = any(p > 0 for _k, p, _r, _i in totals)
    h = mix(acc.seed, i, 3)
    image = f"https://cdn1.ozone.ru/s3/multimedia-{h % 10}/{6000000000 + h % 1000000000}.jpg"
    return {
        "id": acc.oz_pid[i], "name": acc.name(i), "offer_id": acc.offer_id(i), "sku": sku,
        "is_archived": bool(acc.archived[i]), "is_autoarchived": False,
        "barcodes": [f"OZN{sku}"],
        "description_category_id": cat.ozon_category_id, "type_id": cat.ozon_type_id,
        "created_at": created, "updated_at": updated,
        "currency_code": "RUB", "price": f"{price}.00",
        "old_price": f"{price * 100 // max(1, 100 - acc.discount[i])}.00", "min_price": f"{price * 9 // 10}.00",
        "declared_price": {"amount": f"{price}", "currency": "RUB"},
        "vat": "0.2", "volume_weight": 0.5 + (h % 30) / 10,
        "primary_image": [image], "images": [image], "images360": [], "color_image": [],
        "is_discounted": False, "is_kgt": False, "is_prepayment_allowed": True, "is_super": False,
        "has_discounted_fbo_item": False, "discounted_fbo_stocks": 0,
        "model_info": {"count": 1, "model_id": acc.oz_pid[i] + 7},
        "commissions": [{"delivery_amount": 0, "percent": 15, "return_amount": 0, "sale_schema": "FBO",
                         "value": price * 15 // 100}],
        "price_indexes": {"color_index": "WITHOUT_INDEX",
                          "external_index_data": _price_index("", 0),
                          "ozon_index_data": _price_index("", 0),
                          "self_marketplaces_index_data": _price_index("", 0)},
        "promotions": [{"is_enabled": False, "type": "REVIEWS_PROMO"}],
        "errors": [],
        "availabilities": [{"availability": "AVAILABLE" if has_stock else "UNAVAILABLE",
                            "reasons": [] if has_stock else [{"human_text": {"text": "Нет в наличии"}, "id": 2}],
                            "sku": sku, "source": "sds"}],
        "sources": [{"sku": sku, "source": "sds", "created_at": created,
                     "shipment_type": SHIPMENT, "quant_code": ""}],
        "statuses": {"is_created": True, "moderate_status": "approved", "status": "price_sent",
                     "status_description": "", "status_failed": "", "status_name": "Продается",
                     "status_tooltip": "", "status_updated_at": updated, "validation_status": "success"},
        "stocks": {"has_stock": has_stock,
                   "stocks": [{"present": p, "reserved": r, "sku": sku, "source": k}
                              for k, p, r, _i in totals]},
        "visibility_details": {"has_price": True, "has_stock": has_stock},
    }


# ---------------------------------------------------------------------- the stock report
def report_create(req: Request) -> dict[str, Any]:
    """`/v1/report/warehouse/stock`: registers a report over 1..50 seller warehouses."""
    body = req.json_object()
    ids = id_list(body, "warehouseId", 50)
    if not ids:
        raise ApiError(400, "warehouseId must hold 1 to 50 warehouse ids")
    known = {w.warehouse_id for w in OZON_SELLER_WAREHOUSES}
    unknown = [w for w in ids if w not in known]
    if unknown:
        raise ApiError(400, f"unknown warehouse id(s): {', '.join(map(str, unknown))}")
    language = body.get("language") or "DEFAULT"
    if language not in ("DEFAULT", "RU", "EN"):
        raise ApiError(400, f"invalid language '{language}'")
    sb = req.sandbox
    with sb.state_lock:
        sb.counter += 1
        code = _uuid(f"{req.account.seed}:report:{sb.counter}")
        req.cabinet.reports[code] = {"polls": 0, "warehouses": ids, "created": req.account.clock}
    return {"result": {"code": code}}


def report_info(req: Request) -> dict[str, Any]:
    """`/v1/report/info`: waiting, then processing, then success (with the file URL) from the third poll."""
    body = req.json_object()
    code = body.get("code")
    if not isinstance(code, str) or not code:
        raise ApiError(400, "code is required")
    sb = req.sandbox
    with sb.state_lock:
        report = req.cabinet.reports.get(code)  # another account's report is not found
        if report is None:
            raise ApiError(404, f"report {code} not found")
        report["polls"] += 1
        polls = report["polls"]
    status = "waiting" if polls == 1 else "processing" if polls == 2 else "success"
    return {"result": {
        "code": code, "status": status, "error": "",
        "file": f"{req.base_url}/sandbox/files/{code}.csv" if status == "success" else "",
        "report_type": "SELLER_STOCK",
        "params": {"warehouseId": [str(w) for w in report["warehouses"]]},
        "created_at": utc_iso(report["created"]),
        "expires_at": utc_iso(report["created"] + 3 * 86_400),
    }}


def report_csv(acc: Account, warehouses: list[int]) -> bytes:
    """The report file: `;`-separated UTF-8 with BOM, one row per (seller warehouse, product).

    «Доступно на моем складе, шт» = present - reserved (free stock), «Зарезервировано на моем
    складе, шт» = reserved; a «SKU» column is included so rows map to Ozon skus.
    """
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(REPORT_COLUMNS)
    slots = [w for w, wh in enumerate(OZON_SELLER_WAREHOUSES) if wh.warehouse_id in set(warehouses)]
    for w in slots:
        wh = OZON_SELLER_WAREHOUSES[w]
        for i in range(acc.n_products):
            b = i * N_OZ_SELLER + w
            if acc.fbs_on[b] and not acc.archived[i]:
                writer.writerow((wh.warehouse_id, wh.name, acc.oz_sku[i], acc.offer_id(i), acc.name(i),
                                 acc.fbs_pr[b] - acc.fbs_res[b], acc.fbs_res[b]))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _uuid(text: str) -> str:
    h = hashlib.md5(text.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
