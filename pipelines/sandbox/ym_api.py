"""Yandex Market Partner API handlers: campaigns, warehouses, stocks, catalogue, key info.

(Over 400 lines on purpose: one handler per published method, beside each other as in
yandex_market.md §2.)

Shapes, paging and validation follow docs/api/yandex_market.md and the samples in
docs/api/samples/yandex_market/: `GET /v2/campaigns` and `GET /v2/campaigns/{id}` answer
without a wrapper; everything else is `{"status": "OK", "result": {...}}`. Page tokens are
opaque (base64url of the position); `pageToken` wins over its alias `page_token`. The
unverified parts (§5) are played as `SandboxOptions.ym_*` say; where the contract is silent
the choice is written in the handler's docstring.

Who may call what (§2.1, §3.1): a campaign id that is not the business's -> 404 `Campaign not
found: '<id>'`; a campaign that is not AVAILABLE -> 403 `Access denied for campaign '<id>'
because it is not active` on every campaign method (its `GET /v2/campaigns/{id}` still
answers: that is how a client learns why); a business id that is not the key's -> 403.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Callable, Iterator

from .auth import YM_KEY_NAME, YM_KEY_SCOPES
from .errors import ApiError
from .reference import mix
from .routing import Request
from .ym_account import (
    BUSINESS_NAME,
    CAMPAIGN_PLACES,
    HELD_TYPES,
    OFF,
    YM_CAMPAIGNS,
    YM_MARKET_WAREHOUSES,
    YM_PLACES,
    YM_SELLER_WAREHOUSES,
    YmAccount,
    YmCampaign,
    YmWarehouse,
    msk_offset_iso,
)

# Card statuses (`offer.cardStatus`, filter `cardStatuses`) the sandbox gives its offers.
HAS_CARD, NO_CARD = "HAS_CARD_CAN_UPDATE", "NO_CARD_NEED_CONTENT"
CARD_STATUSES = ("HAS_CARD_CAN_NOT_UPDATE", "HAS_CARD_CAN_UPDATE", "HAS_CARD_CAN_UPDATE_ERRORS",
                 "HAS_CARD_CAN_UPDATE_PROCESSING", "NO_CARD_NEED_CONTENT", "NO_CARD_MARKET_WILL_CREATE",
                 "NO_CARD_ERRORS", "NO_CARD_PROCESSING", "NO_CARD_ADD_TO_CAMPAIGN")


# ---------------------------------------------------------------------- shared checks
def ym(req: Request) -> YmAccount:
    return req.account.ym


def _ok(result: dict[str, Any]) -> dict[str, Any]:
    return {"status": "OK", "result": result}


def _campaign(req: Request, active: bool = True) -> tuple[int, YmCampaign]:
    """The path's campaign: 404 when it is not the business's, 403 when not active."""
    raw = req.params["campaignId"]
    for c, campaign in enumerate(YM_CAMPAIGNS):
        if raw.isdigit() and int(raw) == campaign.id:
            if active and not campaign.active:
                raise ApiError(403, f"Access denied for campaign '{raw}' because it is not active")
            return c, campaign
    raise ApiError(404, f"Campaign not found: '{raw}'")


def _business(req: Request) -> YmAccount:
    acc = ym(req)
    raw = req.params["businessId"]
    if not (raw.isdigit() and int(raw) == acc.business_id):
        raise ApiError(403, "Access denied")
    return acc


def _limit(req: Request, lo: int, hi: int, default: int | None, cut: bool) -> int | None:
    """Query `limit`: below `lo` or not a number -> 400; above `hi` -> cut to `hi` (the 4 Aug
    2026 rule, §2.2.1) or 400; absent -> `default`."""
    raw = req.query.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"limit must be an integer, got '{raw}'") from None
    if value < lo:
        raise ApiError(400, f"limit must be at least {lo}, got {value}")
    if value > hi:
        if not cut:
            raise ApiError(400, f"Limit exceeded: limit must be at most {hi}, got {value}")
        value = hi
    return value


def _page_token(req: Request) -> str | None:
    """`pageToken`, or its alias `page_token` (§2.1, §2.8)."""
    return req.query.get("pageToken") or req.query.get("page_token") or None


def encode_token(state: dict[str, Any]) -> str:
    """An opaque page token: base64url of the position, unpadded."""
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_token(token: str | None, kind: str, **expect: Any) -> dict[str, Any] | None:
    """The state in a token of this method (and campaign/warehouse); None without one; 400 otherwise."""
    if token is None:
        return None
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ApiError(400, "pageToken is invalid") from None
    if not isinstance(state, dict) or state.get("k") != kind or any(state.get(k) != v for k, v in expect.items()):
        raise ApiError(400, "pageToken is invalid")
    return state


def _bool(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise ApiError(400, f"JSON: {name} must be a boolean")
    return value


def _offer_ids(body: dict[str, Any], most: int) -> list[str] | None:
    """`offerIds`: 1..most distinct strings (None when absent)."""
    value = body.get("offerIds")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, "JSON: offerIds must be an array of strings")
    if not value:
        raise ApiError(400, "Collection of field offerIds must not be empty")
    if len(value) > most:
        raise ApiError(400, f"offerIds holds {len(value)} values, at most {most} allowed")
    if len(set(value)) != len(value):
        raise ApiError(400, "offerIds must be unique")
    return value


def _whole_answer_guard(req: Request, body: dict[str, Any], others: tuple[str, ...]) -> None:
    """`offerIds` is answered in one piece: no pageToken, limit or filters with it (§2.2.1)."""
    used = [name for name in ("pageToken", "page_token", "limit") if req.query.get(name) not in (None, "")]
    used += [name for name in others if body.get(name) is not None]
    if used:
        raise ApiError(400, f"offerIds cannot be combined with {', '.join(used)}")


def _int_field(body: dict[str, Any], name: str, required: bool = False) -> int | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, f"Missing field {name}")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ApiError(400, f"JSON: {name} must be an integer >= 1")
    return value


# ---------------------------------------------------------------------- campaigns
def _campaign_json(acc: YmAccount, campaign: YmCampaign) -> dict[str, Any]:
    """CampaignDTO in the sample's key order (v2_campaigns.json)."""
    return {"domain": campaign.domain, "id": campaign.id, "clientId": campaign.client_id,
            "business": {"id": acc.business_id, "name": BUSINESS_NAME},
            "placementType": campaign.placement, "apiAvailability": campaign.availability}


def campaigns(req: Request) -> dict[str, Any]:
    """`GET /v2/campaigns` (§2.1): every campaign of the key's business, no wrapper.

    Paging: `pageToken` + `limit` (1..100, no default: without `limit` the rest of the list
    comes at once), or the deprecated `page` + `pageSize` (1..100, default 20). The answer
    carries both `pager` (the deprecated page numbers) and `paging` (`nextPageToken` while
    more campaigns follow, `{}` on the last page)."""
    acc = ym(req)
    total = len(YM_CAMPAIGNS)
    token = _page_token(req)
    limit = _limit(req, 1, 100, None, cut=False)
    page_raw = req.query.get("page")
    if page_raw and token is None and limit is None:
        try:
            page = int(page_raw)
            size = int(req.query.get("pageSize") or 20)
        except ValueError:
            raise ApiError(400, "page and pageSize must be integers") from None
        if page < 1 or not 1 <= size <= 100:
            raise ApiError(400, "page must be >= 1 and pageSize between 1 and 100")
        start, end = (page - 1) * size, min(total, page * size)
    else:
        state = decode_token(token, "campaigns")
        start = state["o"] if state else 0
        size = limit or max(1, total - start)
        end = min(total, start + size)
        page = start // size + 1
    items = [_campaign_json(acc, c) for c in YM_CAMPAIGNS[start:end]]
    paging = {"nextPageToken": encode_token({"k": "campaigns", "o": end})} if end < total else {}
    pager = {"total": total, "from": start + 1 if items else 0, "to": end if items else 0,
             "currentPage": page, "pagesCount": -(-total // size), "pageSize": size}
    return {"campaigns": items, "pager": pager, "paging": paging}


def campaign(req: Request) -> dict[str, Any]:
    """`GET /v2/campaigns/{campaignId}` → `{"campaign": {...}}`, no wrapper. Answers for a
    disabled campaign too (its `apiAvailability` says why its other methods answer 403)."""
    _c, camp = _campaign(req, active=False)
    return {"campaign": _campaign_json(ym(req), camp)}


# ---------------------------------------------------------------------- warehouses
def _address(w: YmWarehouse) -> dict[str, Any]:
    number = str(1 + w.id % 97)
    return {"city": w.city, "street": w.street or "Складская ул.", "number": number, "building": "1",
            "block": "", "gps": {"latitude": w.latitude, "longitude": w.longitude}}


def fulfillment_warehouses(req: Request) -> dict[str, Any]:
    """`GET /v2/warehouses` (§2.4.1): Market's warehouses, no paging. `campaignId` (optional)
    keeps those linked to that campaign: the FBY campaign's four, none for the others. The
    FBS returns warehouse is never listed (§2.2.3)."""
    raw = req.query.get("campaignId")
    warehouses: tuple[YmWarehouse, ...] = YM_MARKET_WAREHOUSES
    if raw:
        req.params["campaignId"] = raw
        c, _camp = _campaign(req)
        linked = {YM_PLACES[p].warehouse.id for p in CAMPAIGN_PLACES[c] if YM_PLACES[p].kind == "market"}
        warehouses = tuple(w for w in YM_MARKET_WAREHOUSES if w.id in linked)
    return _ok({"warehouses": [{"id": w.id, "name": w.name, "address": _address(w)} for w in warehouses]})


def _components(body: dict[str, Any], allowed: tuple[str, ...]) -> set[str]:
    value = body.get("components")
    if value is None:
        return set()
    if not isinstance(value, list) or not all(v in allowed for v in value):
        raise ApiError(400, f"JSON: components must be an array of {', '.join(allowed)}")
    return set(value)


def _warehouse_page(req: Request, kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Token paging of a warehouse list: `limit` 1..30 (default 15, over 30 -> 400)."""
    limit = _limit(req, 1, 30, 15, cut=False)
    state = decode_token(_page_token(req), kind)
    start = state["o"] if state else 0
    end = start + limit  # type: ignore[operator]
    paging = {"nextPageToken": encode_token({"k": kind, "o": end})} if end < len(items) else {}
    return _ok({"warehouses": items[start:end], "paging": paging})


def business_warehouses(req: Request) -> dict[str, Any]:
    """`POST /v2/businesses/{businessId}/warehouses` (§2.4.2): the seller's warehouses with
    `campaignId` and `express`; `address` / `status` only when asked in `components`; no
    `groupInfo` (the business has no warehouse groups). `campaignIds` (<= 25) filters. The
    status `OTHER` marks the warehouse of the disabled campaign (the schema has no "enabled"
    value, so enabled warehouses carry no `status`)."""
    _business(req)
    body = req.json_object()
    components = _components(body, ("ADDRESS", "STATUS"))
    ids = body.get("campaignIds")
    if ids is not None and (not isinstance(ids, list) or len(ids) > 25
                            or not all(isinstance(v, int) and not isinstance(v, bool) for v in ids)):
        raise ApiError(400, "JSON: campaignIds must be an array of at most 25 integers")
    items = []
    for w in YM_SELLER_WAREHOUSES:
        camp = YM_CAMPAIGNS[w.campaign]
        if ids is not None and camp.id not in ids:
            continue
        item: dict[str, Any] = {"id": w.id, "name": w.name, "campaignId": camp.id, "express": w.express}
        if "ADDRESS" in components:
            item["address"] = _address(w)
        if "STATUS" in components and not camp.active:
            item["status"] = {"status": "OTHER"}
        items.append(item)
    return _warehouse_page(req, "warehouses", items)


def partner_warehouses(req: Request) -> dict[str, Any]:
    """`POST /v3/businesses/{businessId}/warehouses` (§2.4.4): the seller's warehouses with
    `models[]{placementType: FBS|DBS|EXPRESS, apiAvailability}`; `address` with
    `components: ["ADDRESS"]`; `warehouseIds` filters."""
    _business(req)
    body = req.json_object()
    components = _components(body, ("ADDRESS",))
    wanted = body.get("warehouseIds")
    if wanted is not None and (not isinstance(wanted, list)
                               or not all(isinstance(v, int) and not isinstance(v, bool) for v in wanted)):
        raise ApiError(400, "JSON: warehouseIds must be an array of integers")
    items = []
    for w in YM_SELLER_WAREHOUSES:
        if wanted is not None and w.id not in wanted:
            continue
        camp = YM_CAMPAIGNS[w.campaign]
        model = "EXPRESS" if w.express else camp.placement
        item: dict[str, Any] = {"id": w.id, "name": w.name,
                                "models": [{"placementType": model, "apiAvailability": camp.availability}]}
        if "ADDRESS" in components:
            item["address"] = _address(w)
        items.append(item)
    return _warehouse_page(req, "warehouses-v3", items)


# ---------------------------------------------------------------------- stocks
def _stocks(acc: YmAccount, p: int, i: int, fit_only: bool) -> list[dict[str, Any]]:
    """`stocks[]` of one record (§2.2.4). Market warehouses: AVAILABLE, FREEZE, FIT and each
    held type with units; seller warehouses: the same, or FIT alone with `fit_only`."""
    av, fr, *held = acc.counts(p, i)
    if fit_only and YM_PLACES[p].kind == "seller":
        return [{"type": "FIT", "count": av + fr}]
    out = [{"type": "FIT", "count": av + fr}, {"type": "AVAILABLE", "count": av}, {"type": "FREEZE", "count": fr}]
    out += [{"type": name, "count": n} for (name, _col), n in zip(HELD_TYPES, held) if n]
    return out


def _turnover(acc: YmAccount, p: int, i: int) -> dict[str, Any]:
    """`turnoverSummary` (§2.2.4): grades by days; NO_SALES (no days) for about one in nine
    records, FREE_STORE for about one in seventeen."""
    h = mix(acc.seed, p, i, 5)
    if h % 9 == 0:
        return {"turnover": "NO_SALES"}
    days = acc.turnover_days(p, i)
    if h % 17 == 0:
        grade = "FREE_STORE"
    else:
        grade = "VERY_HIGH" if days < 45 else "HIGH" if days < 100 else "ALMOST_LOW" if days < 120 else "LOW"
    return {"turnover": grade, "turnoverDays": days}


def _offer_json(acc: YmAccount, p: int, i: int, fit_only: bool, turnover: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"offerId": acc.offer_id(i)}
    if turnover and YM_PLACES[p].kind == "market":
        item["turnoverSummary"] = _turnover(acc, p, i)
    item["stocks"] = _stocks(acc, p, i, fit_only)
    item["updatedAt"] = msk_offset_iso(acc.updated[p][i])
    return item


def _has_units(acc: YmAccount, p: int, i: int) -> bool:
    return any(acc.counts(p, i))


def _from(acc: YmAccount, p: int, start: int, archived: bool, keep: Callable[[int], bool] | None) -> Iterator[int]:
    """Offers listed on place `p` from position `start`, in offer order."""
    on, arch, want = acc.on[p], acc.archived, 1 if archived else 0
    i = on.find(1, start)
    while i >= 0:
        if arch[i] == want and (keep is None or keep(i)):
            yield i
        i = on.find(1, i + 1)


def stocks(req: Request) -> dict[str, Any]:
    """`POST /v2/campaigns/{campaignId}/offers/stocks` (getStocks, §2.2).

    Query `pageToken` (alias `page_token`), `limit` (default 50, above 100 cut to 100, below
    1 -> 400). Body (optional): `stocksWarehouseId` (only that warehouse; one the campaign
    does not report -> an empty answer), `hasStocks` (needs `stocksWarehouseId`, else 400;
    applied on FBY campaigns only, ignored elsewhere: "FBY/LaaS only"), `withTurnover` (FBY
    rows get `turnoverSummary`), `archived` (true = archived offers only), `offerIds` (1..500,
    archived included, the whole answer at once; with pageToken/limit/archived -> 400).

    Warehouses come in warehouseId order, offers in catalogue order. `limit` counts offers by
    default (a warehouse continues on the next page under the same warehouseId) or
    warehouses (`SandboxOptions.ym_stocks_limit_counts`). The last page has `paging: {}`; with
    `ym_empty_page_with_token`, one empty page carrying a token comes right before it.
    """
    c, camp = _campaign(req)
    acc = ym(req)
    opts = req.sandbox.options
    body = req.json_object()
    offer_ids = _offer_ids(body, 500)
    if offer_ids is not None:
        _whole_answer_guard(req, body, ("archived",))
    wh_id = _int_field(body, "stocksWarehouseId")
    has_stocks = _bool(body, "hasStocks")
    if has_stocks is not None and wh_id is None:
        raise ApiError(400, "hasStocks can only be used with stocksWarehouseId")
    turnover = bool(_bool(body, "withTurnover"))
    archived = bool(_bool(body, "archived"))
    fit_only = opts.ym_seller_stock_types == "fit_only"
    places = [p for p in CAMPAIGN_PLACES[c] if wh_id is None or YM_PLACES[p].warehouse.id == wh_id]

    def build(chosen: list[tuple[int, list[int]]]) -> list[dict[str, Any]]:
        return [{"warehouseId": YM_PLACES[p].warehouse.id,
                 "offers": [_offer_json(acc, p, i, fit_only, turnover) for i in offers]} for p, offers in chosen]

    if offer_ids is not None:
        wanted = sorted({i for i in map(acc.index_by_offer, offer_ids) if i is not None})
        chosen = [(p, [i for i in wanted if acc.on[p][i]]) for p in places]
        return _ok({"paging": {}, "warehouses": build([(p, o) for p, o in chosen if o])})

    keep = None
    if has_stocks is not None and camp.placement == "FBY":
        keep = (lambda i, p=places[0] if places else 0: _has_units(acc, p, i) == has_stocks)
    limit = _limit(req, 1, 100, 50, cut=True)
    token_key = {"c": camp.id, "a": archived, "s": wh_id}
    state = decode_token(_page_token(req), "stocks", **token_key)
    pos, start = (state["w"], state["o"]) if state else (0, 0)
    if opts.ym_stocks_limit_counts == "warehouses":
        chosen, nxt = _page_by_warehouses(acc, places, pos, limit, archived, keep)  # type: ignore[arg-type]
    else:
        chosen, nxt = _page_by_offers(acc, places, pos, start, limit, archived, keep)  # type: ignore[arg-type]
    if nxt is None and opts.ym_empty_page_with_token and not (state and state.get("e")):
        token = encode_token({"k": "stocks", **token_key, "w": pos, "o": start, "e": 1})
        return _ok({"paging": {"nextPageToken": token}, "warehouses": []})
    paging = {"nextPageToken": encode_token({"k": "stocks", **token_key, "w": nxt[0], "o": nxt[1]})} if nxt else {}
    return _ok({"paging": paging, "warehouses": build(chosen)})


def _page_by_offers(acc: YmAccount, places: list[int], pos: int, start: int, limit: int, archived: bool,
                    keep: Callable[[int], bool] | None) -> tuple[list[tuple[int, list[int]]], tuple[int, int] | None]:
    """Up to `limit` offers from (place position, offer) on; the next position or None."""
    chosen: list[tuple[int, list[int]]] = []
    taken = 0
    while pos < len(places):
        p = places[pos]
        offers: list[int] = []
        for i in _from(acc, p, start, archived, keep):
            if taken == limit:
                if offers:
                    chosen.append((p, offers))
                return chosen, (pos, i)
            offers.append(i)
            taken += 1
        if offers:
            chosen.append((p, offers))
        pos, start = pos + 1, 0
    return chosen, None


def _page_by_warehouses(acc: YmAccount, places: list[int], pos: int, limit: int, archived: bool,
                        keep: Callable[[int], bool] | None) -> tuple[list[tuple[int, list[int]]], tuple[int, int] | None]:
    """Up to `limit` warehouses, each whole, from place position `pos` on (empty ones skipped)."""
    chosen: list[tuple[int, list[int]]] = []
    while pos < len(places):
        offers = list(_from(acc, places[pos], 0, archived, keep))
        if offers:
            if len(chosen) == limit:
                return chosen, (pos, 0)
            chosen.append((places[pos], offers))
        pos += 1
    return chosen, None


def negate_warehouse(item: dict[str, Any]) -> bool:
    """negative_stock on getStocks: the first offer's sellable count becomes -3."""
    for offer in item.get("offers") or ():
        if negate_offer(offer):
            return True
    return False


def negate_offer(item: dict[str, Any]) -> bool:
    stocks_ = item.get("stocks") or []
    for wanted in ("AVAILABLE", "FIT"):
        for stock in stocks_:
            if stock.get("type") == wanted:
                stock["count"] = -3
                return True
    return False


def offers_in(payload: Any) -> int:
    """Resource units of a getStocks answer: offers returned (§2.2.5)."""
    try:
        return sum(len(w.get("offers") or ()) for w in payload["result"]["warehouses"])
    except (KeyError, TypeError, AttributeError):
        return 0


def partner_stocks(req: Request) -> dict[str, Any]:
    """`POST /v3/businesses/{businessId}/offers/stocks` (§2.3): one seller warehouse's stock.

    Body: `partnerWarehouseId` (required; not a seller warehouse of the business -> 400; the
    disabled campaign's warehouse -> 403 as that campaign's methods), `archived`, `offerIds`
    (1..500, whole, not with pageToken/limit/archived). Query `pageToken`, `limit` (default
    50, cut at 100), counting offers. Stock types as getStocks' seller rows."""
    acc = _business(req)
    body = req.json_object()
    if not body:
        raise ApiError(400, "Missing field partnerWarehouseId")
    wh_id = _int_field(body, "partnerWarehouseId", required=True)
    offer_ids = _offer_ids(body, 500)
    if offer_ids is not None:
        _whole_answer_guard(req, body, ("archived",))
    archived = bool(_bool(body, "archived"))
    place = next((p for p, pl in enumerate(YM_PLACES) if pl.kind == "seller" and pl.warehouse.id == wh_id), None)
    if place is None:
        raise ApiError(400, f"partnerWarehouseId {wh_id} is not a warehouse of business {acc.business_id}")
    camp = YM_CAMPAIGNS[YM_PLACES[place].campaign]
    if not camp.active:
        raise ApiError(403, f"Access denied for campaign '{camp.id}' because it is not active")
    fit_only = req.sandbox.options.ym_seller_stock_types == "fit_only"

    def item(i: int) -> dict[str, Any]:
        return {"offerId": acc.offer_id(i), "stocks": _stocks(acc, place, i, fit_only),
                "updatedAt": msk_offset_iso(acc.updated[place][i])}

    if offer_ids is not None:
        found = sorted({i for i in map(acc.index_by_offer, offer_ids) if i is not None and acc.on[place][i]})
        return _ok({"partnerWarehouseId": wh_id, "offers": [item(i) for i in found], "paging": {}})
    limit = _limit(req, 1, 100, 50, cut=True)
    state = decode_token(_page_token(req), "stocks-v3", w=wh_id, a=archived)
    offers: list[int] = []
    nxt = None
    for i in _from(acc, place, state["o"] if state else 0, archived, None):
        if len(offers) == limit:
            nxt = i
            break
        offers.append(i)
    paging = {"nextPageToken": encode_token({"k": "stocks-v3", "w": wh_id, "a": archived, "o": nxt})} if nxt is not None else {}
    return _ok({"partnerWarehouseId": wh_id, "offers": [item(i) for i in offers], "paging": paging})


# ---------------------------------------------------------------------- catalogue
def _card_status(acc: YmAccount, i: int) -> str:
    return HAS_CARD if acc.market_sku[i] else NO_CARD


def _mapping_item(acc: YmAccount, i: int) -> dict[str, Any]:
    """One `offerMappings[]` entry (§2.5). An offer without a card has a `mapping` with the
    category Market suggests but no `marketSku` / `marketSkuName`."""
    cat = acc.category(i)
    sku = acc.market_sku[i]
    archived = bool(acc.archived[i])
    in_campaigns, programs = [], []
    for c, camp in enumerate(YM_CAMPAIGNS):
        placed = [p for p in CAMPAIGN_PLACES[c] if acc.on[p][i]]
        if not placed:
            continue
        units = any(acc.avail[p][i] for p in placed)
        status = "ARCHIVED" if archived else "NO_CARD" if not sku else "PUBLISHED" if units else "NO_STOCKS"
        in_campaigns.append({"campaignId": camp.id, "status": status})
        for p in placed:
            model = "EXPRESS" if YM_PLACES[p].warehouse.express else camp.placement
            if camp.active and model not in programs:
                programs.append(model)
    category_id = 90_000 + cat.ozon_type_id % 10_000
    offer: dict[str, Any] = {
        "offerId": acc.offer_id(i), "name": acc.name(i),
        "vendor": acc.vendor(i), "vendorCode": acc.offer_id(i), "barcodes": [acc.barcode(i)],
        "archived": archived, "cardStatus": _card_status(acc, i), "campaigns": in_campaigns,
        "sellingPrograms": [{"sellingProgram": m, "status": "FINE"} for m in programs],
        "basicPrice": {"value": 290 + mix(acc.seed, i, 3) % 60 * 100, "currencyId": "RUR"},
    }
    mapping: dict[str, Any] = {}
    if sku:
        mapping = {"marketSku": sku, "marketSkuName": acc.name(i)}
    mapping["marketCategoryId"] = category_id
    mapping["marketCategoryName"] = cat.noun
    item: dict[str, Any] = {"offer": offer, "mapping": mapping}
    if sku and not archived:
        item["showcaseUrls"] = [{"showcaseType": "B2C", "showcaseUrl": f"https://market.yandex.ru/product/{sku}?sku={sku}"}]
    return item


def offer_mappings(req: Request) -> dict[str, Any]:
    """`POST /v2/businesses/{businessId}/offer-mappings` (§2.5).

    Query `pageToken`, `limit` 1..100 (default 50, above 100 cut). Body (optional): either
    `offerIds` (1..100, archived included, whole; not with pageToken, limit or a filter) or
    the filters `archived` (true = archived only), `cardStatuses`, `vendorNames`,
    `categoryIds` (marketCategoryId), `tags` (the sandbox's offers have none, so any tag
    matches nothing). Offers in catalogue order."""
    acc = _business(req)
    body = req.json_object()
    filters = ("cardStatuses", "categoryIds", "vendorNames", "tags", "archived")
    offer_ids = _offer_ids(body, 100)
    if offer_ids is not None:
        _whole_answer_guard(req, body, filters)
        found = [i for i in map(acc.index_by_offer, offer_ids) if i is not None]
        return _ok({"paging": {}, "offerMappings": [_mapping_item(acc, i) for i in found]})
    for name in filters[:4]:
        value = body.get(name)
        if value is not None and (not isinstance(value, list) or not value):
            raise ApiError(400, f"JSON: {name} must be a non-empty array")
    statuses = set(body.get("cardStatuses") or ()) or None
    if statuses and not statuses <= set(CARD_STATUSES):
        raise ApiError(400, f"JSON: unknown cardStatuses {sorted(statuses - set(CARD_STATUSES))}")
    vendors = set(body.get("vendorNames") or ()) or None
    categories = set(body.get("categoryIds") or ()) or None
    tags = bool(body.get("tags"))
    archived = 1 if _bool(body, "archived") else 0
    limit = _limit(req, 1, 100, 50, cut=True)
    state = decode_token(_page_token(req), "mappings", a=archived)
    found, nxt = [], None
    for i in range(state["o"] if state else 0, acc.n_offers):
        if acc.archived[i] != archived or tags:
            continue
        if statuses and _card_status(acc, i) not in statuses:
            continue
        if vendors and acc.vendor(i) not in vendors:
            continue
        if categories and 90_000 + acc.category(i).ozon_type_id % 10_000 not in categories:
            continue
        if len(found) == limit:
            nxt = i
            break
        found.append(i)
    paging = {"nextPageToken": encode_token({"k": "mappings", "a": archived, "o": nxt})} if nxt is not None else {}
    return _ok({"paging": paging, "offerMappings": [_mapping_item(acc, i) for i in found]})


# ---------------------------------------------------------------------- key
def auth_token(req: Request) -> dict[str, Any]:
    """`POST /v2/auth/token` (§2.6): the key's name and scopes (read-only, every method)."""
    return _ok({"apiKey": {"name": YM_KEY_NAME, "authScopes": list(YM_KEY_SCOPES)}})


def disabled_campaign_id() -> int:
    """The id of the sandbox's campaign that is not AVAILABLE (for tests and docs)."""
    return YM_CAMPAIGNS[OFF].id
