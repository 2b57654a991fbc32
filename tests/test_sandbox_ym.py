"""Tests of the sandbox's Yandex Market Partner API over real loopback HTTP.

Each test drives the sandbox the way a client would (Api-Key header, page tokens, limits) and
checks its answers against the published contract (docs/api/yandex_market.md and the samples
in docs/api/samples/yandex_market/) and against the account's truth
(`expected_inventory("ym")`). The reader that rebuilds inventory rows from the answers is
written here from §7 alone, as a test oracle, independently of the sandbox's code.
"""

from __future__ import annotations

import json
import threading
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from pipelines.sandbox import YM_API_KEY, YM_REVOKED_API_KEY, Fault, Sandbox, SandboxOptions

SAMPLES = Path(__file__).resolve().parent.parent / "docs" / "api" / "samples" / "yandex_market"
STOCKS = "/v2/campaigns/{}/offers/stocks"
KNOWN_TYPES = {"AVAILABLE", "FIT", "FREEZE", "QUARANTINE", "UTILIZATION", "DEFECT", "EXPIRED"}
HELD = ("FREEZE", "QUARANTINE", "DEFECT", "EXPIRED", "UTILIZATION")
RESOURCE_HEADERS = ("X-RateLimit-Resource-Limit", "X-RateLimit-Resource-Remaining", "X-RateLimit-Resource-Until")


# ---------------------------------------------------------------------- fixtures and clients
def make(products: int = 120, seed: int = 7, **kw: Any) -> Sandbox:
    kw.setdefault("rate_limit_scale", 0)
    return Sandbox(SandboxOptions(products=products, seed=seed, **kw)).start()


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    """A read-only sandbox shared by the tests that neither tick nor inject faults."""
    box = make(150, seed=7)
    yield box
    box.stop()


@pytest.fixture
def fresh() -> Iterator[Sandbox]:
    box = make(60, seed=11)
    yield box
    box.stop()


def session(key: str | None = YM_API_KEY) -> requests.Session:
    s = requests.Session()
    if key is not None:
        s.headers["Api-Key"] = key
    return s


def ok(resp: requests.Response) -> Any:
    assert resp.status_code == 200, (resp.status_code, resp.text[:300])
    for name in RESOURCE_HEADERS:
        assert name in resp.headers, (name, dict(resp.headers))
    return resp.json()


def ym_error(resp: requests.Response, status: int) -> str:
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    body = resp.json()
    assert list(body) == ["errors", "status"] and body["status"] == "ERROR", body
    assert len(body["errors"]) == 1 and isinstance(body["errors"][0]["code"], str)
    return body["errors"][0]["message"]


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def keys_cover(sample_obj: Any, got: Any, path: str = "") -> None:
    """Every key of the sample is in the answer, at every depth (lists: their first items)."""
    if isinstance(sample_obj, dict):
        assert isinstance(got, dict), path
        for key, value in sample_obj.items():
            if key in ("prevPageToken", "nextPageToken"):  # paging keys: checked on their own
                continue
            assert key in got, f"{path}.{key} missing"
            keys_cover(value, got[key], f"{path}.{key}")
    elif isinstance(sample_obj, list) and sample_obj:
        assert isinstance(got, list) and got, path
        keys_cover(sample_obj[0], got[0], f"{path}[0]")
    else:
        assert type(got) in ({int, float} if type(sample_obj) in (int, float) else {type(sample_obj)}), (path, got)


def campaigns_all(box: Sandbox, limit: int = 1) -> list[dict[str, Any]]:
    s, params, out = session(), {"limit": limit}, []
    while True:
        page = ok(s.get(box.url + "/v2/campaigns", params=params, timeout=10))
        out += page["campaigns"]
        token = (page.get("paging") or {}).get("nextPageToken")
        if not token:
            return out
        params = {"limit": limit, "pageToken": token}


def stock_pages(box: Sandbox, campaign_id: int, body: dict[str, Any] | None = None, limit: int = 100,
                alias: bool = False) -> list[dict[str, Any]]:
    """Every getStocks page until `nextPageToken` is absent (§2.2.2)."""
    s, pages, token = session(), [], None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if token:
            params["page_token" if alias else "pageToken"] = token
        page = ok(s.post(box.url + STOCKS.format(campaign_id), params=params, json=body or {}, timeout=10))
        assert page["status"] == "OK"
        pages.append(page["result"])
        token = page["result"].get("paging", {}).get("nextPageToken")
        if not token:
            return pages


def paged_business(box: Sandbox, path: str, key: str, limit: int, body: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    s, out, token = session(), [], None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if token:
            params["pageToken"] = token
        page = ok(s.post(box.url + path, params=params, json=body or {}, timeout=10))["result"]
        out += page[key]
        token = page.get("paging", {}).get("nextPageToken")
        if not token:
            return out


# ---------------------------------------------------------------------- the §7 reader (test oracle)
def quantities(stocks: list[dict[str, Any]]) -> tuple[int, int, int]:
    """(present, reserved, available) of one `stocks[]` per §7: missing types are 0, FIT is
    never summed with the others; available = AVAILABLE, or FIT - FREEZE without AVAILABLE."""
    by_type: dict[str, int] = {}
    for st in stocks:
        assert st["type"] in KNOWN_TYPES, st
        assert st["type"] not in by_type, f"type {st['type']} twice"
        by_type[st["type"]] = st["count"]
    available = by_type["AVAILABLE"] if "AVAILABLE" in by_type else by_type.get("FIT", 0) - by_type.get("FREEZE", 0)
    reserved = sum(by_type.get(t, 0) for t in HELD)
    return available + reserved, reserved, available


def read_inventory(box: Sandbox, limit: int = 100) -> list[dict[str, Any]]:
    """What a correct client publishes, straight from §7."""
    camps = campaigns_all(box)
    business = camps[0]["business"]["id"]
    assert all(c["business"]["id"] == business for c in camps)
    s = session()
    names = {w["id"]: w["name"] for w in ok(s.get(box.url + "/v2/warehouses", timeout=10))["result"]["warehouses"]}
    seller = {w["id"]: w for w in paged_business(box, f"/v2/businesses/{business}/warehouses", "warehouses", 1)}
    names.update({wid: w["name"] for wid, w in seller.items()})
    skus = {m["offer"]["offerId"]: m["mapping"].get("marketSku")
            for m in paged_business(box, f"/v2/businesses/{business}/offer-mappings", "offerMappings", 100)}
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for camp in camps:
        if camp["apiAvailability"] != "AVAILABLE":
            continue
        empty_run = 0
        for page in stock_pages(box, camp["id"], limit=limit):
            empty_run = 0 if page["warehouses"] else empty_run + 1
            assert empty_run <= 3
            for wh in page["warehouses"]:
                wid = wh["warehouseId"]
                stype = camp["placementType"]
                if stype == "FBS" and seller.get(wid, {}).get("express"):
                    stype = "EXPRESS"
                for offer in wh["offers"]:
                    key = (stype, str(wid), offer["offerId"])
                    assert key not in rows, f"offer {key} on two pages"  # merged, never repeated
                    present, reserved, available = quantities(offer["stocks"])
                    sku = skus[offer["offerId"]]
                    rows[key] = {
                        "marketplace": "ym", "sku": offer["offerId"],
                        "marketplace_product_id": str(sku) if sku is not None else None,
                        "offer_id": offer["offerId"], "warehouse_id": str(wid),
                        "warehouse_name": names.get(wid, f"warehouse {wid}"), "warehouse_kind": "physical",
                        "stock_type": stype, "quantity_present": present, "quantity_reserved": reserved,
                        "quantity_available": available,
                    }
    return list(rows.values())


def key(row: dict[str, Any]) -> tuple[str, ...]:
    return row["marketplace"], row["sku"], row["warehouse_id"], row["stock_type"]


def assert_truth_is_what_answers_say(box: Sandbox, limit: int = 100) -> list[dict[str, Any]]:
    truth = box.account.expected_inventory("ym")
    read = read_inventory(box, limit)
    assert len({key(r) for r in truth}) == len(truth)
    assert sorted(read, key=key) == sorted(truth, key=key)
    return truth


# ---------------------------------------------------------------------- interface and truth
def test_env_and_constants(sb: Sandbox) -> None:
    env = sb.env()
    assert env["YM_API_URL"] == sb.url and env["YM_API_KEY"] == YM_API_KEY
    assert YM_REVOKED_API_KEY not in env.values()
    assert YM_API_KEY.startswith("ACMA:")


VARIANTS = [
    {},
    {"ym_seller_stock_types": "full"},
    {"ym_stocks_limit_counts": "warehouses"},
    {"ym_empty_page_with_token": True},
    {"ym_seller_stock_types": "full", "ym_stocks_limit_counts": "warehouses", "ym_empty_page_with_token": True},
]


@pytest.mark.parametrize("options", VARIANTS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults")
def test_truth_is_the_same_whatever_reading_of_section_5(options: dict[str, Any]) -> None:
    box = make(70, seed=5, **options)
    try:
        truth = assert_truth_is_what_answers_say(box, limit=7)
        assert truth == make_truth(70, 5), "an option changed the truth"
    finally:
        box.stop()


def make_truth(products: int, seed: int) -> list[dict[str, Any]]:
    box = Sandbox(SandboxOptions(products=products, seed=seed))
    return box.account.expected_inventory("ym")


def test_truth_holds_every_special_case(sb: Sandbox) -> None:
    truth = assert_truth_is_what_answers_say(sb)
    acc = sb.account.ym
    by_type = {r["stock_type"] for r in truth}
    assert by_type == {"FBY", "FBS", "EXPRESS", "DBS"}
    skus = {r["sku"] for r in truth}
    assert {"557722", "0557722"} <= skus
    assert any(r["marketplace_product_id"] is None for r in truth)  # an offer without a card
    returns = [r for r in truth if r["warehouse_name"] == f"warehouse {r['warehouse_id']}"]
    assert returns and all(r["stock_type"] == "FBS" and r["quantity_available"] == 0 for r in returns)
    assert any(r["quantity_present"] == 0 for r in truth if r["stock_type"] == "FBY")
    assert any(r["quantity_present"] == 0 for r in truth if r["stock_type"] in ("FBS", "DBS", "EXPRESS"))
    assert all(0 <= r["quantity_reserved"] <= r["quantity_present"] for r in truth)
    archived = {acc.offer_id(i) for i in range(acc.n_offers) if acc.archived[i]}
    assert archived and not archived & skus
    disabled = [c for c in campaigns_all(sb) if c["apiAvailability"] != "AVAILABLE"]
    assert [c["apiAvailability"] for c in disabled] == ["DISABLED_BY_INACTIVITY"]
    assert not any(r["warehouse_name"] == "Старый склад Тверь" for r in truth)
    fby = stock_pages(sb, campaigns_all(sb)[0]["id"])
    types = {st["type"] for page in fby for wh in page["warehouses"] for o in wh["offers"] for st in o["stocks"]}
    assert {"AVAILABLE", "FREEZE", "FIT", "QUARANTINE", "DEFECT"} <= types
    assert len({wh["warehouseId"] for page in fby for wh in page["warehouses"]}) >= 3


def test_default_truth_and_control_api(sb: Sandbox) -> None:
    ym = sb.account.expected_inventory("ym")
    assert sb.account.expected_inventory() == sb.account.expected_inventory(["ozon", "wb", "ym"]) == (
        sb.account.expected_inventory("ozon") + sb.account.expected_inventory("wb") + ym)
    assert requests.get(sb.url + "/sandbox/expected", params={"marketplace": "ym"}, timeout=10).json() == ym
    summary = requests.get(sb.url + "/sandbox/account", timeout=10).json()["ym"]
    assert summary["rows"] == len(ym)
    assert summary["present"] == sum(r["quantity_present"] for r in ym)
    assert summary["available"] == sum(r["quantity_available"] for r in ym)
    with pytest.raises(ValueError):
        sb.account.expected_inventory("amazon")


# ---------------------------------------------------------------------- shapes (samples)
def test_answers_have_the_samples_shapes(sb: Sandbox) -> None:
    s = session()
    camps = ok(s.get(sb.url + "/v2/campaigns", timeout=10))
    assert "status" not in camps and "result" not in camps  # no wrapper (§2.1)
    keys_cover(sample("v2_campaigns.json"), camps)
    one = ok(s.get(sb.url + f"/v2/campaigns/{camps['campaigns'][0]['id']}", timeout=10))
    assert set(one) == {"campaign"} and one["campaign"] == camps["campaigns"][0]
    keys_cover(sample("v2_warehouses.json"), ok(s.get(sb.url + "/v2/warehouses", timeout=10)))
    fby = camps["campaigns"][0]["id"]
    page = ok(s.post(sb.url + STOCKS.format(fby), params={"limit": 5}, json={"withTurnover": True}, timeout=10))
    keys_cover(sample("v2_campaigns_offers_stocks.json"), page)
    assert set(page["result"]["paging"]) == {"nextPageToken"}
    assert set(page["result"]) == {"paging", "warehouses"}
    offer = page["result"]["warehouses"][0]["offers"][0]
    assert offer["updatedAt"][-6:] == "+03:00" and "prevPageToken" not in page["result"]["paging"]
    business = camps["campaigns"][0]["business"]["id"]
    whs = ok(s.post(sb.url + f"/v2/businesses/{business}/warehouses", json={"components": ["ADDRESS", "STATUS"]},
                    timeout=10))["result"]["warehouses"]
    assert {"id", "name", "campaignId", "express", "address"} <= set(whs[0]) and sum(w["express"] for w in whs) == 1
    v3 = ok(s.post(sb.url + f"/v3/businesses/{business}/warehouses", json={}, timeout=10))["result"]["warehouses"]
    assert {m["placementType"] for w in v3 for m in w["models"]} == {"FBS", "DBS", "EXPRESS"}
    maps = ok(s.post(sb.url + f"/v2/businesses/{business}/offer-mappings", json={}, timeout=10))["result"]
    assert {"offer", "mapping"} <= set(maps["offerMappings"][0])
    assert {"offerId", "name", "barcodes", "archived", "cardStatus", "campaigns"} <= set(maps["offerMappings"][0]["offer"])
    token = ok(s.post(sb.url + "/v2/auth/token", timeout=10))
    assert token["result"]["apiKey"]["authScopes"] and token["status"] == "OK"


# ---------------------------------------------------------------------- paging and limits of the methods
def test_paging_covers_every_offer_once_and_limit_is_cut(sb: Sandbox) -> None:
    fbs = campaigns_all(sb)[1]["id"]
    whole = [(wh["warehouseId"], o["offerId"]) for p in stock_pages(sb, fbs, limit=100) for wh in p["warehouses"]
             for o in wh["offers"]]
    for limit, alias in ((1, False), (13, True), (1000, False)):
        pages = stock_pages(sb, fbs, limit=limit, alias=alias)
        got = [(wh["warehouseId"], o["offerId"]) for p in pages for wh in p["warehouses"] for o in wh["offers"]]
        assert got == whole and len(set(got)) == len(got)
        assert all(sum(len(wh["offers"]) for wh in p["warehouses"]) <= min(limit, 100) for p in pages)
    split = stock_pages(sb, fbs, limit=13)
    ids = [wh["warehouseId"] for p in split for wh in p["warehouses"]]
    assert len(ids) > len(set(ids)), "with limit counting offers a warehouse continues on the next page"
    s = session()
    big = ok(s.post(sb.url + STOCKS.format(fbs), params={"limit": 1000}, json={}, timeout=10))["result"]
    assert sum(len(wh["offers"]) for wh in big["warehouses"]) == 100
    default = ok(s.post(sb.url + STOCKS.format(fbs), json={}, timeout=10))["result"]
    assert sum(len(wh["offers"]) for wh in default["warehouses"]) == 50
    ym_error(s.post(sb.url + STOCKS.format(fbs), params={"limit": 0}, json={}, timeout=10), 400)
    ym_error(s.post(sb.url + STOCKS.format(fbs), params={"pageToken": "not-a-token"}, json={}, timeout=10), 400)
    business = campaigns_all(sb)[0]["business"]["id"]
    maps = ok(s.post(sb.url + f"/v2/businesses/{business}/offer-mappings", params={"limit": 500}, json={},
                     timeout=10))["result"]["offerMappings"]
    assert len(maps) == 100
    all_maps = paged_business(sb, f"/v2/businesses/{business}/offer-mappings", "offerMappings", 33)
    acc = sb.account.ym
    assert len(all_maps) == len({m["offer"]["offerId"] for m in all_maps}) == acc.n_offers - acc.archived.count(1)
    ym_error(s.post(sb.url + f"/v2/businesses/{business}/warehouses", params={"limit": 31}, json={}, timeout=10), 400)
    assert len(paged_business(sb, f"/v2/businesses/{business}/warehouses", "warehouses", 1)) == 4


def test_limit_counting_warehouses_and_empty_page_option() -> None:
    box = make(40, seed=9, ym_stocks_limit_counts="warehouses", ym_empty_page_with_token=True)
    try:
        fby = campaigns_all(box)[0]["id"]
        pages = stock_pages(box, fby, limit=1)
        assert pages[-1]["paging"] == {} and pages[-1]["warehouses"]
        assert pages[-2]["warehouses"] == [] and pages[-2]["paging"]["nextPageToken"]
        ids = [wh["warehouseId"] for p in pages for wh in p["warehouses"]]
        assert len(ids) == len(set(ids)) and all(len(p["warehouses"]) <= 1 for p in pages)
    finally:
        box.stop()


def test_body_filters_offer_ids_and_archived(sb: Sandbox) -> None:
    s = session()
    camps = campaigns_all(sb)
    fby, fbs = camps[0]["id"], camps[1]["id"]
    acc = sb.account.ym
    archived = [acc.offer_id(i) for i in range(acc.n_offers) if acc.archived[i]]
    wanted = ["557722", "0557722", *archived, "no-such-offer"]
    whole = ok(s.post(sb.url + STOCKS.format(fbs), json={"offerIds": wanted}, timeout=10))["result"]
    assert "nextPageToken" not in whole.get("paging", {})
    expected = {(wh, o) for p in stock_pages(sb, fbs) for wh, o in
                ((w["warehouseId"], x["offerId"]) for w in p["warehouses"] for x in w["offers"]) if o in wanted}
    got = {(w["warehouseId"], x["offerId"]) for w in whole["warehouses"] for x in w["offers"]}
    assert expected <= got and {o for _w, o in got} - {o for _w, o in expected} <= set(archived)
    for params, body in (({"limit": 10}, {}), ({"pageToken": "x"}, {}), ({}, {"archived": False})):
        msg = ym_error(s.post(sb.url + STOCKS.format(fbs), params=params, json={"offerIds": ["557722"], **body},
                              timeout=10), 400)
        assert "offerIds" in msg
    ym_error(s.post(sb.url + STOCKS.format(fbs), json={"offerIds": []}, timeout=10), 400)
    ym_error(s.post(sb.url + STOCKS.format(fbs), json={"offerIds": ["a"] * 2}, timeout=10), 400)
    only_archived = {o["offerId"] for p in stock_pages(sb, fby, {"archived": True}) for w in p["warehouses"]
                     for o in w["offers"]}
    assert only_archived and only_archived <= set(archived)
    one = stock_pages(sb, fby, {"stocksWarehouseId": 147, "withTurnover": True})
    assert {w["warehouseId"] for p in one for w in p["warehouses"]} == {147}
    assert all("turnoverSummary" in o for p in one for w in p["warehouses"] for o in w["offers"])
    with_stock = stock_pages(sb, fby, {"stocksWarehouseId": 147, "hasStocks": True})
    without = stock_pages(sb, fby, {"stocksWarehouseId": 147, "hasStocks": False})
    n_with = sum(len(w["offers"]) for p in with_stock for w in p["warehouses"])
    n_without = sum(len(w["offers"]) for p in without for w in p["warehouses"])
    assert n_with and n_without and n_with + n_without == sum(len(w["offers"]) for p in one for w in p["warehouses"])
    assert all(any(st["count"] for st in o["stocks"]) for p in with_stock for w in p["warehouses"] for o in w["offers"])
    ym_error(s.post(sb.url + STOCKS.format(fby), json={"hasStocks": True}, timeout=10), 400)
    business = camps[0]["business"]["id"]
    maps = ok(s.post(sb.url + f"/v2/businesses/{business}/offer-mappings", json={"offerIds": ["557722", "0557722"]},
                     timeout=10))["result"]["offerMappings"]
    assert [m["offer"]["offerId"] for m in maps] == ["557722", "0557722"]
    assert maps[0]["mapping"]["marketSku"] != maps[1]["mapping"]["marketSku"]
    ym_error(s.post(sb.url + f"/v2/businesses/{business}/offer-mappings", params={"limit": 5},
                    json={"offerIds": ["557722"]}, timeout=10), 400)


def test_v3_stocks_agree_with_getstocks(sb: Sandbox) -> None:
    camps = campaigns_all(sb)
    business = camps[0]["business"]["id"]
    seller = paged_business(sb, f"/v2/businesses/{business}/warehouses", "warehouses", 30)
    active = {c["id"] for c in camps if c["apiAvailability"] == "AVAILABLE"}
    for wh in seller:
        path = f"/v3/businesses/{business}/offers/stocks"
        if wh["campaignId"] not in active:
            msg = ym_error(session().post(sb.url + path, json={"partnerWarehouseId": wh["id"]}, timeout=10), 403)
            assert "is not active" in msg
            continue
        v3 = paged_business(sb, path, "offers", 7, {"partnerWarehouseId": wh["id"]})
        v2 = [o for p in stock_pages(sb, wh["campaignId"], {"stocksWarehouseId": wh["id"]}) for w in p["warehouses"]
              for o in w["offers"]]
        assert v3 == v2 and v3
    ym_error(session().post(sb.url + f"/v3/businesses/{business}/offers/stocks", json={}, timeout=10), 400)


# ---------------------------------------------------------------------- errors
def test_auth_errors(sb: Sandbox) -> None:
    url = sb.url + "/v2/campaigns"
    wrong = session("ACMA:wrong:key").get(url, timeout=10)
    assert wrong.status_code == 401 and wrong.json() == sample("error_401_api_key_invalid.json")
    assert list(wrong.json()) == ["errors", "status"]
    assert ym_error(session(None).get(url, timeout=10), 401) == "Credentials are not specified"
    assert ym_error(session(YM_REVOKED_API_KEY).get(url, timeout=10), 401).endswith("is revoked")
    assert "prefix invalid" in ym_error(session(f"Bearer {YM_API_KEY}").get(url, timeout=10), 401)
    bearer = requests.get(url, headers={"Authorization": f"Bearer {YM_API_KEY}"}, timeout=10)
    assert "prefix invalid" in ym_error(bearer, 401)


def test_campaign_and_business_errors(sb: Sandbox) -> None:
    s = session()
    camps = campaigns_all(sb)
    off = next(c for c in camps if c["apiAvailability"] != "AVAILABLE")
    msg = ym_error(s.post(sb.url + STOCKS.format(off["id"]), json={}, timeout=10), 403)
    assert msg == f"Access denied for campaign '{off['id']}' because it is not active"
    assert ok(s.get(sb.url + f"/v2/campaigns/{off['id']}", timeout=10))["campaign"]["apiAvailability"] == off["apiAvailability"]
    assert ym_error(s.post(sb.url + STOCKS.format(12345), json={}, timeout=10), 404) == "Campaign not found: '12345'"
    assert ym_error(s.get(sb.url + "/v2/campaigns/12345", timeout=10), 404) == "Campaign not found: '12345'"
    other = camps[0]["business"]["id"] + 1
    ym_error(s.post(sb.url + f"/v2/businesses/{other}/offer-mappings", json={}, timeout=10), 403)
    ym_error(s.post(sb.url + f"/v2/businesses/{other}/warehouses", json={}, timeout=10), 403)
    ym_error(s.put(sb.url + STOCKS.format(camps[0]["id"]), json={}, timeout=10), 405)


def test_resource_limit_420_headers_and_offer_counting() -> None:
    box = make(30, rate_limit_scale=1.0)
    try:
        s = session()
        answers = [s.get(box.url + "/v2/warehouses", timeout=10) for _ in range(101)]
        assert [a.status_code for a in answers[:100]] == [200] * 100
        assert answers[99].headers["X-RateLimit-Resource-Remaining"] == "0"
        assert answers[0].headers["X-RateLimit-Resource-Limit"] == "100"
        limited = answers[100]
        assert limited.status_code == 420 and limited.reason == "Enhance Your Calm"
        assert ym_error(limited, 420) == "Hit rate limit of 100 requests per 'hour' for resource 'getFulfillmentWarehouses'"
        until = parsedate_to_datetime(limited.headers["X-RateLimit-Resource-Until"]).timestamp()
        assert 30 <= until - time.time() <= 40  # one request per 36 s comes back
        assert limited.headers["X-RateLimit-Resource-Remaining"] == "0"
        # getStocks pays per offer returned; other methods are untouched by the spent bucket.
        fby = ok(s.get(box.url + "/v2/campaigns", timeout=10))["campaigns"][0]["id"]
        page = s.post(box.url + STOCKS.format(fby), params={"limit": 20}, json={}, timeout=10)
        n = sum(len(w["offers"]) for w in ok(page)["result"]["warehouses"])
        assert n == 20 and page.headers["X-RateLimit-Resource-Remaining"] == str(100_000 - n)
        assert page.headers["X-RateLimit-Resource-Limit"] == "100000"
    finally:
        box.stop()


def test_parallel_limit_420() -> None:
    box = make(30, rate_limit_scale=0.01)
    try:
        fby = campaigns_all(box)[0]["id"]
        box.add_fault(Fault("slow", path=STOCKS.format(fby), count=5, delay=0.6))
        results: list[requests.Response] = []
        lock = threading.Lock()

        def call() -> None:
            resp = session().post(box.url + STOCKS.format(fby), json={}, timeout=10)
            with lock:
                results.append(resp)

        threads = [threading.Thread(target=call) for _ in range(5)]
        for t in threads:
            t.start()
            time.sleep(0.03)
        for t in threads:
            t.join()
        statuses = sorted(r.status_code for r in results)
        assert statuses == [200, 200, 200, 200, 420], statuses
        limited = next(r for r in results if r.status_code == 420)
        assert ym_error(limited, 420) == f"Hit rate limit of 4 parallel requests for campaignId {fby}"
        # Another campaign has its own four slots.
        assert session().get(box.url + "/v2/campaigns", timeout=10).status_code == 200
    finally:
        box.stop()


# ---------------------------------------------------------------------- faults
def test_generic_faults_on_ym_paths(fresh: Sandbox) -> None:
    s = session()
    fbs = campaigns_all(fresh)[1]["id"]
    path = STOCKS.format(fbs)
    fresh.add_fault(Fault("rate_limit", path="/v2/campaigns/{campaignId}/offers/stocks", count=1, retry_after=2))
    limited = s.post(fresh.url + path, json={}, timeout=10)
    assert ym_error(limited, 420).startswith("Hit rate limit of 100000 requests per 'minute'")
    assert 1 <= parsedate_to_datetime(limited.headers["X-RateLimit-Resource-Until"]).timestamp() - time.time() <= 3
    fresh.add_fault(Fault("server_error", path=path, count=1))
    assert ym_error(s.post(fresh.url + path, json={}, timeout=10), 500)
    fresh.add_fault(Fault("server_error", path=path, count=1, status=503))
    assert s.post(fresh.url + path, json={}, timeout=10).status_code == 503
    fresh.add_fault(Fault("negative_stock", path=path, count=1))
    first = ok(s.post(fresh.url + path, json={}, timeout=10))["result"]["warehouses"][0]["offers"][0]
    assert -3 in [st["count"] for st in first["stocks"]]
    fresh.add_fault(Fault("bad_value", path=path, field="count", value="7 pcs"))
    page = ok(s.post(fresh.url + path, json={}, timeout=10))["result"]
    counts = [st["count"] for w in page["warehouses"] for o in w["offers"] for st in o["stocks"]]
    assert counts.count("7 pcs") == 1 and counts.index("7 pcs") == 0  # the first `stocks[].count`
    fresh.add_fault(Fault("missing_field", path=path, field="offerId"))
    page = ok(s.post(fresh.url + path, json={}, timeout=10))["result"]
    assert all("offerId" not in o for w in page["warehouses"] for o in w["offers"])
    fresh.add_fault(Fault("empty_account", path=path))
    empty = ok(s.post(fresh.url + path, json={}, timeout=10))["result"]
    assert empty["warehouses"] == [] and "nextPageToken" not in empty["paging"]
    fresh.add_fault(Fault("truncate", path="/v2/campaigns"))
    with pytest.raises(ValueError):
        s.get(fresh.url + "/v2/campaigns", timeout=10).json()
    fresh.add_fault(Fault("retired", path="/v2/warehouses"))
    assert ym_error(s.get(fresh.url + "/v2/warehouses", timeout=10), 404)
    fresh.add_fault(Fault("drop", path="/v2/auth/token"))
    with pytest.raises(requests.ConnectionError):
        s.post(fresh.url + "/v2/auth/token", timeout=10)
    assert ok(session().post(fresh.url + path, json={}, timeout=10))["result"]["warehouses"]


# ---------------------------------------------------------------------- determinism and time
def test_same_seed_same_bytes_tick_moves_stock() -> None:
    def fetch(box: Sandbox) -> list[bytes]:
        s = session()
        camps = s.get(box.url + "/v2/campaigns", timeout=10)
        business = camps.json()["campaigns"][0]["business"]["id"]
        out = [camps.content]
        for c in camps.json()["campaigns"][:3]:
            out.append(s.post(box.url + STOCKS.format(c["id"]), params={"limit": 100}, json={"withTurnover": True},
                              timeout=10).content)
        out.append(s.post(box.url + f"/v2/businesses/{business}/offer-mappings", json={}, timeout=10).content)
        return out

    a, b, c = make(50, seed=21), make(50, seed=21), make(50, seed=22)
    try:
        first = fetch(a)
        assert first == fetch(b)
        assert fetch(c)[1:] != first[1:]
        before = {key(r): r for r in a.account.expected_inventory("ym")}
        a.tick(2)
        b.tick(2)
        assert fetch(a) == fetch(b) and fetch(a) != first
        after = {key(r): r for r in a.account.expected_inventory("ym")}
        assert after != before and len(after) >= len(before)
        assert a.account.ym.n_offers == a.account.n_products  # new products arrived on YM too
        assert_truth_is_what_answers_say(a)
    finally:
        for box in (a, b, c):
            box.stop()


def test_options_validate() -> None:
    with pytest.raises(ValueError):
        SandboxOptions(ym_seller_stock_types="some")
    with pytest.raises(ValueError):
        SandboxOptions(ym_stocks_limit_counts="pages")
