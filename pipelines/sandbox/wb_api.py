"""Wildberries handlers: stocks reports, the warehouse-remains report, seller stock, cards.

(Over 400 lines on purpose: one handler per published WB method, beside each other as in wildberries.md.)

Shapes, paging and validation follow docs/api/wildberries.md. Big answers are produced as
lazy `Rows` batches so a 250,000-row page never exists as 250,000 dicts at once. Where the
spec is open (§4) the choice made is written in the handler's docstring.
"""

from __future__ import annotations

import hashlib
import math
import time
from bisect import bisect_left, bisect_right
from typing import Any, Iterator

from .account import N_WB, N_WB_SELLER, Account
from .errors import ApiError
from .jsonio import NO_CONTENT, Rows
from .reference import (
    CATEGORIES,
    WB_AGGREGATE_ID,
    WB_AGGREGATE_NAME,
    WB_AGGREGATE_RU,
    WB_IN_WAY_FROM_CLIENT,
    WB_IN_WAY_TO_CLIENT,
    WB_KEPT_NAMED,
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
DATA_ITEMS = (b'{"data":{"items":[', b"]}}")


# ---------------------------------------------------------------------- analytics: stocks reports
def _report_body(req: Request) -> tuple[list[int] | None, set[int] | None, int, int]:
    """(nmIds or None = all, chrtIds or None, limit, offset) of a stocks-report request."""
    body = req.json_object()
    nm_ids = _int_array(body, "nmIds", 1000)
    chrt_ids = _int_array(body, "chrtIds", None)
    limit = int_field(body, "limit", 1, 250_000, default=250_000)
    offset = int_field(body, "offset", 0, 2**31 - 1, default=0)
    return (nm_ids or None), (set(chrt_ids) if chrt_ids else None), limit, offset


def _int_array(body: dict[str, Any], name: str, max_len: int | None) -> list[int]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ApiError(400, f"{name} must be an array of integers", title="bad request")
    if max_len is not None and len(value) > max_len:
        raise ApiError(400, f"{name}: at most {max_len} values, got {len(value)}", title="bad request")
    return value


def _report_sizes(acc: Account, nm_ids: list[int], chrt_ids: set[int] | None) -> list[int]:
    """Barcode slots (sizes) of the listed nmIds, in (nmId, chrtId) order."""
    found = sorted({i for i in (acc.index_by_nm(nm) for nm in nm_ids) if i is not None})
    return [bc for i in found for bc in acc.barcodes_of(i)
            if chrt_ids is None or acc.chrt_id(bc) in chrt_ids]


def _report_rows(acc: Account, req: Request, places: Any, cum_of: Any, row: Any) -> Any:
    """Offset paging shared by both stocks reports: rows in (nmId, chrtId, warehouseId) order."""
    nm_ids, chrt_ids, limit, offset = _report_body(req)
    if nm_ids is not None:
        rows = [row(acc, bc, p) for bc in _report_sizes(acc, nm_ids, chrt_ids) for p in places(bc)]
        page = rows[offset:offset + limit]
        if not page:
            return NO_CONTENT
        return Rows(iter([page]), *DATA_ITEMS)
    cum = cum_of()
    total = cum[-1]
    if offset >= total:
        return NO_CONTENT
    end = min(total, offset + limit)

    def batches() -> Iterator[list[dict[str, Any]]]:
        bc = bisect_right(cum, offset) - 1
        skip, left, batch = offset - cum[bc], end - offset, []
        while left > 0:
            for p in places(bc):
                if skip:
                    skip -= 1
                    continue
                batch.append(row(acc, bc, p))
                left -= 1
                if not left:
                    break
            if len(batch) >= BATCH:
                yield batch
                batch = []
            bc += 1
        yield batch

    return Rows(batches(), *DATA_ITEMS)


def _wb_row(acc: Account, bc: int, place: tuple[int, int, int, int]) -> dict[str, Any]:
    w, q, to, fr = place
    if w < 0:
        wid, name, region = WB_AGGREGATE_ID, WB_AGGREGATE_NAME, WB_AGGREGATE_NAME
    else:
        wh = WB_WAREHOUSES[w]
        wid, name, region = wh.id, wh.name, wh.region
    return {"nmId": acc.wb_nm[acc.bc_prod[bc]], "chrtId": acc.chrt_id(bc), "warehouseId": wid,
            "warehouseName": name, "regionName": region, "quantity": q,
            "inWayToClient": to, "inWayFromClient": fr}


def stocks_report_wb(req: Request) -> Any:
    """`POST /api/analytics/v1/stocks-report/wb-warehouses` (§2.1).

    Body (all optional): `nmIds` (<= 1000; empty = every product), `chrtIds` (only applied
    together with `nmIds`, ignored without them), `limit` 1..250000 (default 250000), `offset`.
    One row per size x WB warehouse with something non-zero (quantity or either in-way count);
    sorted by nmId, chrtId, warehouseId. Paging: offset; a page shorter than `limit` is the
    last, and asking at/after the end answers 204 No Content (both signals, §4.4). With WB
    aggregation on, one row per size: warehouseId -999999, warehouseName and regionName
    "Склад WB", every unit and in-way count summed. A plain Basic token is refused before this
    handler (403 by default, `SandboxOptions.wb_basic_token_status`).
    """
    acc = req.account
    return _report_rows(acc, req, acc.wb_places, acc.wb_fbo_cumulative, _wb_row)


def _seller_row(acc: Account, bc: int, place: tuple[int, int]) -> dict[str, Any]:
    w, q = place
    wh = WB_SELLER_WAREHOUSES[w]
    return {"nmId": acc.wb_nm[acc.bc_prod[bc]], "chrtId": acc.chrt_id(bc), "warehouseId": wh.id,
            "warehouseName": wh.name, "regionName": wh.region, "quantity": q}


def stocks_report_seller(req: Request) -> Any:
    """`POST /api/analytics/v1/stocks-report/seller-warehouses` (§2.2): same body and paging
    as wb-warehouses; one row per size x seller warehouse with quantity > 0 (zero stock records
    are left out, §4.4), every seller warehouse whatever its deliveryType (FBS, DBS, C&C);
    quantity = the amount /api/v3/stocks gives. 204 when no rows."""
    acc = req.account
    return _report_rows(acc, req, acc.wb_seller_places, acc.wb_seller_cumulative, _seller_row)


def negate_quantity(item: dict[str, Any]) -> bool:
    item["quantity"] = -3
    return True


# ---------------------------------------------------------------------- statistics: supplier stocks (legacy)
def supplier_stocks(req: Request) -> Rows:
    """REMOVED method (§2.7), served only with `SandboxOptions.wb_legacy_supplier_stocks`:
    rows with lastChangeDate >= dateFrom, ascending, at most `wb_row_cap` of them, every
    (barcode, WB warehouse) placement including all-zero ones, never aggregated."""
    raw = req.query.get("dateFrom")
    if not raw:
        raise ApiError(400, "dateFrom: field required", legacy=True)
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
            "lastChangeDate": msk_iso(ts_[s]), "warehouseName": WB_WAREHOUSES[w].name,
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
_FLAG_PARAMS = ("groupByBrand", "groupBySubject", "groupBySa", "groupByNm", "groupByBarcode", "groupBySize")


def _flag(value: str | None) -> bool:
    return value in ("true", "1")


def remains_create(req: Request) -> dict[str, Any]:
    """Start a report task; the grouping flags are stored with it and shape the download."""
    for name in _FLAG_PARAMS:
        value = req.query.get(name)
        if value is not None and value not in ("true", "false", "0", "1"):
            raise ApiError(400, f"{name}: invalid value '{value}'", title="bad request")
    for name, allowed in (("filterPics", ("-1", "0", "1")), ("filterVolume", ("-1", "0", "3"))):
        value = req.query.get(name)
        if value is not None and value not in allowed:
            raise ApiError(400, f"{name}: invalid value '{value}'", title="bad request")
    locale = req.query.get("locale", "ru")
    if locale not in ("ru", "en", "zh"):
        raise ApiError(400, f"locale: invalid value '{locale}'", title="bad request")
    flags = {name: _flag(req.query.get(name)) for name in _FLAG_PARAMS}
    sb = req.sandbox
    with sb.state_lock:
        sb.counter += 1
        digest = hashlib.md5(f"{req.account.seed}:remains:{sb.counter}".encode()).hexdigest()
        task_id = f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-a{digest[17:20]}-{digest[20:32]}"
        req.cabinet.tasks[task_id] = {"polls": 0, "flags": flags, "created": time.monotonic()}
    return {"data": {"taskId": task_id}}


def _task(req: Request) -> dict[str, Any]:
    task = req.cabinet.tasks.get(req.params["taskId"])  # another account's task is not found
    if task is None:
        raise ApiError(404, "not found", title="Not Found", origin="api-statistics")
    return task


# A report task is done this long after its creation (scaled like the limits), whatever the
# polls: a Basic token may ask its status only once per 15 minutes, and a real report is ready
# long before then.
REMAINS_READY_SECONDS = 60.0


def remains_status(req: Request) -> dict[str, Any]:
    """new on the first poll, processing on the second, done from the third on, or once the
    task is `REMAINS_READY_SECONDS` (scaled) old."""
    sb = req.sandbox
    with sb.state_lock:
        task = _task(req)
        task["polls"] += 1
        polls = task["polls"]
        scale = sb.options.rate_limit_scale
        ready = scale > 0 and time.monotonic() - task.get("created", 0.0) >= REMAINS_READY_SECONDS * scale
        status = task["status"] = "done" if ready or polls >= 3 else "new" if polls == 1 else "processing"
    return {"data": {"id": req.params["taskId"], "status": status}}


def remains_download(req: Request) -> Any:
    """The report (§2.3), built from the current state at download; 204 when it has no rows.

    Rows follow the grouping flags given at create: `brand` (groupByBrand), `subjectName`
    (groupBySubject), `vendorCode` (groupBySa), `nmId` + `volume` (groupByNm), `barcode`
    (groupByBarcode), `techSize` (groupBySize); units of everything grouped together are
    summed. `warehouses[]` lists only non-zero entries, pseudo entries first (as in the official
    example): «В пути до получателей» (inWayToClient), «В пути возвраты на склад WB»
    (inWayFromClient), «Всего находится на складах» = the sum of the real warehouse entries
    only; then the warehouses. A row with nothing anywhere is left out. With WB aggregation on,
    the Russian warehouses except Коледино are merged into «Склад WB РФ» (Минск, outside
    Russia, stays named); «Склад WB СГТ РФ» (oversized goods) is not modelled.
    """
    with req.sandbox.state_lock:
        task = _task(req)
        if task.get("status") != "done":
            raise ApiError(400, "task is not done yet: poll its status first", title="bad request")
        flags = task["flags"]
    acc = req.account
    units = acc.cached("remains_units", lambda: _remains_units(acc))
    if not units:
        return NO_CONTENT
    if flags["groupByBarcode"] or ((flags["groupBySa"] or flags["groupByNm"]) and flags["groupBySize"]):
        return Rows(_batches(units, lambda bc: _remains_item(acc, flags, [bc])))
    if flags["groupBySa"] or flags["groupByNm"]:
        by_product: dict[int, list[int]] = {}
        for bc in units:
            by_product.setdefault(acc.bc_prod[bc], []).append(bc)
        return Rows(_batches(list(by_product.values()), lambda bcs: _remains_item(acc, flags, bcs)))
    groups: dict[tuple[Any, ...], list[int]] = {}
    for bc in units:
        i = acc.bc_prod[bc]
        key = (acc.brand_name(i) if flags["groupByBrand"] else None,
               acc.category(i).wb_subject if flags["groupBySubject"] else None,
               acc.tech_size(bc) if flags["groupBySize"] else None)
        groups.setdefault(key, []).append(bc)
    return Rows(_batches(list(groups.values()), lambda bcs: _remains_item(acc, flags, bcs)))


def _remains_units(acc: Account) -> list[int]:
    """Sizes with anything on a WB warehouse (quantity or in-way)."""
    q_, to_, fr_ = acc.wb_q, acc.wb_to, acc.wb_from
    return [bc for bc in range(len(acc.bc_prod))
            if any(q_[s] or to_[s] or fr_[s] for s in range(bc * N_WB, (bc + 1) * N_WB))]


def _remains_item(acc: Account, flags: dict[str, bool], bcs: list[int]) -> dict[str, Any]:
    places: dict[str, int] = {}
    to_total = from_total = 0
    for bc in bcs:
        for w in range(N_WB):
            s = bc * N_WB + w
            to_total += acc.wb_to[s]
            from_total += acc.wb_from[s]
            q = acc.wb_q[s]
            if q:
                wh = WB_WAREHOUSES[w]
                name = wh.name
                if acc.wb_aggregated and wh.in_russia and name not in WB_KEPT_NAMED:
                    name = WB_AGGREGATE_RU
                places[name] = places.get(name, 0) + q
    pseudo = ((WB_IN_WAY_TO_CLIENT, to_total), (WB_IN_WAY_FROM_CLIENT, from_total),
              (WB_TOTAL_ON_WAREHOUSES, sum(places.values())))
    warehouses = [{"warehouseName": n, "quantity": q} for n, q in pseudo if q]
    warehouses += [{"warehouseName": n, "quantity": q} for n, q in places.items()]
    bc = bcs[0]
    i = acc.bc_prod[bc]
    item: dict[str, Any] = {}
    if flags["groupByBrand"]:
        item["brand"] = acc.brand_name(i)
    if flags["groupBySubject"]:
        item["subjectName"] = acc.category(i).wb_subject
    if flags["groupBySa"]:
        item["vendorCode"] = acc.offer_id(i)
    if flags["groupByNm"]:
        item["nmId"] = acc.wb_nm[i]
    if flags["groupByBarcode"]:
        item["barcode"] = acc.barcode(bc)
    if flags["groupBySize"]:
        item["techSize"] = acc.tech_size(bc)
    if flags["groupByNm"]:
        item["volume"] = round(0.5 + (mix(acc.seed, i) % 40) / 10, 2)
    item["warehouses"] = warehouses
    return item


def negate_remains(item: dict[str, Any]) -> bool:
    item["warehouses"][-1]["quantity"] = -3
    return True


# ---------------------------------------------------------------------- marketplace: seller warehouses
def seller_warehouses(req: Request) -> list[dict[str, Any]]:
    """`GET /api/v3/warehouses` (§2.4): a bare array; one warehouse per delivery scheme."""
    return [{"id": w.id, "name": w.name, "officeId": w.office_id, "cargoType": w.cargo_type,
             "deliveryType": w.delivery_type, "isDeleting": False, "isProcessing": False}
            for w in WB_SELLER_WAREHOUSES]


SKU_UPLOAD_DISABLED = {"code": "SKUUploadDisabled",
                       "message": "Uploading stock is not allowed by 'sku'. Please use the 'chrtId' key"}


def fbs_stocks(req: Request) -> dict[str, Any]:
    """`POST /api/v3/stocks/{warehouseId}` (§2.5): `{"chrtIds": [1..1000 integers]}` ->
    `{"stocks": [{"chrtId", "amount"}]}` in the order asked. Sizes without a stock record on
    that warehouse (and chrtIds the seller does not have) are left out, not given amount 0
    (§4.5: "probably absent"); a record with amount 0 is listed. Sending `skus` (barcodes)
    -> 400 SKUUploadDisabled, body exactly as WB's example. Any 4XX here costs 10 tokens."""
    raw_id = req.params["warehouseId"]
    slot = next((k for k, w in enumerate(WB_SELLER_WAREHOUSES) if raw_id.isdigit() and w.id == int(raw_id)), None)
    body = req.json_object()
    if "skus" in body:
        raise ApiError(400, SKU_UPLOAD_DISABLED["message"], body=dict(SKU_UPLOAD_DISABLED))
    if slot is None:
        raise ApiError(404, "warehouse not found", code="NotFound")
    chrts = body.get("chrtIds")
    if not isinstance(chrts, list) or not chrts:
        raise ApiError(400, "chrtIds: required, 1 to 1000 integers", code="IncorrectRequestBody")
    if len(chrts) > 1000:
        raise ApiError(400, f"chrtIds: at most 1000 values, got {len(chrts)}", code="IncorrectRequestBody")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in chrts):
        raise ApiError(400, "chrtIds: must hold integers", code="IncorrectRequestBody")
    acc = req.account
    stocks = []
    for chrt in chrts:
        bc = acc.bc_by_chrt(chrt)
        if bc is None or not acc.wbf_on[bc * N_WB_SELLER + slot]:
            continue
        stocks.append({"chrtId": chrt, "amount": acc.wbf_amt[bc * N_WB_SELLER + slot]})
    return {"stocks": stocks}


def negate_fbs(item: dict[str, Any]) -> bool:
    item["amount"] = -3
    return True


# ---------------------------------------------------------------------- content: cards
def cards_list(req: Request) -> dict[str, Any]:
    """Cards ordered by (updatedAt, nmID): ascending with `sort.ascending` true, else
    descending; cursor paging (`updatedAt` may be null/absent; `nmID` breaks ties); `limit`
    1..100 (default 10); `cursor.total` = cards in this answer."""
    body = req.json_object()
    settings = sub_object(body, "settings")
    cursor = sub_object(settings, "cursor")
    limit = int_field(cursor, "limit", 1, 100, default=10)
    ascending = sub_object(settings, "sort").get("ascending", False)
    if not isinstance(ascending, bool):
        raise ApiError(400, "settings.sort.ascending must be a boolean")
    text = str(sub_object(settings, "filter").get("textSearch") or "").strip()
    acc = req.account
    order, keys = acc.cached("cards_order", lambda: _cards_order(acc))
    if cursor.get("updatedAt") or cursor.get("nmID"):
        try:
            key = (int(parse_time(str(cursor.get("updatedAt") or "1970-01-01T00:00:00Z"))),
                   int(cursor.get("nmID") or 0))
        except (TypeError, ValueError):
            raise ApiError(400, "invalid cursor") from None
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
        out_cursor = {"updatedAt": cursor.get("updatedAt") or "", "nmID": cursor.get("nmID") or 0, "total": 0}
    return {"cards": cards, "cursor": out_cursor}


def _cards_order(acc: Account) -> tuple[list[int], list[tuple[int, int]]]:
    order = sorted(range(acc.n_products), key=lambda i: (acc.card_updated[i], acc.wb_nm[i]))
    return order, [(acc.card_updated[i], acc.wb_nm[i]) for i in order]


_TAGS = ((592569, "Популярный", "D1CFD7"), (592570, "Новинка", "FEE0E0"), (592571, "Распродажа", "ECDAFF"))


def _card(acc: Account, i: int) -> dict[str, Any]:
    cat = acc.category(i)
    nm = acc.wb_nm[i]
    h = mix(acc.seed, i, 7)
    vol, part = nm // 100_000, nm // 1000
    base = f"https://basket-{1 + h % 20:02d}.wbbasket.ru/vol{vol}/part{part}/{nm}/images"
    tag = _TAGS[h % len(_TAGS)]
    return {
        "nmID": nm, "imtID": acc.wb_imt[i],
        "nmUUID": _uuid(f"{acc.seed}:nm:{nm}"),
        "subjectID": cat.wb_subject_id, "subjectName": cat.wb_subject,
        "vendorCode": acc.offer_id(i), "brand": acc.brand_name(i), "title": acc.name(i),
        "description": f"{cat.noun} бренда {acc.brand_name(i)}.", "needKiz": False, "kizMarked": False,
        "photos": [{size: f"{base}/{size}/1.webp" for size in ("big", "c246x328", "c516x688", "square", "tm")}],
        "video": "",
        "wholesale": {"enabled": False, "quantum": 0},
        "dimensions": {"length": 10 + h % 30, "width": 10 + (h >> 5) % 20, "height": 2 + (h >> 10) % 15,
                       "weightBrutto": round(0.25 + (h >> 15) % 30 / 10, 2), "isValid": True},
        "characteristics": [{"id": 14177449, "name": "Цвет", "value": [acc.offer_id(i).rsplit("-", 1)[1]]}],
        "sizes": [{"chrtID": acc.chrt_id(bc), "techSize": acc.tech_size(bc),
                   "wbSize": "" if acc.tech_size(bc) == "0" else acc.tech_size(bc),
                   "skus": acc.size_barcodes(bc)} for bc in acc.barcodes_of(i)],
        "tags": [{"id": tag[0], "name": tag[1], "color": tag[2]}],
        "createdAt": utc_iso(acc.created[i]), "updatedAt": utc_iso(acc.card_updated[i]),
    }


def _uuid(text: str) -> str:
    h = hashlib.md5(text.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
