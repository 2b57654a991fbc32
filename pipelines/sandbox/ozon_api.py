"""Ozon Seller API handlers: stock, warehouses, catalogue and the stock report.

Shapes, paging and validation follow shared/api/ozon.md. Why each page is built here on
demand from the account's columns: a 1000-item page costs a few milliseconds and nothing is
kept per row. Ordering is by product_id (then warehouse), so cursors are stable positions.
"""

from __future__ import annotations

import csv
import hashlib
import io
from bisect import bisect_right
from typing import Any, Iterable, Iterator

from .account import N_OZ_FBO, N_OZ_SELLER, VISIBILITIES, Account
from .errors import ApiError
from .reference import OZON_FBO_WAREHOUSES, OZON_SELLER_WAREHOUSES, TURNOVER_GRADES, mix, utc_iso
from .routing import Request, decode_cursor, encode_cursor, id_list, int_field, str_list, sub_object

SHIPMENT = "SHIPMENT_TYPE_GENERAL"
REPORT_COLUMNS = (
    "Идентификатор склада", "Название склада", "SKU", "Артикул", "Наименование товара",
    "Доступно на моем складе, шт", "Зарезервировано на моем складе, шт",
)


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
    body = req.json_object()
    acc = req.account
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
    return {
        "cursor": encode_cursor([items[-1]["product_id"]]) if items else cursor,
        "total_items": _count(acc, visibility, chosen),
        "items": items,
    }


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


# ---------------------------------------------------------------------- FBS per warehouse
def stocks_by_warehouse_fbs(req: Request) -> dict[str, Any]:
    """FBS and realFBS rows per (product, seller warehouse), cursor = last (product_id, warehouse_id)."""
    body = req.json_object()
    acc = req.account
    limit = int_field(body, "limit", 1, 1000)
    skus = id_list(body, "sku", 1000)
    offers = str_list(body, "offer_id", 1000)
    chosen: list[int] | None = None
    if skus or offers:
        found = {acc.index_by_sku(s) for s in skus} | {acc.index_by_offer(o) for o in offers}
        found.discard(None)
        chosen = sorted(found)  # type: ignore[arg-type]
    cursor = body.get("cursor") or ""
    after = decode_cursor(cursor, 2)
    wh_ids = [w.warehouse_id for w in OZON_SELLER_WAREHOUSES]
    rows: list[dict[str, Any]] = []
    has_next = False
    for i, w in _fbs_slots(acc, chosen, after, wh_ids):
        if len(rows) == limit:
            has_next = True
            break
        b = i * N_OZ_SELLER + w
        wh = OZON_SELLER_WAREHOUSES[w]
        present, reserved = acc.fbs_pr[b], acc.fbs_res[b]
        rows.append({
            "sku": acc.oz_sku[i], "offer_id": acc.offer_id(i), "product_id": acc.oz_pid[i],
            "warehouse_id": wh.warehouse_id, "warehouse_name": wh.name,
            "present": present, "reserved": reserved, "free_stock": present - reserved,
        })
    next_cursor = encode_cursor([rows[-1]["product_id"], rows[-1]["warehouse_id"]]) if rows else cursor
    return {"cursor": next_cursor, "has_next": has_next, "products": rows}


def _fbs_slots(acc: Account, chosen: list[int] | None, after: list[int] | None,
               wh_ids: list[int]) -> Iterator[tuple[int, int]]:
    """(product, seller warehouse slot) pairs that are placed, after the cursor position."""
    after_pid = after[0] if after else None
    for i in _after(acc, chosen, after_pid - 1 if after_pid is not None else None):
        if acc.archived[i]:
            continue
        for w in range(N_OZ_SELLER):
            if not acc.fbs_on[i * N_OZ_SELLER + w]:
                continue
            if after and acc.oz_pid[i] == after[0] and wh_ids[w] <= after[1]:
                continue
            yield i, w


def negate_fbs(item: dict[str, Any]) -> bool:
    item["present"] = -5
    item["free_stock"] = -5 - item.get("reserved", 0)
    return True


# ---------------------------------------------------------------------- seller warehouses
def warehouse_list(req: Request) -> dict[str, Any]:
    body = req.json_object()
    limit = int_field(body, "limit", 1, 200, default=100)
    after = decode_cursor(body.get("cursor") or "", 1)
    start = after[0] if after else 0
    page = list(OZON_SELLER_WAREHOUSES)[start:start + limit]
    end = start + len(page)
    return {
        "cursor": encode_cursor([end]) if page else (body.get("cursor") or ""),
        "has_next": end < len(OZON_SELLER_WAREHOUSES),
        "warehouses": [
            {"warehouse_id": w.warehouse_id, "name": w.name, "is_rfbs": w.is_rfbs, "status": "created",
             "is_able_to_set_price": False, "has_entrusted_acceptance": False, "is_kgt": False,
             "can_print_act_in_advance": False, "min_working_days": 5, "is_karantin": False,
             "has_postings_limit": False, "postings_limit": -1, "working_days": [1, 2, 3, 4, 5],
             "min_postings_limit": 10, "is_timetable_editable": True,
             "first_mile_type": {"dropoff_point_id": "", "dropoff_timeslot_id": 0,
                                 "first_mile_is_changing": False, "first_mile_type": "PickUp"}}
            for w in page
        ],
    }


# ---------------------------------------------------------------------- FBO per Ozon warehouse
def analytics_stocks(req: Request) -> dict[str, Any]:
    """`/v1/analytics/stocks`: one item per (requested sku, Ozon warehouse it is placed in)."""
    body = req.json_object()
    acc = req.account
    skus = id_list(body, "skus")
    if not 1 <= len(skus) <= 100:
        raise ApiError(400, f"skus must hold 1 to 100 values, got {len(skus)}")
    wh_filter = set(id_list(body, "warehouse_ids"))
    cluster_filter = set(id_list(body, "cluster_ids"))
    found = {acc.index_by_sku(s) for s in skus}
    found.discard(None)
    items = []
    for i in sorted(found):  # type: ignore[type-var]
        for w, wh in enumerate(OZON_FBO_WAREHOUSES):
            a = i * N_OZ_FBO + w
            if not acc.fbo_on[a]:
                continue
            if (wh_filter and wh.warehouse_id not in wh_filter) or (cluster_filter and wh.cluster_id not in cluster_filter):
                continue
            items.append(_analytics_item(acc, i, w, acc.fbo_av[a], acc.fbo_req[a]))
    return {"items": items}


def _analytics_item(acc: Account, i: int, w: int, available: int, requested: int) -> dict[str, Any]:
    wh = OZON_FBO_WAREHOUSES[w]
    h = mix(acc.seed, i, w)
    ads = round((h % 400) / 100, 2)
    return {
        "sku": acc.oz_sku[i], "offer_id": acc.offer_id(i), "name": acc.name(i),
        "warehouse_id": wh.warehouse_id, "warehouse_name": wh.name,
        "cluster_id": wh.cluster_id, "cluster_name": wh.cluster_name,
        "available_stock_count": available, "valid_stock_count": available,
        "requested_stock_count": requested, "transit_stock_count": h % 7 if h % 3 == 0 else 0,
        "return_from_customer_stock_count": (h >> 4) % 3 if h % 5 == 0 else 0,
        "return_to_seller_stock_count": 0,
        "stock_defect_stock_count": 1 if h % 17 == 0 else 0, "transit_defect_stock_count": 0,
        "excess_stock_count": 0, "expiring_stock_count": 0, "waiting_docs_stock_count": 0,
        "other_stock_count": 0,
        "ads": ads, "idc": round(available / ads, 1) if ads else 0.0,
        "days_without_sales": 0 if ads else (h >> 8) % 60,
        "turnover_grade": TURNOVER_GRADES[(h >> 12) % len(TURNOVER_GRADES)],
        "item_tags": [],
    }


def negate_analytics(item: dict[str, Any]) -> bool:
    item["available_stock_count"] = -5
    return True


def stock_on_warehouses(req: Request) -> dict[str, Any]:
    """`/v2/analytics/stock_on_warehouses`: FBO rows, offset paging."""
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
                    "free_to_sell_amount": acc.fbo_av[a],
                    "promised_amount": mix(acc.seed, i, w) % 7 if mix(acc.seed, i, w) % 3 == 0 else 0,
                    "reserved_amount": acc.fbo_req[a],
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
                "product_id": acc.oz_pid[i], "offer_id": acc.offer_id(i),
                "archived": bool(acc.archived[i]),
                "has_fbo_stocks": totals.get("fbo", 0) > 0,
                "has_fbs_stocks": totals.get("fbs", 0) + totals.get("rfbs", 0) > 0,
                "is_discounted": False, "quants": [],
            })
            if len(items) == limit:
                break
    return {"result": {
        "items": items,
        "total": _count(acc, visibility, chosen),
        "last_id": encode_cursor([items[-1]["product_id"]]) if items else "",
    }}


def product_info_list(req: Request) -> dict[str, Any]:
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


def _info_item(acc: Account, i: int) -> dict[str, Any]:
    sku = acc.oz_sku[i]
    cat = acc.category(i)
    created = utc_iso(acc.created[i])
    totals = acc.ozon_stock_totals(i)
    price = acc.price[i]
    return {
        "id": acc.oz_pid[i], "name": acc.name(i), "offer_id": acc.offer_id(i),
        "is_archived": bool(acc.archived[i]), "is_autoarchived": False,
        "barcodes": [f"OZN{sku}"],
        "description_category_id": cat.ozon_category_id, "type_id": cat.ozon_type_id,
        "created_at": created, "updated_at": utc_iso(acc.card_updated[i]),
        "currency_code": "RUB", "price": f"{price}.00",
        "old_price": f"{price * 100 // max(1, 100 - acc.discount[i])}.00", "min_price": "",
        "vat": "0.2", "sku": sku, "volume_weight": 0.5, "primary_image": "", "images": [],
        "sources": [{"sku": sku, "source": "sds", "created_at": created,
                     "shipment_type": SHIPMENT, "quant_code": ""}],
        "stocks": {"has_stock": any(p > 0 for _k, p, _r, _i in totals),
                   "stocks": [{"present": p, "reserved": r, "sku": sku, "source": k}
                              for k, p, r, _i in totals]},
        "visibility_details": {"has_price": True, "has_stock": any(p > 0 for _k, p, _r, _i in totals)},
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
        sb.reports[code] = {"polls": 0, "warehouses": ids, "created": req.account.clock}
    return {"result": {"code": code}}


def report_info(req: Request) -> dict[str, Any]:
    """`/v1/report/info`: waiting, then processing, then success (with the file URL) from the third poll."""
    body = req.json_object()
    code = body.get("code")
    if not isinstance(code, str) or not code:
        raise ApiError(400, "code is required")
    sb = req.sandbox
    with sb.state_lock:
        report = sb.reports.get(code)
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
