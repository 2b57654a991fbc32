"""Wildberries handlers: statistics stocks, the warehouse-remains report, FBS stock, cards.

Shapes, paging and validation follow shared/api/wildberries.md. Bare arrays are produced as
lazy `Rows` batches so a 60,000-row answer never exists as 60,000 dicts at once.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_left, bisect_right
from typing import Any, Iterator

from .account import N_WB, N_WB_SELLER, Account
from .errors import ApiError
from .jsonio import Rows
from .reference import (
    CATEGORIES,
    WB_IN_WAY_FROM_CLIENT,
    WB_IN_WAY_TO_CLIENT,
    WB_SELLER_WAREHOUSES,
    WB_TOTAL_ON_WAREHOUSES,
    WB_WAREHOUSES,
    mix,
    msk_iso,
    parse_time,
    utc_iso,
)
from .routing import Request, int_field, sub_object

BATCH = 1000


# ---------------------------------------------------------------------- statistics: supplier stocks
def supplier_stocks(req: Request) -> Rows:
    """Rows with lastChangeDate >= dateFrom, ascending, at most `wb_row_cap` of them."""
    raw = req.query.get("dateFrom")
    if not raw:
        raise ApiError(400, "dateFrom: required parameter is missing", legacy=True)
    try:
        since = math.ceil(parse_time(raw))
    except (ValueError, OverflowError):
        raise ApiError(400, f"dateFrom: cannot parse '{raw}' as RFC3339 date", legacy=True) from None
    acc = req.account
    cap = req.sandbox.options.wb_row_cap
    start = bisect_left(acc.wb_order_ts, since)
    slots = acc.wb_order[start:start + cap]
    return Rows(_stock_rows(acc, slots[j:j + BATCH]) for j in range(0, len(slots), BATCH))


def _batches(keys: Any, build: Any) -> Iterator[list[dict[str, Any]]]:
    for j in range(0, len(keys), BATCH):
        yield [build(k) for k in keys[j:j + BATCH]]


def _stock_rows(acc: Account, slots: Any) -> list[dict[str, Any]]:
    """supplier/stocks rows for a batch of WB FBO slots; locals bound once: the hot loop of WB paging."""
    out = []
    append = out.append
    prod, nm, price, discount = acc.bc_prod, acc.wb_nm, acc.price, acc.discount
    cats, q_, to_, fr_, ts_ = acc.cat, acc.wb_q, acc.wb_to, acc.wb_from, acc.wb_ts
    offer_id, barcode, tech_size, brand_name = acc.offer_id, acc.barcode, acc.tech_size, acc.brand_name
    seed = acc.seed
    for s in slots:
        bc, w = divmod(s, N_WB)
        i = prod[bc]
        cat = CATEGORIES[cats[i]]
        q, to, fr = q_[s], to_[s], fr_[s]
        h = mix(seed, s)
        append({
            "lastChangeDate": msk_iso(ts_[s]), "warehouseName": WB_WAREHOUSES[w],
            "supplierArticle": offer_id(i), "nmId": nm[i], "barcode": barcode(bc),
            "quantity": q, "inWayToClient": to, "inWayFromClient": fr, "quantityFull": q + to + fr,
            "category": cat.wb_category, "subject": cat.wb_subject, "brand": brand_name(i),
            "techSize": tech_size(bc), "Price": price[i], "Discount": discount[i],
            "isSupply": h % 10 != 0, "isRealization": h % 10 == 0,
            "SCCode": "Tech" if h % 4 else "Not tech",
        })
    return out


def negate_stock_row(item: dict[str, Any]) -> bool:
    item["quantity"] = -3
    item["quantityFull"] = -3 + item.get("inWayToClient", 0) + item.get("inWayFromClient", 0)
    return True


# ---------------------------------------------------------------------- analytics: warehouse remains
_BOOL_PARAMS = ("groupByBrand", "groupBySubject", "groupBySa", "groupByNm", "groupByBarcode",
                "groupBySize", "filterPics", "filterVolume")


def remains_create(req: Request) -> dict[str, Any]:
    """Start a report task. The grouping flags are validated but the answer is always per barcode."""
    for name in _BOOL_PARAMS:
        value = req.query.get(name)
        if value is not None and value not in ("true", "false", "0", "1", "-1"):
            raise ApiError(400, f"{name}: invalid value '{value}'")
    locale = req.query.get("locale", "ru")
    if locale not in ("ru", "en", "zh"):
        raise ApiError(400, f"locale: invalid value '{locale}'")
    sb = req.sandbox
    with sb.state_lock:
        sb.counter += 1
        digest = hashlib.md5(f"{req.account.seed}:remains:{sb.counter}".encode()).hexdigest()
        task_id = f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-a{digest[17:20]}-{digest[20:32]}"
        sb.tasks[task_id] = {"polls": 0}
    return {"data": {"taskId": task_id}}


def _task(req: Request) -> dict[str, Any]:
    task = req.sandbox.tasks.get(req.params["taskId"])
    if task is None:
        raise ApiError(404, f"task {req.params['taskId']} not found", title="not found")
    return task


def remains_status(req: Request) -> dict[str, Any]:
    """new on the first poll, processing on the second, done from the third on."""
    with req.sandbox.state_lock:
        task = _task(req)
        task["polls"] += 1
        polls = task["polls"]
        status = task["status"] = "new" if polls == 1 else "processing" if polls == 2 else "done"
    return {"data": {"id": req.params["taskId"], "status": status}}


def remains_download(req: Request) -> Rows:
    """One entry per barcode on WB warehouses, with the warehouses list and the pseudo-totals.

    Real warehouses carry `quantity` (available to sell); «В пути до получателей» and «В пути
    возвраты на склад WB» sum the in-way units; «Всего находится на складах» is the sum of
    quantityFull (as in the documented example). Built from the current state at download.
    """
    with req.sandbox.state_lock:
        task = _task(req)
        if task.get("status") != "done":
            raise ApiError(400, "task is not done yet: poll its status first", title="bad request")
    acc = req.account
    with_rows = [bc for bc in range(len(acc.bc_prod)) if acc.wb_on.find(1, bc * N_WB, (bc + 1) * N_WB) >= 0]
    return Rows(_batches(with_rows, lambda bc: _remains_item(acc, bc)))


def _remains_item(acc: Account, bc: int) -> dict[str, Any]:
    i = acc.bc_prod[bc]
    warehouses = []
    to_total = from_total = q_total = 0
    for w in range(N_WB):
        s = bc * N_WB + w
        if acc.wb_on[s]:
            warehouses.append({"warehouseName": WB_WAREHOUSES[w], "quantity": acc.wb_q[s]})
            q_total += acc.wb_q[s]
            to_total += acc.wb_to[s]
            from_total += acc.wb_from[s]
    warehouses += [
        {"warehouseName": WB_IN_WAY_TO_CLIENT, "quantity": to_total},
        {"warehouseName": WB_IN_WAY_FROM_CLIENT, "quantity": from_total},
        {"warehouseName": WB_TOTAL_ON_WAREHOUSES, "quantity": q_total + to_total + from_total},
    ]
    return {
        "brand": acc.brand_name(i), "subjectName": acc.category(i).wb_subject,
        "vendorCode": acc.offer_id(i), "nmId": acc.wb_nm[i], "barcode": acc.barcode(bc),
        "techSize": acc.tech_size(bc), "volume": round(0.5 + (mix(acc.seed, i) % 40) / 10, 1),
        "warehouses": warehouses,
    }


def negate_remains(item: dict[str, Any]) -> bool:
    item["warehouses"][0]["quantity"] = -3
    return True


# ---------------------------------------------------------------------- marketplace: FBS
def seller_warehouses(req: Request) -> list[dict[str, Any]]:
    return [{"id": w.id, "name": w.name, "officeId": w.office_id, "cargoType": 1, "deliveryType": 1}
            for w in WB_SELLER_WAREHOUSES]


def fbs_stocks(req: Request) -> dict[str, Any]:
    """Amounts per barcode (`skus`) or per `chrtIds` on one seller warehouse; unknown ones are left out."""
    raw_id = req.params["warehouseId"]
    slot = next((k for k, w in enumerate(WB_SELLER_WAREHOUSES) if raw_id.isdigit() and w.id == int(raw_id)), None)
    if slot is None:
        raise ApiError(404, f"warehouse {raw_id} not found", title="not found")
    body = req.json_object()
    skus, chrts = body.get("skus"), body.get("chrtIds")
    values = skus if skus is not None else chrts
    if not isinstance(values, list) or not values:
        raise ApiError(400, "skus (or chrtIds) must be a non-empty array", title="bad request")
    if len(values) > 1000:
        raise ApiError(400, f"at most 1000 values per request, got {len(values)}", title="bad request")
    acc = req.account
    stocks = []
    for value in values:
        if skus is not None:
            bc = acc.bc_by_barcode(value) if isinstance(value, str) else None
        else:
            bc = acc.bc_by_chrt(value) if isinstance(value, int) and not isinstance(value, bool) else None
        if bc is None or not acc.wbf_on[bc * N_WB_SELLER + slot]:
            continue
        amount = acc.wbf_amt[bc * N_WB_SELLER + slot]
        stocks.append({"sku": value, "amount": amount} if skus is not None else {"chrtId": value, "amount": amount})
    return {"stocks": stocks}


def negate_fbs(item: dict[str, Any]) -> bool:
    item["amount"] = -3
    return True


# ---------------------------------------------------------------------- content: cards
def cards_list(req: Request) -> dict[str, Any]:
    """Cards ordered by (updatedAt, nmID), descending unless `sort.ascending`; cursor paging."""
    body = req.json_object()
    settings = sub_object(body, "settings")
    cursor = sub_object(settings, "cursor")
    limit = int_field(cursor, "limit", 1, 100)
    ascending = bool(sub_object(settings, "sort").get("ascending", False))
    text = str(sub_object(settings, "filter").get("textSearch") or "").strip()
    acc = req.account
    order, keys = acc.cached("cards_order", lambda: _cards_order(acc))
    if cursor.get("updatedAt") or cursor.get("nmID"):
        try:
            key = (int(parse_time(str(cursor.get("updatedAt") or "1970-01-01T00:00:00Z"))),
                   int(cursor.get("nmID") or 0))
        except (TypeError, ValueError):
            raise ApiError(400, "invalid cursor", title="bad request") from None
        positions: Any = range(bisect_right(keys, key), len(order)) if ascending else range(bisect_left(keys, key) - 1, -1, -1)
    else:
        positions = range(len(order)) if ascending else range(len(order) - 1, -1, -1)
    cards = []
    for pos in positions:
        i = order[pos]
        if text and text not in acc.offer_id(i) and text != str(acc.wb_nm[i]):
            continue
        cards.append(_card(acc, i))
        if len(cards) == limit:
            break
    if cards:
        out_cursor = {"updatedAt": cards[-1]["updatedAt"], "nmID": cards[-1]["nmID"], "total": len(cards)}
    else:
        out_cursor = {"updatedAt": cursor.get("updatedAt", ""), "nmID": cursor.get("nmID", 0), "total": 0}
    return {"cards": cards, "cursor": out_cursor}


def _cards_order(acc: Account) -> tuple[list[int], list[tuple[int, int]]]:
    order = sorted(range(acc.n_products), key=lambda i: (acc.card_updated[i], acc.wb_nm[i]))
    return order, [(acc.card_updated[i], acc.wb_nm[i]) for i in order]


def _card(acc: Account, i: int) -> dict[str, Any]:
    cat = acc.category(i)
    nm = acc.wb_nm[i]
    h = mix(acc.seed, i, 7)
    return {
        "nmID": nm, "imtID": acc.wb_imt[i],
        "nmUUID": _uuid(f"{acc.seed}:nm:{nm}"),
        "subjectID": cat.wb_subject_id, "subjectName": cat.wb_subject,
        "vendorCode": acc.offer_id(i), "brand": acc.brand_name(i), "title": acc.name(i),
        "description": f"{cat.noun} бренда {acc.brand_name(i)}.", "needKiz": False,
        "photos": [], "video": "",
        "dimensions": {"length": 10 + h % 30, "width": 10 + (h >> 5) % 20, "height": 2 + (h >> 10) % 15,
                       "weightBrutto": round(0.2 + (h >> 15) % 30 / 10, 1), "isValid": True},
        "characteristics": [{"id": 14177449, "name": "Цвет", "value": [acc.offer_id(i).rsplit("-", 1)[1]]}],
        "sizes": [{"chrtID": acc.chrt_id(bc), "techSize": acc.tech_size(bc), "wbSize": "",
                   "skus": [acc.barcode(bc)]} for bc in acc.barcodes_of(i)],
        "tags": [], "createdAt": utc_iso(acc.created[i]), "updatedAt": utc_iso(acc.card_updated[i]),
    }


def _uuid(text: str) -> str:
    h = hashlib.md5(text.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
