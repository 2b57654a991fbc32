"""Tests of the sandbox emulator over real loopback HTTP.

Each test drives the sandbox the way a client would (requests, paging, headers) and checks its
answers against the published API contract (docs/api/ozon.md, docs/api/wildberries.md) and
against the account's own truth (`expected_inventory()`, `summary()`), so a wrong page boundary,
sum, header or error shape fails here. The mapping rules used to rebuild the inventory from the
answers are written out in this file from the contract, independently of the sandbox's code.
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import io
import json
import time
from collections import defaultdict
from typing import Any, Iterator

import pytest
import requests

from pipelines.sandbox import (
    OZON_API_KEY,
    OZON_CLIENT_ID,
    OZON_REVOKED_API_KEY,
    RATE_LIMITS,
    WB_API_TOKEN,
    WB_BASIC_TOKEN,
    WB_CONTENT_ONLY_TOKEN,
    Account,
    Fault,
    Sandbox,
    SandboxOptions,
    wb_token,
)
from pipelines.marketplaces.wb.token import WbTokenInfo, read_token

PSEUDO_TO, PSEUDO_FROM, PSEUDO_TOTAL = "В пути до получателей", "В пути возвраты на склад WB", "Всего находится на складах"
PSEUDO = {PSEUDO_TO, PSEUDO_FROM, PSEUDO_TOTAL}
AGGREGATE_NAMES = {"Склад WB", "Склад WB РФ", "Склад WB СГТ РФ"}
DELIVERY = {1: "FBS", 2: "DBS", 3: "DBW", 5: "C&C", 6: "EDBS"}
WB_PROBLEM_KEYS = {"title", "detail", "code", "requestId", "origin", "status", "statusText", "timestamp"}
REPORT = "/api/analytics/v1/stocks-report"
OLD = "2019-06-20T00:00:00"


# ---------------------------------------------------------------------- fixtures and clients
def make(products: int = 120, seed: int = 7, **kw: Any) -> Sandbox:
    kw.setdefault("rate_limit_scale", 0)
    return Sandbox(SandboxOptions(products=products, seed=seed, **kw)).start()


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    """A read-only sandbox shared by the tests that neither tick, switch views nor inject faults."""
    box = make(150, seed=7)
    yield box
    box.stop()


@pytest.fixture
def fresh() -> Iterator[Sandbox]:
    """A private sandbox for tests that change state (ticks, faults, switches)."""
    box = make(60, seed=11)
    yield box
    box.stop()


def ozon(box: Sandbox) -> requests.Session:
    s = requests.Session()
    s.headers.update({"Client-Id": OZON_CLIENT_ID, "Api-Key": OZON_API_KEY})
    return s


def wb(box: Sandbox, token: str = WB_API_TOKEN, bearer: bool = False) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}" if bearer else token
    return s


def post(s: requests.Session, box: Sandbox, path: str, body: Any) -> requests.Response:
    return s.post(box.url + path, json=body, timeout=10)


def ok(resp: requests.Response) -> Any:
    assert resp.status_code == 200, (resp.status_code, resp.text[:300])
    return resp.json()


def ozon_error(resp: requests.Response, status: int, code: int) -> str:
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    body = resp.json()
    assert body["code"] == code and body["details"] == [] and body["message"], body
    return body["message"]


def chunks(values: list[Any], n: int) -> Iterator[list[Any]]:
    for j in range(0, len(values), n):
        yield values[j:j + n]


# ---------------------------------------------------------------------- full fetchers (a correct client)
def v4_all(box: Sandbox, limit: int = 1000, visibility: str = "ALL") -> list[dict[str, Any]]:
    s, cursor, items, seen = ozon(box), "", [], set()
    while True:
        page = ok(post(s, box, "/v4/product/info/stocks",
                       {"filter": {"visibility": visibility}, "limit": limit, "cursor": cursor}))
        if not page["items"]:
            assert page["cursor"] == ""  # the last page: cursor "" and items []
            return items
        ids = {it["product_id"] for it in page["items"]}
        assert not ids & seen and page["cursor"] not in ("", cursor), "a page repeated items or kept the cursor"
        seen |= ids
        items += page["items"]
        cursor = page["cursor"]


def cursor_all(box: Sandbox, path: str, body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """Page a cursor + has_next method; after has_next false, one more call must end with cursor ""."""
    s, cursor, rows = ozon(box), "", []
    while True:
        page = ok(post(s, box, path, {**body, "cursor": cursor}))
        assert isinstance(page["has_next"], bool)
        rows += page[key]
        if not page["has_next"]:
            if page[key]:
                tail = ok(post(s, box, path, {**body, "cursor": page["cursor"]}))
                assert tail[key] == [] and tail["cursor"] == "" and tail["has_next"] is False
            return rows
        assert page[key] and page["cursor"] not in ("", cursor), "has_next without progress"
        cursor = page["cursor"]


def all_skus(box: Sandbox) -> list[int]:
    return sorted({st["sku"] for it in v4_all(box) for st in it["stocks"]})


def fbo_all(box: Sandbox, skus: list[int], limit: int = 1000) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for chunk in chunks(skus, 1000):
        rows += cursor_all(box, "/v1/product/info/stocks-by-warehouse/fbo",
                           {"skus": [str(x) for x in chunk], "limit": limit}, "products")
    return rows


def fbs_v2_all(box: Sandbox, skus: list[int], limit: int = 1000) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for chunk in chunks(skus, 1000):
        rows += cursor_all(box, "/v2/product/info/stocks-by-warehouse/fbs",
                           {"sku": [str(x) for x in chunk], "limit": limit}, "products")
    return rows


def seller_warehouses_oz(box: Sandbox, limit: int = 200) -> list[dict[str, Any]]:
    s, cursor, out = ozon(box), "", []
    while True:
        page = ok(post(s, box, "/v2/warehouse/list", {"limit": limit, "cursor": cursor}))
        out += page["warehouses"]
        if not page["has_next"]:
            return out
        cursor = page["cursor"]


def analytics_all(box: Sandbox, skus: list[int]) -> list[dict[str, Any]]:
    s, rows = ozon(box), []
    for chunk in chunks(skus, 100):
        rows += ok(post(s, box, "/v1/analytics/stocks", {"skus": [str(x) for x in chunk]}))["items"]
    return rows


def report_all(box: Sandbox, kind: str, limit: int = 250_000, **body: Any) -> list[dict[str, Any]]:
    """Page a WB stocks report with offset until a short page or 204."""
    s, offset, rows = wb(box), 0, []
    while True:
        resp = post(s, box, f"{REPORT}/{kind}", {**body, "limit": limit, "offset": offset})
        if resp.status_code == 204:
            assert resp.content == b""
            return rows
        page = ok(resp)["data"]["items"]
        assert 0 < len(page) <= limit
        rows += page
        if len(page) < limit:
            return rows
        offset += limit


def cards_all(box: Sandbox, limit: int = 100, ascending: bool | None = None) -> list[dict[str, Any]]:
    s, cursor, cards = wb(box), {"limit": limit}, []
    while True:
        settings: dict[str, Any] = {"cursor": cursor, "filter": {"withPhoto": -1}}
        if ascending is not None:
            settings["sort"] = {"ascending": ascending}
        page = ok(post(s, box, "/content/v2/get/cards/list", {"settings": settings}))
        assert not {c["nmID"] for c in page["cards"]} & {c["nmID"] for c in cards}, "cards repeated"
        cards += page["cards"]
        assert page["cursor"]["total"] == len(page["cards"])
        if page["cursor"]["total"] < limit:
            return cards
        cursor = {"limit": limit, "updatedAt": page["cursor"]["updatedAt"], "nmID": page["cursor"]["nmID"]}


def wb_v3_all(box: Sandbox, chrt_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    s = wb(box)
    out: dict[int, list[dict[str, Any]]] = {}
    for wh in ok(s.get(box.url + "/api/v3/warehouses", timeout=10)):
        out[wh["id"]] = []
        for chunk in chunks(chrt_ids, 1000):
            out[wh["id"]] += ok(post(s, box, f"/api/v3/stocks/{wh['id']}", {"chrtIds": chunk}))["stocks"]
    return out


def wb_key(name: str) -> str:
    return hashlib.md5(name.encode("utf-8")).hexdigest()[:16]


def inventory_from_apis(box: Sandbox) -> list[dict[str, Any]]:
    """What a correct sync builds from the PREFERRED methods with the contract's mapping rules."""
    out = []
    names = {w["warehouse_id"]: w["name"] for w in ok(post(ozon(box), box, "/v1/warehouse/ozon/list", {}))["warehouses"]}
    for r in fbo_all(box, all_skus(box)):
        out.append(_inv("ozon", str(r["sku"]), str(r["product_id"]), r["offer_id"], str(r["warehouse_id"]),
                        names[r["warehouse_id"]], "physical", "FBO", r["present"], r["reserved"]))
    for wh in seller_warehouses_oz(box):
        rows = cursor_all(box, "/v1/product/info/warehouse/stocks", {"warehouse_id": wh["warehouse_id"], "limit": 1000}, "stocks")
        for r in rows:
            out.append(_inv("ozon", str(r["sku"]), str(r["product_id"]), r["offer_id"], str(r["warehouse_id"]),
                            wh["name"], "physical", "realFBS" if wh["is_rfbs"] else "FBS", r["present"], r["reserved"]))
    sizes = {size["chrtID"]: (size["skus"][0], str(c["nmID"]), c["vendorCode"]) for c in cards_all(box) for size in c["sizes"]}
    for r in report_all(box, "wb-warehouses"):
        barcode, nm, offer = sizes[r["chrtId"]]
        assert nm == str(r["nmId"])
        inway = r["inWayToClient"] + r["inWayFromClient"]
        kind = "aggregate" if r["warehouseName"] in AGGREGATE_NAMES else "physical"
        out.append(_inv("wb", barcode, nm, offer, wb_key(r["warehouseName"]), r["warehouseName"], kind, "FBO",
                        r["quantity"] + inway, inway))
    warehouses = {w["id"]: w for w in ok(wb(box).get(box.url + "/api/v3/warehouses", timeout=10))}
    for wid, rows in wb_v3_all(box, sorted(sizes)).items():
        for r in rows:
            barcode, nm, offer = sizes[r["chrtId"]]
            out.append(_inv("wb", barcode, nm, offer, str(wid), warehouses[wid]["name"], "physical",
                            DELIVERY[warehouses[wid]["deliveryType"]], r["amount"], 0))
    return out


def _inv(mp: str, sku: str, pid: str, offer: str, wid: str, wname: str, kind: str, stype: str,
         present: int, reserved: int) -> dict[str, Any]:
    return {"marketplace": mp, "sku": sku, "marketplace_product_id": pid, "offer_id": offer, "warehouse_id": wid,
            "warehouse_name": wname, "warehouse_kind": kind, "stock_type": stype, "quantity_present": present,
            "quantity_reserved": reserved, "quantity_available": present - reserved}


def _key(row: dict[str, Any]) -> tuple[str, str, str, str]:
    return row["marketplace"], row["sku"], row["warehouse_id"], row["stock_type"]


def assert_truth_matches_apis(box: Sandbox) -> list[dict[str, Any]]:
    from_apis = inventory_from_apis(box)
    truth = box.account.expected_inventory(("ozon", "wb"))  # the two the APIs above are read from
    assert len({_key(r) for r in truth}) == len(truth), "expected_inventory has duplicate keys"
    assert len({_key(r) for r in from_apis}) == len(from_apis), "the APIs returned duplicate rows"
    assert sorted(from_apis, key=_key) == sorted(truth, key=_key)
    return truth


# ---------------------------------------------------------------------- interface and truth
def test_env_points_every_api_at_the_one_url(sb: Sandbox) -> None:
    env = sb.env()
    assert sb.url.startswith("http://127.0.0.1:")
    for name in ("OZON_API_URL", "WB_STATISTICS_API_URL", "WB_ANALYTICS_API_URL", "WB_MARKETPLACE_API_URL", "WB_CONTENT_API_URL"):
        assert env[name] == sb.url
    assert env["OZON_CLIENT_ID"] == OZON_CLIENT_ID == "100200"
    assert env["OZON_API_KEY"] == OZON_API_KEY == "sandbox-ozon-api-key-0f3c9a1e"
    assert env["WB_API_TOKEN"] == WB_API_TOKEN
    assert read_token(WB_API_TOKEN) == WbTokenInfo("Personal", frozenset({"Контент", "Аналитика", "Маркетплейс", "Статистика"}))
    assert WB_BASIC_TOKEN not in env.values() and WB_CONTENT_ONLY_TOKEN not in env.values()


def test_expected_inventory_is_exactly_what_the_preferred_apis_say(sb: Sandbox) -> None:
    truth = assert_truth_matches_apis(sb)
    types = {(r["marketplace"], r["stock_type"]) for r in truth}
    assert types == {("ozon", "FBO"), ("ozon", "FBS"), ("ozon", "realFBS"), ("wb", "FBO"), ("wb", "FBS"),
                     ("wb", "DBS"), ("wb", "C&C")}
    assert {r["warehouse_kind"] for r in truth} == {"physical"}  # aggregation is off by default
    assert all(0 <= r["quantity_reserved"] <= r["quantity_present"] for r in truth)
    assert all(r["quantity_present"] > 0 for r in truth if r["marketplace"] == "wb" and r["stock_type"] == "FBO")
    assert any(r["quantity_present"] == 0 for r in truth if r["stock_type"] in ("FBS", "DBS", "C&C"))


@pytest.mark.parametrize("options", [{"wb_aggregation": True}, {"ozon_fbo_zero_rows": True}])
def test_expected_inventory_follows_the_view_options(options: dict[str, Any]) -> None:
    box = make(40, seed=3, **options)
    try:
        truth = assert_truth_matches_apis(box)
        if options.get("wb_aggregation"):
            fbo = [r for r in truth if r["marketplace"] == "wb" and r["stock_type"] == "FBO"]
            assert fbo and all(r["warehouse_name"] == "Склад WB" and r["warehouse_kind"] == "aggregate"
                               and r["warehouse_id"] == wb_key("Склад WB") for r in fbo)
        else:
            assert any(r["quantity_present"] == 0 for r in truth if r["marketplace"] == "ozon" and r["stock_type"] == "FBO")
    finally:
        box.stop()


def test_summary_matches_truth_and_http(sb: Sandbox) -> None:
    summary = sb.account.summary()
    assert ok(requests.get(sb.url + "/sandbox/account", timeout=10)) == summary
    truth = sb.account.expected_inventory()
    for mp in ("ozon", "wb"):
        rows = [r for r in truth if r["marketplace"] == mp]
        assert summary[mp]["rows"] == len(rows)
        assert summary[mp]["present"] == sum(r["quantity_present"] for r in rows)
        assert summary[mp]["reserved"] == sum(r["quantity_reserved"] for r in rows)
        assert summary[mp]["available"] == sum(r["quantity_available"] for r in rows)
    assert summary["wb"]["products"] == len({r["marketplace_product_id"] for r in truth if r["marketplace"] == "wb"})
    page = ok(post(ozon(sb), sb, "/v4/product/info/stocks", {"filter": {"visibility": "ALL"}, "limit": 1, "cursor": ""}))
    assert page["total_items"] == summary["ozon"]["products"]
    expected = ok(requests.get(sb.url + "/sandbox/expected", params={"marketplace": "ozon"}, timeout=10))
    assert expected == sb.account.expected_inventory("ozon")


def test_wb_aggregation_switch_mid_run_keeps_totals(fresh: Sandbox) -> None:
    def per_size(rows: list[dict[str, Any]]) -> dict[int, list[int]]:
        sums: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
        for r in rows:
            for j, k in enumerate(("quantity", "inWayToClient", "inWayFromClient")):
                sums[r["chrtId"]][j] += r[k]
        return dict(sums)

    before = report_all(fresh, "wb-warehouses")
    assert len({r["warehouseName"] for r in before}) > 3 and all(r["warehouseId"] > 0 for r in before)
    summary_before = fresh.account.summary()
    assert ok(requests.post(fresh.url + "/sandbox/wb-aggregation", json={"enabled": True}, timeout=10)) == {"enabled": True}
    after = report_all(fresh, "wb-warehouses")
    assert {(r["warehouseId"], r["warehouseName"], r["regionName"]) for r in after} == {(-999999, "Склад WB", "Склад WB")}
    assert len({r["chrtId"] for r in after}) == len(after)  # one place per size
    assert per_size(after) == per_size(before)
    summary_after = fresh.account.summary()
    for k in ("present", "reserved", "available", "products"):
        assert summary_after["wb"][k] == summary_before["wb"][k]
    assert summary_after["wb"]["rows"] < summary_before["wb"]["rows"]
    assert_truth_matches_apis(fresh)
    assert post(requests.Session(), fresh, "/sandbox/wb-aggregation", {"enabled": "yes"}).status_code == 400
    fresh.set_wb_aggregation(False)
    assert ok(requests.get(fresh.url + "/sandbox/wb-aggregation", timeout=10)) == {"enabled": False}
    assert report_all(fresh, "wb-warehouses") == before


# ---------------------------------------------------------------------- Ozon: v4 totals
def test_v4_pages_to_the_end_and_omits_total(sb: Sandbox) -> None:
    items = v4_all(sb, limit=37)
    acc = sb.account
    assert len(items) == sb.account.summary()["ozon"]["products"] == acc.n_products - acc.archived.count(1)
    pids = [it["product_id"] for it in items]
    assert pids == sorted(set(pids))
    assert items == v4_all(sb, limit=1000)
    page = ok(post(ozon(sb), sb, "/v4/product/info/stocks", {"filter": {"visibility": "ALL"}, "limit": 37, "cursor": ""}))
    assert "result" not in page and "total" not in page and len(page["items"]) == 37
    assert page["total_items"] == len(items)
    for it in items:
        types = [st["type"] for st in it["stocks"]]
        assert len(types) == len(set(types)) and set(types) <= {"fbo", "fbs", "rfbs"}
        for st in it["stocks"]:
            assert 0 <= st["reserved"] <= st["present"]
            assert st["shipment_type"] == "SHIPMENT_TYPE_GENERAL"


def test_v4_total_field_option() -> None:
    box = make(20, ozon_total_field=True)
    try:
        page = ok(post(ozon(box), box, "/v4/product/info/stocks", {"filter": {}, "limit": 5}))
        assert page["total"] == page["total_items"] > 5
        result = ok(post(ozon(box), box, "/v3/product/list", {"filter": {}, "limit": 5}))["result"]
        assert result["total"] == result["total_items"] == page["total_items"]
    finally:
        box.stop()


def test_v4_fbo_totals_are_present_and_reserved_never_supply_requests(sb: Sandbox) -> None:
    items = v4_all(sb)
    fbo = {st["sku"]: (st["present"], st["reserved"]) for it in items for st in it["stocks"] if st["type"] == "fbo"}
    rows = fbo_all(sb, sorted(fbo))
    sums: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        sums[r["sku"]][0] += r["present"]
        sums[r["sku"]][1] += r["reserved"]
    assert {sku: tuple(v) for sku, v in sums.items()} == {sku: v for sku, v in fbo.items() if v != (0, 0)}
    analytics = [r for r in analytics_all(sb, sorted(fbo)) if r["warehouse_id"] != 0]
    requested = sum(r["requested_stock_count"] for r in analytics)
    transit = sum(r["transit_stock_count"] for r in analytics)
    assert requested > 0 and transit > 0, "the account must hold supply-request and transit units to tell them apart"
    available = defaultdict(int)
    for r in analytics:
        available[r["sku"]] += r["available_stock_count"]
    assert {sku: p - res for sku, (p, res) in fbo.items()} == dict(available)
    # Some Ozon warehouses hold only planned units for a product: analytics lists them, the FBO method does not.
    listed = {(r["sku"], r["warehouse_id"]) for r in rows}
    only_planned = [r for r in analytics if (r["sku"], r["warehouse_id"]) not in listed]
    assert any(r["requested_stock_count"] + r["transit_stock_count"] > 0 for r in only_planned)
    assert all(r["available_stock_count"] == 0 for r in only_planned)


def test_v4_special_products_exist(sb: Sandbox) -> None:
    items = v4_all(sb)
    assert any(it["stocks"] == [] for it in items), "no product with an empty stocks array"
    assert any(it["stocks"] and all(st["present"] == 0 for st in it["stocks"]) for it in items), "no zero-stock product"
    archived = v4_all(sb, visibility="ARCHIVED")
    assert archived and all(it["stocks"] == [] for it in archived)
    assert not {it["product_id"] for it in archived} & {it["product_id"] for it in items}
    empty = v4_all(sb, visibility="EMPTY_STOCK")
    assert empty and all(sum(st["present"] for st in it["stocks"]) == 0 for it in empty)


def test_v4_filters_and_validation(sb: Sandbox) -> None:
    s = ozon(sb)
    items = v4_all(sb)
    pick = items[3:6]
    body = {"filter": {"offer_id": [pick[0]["offer_id"]], "product_id": [pick[1]["product_id"], str(pick[2]["product_id"])],
                       "visibility": "ALL"}, "limit": 100, "cursor": ""}
    page = ok(post(s, sb, "/v4/product/info/stocks", body))
    assert page["items"] == pick and page["total_items"] == 3
    for bad in ({"filter": {}, "limit": 0}, {"filter": {}, "limit": 1001}, {"filter": {}}, {"limit": 10},
                {"limit": 10, "filter": {"offer_id": "РЮК-000001-черный"}},
                {"limit": 10, "filter": {}, "cursor": "not a cursor!"}, {"limit": 10, "filter": {"visibility": "SOMETIMES"}}):
        ozon_error(post(s, sb, "/v4/product/info/stocks", bad), 400, 3)


# ---------------------------------------------------------------------- Ozon: FBO per warehouse
def test_fbo_method_pages_validates_and_matches_the_warehouse_directory(sb: Sandbox) -> None:
    skus = all_skus(sb)
    rows = fbo_all(sb, skus, limit=7)
    assert rows == fbo_all(sb, skus, limit=1000)
    assert rows and all(set(r) == {"sku", "offer_id", "product_id", "warehouse_id", "present", "reserved"} for r in rows)
    assert len({(r["sku"], r["warehouse_id"]) for r in rows}) == len(rows)
    assert all(0 <= r["reserved"] <= r["present"] and r["present"] > 0 for r in rows)
    directory = ok(post(ozon(sb), sb, "/v1/warehouse/ozon/list", {}))["warehouses"]
    assert "cursor" not in ok(post(ozon(sb), sb, "/v1/warehouse/ozon/list", {}))
    ids = {w["warehouse_id"] for w in directory}
    assert {r["warehouse_id"] for r in rows} <= ids and len(ids) >= 5
    analytics_ids = {r["warehouse_id"] for r in analytics_all(sb, skus[:100])} - {0}
    assert analytics_ids <= ids
    for w in directory:
        assert {"warehouse_id", "name", "short_name", "address", "warehouse_type", "is_active", "is_express",
                "is_for_supply", "timezone"} <= set(w)
    by_offer = cursor_all(sb, "/v1/product/info/stocks-by-warehouse/fbo",
                          {"offer_ids": sorted({r["offer_id"] for r in rows[:20]}), "limit": 1000}, "products")
    assert sorted(by_offer, key=lambda r: (r["product_id"], r["warehouse_id"])) == \
        sorted([r for r in rows if r["offer_id"] in {x["offer_id"] for x in rows[:20]}], key=lambda r: (r["product_id"], r["warehouse_id"]))
    s = ozon(sb)
    path = "/v1/product/info/stocks-by-warehouse/fbo"
    for bad in ({"limit": 10}, {"limit": 10, "skus": []}, {"limit": 10, "offer_ids": []},
                {"skus": [str(skus[0])]}, {"skus": [str(skus[0])], "limit": 1001},
                {"skus": [str(x) for x in range(1, 1002)], "limit": 10}):
        ozon_error(post(s, sb, path, bad), 400, 3)


def test_fbo_method_zero_rows_option() -> None:
    plain, zeros = make(40, seed=5), make(40, seed=5, ozon_fbo_zero_rows=True)
    try:
        skus = all_skus(plain)
        a, b = fbo_all(plain, skus), fbo_all(zeros, skus)
        assert len(b) > len(a) and [r for r in b if r["present"] or r["reserved"]] == a
    finally:
        plain.stop()
        zeros.stop()


# ---------------------------------------------------------------------- Ozon: seller warehouses
def test_seller_warehouse_list_shape_paging_and_validation(sb: Sandbox) -> None:
    seen = seller_warehouses_oz(sb, limit=1)
    assert seen == seller_warehouses_oz(sb) and len(seen) == 3 and sum(w["is_rfbs"] for w in seen) == 1
    for w in seen:
        assert w["warehouse_id"] > 10**15 and w["name"] and isinstance(w["first_mile"], dict)
        assert w["working_days"] and all(isinstance(d, str) and d.endswith("DAY") for d in w["working_days"])
        assert {"address_info", "status", "warehouse_type", "is_express", "is_comfort", "pause_at"} <= set(w)
    s = ozon(sb)
    ozon_error(post(s, sb, "/v2/warehouse/list", {}), 400, 3)
    ozon_error(post(s, sb, "/v2/warehouse/list", {"limit": 201}), 400, 3)
    one = ok(post(s, sb, "/v2/warehouse/list", {"limit": 10, "warehouse_ids": [str(seen[2]["warehouse_id"])]}))
    assert one["warehouses"] == [seen[2]] and one["has_next"] is False


def test_warehouse_stocks_method_and_v2_fbs_agree_with_v4(sb: Sandbox) -> None:
    warehouses = seller_warehouses_oz(sb)
    per_wh: list[dict[str, Any]] = []
    for wh in warehouses:
        rows = cursor_all(sb, "/v1/product/info/warehouse/stocks", {"warehouse_id": wh["warehouse_id"], "limit": 9}, "stocks")
        assert rows == cursor_all(sb, "/v1/product/info/warehouse/stocks", {"warehouse_id": wh["warehouse_id"], "limit": 1000}, "stocks")
        assert all(r["warehouse_id"] == wh["warehouse_id"] and r["free_stock"] == r["present"] - r["reserved"]
                   and isinstance(r["updated_at"], str) for r in rows)
        per_wh += rows
    items = v4_all(sb)
    v2 = fbs_v2_all(sb, all_skus(sb), limit=13)
    key = lambda r: (r["sku"], r["warehouse_id"])  # noqa: E731
    assert sorted(((r["sku"], r["warehouse_id"], r["present"], r["reserved"]) for r in v2)) == \
        sorted(((r["sku"], r["warehouse_id"], r["present"], r["reserved"]) for r in per_wh))
    assert len({key(r) for r in v2}) == len(v2)
    rfbs = {w["warehouse_id"]: w["is_rfbs"] for w in warehouses}
    sums: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in v2:
        kind = "rfbs" if rfbs[r["warehouse_id"]] else "fbs"
        sums[(r["product_id"], kind)][0] += r["present"]
        sums[(r["product_id"], kind)][1] += r["reserved"]
    totals = {(it["product_id"], st["type"]): [st["present"], st["reserved"]]
              for it in items for st in it["stocks"] if st["type"] in ("fbs", "rfbs")}
    assert dict(sums) == totals


def test_seller_stock_methods_validation() -> None:
    box = make(20)
    lax = make(20, ozon_unknown_warehouse_error=False)
    try:
        s = ozon(box)
        path = "/v1/product/info/warehouse/stocks"
        ozon_error(post(s, box, path, {"limit": 10}), 400, 3)
        ozon_error(post(s, box, path, {"warehouse_id": 1020000031415000}), 400, 3)
        ozon_error(post(s, box, path, {"warehouse_id": 15431806189000, "limit": 10}), 400, 3)  # an FBO warehouse
        assert ok(post(ozon(lax), lax, path, {"warehouse_id": 15431806189000, "limit": 10})) == \
            {"cursor": "", "has_next": False, "stocks": []}
        v2 = "/v2/product/info/stocks-by-warehouse/fbs"
        for bad in ({"limit": 10}, {"limit": 10, "sku": []}, {"limit": 10, "offer_id": []}, {"sku": ["1"]},
                    {"limit": 10, "sku": [str(x) for x in range(1, 1002)]}):
            ozon_error(post(s, box, v2, bad), 400, 3)
    finally:
        box.stop()
        lax.stop()


# ---------------------------------------------------------------------- Ozon: analytics and legacy
def test_analytics_rows_and_double_counting_cluster_aggregates(sb: Sandbox) -> None:
    skus = all_skus(sb)
    rows = analytics_all(sb, skus)
    real = [r for r in rows if r["warehouse_id"] != 0]
    aggregates = [r for r in rows if r["warehouse_id"] == 0]
    assert real and aggregates and all(r["warehouse_name"] == "" for r in aggregates)
    fields = {"sku", "offer_id", "name", "warehouse_id", "warehouse_name", "cluster_id", "cluster_name",
              "available_stock_count", "transit_stock_count", "requested_stock_count", "valid_stock_count",
              "return_from_customer_stock_count", "stock_defect_stock_count", "excess_stock_count",
              "expiring_stock_count", "ads", "idc", "days_without_sales", "turnover_grade"}
    assert all(fields <= set(r) for r in rows)
    by_cluster: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in real:
        for j, k in enumerate(("available_stock_count", "requested_stock_count", "transit_stock_count")):
            by_cluster[(r["sku"], r["cluster_id"])][j] += r[k]
    assert {(r["sku"], r["cluster_id"]): [r["available_stock_count"], r["requested_stock_count"], r["transit_stock_count"]]
            for r in aggregates} == dict(by_cluster)
    assert any(len({r["warehouse_id"] for r in real if (r["sku"], r["cluster_id"]) == k}) > 1 for k in by_cluster), \
        "no cluster with two warehouses: the aggregate rows would never sum more than one row"
    s = ozon(sb)
    for bad in ([], [str(x) for x in range(1, 102)], ["abc"]):
        message = ozon_error(post(s, sb, "/v1/analytics/stocks", {"skus": bad}), 400, 3)
        if bad == []:
            assert "between 1 and 100 items" in message


def test_stock_on_warehouses_legacy_semantics(sb: Sandbox) -> None:
    s, offset, rows = ozon(sb), 0, []
    while offset < 100_000:
        page = ok(post(s, sb, "/v2/analytics/stock_on_warehouses", {"limit": 23, "offset": offset, "warehouse_type": "ALL"}))["result"]["rows"]
        rows += page
        if len(page) < 23:
            break
        offset += 23
    analytics = [r for r in analytics_all(sb, all_skus(sb)) if r["warehouse_id"] != 0]
    assert sorted((r["sku"], r["warehouse_name"], r["free_to_sell_amount"], r["promised_amount"]) for r in rows) == \
        sorted((r["sku"], r["warehouse_name"], r["available_stock_count"], r["requested_stock_count"]) for r in analytics)
    fbo = {(r["sku"], r["warehouse_id"]): r for r in fbo_all(sb, all_skus(sb))}
    names = {w["name"]: w["warehouse_id"] for w in ok(post(s, sb, "/v1/warehouse/ozon/list", {}))["warehouses"]}
    for r in rows:
        f = fbo.get((r["sku"], names[r["warehouse_name"]]))
        assert r["reserved_amount"] == (f["reserved"] if f else 0)


def test_product_list_and_info(sb: Sandbox) -> None:
    s, last_id, items = ozon(sb), "", []
    while True:
        result = ok(post(s, sb, "/v3/product/list", {"filter": {"visibility": "ALL"}, "last_id": last_id, "limit": 40}))["result"]
        if not result["items"]:
            assert result["last_id"] == ""
            break
        assert result["total_items"] == sb.account.summary()["ozon"]["products"] and "total" not in result
        assert not {it["product_id"] for it in result["items"]} & {it["product_id"] for it in items}
        items += result["items"]
        last_id = result["last_id"]
    assert len(items) == sb.account.summary()["ozon"]["products"] and not any(it["archived"] for it in items)
    v4 = {it["product_id"]: it for it in v4_all(sb)}
    assert all(st["sku"] == it["sku"] for it in items for st in v4[it["product_id"]]["stocks"])
    archived = ok(post(s, sb, "/v3/product/list", {"filter": {"visibility": "ARCHIVED"}, "limit": 1000}))["result"]["items"]
    assert archived and all(it["archived"] for it in archived)
    ids = [it["product_id"] for it in items[:50]] + [archived[0]["product_id"]]
    info = ok(post(s, sb, "/v3/product/info/list", {"product_id": ids}))["items"]
    assert sorted(i["id"] for i in info) == sorted(ids)
    for i in info:
        assert i["barcodes"] and isinstance(i["sku"], int)
    assert ok(post(s, sb, "/v3/product/info/list", {"product_id": [1]}))["items"] == []
    ozon_error(post(s, sb, "/v3/product/info/list", {"product_id": list(range(1, 1002))}), 400, 3)


def test_ozon_report_flow_and_file(sb: Sandbox) -> None:
    s = ozon(sb)
    fbs_ids = ["1020000031415000", "1020000089903000"]
    code = ok(post(s, sb, "/v1/report/warehouse/stock", {"warehouseId": fbs_ids, "language": "DEFAULT"}))["result"]["code"]
    statuses = [ok(post(s, sb, "/v1/report/info", {"code": code}))["result"] for _ in range(3)]
    assert [r["status"] for r in statuses] == ["waiting", "processing", "success"]
    resp = requests.get(statuses[2]["file"], timeout=10)
    assert resp.status_code == 200 and resp.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig")), delimiter=";"))
    truth = {(r["warehouse_id"], r["offer_id"]): r for r in sb.account.expected_inventory("ozon")
             if r["warehouse_id"] in fbs_ids}
    assert len(table) == len(truth)
    for row in table:
        t = truth[(row["Идентификатор склада"], row["Артикул"])]
        assert int(row["Доступно на моем складе, шт"]) == t["quantity_available"]
        assert int(row["Зарезервировано на моем складе, шт"]) == t["quantity_reserved"]
    assert post(s, sb, "/v1/report/info", {"code": "nope"}).status_code == 404


def test_retired_and_unknown_paths(sb: Sandbox) -> None:
    s = ozon(sb)
    for path in ("/v1/product/info/stocks-by-warehouse/fbs", "/v1/warehouse/list", "/v2/product/info/stocks",
                 "/v3/product/info/stocks", "/v1/analytics/manage/stocks"):
        assert ozon_error(post(s, sb, path, {"limit": 10}), 404, 5) == "Obsolete method cannot be used"
    assert ozon_error(post(s, sb, "/v9/whatever", {}), 404, 5) != "Obsolete method cannot be used"
    resp = wb(sb).get(sb.url + "/api/v9/nothing", timeout=10)
    assert resp.status_code == 404 and resp.json()["title"] == "path not found" and resp.json()["status"] == 404
    assert s.get(sb.url + "/v4/product/info/stocks", timeout=10).status_code == 405


def test_ozon_auth_failures(sb: Sandbox) -> None:
    url, body = sb.url + "/v4/product/info/stocks", {"filter": {}, "limit": 1}
    cases = [({}, 401, 16), ({"Client-Id": OZON_CLIENT_ID}, 401, 16), ({"Client-Id": "abc", "Api-Key": OZON_API_KEY}, 400, 3),
             ({"Client-Id": OZON_CLIENT_ID, "Api-Key": "wrong"}, 404, 5), ({"Client-Id": "999", "Api-Key": OZON_API_KEY}, 404, 5),
             ({"Client-Id": OZON_CLIENT_ID, "Api-Key": OZON_REVOKED_API_KEY}, 403, 7)]
    for headers, status, code in cases:
        message = ozon_error(requests.post(url, json=body, headers=headers, timeout=10), status, code)
        if status == 404:
            assert message == "Invalid Api-Key, please check the key and try again"
        if status == 401:
            assert message == "Client-Id and Api-Key headers are required"
    # A bad key on a live method and a retired method share HTTP 404 + code 5: only the message differs.
    retired = requests.post(sb.url + "/v1/warehouse/list", json={}, headers={"Client-Id": OZON_CLIENT_ID, "Api-Key": OZON_API_KEY}, timeout=10)
    assert ozon_error(retired, 404, 5) == "Obsolete method cannot be used"


# ---------------------------------------------------------------------- WB auth and removed methods
def test_wb_auth_failures_bearer_and_basic_token(sb: Sandbox) -> None:
    url = sb.url + f"{REPORT}/wb-warehouses"
    forged = WB_API_TOKEN[: WB_API_TOKEN.rindex(".")] + ".c2lnbmF0dXJl"  # the claims of a real one, not signed by it
    for headers in ({}, {"Authorization": "nope"}, {"Authorization": forged}):
        resp = requests.post(url, json={}, headers=headers, timeout=10)
        assert resp.status_code == 401 and resp.headers["Content-Type"].startswith("application/problem+json")
        body = resp.json()
        assert set(body) == WB_PROBLEM_KEYS and body["status"] == 401 and body["statusText"] == "Unauthorized"
        assert "X-Ratelimit-Remaining" in resp.headers
    # A token without the host's category: 403 with the analytics host's body (wildberries.md §3).
    scope = requests.post(url, json={}, headers={"Authorization": f"Bearer {WB_CONTENT_ONLY_TOKEN}"}, timeout=10)
    assert scope.status_code == 403 and scope.json()["detail"] == "scope is not allowed for this resource"
    assert set(scope.json()) == {"title", "detail", "requestId", "origin"}
    assert post(wb(sb, bearer=True), sb, f"{REPORT}/wb-warehouses", {"limit": 1}).status_code == 200
    basic = wb(sb, WB_BASIC_TOKEN)
    for kind in ("wb-warehouses", "seller-warehouses"):
        resp = post(basic, sb, f"{REPORT}/{kind}", {"limit": 1})
        assert resp.status_code == 403 and resp.headers["Content-Type"].startswith("application/problem+json")
        assert set(resp.json()) == WB_PROBLEM_KEYS and resp.json()["detail"] == "base token is not allowed"
        assert resp.json()["code"] == "base token is not allowed for this path"
    # Tokens of any type and categories are issued on demand and honoured by their claims.
    no_analytics = wb(sb, wb_token("Personal", {"Контент", "Маркетплейс"}))
    assert post(no_analytics, sb, f"{REPORT}/wb-warehouses", {"limit": 1}).status_code == 403
    assert ok(no_analytics.get(sb.url + "/api/v3/warehouses", timeout=10)) is not None
    assert ok(basic.get(sb.url + "/api/v3/warehouses", timeout=10))
    assert ok(post(basic, sb, "/content/v2/get/cards/list", {"settings": {"cursor": {"limit": 1}}}))["cards"]
    assert ok(basic.get(sb.url + "/api/v1/warehouse_remains", timeout=10))["data"]["taskId"]
    cards = requests.post(sb.url + "/content/v2/get/cards/list", json={"settings": {"cursor": {"limit": 1}}},
                          headers={"Authorization": WB_CONTENT_ONLY_TOKEN}, timeout=10)
    assert cards.status_code == 200
    older = make(10, wb_basic_token_status=401)
    try:
        assert post(wb(older, WB_BASIC_TOKEN), older, f"{REPORT}/wb-warehouses", {}).status_code == 401
    finally:
        older.stop()


def test_wb_supplier_stocks_removed_unless_legacy(sb: Sandbox) -> None:
    resp = wb(sb).get(sb.url + "/api/v1/supplier/stocks", params={"dateFrom": OLD}, timeout=10)
    assert resp.status_code == 404 and resp.json()["title"] == "path not found" and resp.json()["status"] == 404
    legacy = make(30, wb_legacy_supplier_stocks=True, wb_row_cap=40)
    try:
        s = wb(legacy)
        rows = ok(s.get(legacy.url + "/api/v1/supplier/stocks", params={"dateFrom": OLD}, timeout=10))
        assert len(rows) == 40 and all(r["quantityFull"] == r["quantity"] + r["inWayToClient"] + r["inWayFromClient"] for r in rows)
        stamps = [r["lastChangeDate"] for r in rows]
        assert stamps == sorted(stamps)
        missing = s.get(legacy.url + "/api/v1/supplier/stocks", timeout=10)
        assert missing.status_code == 400 and isinstance(missing.json()["errors"], list)
    finally:
        legacy.stop()


# ---------------------------------------------------------------------- WB stocks reports
def test_wb_warehouses_report_paging_order_and_204(sb: Sandbox) -> None:
    rows = report_all(sb, "wb-warehouses")
    assert rows == report_all(sb, "wb-warehouses", limit=17)
    keys = [(r["nmId"], r["chrtId"], r["warehouseId"]) for r in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(r["quantity"] + r["inWayToClient"] + r["inWayFromClient"] > 0 for r in rows)
    assert all(min(r["quantity"], r["inWayToClient"], r["inWayFromClient"]) >= 0 for r in rows)
    assert len({r["warehouseName"] for r in rows}) >= 6 and all(r["regionName"] for r in rows)
    s = wb(sb)
    end = post(s, sb, f"{REPORT}/wb-warehouses", {"offset": len(rows)})
    assert end.status_code == 204 and end.content == b"" and "X-Ratelimit-Remaining" in end.headers
    nm = sorted({r["nmId"] for r in rows})[:3]
    subset = ok(post(s, sb, f"{REPORT}/wb-warehouses", {"nmIds": nm}))["data"]["items"]
    assert subset == [r for r in rows if r["nmId"] in nm]
    chrt = subset[0]["chrtId"]
    only = ok(post(s, sb, f"{REPORT}/wb-warehouses", {"nmIds": nm, "chrtIds": [chrt]}))["data"]["items"]
    assert only == [r for r in subset if r["chrtId"] == chrt]
    assert post(s, sb, f"{REPORT}/wb-warehouses", {"nmIds": [1]}).status_code == 204
    for bad in ({"limit": 250_001}, {"nmIds": list(range(1, 1002))}, {"nmIds": "1"}, {"offset": -1}):
        resp = post(s, sb, f"{REPORT}/wb-warehouses", bad)
        assert resp.status_code == 400 and {"title", "detail", "requestId", "origin"} <= set(resp.json()), bad


def test_seller_warehouses_report_matches_v3_stocks(sb: Sandbox) -> None:
    rows = report_all(sb, "seller-warehouses", limit=50)
    assert rows == report_all(sb, "seller-warehouses")
    assert all(set(r) == {"nmId", "chrtId", "warehouseId", "warehouseName", "regionName", "quantity"} and r["quantity"] > 0
               for r in rows)
    chrts = sorted({size["chrtID"] for c in cards_all(sb) for size in c["sizes"]})
    v3 = {(wid, r["chrtId"]): r["amount"] for wid, stocks in wb_v3_all(sb, chrts).items() for r in stocks}
    assert {(r["warehouseId"], r["chrtId"]): r["quantity"] for r in rows} == {k: v for k, v in v3.items() if v > 0}
    assert len({r["warehouseId"] for r in rows}) == 3


# ---------------------------------------------------------------------- WB remains report
def _remains(box: Sandbox, **flags: str) -> requests.Response:
    s = wb(box)
    base = box.url + "/api/v1/warehouse_remains"
    task = ok(s.get(base, params={"locale": "ru", **flags}, timeout=10))["data"]["taskId"]
    early = s.get(f"{base}/tasks/{task}/download", timeout=10)
    assert early.status_code == 400
    statuses = [ok(s.get(f"{base}/tasks/{task}/status", timeout=10))["data"]["status"] for _ in range(3)]
    assert statuses == ["new", "processing", "done"]
    return s.get(f"{base}/tasks/{task}/download", timeout=10)


ALL_GROUPS = {"groupBySa": "true", "groupByNm": "true", "groupByBarcode": "true", "groupBySize": "true",
              "groupByBrand": "true", "groupBySubject": "true"}


def test_wb_remains_report_entries_and_pseudo_totals(fresh: Sandbox) -> None:
    rows = report_all(fresh, "wb-warehouses")
    sizes = {size["skus"][0]: size["chrtID"] for c in cards_all(fresh) for size in c["sizes"]}
    by_chrt: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_chrt[r["chrtId"]].append(r)
    for aggregated in (False, True):
        fresh.set_wb_aggregation(aggregated)
        report = ok(_remains(fresh, **ALL_GROUPS))
        assert len(report) == len(by_chrt)
        for entry in report:
            assert {"brand", "subjectName", "vendorCode", "nmId", "barcode", "techSize", "volume"} <= set(entry)
            places = {w["warehouseName"]: w["quantity"] for w in entry["warehouses"]}
            assert len(places) == len(entry["warehouses"]) and all(q > 0 for q in places.values())
            real = {k: v for k, v in places.items() if k not in PSEUDO}
            mine = by_chrt[sizes[entry["barcode"]]]
            expect: dict[str, int] = defaultdict(int)
            for r in mine:
                if r["quantity"]:
                    name = r["warehouseName"]
                    if aggregated and name not in ("Коледино", "Минск"):
                        name = "Склад WB РФ"
                    expect[name] += r["quantity"]
            assert real == dict(expect)
            assert places.get(PSEUDO_TOTAL, 0) == sum(real.values())  # real warehouses only, in-way excluded
            assert places.get(PSEUDO_TO, 0) == sum(r["inWayToClient"] for r in mine)
            assert places.get(PSEUDO_FROM, 0) == sum(r["inWayFromClient"] for r in mine)
    s = wb(fresh)
    resp = s.get(fresh.url + "/api/v1/warehouse_remains/tasks/no-such-task/status", timeout=10)
    assert resp.status_code == 404 and resp.json() == {**resp.json(), "title": "Not Found", "detail": "not found", "origin": "api-statistics"}
    assert s.get(fresh.url + "/api/v1/warehouse_remains", params={"groupByNm": "maybe"}, timeout=10).status_code == 400


def test_wb_remains_grouping_flags_and_204(fresh: Sandbox) -> None:
    per_size = ok(_remains(fresh, groupByNm="true", groupByBarcode="true", groupBySize="true"))
    per_nm = ok(_remains(fresh, groupByNm="true"))
    assert all("barcode" not in e and "techSize" not in e and "nmId" in e and "volume" in e for e in per_nm)
    assert all("brand" not in e and "vendorCode" not in e for e in per_size)
    assert len(per_nm) == len({e["nmId"] for e in per_size}) < len(per_size)
    def totals(entries: list[dict[str, Any]]) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for e in entries:
            for w in e["warehouses"]:
                out[w["warehouseName"]] += w["quantity"]
        return dict(out)
    assert totals(per_nm) == totals(per_size)
    by_brand = ok(_remains(fresh, groupByBrand="true"))
    assert {e["brand"] for e in by_brand} and all(set(e) == {"brand", "warehouses"} for e in by_brand)
    assert totals(by_brand) == totals(per_size)
    fresh.add_fault(Fault(kind="empty_account", path="/api/v1/warehouse_remains/tasks/{taskId}/download"))
    empty = _remains(fresh, groupByNm="true")
    assert empty.status_code == 204 and empty.content == b""


# ---------------------------------------------------------------------- WB seller warehouses
def test_wb_seller_warehouses_and_v3_stocks(sb: Sandbox) -> None:
    s = wb(sb)
    warehouses = ok(s.get(sb.url + "/api/v3/warehouses", timeout=10))
    assert {w["deliveryType"] for w in warehouses} == {1, 2, 5}
    assert all(set(w) == {"id", "name", "officeId", "cargoType", "deliveryType", "isDeleting", "isProcessing"} for w in warehouses)
    chrts = sorted({size["chrtID"] for c in cards_all(sb) for size in c["sizes"]})
    got = wb_v3_all(sb, chrts)
    truth = [r for r in sb.account.expected_inventory("wb") if r["stock_type"] != "FBO"]
    assert sum(len(v) for v in got.values()) == len(truth)
    assert all(len(v) < len(chrts) for v in got.values())  # sizes without a stock record are left out
    wid = warehouses[0]["id"]
    some = got[wid][:5]
    asked = [r["chrtId"] for r in some] + [1, 2]
    assert ok(post(s, sb, f"/api/v3/stocks/{wid}", {"chrtIds": asked}))["stocks"] == some
    resp = post(s, sb, f"/api/v3/stocks/{wid}", {"skus": ["2000000000000"]})
    assert resp.status_code == 400 and resp.json() == {
        "code": "SKUUploadDisabled", "message": "Uploading stock is not allowed by 'sku'. Please use the 'chrtId' key"}
    for bad in ({"chrtIds": []}, {}, {"chrtIds": list(range(1, 1002))}, {"chrtIds": ["311000000"]}):
        resp = post(s, sb, f"/api/v3/stocks/{wid}", bad)
        assert resp.status_code == 400 and set(resp.json()) == {"code", "message", "data"} and isinstance(resp.json()["code"], str)
    resp = post(s, sb, "/api/v3/stocks/42", {"chrtIds": asked})
    assert resp.status_code == 404 and resp.json()["code"] == "NotFound"


def test_wb_marketplace_4xx_costs_ten_tokens() -> None:
    box = make(10, rate_limit_scale=1.0)
    try:
        s = wb(box)
        first = post(s, box, "/api/v3/stocks/1010101", {"chrtIds": []})
        assert first.status_code == 400 and int(first.headers["X-Ratelimit-Remaining"]) == 10  # burst 20 - 10
        assert post(s, box, "/api/v3/stocks/1010101", {"chrtIds": []}).status_code == 400
        limited = s.get(box.url + "/api/v3/warehouses", timeout=10)
        assert limited.status_code == 429 and "X-Ratelimit-Remaining" not in limited.headers
        assert float(limited.headers["X-Ratelimit-Retry"]) > 0 and limited.headers["X-Ratelimit-Limit"] == "20"
        assert set(limited.json()) == WB_PROBLEM_KEYS
        # Content is another bucket: untouched.
        assert post(s, box, "/content/v2/get/cards/list", {"settings": {"cursor": {"limit": 1}}}).status_code == 200
    finally:
        box.stop()


def test_wb_cards_cursor_paging_and_barcodes(sb: Sandbox) -> None:
    cards = cards_all(sb, limit=17)
    acc = sb.account
    assert len(cards) == len({c["nmID"] for c in cards}) == acc.n_products
    keys = [(c["updatedAt"], c["nmID"]) for c in cards]
    assert keys == sorted(keys, reverse=True)
    up = cards_all(sb, limit=23, ascending=True)
    assert [(c["updatedAt"], c["nmID"]) for c in up] == sorted(keys)
    assert cards_all(sb, limit=100, ascending=False) == cards
    sizes = [size for c in cards for size in c["sizes"]]
    assert all(size["skus"] and isinstance(size["chrtID"], int) for size in sizes)
    assert any(len(size["skus"]) > 1 for size in sizes), "no size with two barcodes: skus[0] would be untested"
    assert len({size["chrtID"] for size in sizes}) == len(sizes)
    resp = post(wb(sb), sb, "/content/v2/get/cards/list", {"settings": {"cursor": {"limit": 101}}})
    assert resp.status_code == 400 and resp.json()["error"] is True and resp.json()["errorText"]
    nullable = ok(post(wb(sb), sb, "/content/v2/get/cards/list",
                       {"settings": {"sort": {"ascending": True}, "cursor": {"limit": 5, "updatedAt": None}}}))
    assert nullable["cards"] == up[:5]


# ---------------------------------------------------------------------- determinism and time
def test_same_seed_same_bytes_other_seed_differs() -> None:
    def fetch(box: Sandbox) -> list[bytes]:
        o, w = ozon(box), wb(box)
        skus = [str(box.account.oz_sku[i]) for i in range(40)]
        return [
            post(o, box, "/v4/product/info/stocks", {"filter": {}, "limit": 50, "cursor": ""}).content,
            post(o, box, "/v1/analytics/stocks", {"skus": skus}).content,
            post(o, box, "/v1/product/info/stocks-by-warehouse/fbo", {"skus": skus, "limit": 1000}).content,
            post(w, box, f"{REPORT}/wb-warehouses", {}).content,
            post(w, box, "/content/v2/get/cards/list", {"settings": {"cursor": {"limit": 50}}}).content,
        ]

    a, b, c = make(80, seed=5), make(80, seed=5), make(80, seed=6)
    try:
        first, second, other = fetch(a), fetch(b), fetch(c)
        assert first == second
        assert all(x != y for x, y in zip(first, other))
        a.tick(2)
        b.tick(2)
        assert fetch(a) == fetch(b) and fetch(a) != first
        assert a.account.expected_inventory() == b.account.expected_inventory()
    finally:
        for box in (a, b, c):
            box.stop()


def test_tick_moves_stock_and_truth_follows(fresh: Sandbox) -> None:
    before_summary = fresh.account.summary()
    before_v4 = {it["product_id"]: it for it in v4_all(fresh)}
    before_truth = {_key(r): r for r in fresh.account.expected_inventory()}
    summary = ok(requests.post(fresh.url + "/sandbox/tick", json={"steps": 1}, timeout=10))
    assert summary["ticks"] == 1 and summary["clock"] > before_summary["clock"]
    assert summary["ozon"]["products"] > before_summary["ozon"]["products"]  # new products arrived
    after_v4 = {it["product_id"]: it for it in v4_all(fresh)}
    assert any(after_v4[p]["stocks"] != before_v4[p]["stocks"] for p in before_v4)
    after_truth = {_key(r): r for r in fresh.account.expected_inventory()}
    assert any(r["quantity_present"] > 0 and (k not in after_truth or after_truth[k]["quantity_present"] == 0)
               for k, r in before_truth.items())
    assert_truth_matches_apis(fresh)


def test_scale_warehouse_drops_one_warehouse(fresh: Sandbox) -> None:
    def koledino() -> int:
        return sum(r["quantity"] for r in report_all(fresh, "wb-warehouses") if r["warehouseName"] == "Коледино")
    before = koledino()
    assert before > 20 and fresh.account.scale_warehouse("wb", "Коледино", 0.4) > 0
    assert koledino() <= before * 0.4
    name = ok(post(ozon(fresh), fresh, "/v1/warehouse/ozon/list", {}))["warehouses"][0]
    def present() -> int:
        return sum(r["present"] for r in fbo_all(fresh, all_skus(fresh)) if r["warehouse_id"] == name["warehouse_id"])
    p = present()
    fresh.account.scale_warehouse("ozon", name["name"], 0.0)
    assert p > 0 and present() == 0


def test_account_generation_is_deterministic_and_validates() -> None:
    a, b = Account(300, seed=3), Account(300, seed=3)
    assert a.expected_inventory() == b.expected_inventory() and a.summary() == b.summary()
    assert Account(300, seed=4).expected_inventory() != a.expected_inventory()
    with pytest.raises(ValueError):
        Account(10, tick_changes=2.0)
    with pytest.raises(ValueError):
        SandboxOptions(wb_basic_token_status=500)


# ---------------------------------------------------------------------- rate limits and headers
def test_wb_stocks_report_rate_limit_429_headers_and_recovery() -> None:
    box = make(30, rate_limit_scale=0.01)
    try:
        s, path = wb(box), f"{REPORT}/wb-warehouses"
        first = post(s, box, path, {})
        assert first.status_code == 200 and first.headers["X-Ratelimit-Remaining"] == "0"
        second = post(s, box, path, {})
        assert second.status_code == 429 and "X-Ratelimit-Remaining" not in second.headers
        assert second.headers["Content-Type"].startswith("application/problem+json")
        retry = float(second.headers["X-Ratelimit-Retry"])
        assert 0 < retry <= 0.2 and second.headers["X-Ratelimit-Limit"] == "1"
        assert float(second.headers["X-Ratelimit-Reset"]) > 0
        body = second.json()
        assert set(body) == WB_PROBLEM_KEYS and body["status"] == 429 and body["statusText"] == "Too Many Requests"
        time.sleep(retry + 0.05)
        assert post(s, box, path, {}).status_code == 200
        # Buckets are per method group: the seller report and the marketplace are untouched.
        assert post(s, box, f"{REPORT}/seller-warehouses", {}).status_code == 200
        assert s.get(box.url + "/api/v3/warehouses", timeout=10).status_code == 200
    finally:
        box.stop()


def test_ozon_rate_limits_headers_and_scale_zero() -> None:
    box = make(30, rate_limit_scale=1.0)
    try:
        s = ozon(box)
        sku = str(box.account.oz_sku[0])
        statuses = [post(s, box, "/v1/analytics/stocks", {"skus": [sku]}) for _ in range(3)]
        assert [r.status_code for r in statuses] == [200, 200, 429]
        assert all("Ratelimit-Remaining" in r.headers for r in statuses[:2])
        limited = statuses[2]
        assert 0 < float(limited.headers["Retry-After"]) <= 1
        assert limited.json()["code"] == 8 and limited.json()["details"] == []
        assert limited.json()["message"].startswith("You have reached request rate limit per second")
        assert "max rate per sec.: 2" in limited.json()["message"]
        page = post(s, box, "/v4/product/info/stocks", {"filter": {}, "limit": 5})
        assert page.status_code == 200 and int(page.headers["Ratelimit-Remaining"]) < 50
    finally:
        box.stop()
    off = make(30, rate_limit_scale=0)
    try:
        s = wb(off)
        assert all(post(s, off, f"{REPORT}/wb-warehouses", {}).status_code == 200 for _ in range(5))
    finally:
        off.stop()
    assert RATE_LIMITS["wb-stocks-report-wb"].interval == 20 and RATE_LIMITS["wb-stocks-report-wb"].burst == 1
    assert RATE_LIMITS["ozon"].requests == 50 and RATE_LIMITS["ozon-analytics-stocks"].requests == 2
    assert RATE_LIMITS["wb-marketplace"].burst == 20 and RATE_LIMITS["wb-content"].burst == 5


# ---------------------------------------------------------------------- faults
def test_fault_rate_limit_burst(fresh: Sandbox) -> None:
    fresh.add_fault(Fault(kind="rate_limit", path="/v1/product/info/stocks-by-warehouse/fbo", count=2, retry_after=1.0))
    fresh.add_fault(Fault(kind="rate_limit", path=f"{REPORT}/wb-warehouses", count=1, retry_after=0.5))
    s = ozon(fresh)
    body = {"skus": [str(fresh.account.oz_sku[0])], "limit": 10}
    answers = [post(s, fresh, "/v1/product/info/stocks-by-warehouse/fbo", body) for _ in range(3)]
    assert [r.status_code for r in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "1" and answers[0].json()["code"] == 8
    assert fresh.request_log.hits(path="/v1/product/info/stocks-by-warehouse/fbo", status=429) == 2
    resp = post(wb(fresh), fresh, f"{REPORT}/wb-warehouses", {})
    assert resp.status_code == 429
    assert resp.headers["X-Ratelimit-Retry"] == "0.5" and resp.headers["Retry-After"] == "0.5"
    assert post(wb(fresh), fresh, f"{REPORT}/wb-warehouses", {}).status_code == 200


def test_fault_server_error_slow_drop(fresh: Sandbox) -> None:
    s = ozon(fresh)
    path = "/v1/product/info/warehouse/stocks"
    body = {"warehouse_id": 1020000031415000, "limit": 5}
    fresh.add_fault(Fault(kind="server_error", path=path, count=None))
    for _ in range(2):
        assert ozon_error(post(s, fresh, path, body), 500, 13)
    fresh.clear_faults()
    assert post(s, fresh, path, body).status_code == 200
    fresh.add_fault(Fault(kind="server_error", path="/api/analytics/*", status=503))
    resp = post(wb(fresh), fresh, f"{REPORT}/seller-warehouses", {})
    assert resp.status_code == 503 and "503" in resp.text and "X-Ratelimit-Remaining" in resp.headers

    fresh.add_fault(Fault(kind="slow", path="/v1/warehouse/ozon/list", delay=0.3))
    started = time.perf_counter()
    assert post(s, fresh, "/v1/warehouse/ozon/list", {}).status_code == 200
    assert time.perf_counter() - started >= 0.3

    fresh.add_fault(Fault(kind="drop", path="/v1/warehouse/ozon/list"))
    with pytest.raises(requests.ConnectionError):
        post(s, fresh, "/v1/warehouse/ozon/list", {})
    assert post(s, fresh, "/v1/warehouse/ozon/list", {}).status_code == 200
    assert ("POST", "/v1/warehouse/ozon/list", 0) in fresh.request_log


def test_fault_truncate_sends_half_a_body(fresh: Sandbox) -> None:
    fresh.add_fault(Fault(kind="truncate", path=f"{REPORT}/wb-warehouses"))
    s = wb(fresh)
    resp = post(s, fresh, f"{REPORT}/wb-warehouses", {"limit": 20})
    assert resp.status_code == 200 and int(resp.headers["Content-Length"]) == len(resp.content)
    with pytest.raises(ValueError):
        json.loads(resp.content)
    full = post(s, fresh, f"{REPORT}/wb-warehouses", {"limit": 20}).content
    assert full.startswith(resp.content) and len(resp.content) == len(full) // 2


def test_fault_extra_and_missing_fields(fresh: Sandbox) -> None:
    fresh.add_fault(Fault(kind="extra_field", path=f"{REPORT}/wb-warehouses", field="new_field_2026", value=7))
    rows = ok(post(wb(fresh), fresh, f"{REPORT}/wb-warehouses", {}))["data"]["items"]
    assert rows and all(r["new_field_2026"] == 7 for r in rows)
    fresh.add_fault(Fault(kind="missing_field", path="/v4/product/info/stocks", field="present"))
    items = ok(post(ozon(fresh), fresh, "/v4/product/info/stocks", {"filter": {}, "limit": 50}))["items"]
    stocks = [st for it in items for st in it["stocks"]]
    assert stocks and all("present" not in st and "reserved" in st for st in stocks)
    fresh.add_fault(Fault(kind="missing_field", path="/v1/product/info/warehouse/stocks", field="reserved", count=None))
    rows = ok(post(ozon(fresh), fresh, "/v1/product/info/warehouse/stocks", {"warehouse_id": 1020000031415000, "limit": 50}))["stocks"]
    assert rows and all("reserved" not in r and "present" in r for r in rows)
    with pytest.raises(ValueError):
        Fault(kind="missing_field")


@pytest.mark.parametrize("path, body, items, field", [
    ("/v1/product/info/stocks-by-warehouse/fbo", "fbo", lambda o: o["products"], "present"),
    ("/v1/product/info/warehouse/stocks", {"warehouse_id": 1020000031415000, "limit": 100}, lambda o: o["stocks"], "present"),
    ("/v2/product/info/stocks-by-warehouse/fbs", "fbs", lambda o: o["products"], "present"),
    ("/v1/analytics/stocks", "analytics", lambda o: o["items"], "available_stock_count"),
    (f"{REPORT}/wb-warehouses", {}, lambda o: o["data"]["items"], "quantity"),
    (f"{REPORT}/seller-warehouses", {}, lambda o: o["data"]["items"], "quantity"),
    ("/api/v3/stocks/{warehouseId}", "v3", lambda o: o["stocks"], "amount"),
])
def test_fault_negative_stock_and_empty_account_on_every_stock_route(fresh: Sandbox, path: str, body: Any,
                                                                     items: Any, field: str) -> None:
    skus = [str(fresh.account.oz_sku[i]) for i in range(40)]
    bodies = {"fbo": {"skus": skus, "limit": 1000}, "fbs": {"sku": skus, "limit": 1000}, "analytics": {"skus": skus},
              "v3": {"chrtIds": [fresh.account.chrt_id(b) for b in range(len(fresh.account.bc_prod))]}}
    body = bodies.get(body, body) if isinstance(body, str) else body
    url_path = path.replace("{warehouseId}", "1010101")
    session = wb(fresh) if url_path.startswith("/api/") else ozon(fresh)
    clean = items(ok(post(session, fresh, url_path, body)))
    assert clean and all(r[field] >= 0 for r in clean)
    fresh.add_fault(Fault(kind="negative_stock", path=path))
    negative = items(ok(post(session, fresh, url_path, body)))
    assert sum(r[field] < 0 for r in negative) == 1 and len(negative) == len(clean)
    fresh.add_fault(Fault(kind="empty_account", path=path))
    resp = post(session, fresh, url_path, body)
    if "stocks-report" in path:
        assert resp.status_code == 204 and resp.content == b""
    else:
        answer = ok(resp)
        assert items(answer) == [] and answer.get("has_next", False) is False
    assert items(ok(post(session, fresh, url_path, body))) == clean


def test_fault_retired_after_n_and_http_control(fresh: Sandbox) -> None:
    url = fresh.url + "/sandbox/faults"
    assert requests.post(url, json=[{"kind": "retired", "path": "/v1/product/info/stocks-by-warehouse/fbo", "count": 1, "after": 1},
                                    {"kind": "server_error", "path": "/api/v3/stocks/{warehouseId}", "status": 502}],
                         timeout=10).status_code == 200
    assert len(ok(requests.get(url, timeout=10))["faults"]) == 2
    s = ozon(fresh)
    body = {"skus": [str(fresh.account.oz_sku[0])], "limit": 10}
    assert post(s, fresh, "/v1/product/info/stocks-by-warehouse/fbo", body).status_code == 200  # `after` lets one through
    assert ozon_error(post(s, fresh, "/v1/product/info/stocks-by-warehouse/fbo", body), 404, 5) == "Obsolete method cannot be used"
    assert post(s, fresh, "/v1/product/info/stocks-by-warehouse/fbo", body).status_code == 200
    assert post(wb(fresh), fresh, "/api/v3/stocks/1010101", {"chrtIds": [1]}).status_code == 502
    assert len(ok(requests.get(url, timeout=10))["faults"]) == 0  # both used up
    fresh.add_fault(Fault(kind="retired", path=f"{REPORT}/wb-warehouses"))
    resp = post(wb(fresh), fresh, f"{REPORT}/wb-warehouses", {})
    assert resp.status_code == 404 and resp.json()["title"] == "path not found"
    assert requests.post(url, json={"kind": "meteor"}, timeout=10).status_code == 400
    requests.post(url, json={"kind": "server_error", "count": None}, timeout=10)
    assert post(s, fresh, "/v2/warehouse/list", {"limit": 1}).status_code == 500
    assert requests.delete(url, timeout=10).status_code == 200
    assert post(s, fresh, "/v2/warehouse/list", {"limit": 1}).status_code == 200


def test_fault_waits_for_a_request_it_can_act_on(fresh: Sandbox) -> None:
    skus = all_skus(fresh)
    fresh.add_fault(Fault(kind="negative_stock", count=1))  # any path, but only stock answers have stock
    s = ozon(fresh)
    assert ok(post(s, fresh, "/v2/warehouse/list", {"limit": 10}))["warehouses"]
    assert ok(post(s, fresh, "/v1/warehouse/ozon/list", {}))["warehouses"]
    assert len(fresh.faults.active()) == 1  # not used up by the warehouse lists
    rows = fbo_all(fresh, skus)
    assert sum(r["present"] < 0 for r in rows) == 1 and fresh.faults.active() == []
    with pytest.raises(ValueError):
        Fault.from_dict({"kind": "slow", "sleep": 3})


def test_faults_from_options() -> None:
    box = make(20, faults=[Fault(kind="server_error", path="/v3/product/list", count=1, status=502)])
    try:
        s = ozon(box)
        assert post(s, box, "/v3/product/list", {"filter": {}, "limit": 5}).status_code == 502
        assert post(s, box, "/v3/product/list", {"filter": {}, "limit": 5}).status_code == 200
    finally:
        box.stop()


# ---------------------------------------------------------------------- HTTP behaviour
def test_keep_alive_content_length_and_204(sb: Sandbox) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", sb.port, timeout=10)
    headers = {"Client-Id": OZON_CLIENT_ID, "Api-Key": OZON_API_KEY, "Content-Type": "application/json"}
    try:
        for _ in range(2):
            conn.request("POST", "/v4/product/info/stocks", body=json.dumps({"filter": {}, "limit": 10}), headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            assert resp.status == 200 and resp.version == 11
            assert int(resp.getheader("Content-Length")) == len(data)
            assert resp.getheader("Connection") != "close"
        sock = conn.sock
        conn.request("POST", f"{REPORT}/wb-warehouses", body=json.dumps({"offset": 10**9}),
                     headers={"Authorization": WB_API_TOKEN, "Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 204 and resp.read() == b"" and resp.getheader("Content-Length") is None
        conn.request("GET", "/sandbox/health")
        assert conn.getresponse().read() and conn.sock is sock  # the same connection served all four
    finally:
        conn.close()
