"""Tests of the sandbox emulator over real loopback HTTP.

Each test drives the sandbox the way the pipeline will (requests, paging, headers) and checks
its answers against the API contract (shared/api/*.md) and against the account's own truth
(`expected_inventory()`, `summary()`), so a wrong page boundary, sum or header fails here.
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import io
import json
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Iterator

import pytest
import requests

from pipelines.sandbox import (
    OZON_API_KEY,
    OZON_CLIENT_ID,
    OZON_REVOKED_API_KEY,
    RATE_LIMITS,
    WB_API_TOKEN,
    WB_CONTENT_ONLY_TOKEN,
    Account,
    Fault,
    Sandbox,
    SandboxOptions,
)

PSEUDO = {"В пути до получателей", "В пути возвраты на склад WB", "Всего находится на складах"}
WB_ERROR_KEYS = {"title", "detail", "code", "requestId", "origin", "status", "statusText", "timestamp"}
OLD = "2019-06-20T00:00:00"


# ---------------------------------------------------------------------- fixtures and clients
def make(products: int = 120, seed: int = 7, **kw: Any) -> Sandbox:
    kw.setdefault("rate_limit_scale", 0)
    return Sandbox(SandboxOptions(products=products, seed=seed, **kw)).start()


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    """A read-only sandbox shared by the tests that neither tick nor inject faults."""
    box = make(150, seed=7, wb_row_cap=120)
    yield box
    box.stop()


@pytest.fixture
def fresh() -> Iterator[Sandbox]:
    """A private sandbox for tests that change state (ticks, faults)."""
    box = make(60, seed=11, wb_row_cap=500)
    yield box
    box.stop()


def ozon(box: Sandbox) -> requests.Session:
    s = requests.Session()
    s.headers.update({"Client-Id": OZON_CLIENT_ID, "Api-Key": OZON_API_KEY})
    return s


def wb(box: Sandbox, bearer: bool = False) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {WB_API_TOKEN}" if bearer else WB_API_TOKEN
    return s


def post(s: requests.Session, box: Sandbox, path: str, body: Any) -> requests.Response:
    return s.post(box.url + path, json=body, timeout=10)


def ok(resp: requests.Response) -> Any:
    assert resp.status_code == 200, (resp.status_code, resp.text[:300])
    return resp.json()


# ---------------------------------------------------------------------- full fetchers
def v4_all(box: Sandbox, limit: int = 1000, visibility: str = "ALL") -> list[dict[str, Any]]:
    s, cursor, items, seen = ozon(box), "", [], set()
    while True:
        page = ok(post(s, box, "/v4/product/info/stocks",
                       {"filter": {"visibility": visibility}, "limit": limit, "cursor": cursor}))
        if not page["items"]:
            assert page["cursor"] == cursor  # the last page keeps the cursor
            return items
        ids = {it["product_id"] for it in page["items"]}
        assert not ids & seen and page["cursor"] != cursor, "a page repeated items or kept the cursor"
        seen |= ids
        items += page["items"]
        cursor = page["cursor"]


def fbs_all(box: Sandbox, limit: int = 1000) -> list[dict[str, Any]]:
    s, cursor, rows = ozon(box), "", []
    while True:
        page = ok(post(s, box, "/v2/product/info/stocks-by-warehouse/fbs", {"limit": limit, "cursor": cursor}))
        rows += page["products"]
        if not page["has_next"]:
            return rows
        assert page["products"] and page["cursor"] != cursor, "has_next without progress"
        cursor = page["cursor"]


def analytics_all(box: Sandbox, skus: list[int]) -> list[dict[str, Any]]:
    s, rows = ozon(box), []
    for j in range(0, len(skus), 100):
        rows += ok(post(s, box, "/v1/analytics/stocks", {"skus": [str(x) for x in skus[j:j + 100]]}))["items"]
    return rows


def wb_stocks_all(box: Sandbox, date_from: str = OLD) -> tuple[dict[tuple[str, str], dict[str, Any]], int]:
    """Page supplier/stocks by dateFrom = last lastChangeDate; returns (rows by key, requests made)."""
    s, cap, seen, calls = wb(box), box.options.wb_row_cap, {}, 0
    while True:
        rows = ok(s.get(box.url + "/api/v1/supplier/stocks", params={"dateFrom": date_from}, timeout=10))
        calls += 1
        before = len(seen)
        for r in rows:
            seen[(r["barcode"], r["warehouseName"])] = r
        if len(rows) < cap:
            return seen, calls
        assert len(seen) > before, "a full page brought no new rows: paging cannot progress"
        date_from = rows[-1]["lastChangeDate"]


def wb_fbs_all(box: Sandbox) -> dict[int, list[dict[str, Any]]]:
    s = wb(box)
    barcodes = [box.account.barcode(b) for b in range(len(box.account.bc_prod))]
    out: dict[int, list[dict[str, Any]]] = {}
    for wh in ok(s.get(box.url + "/api/v3/warehouses", timeout=10)):
        out[wh["id"]] = []
        for j in range(0, len(barcodes), 1000):
            out[wh["id"]] += ok(post(s, box, f"/api/v3/stocks/{wh['id']}", {"skus": barcodes[j:j + 1000]}))["stocks"]
    return out


def inventory_from_apis(box: Sandbox) -> list[dict[str, Any]]:
    """What a correct sync builds from the API answers with the documented mapping rules."""
    out = []
    items = v4_all(box)
    by_sku = {st["sku"]: it for it in items for st in it["stocks"]}
    for r in analytics_all(box, sorted(by_sku)):
        out.append(_inv("ozon", str(r["sku"]), str(by_sku[r["sku"]]["product_id"]), r["offer_id"],
                        str(r["warehouse_id"]), r["warehouse_name"], "FBO",
                        r["available_stock_count"] + r["requested_stock_count"], r["requested_stock_count"]))
    rfbs = {w["warehouse_id"]: w["is_rfbs"]
            for w in ok(post(ozon(box), box, "/v2/warehouse/list", {"limit": 100}))["warehouses"]}
    for r in fbs_all(box):
        out.append(_inv("ozon", str(r["sku"]), str(r["product_id"]), r["offer_id"], str(r["warehouse_id"]),
                        r["warehouse_name"], "realFBS" if rfbs[r["warehouse_id"]] else "FBS", r["present"], r["reserved"]))
    stocks, _ = wb_stocks_all(box)
    for r in stocks.values():
        key = hashlib.md5(r["warehouseName"].encode()).hexdigest()[:16]
        out.append(_inv("wb", r["barcode"], str(r["nmId"]), r["supplierArticle"], key, r["warehouseName"], "FBO",
                        r["quantityFull"], r["inWayToClient"] + r["inWayFromClient"]))
    nm_of = {r["barcode"]: (str(r["nmId"]), r["supplierArticle"]) for r in stocks.values()}
    cards = cards_all(box)
    for c in cards:
        for size in c["sizes"]:
            nm_of[size["skus"][0]] = (str(c["nmID"]), c["vendorCode"])
    names = {w["id"]: w["name"] for w in ok(wb(box).get(box.url + "/api/v3/warehouses", timeout=10))}
    for wid, rows in wb_fbs_all(box).items():
        for r in rows:
            nm, offer = nm_of[r["sku"]]
            out.append(_inv("wb", r["sku"], nm, offer, str(wid), names[wid], "FBS", r["amount"], 0))
    return out


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


def _inv(mp: str, sku: str, pid: str, offer: str, wid: str, wname: str, stype: str, present: int, reserved: int) -> dict[str, Any]:
    return {"marketplace": mp, "sku": sku, "marketplace_product_id": pid, "offer_id": offer, "warehouse_id": wid,
            "warehouse_name": wname, "stock_type": stype, "quantity_present": present,
            "quantity_reserved": reserved, "quantity_available": present - reserved}


def _key(row: dict[str, Any]) -> tuple[str, str, str, str]:
    return row["marketplace"], row["sku"], row["warehouse_id"], row["stock_type"]


# ---------------------------------------------------------------------- interface and truth
def test_env_points_every_api_at_the_one_url(sb: Sandbox) -> None:
    env = sb.env()
    assert sb.url.startswith("http://127.0.0.1:")
    for name in ("OZON_API_URL", "WB_STATISTICS_API_URL", "WB_ANALYTICS_API_URL", "WB_MARKETPLACE_API_URL", "WB_CONTENT_API_URL"):
        assert env[name] == sb.url
    assert env["OZON_CLIENT_ID"] == OZON_CLIENT_ID == "100200"
    assert env["OZON_API_KEY"] == OZON_API_KEY == "sandbox-ozon-api-key-0f3c9a1e"
    assert env["WB_API_TOKEN"] == WB_API_TOKEN == "sandbox-wb-token-7d2b41c8"


def test_expected_inventory_is_exactly_what_the_apis_say(sb: Sandbox) -> None:
    from_apis = inventory_from_apis(sb)
    truth = sb.account.expected_inventory()
    assert len({_key(r) for r in truth}) == len(truth), "expected_inventory has duplicate keys"
    assert len({_key(r) for r in from_apis}) == len(from_apis), "the APIs returned duplicate rows"
    assert sorted(from_apis, key=_key) == sorted(truth, key=_key)
    types = {(r["marketplace"], r["stock_type"]) for r in truth}
    assert types == {("ozon", "FBO"), ("ozon", "FBS"), ("ozon", "realFBS"), ("wb", "FBO"), ("wb", "FBS")}
    assert any(r["quantity_present"] == 0 for r in truth if r["marketplace"] == "wb")
    assert all(0 <= r["quantity_reserved"] <= r["quantity_present"] for r in truth)


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


# ---------------------------------------------------------------------- Ozon
def test_v4_pages_to_the_end_with_an_opaque_cursor(sb: Sandbox) -> None:
    items = v4_all(sb, limit=37)
    acc = sb.account
    assert len(items) == sb.account.summary()["ozon"]["products"] == acc.n_products - acc.archived.count(1)
    pids = [it["product_id"] for it in items]
    assert pids == sorted(set(pids))
    assert items == v4_all(sb, limit=1000)
    page = ok(post(ozon(sb), sb, "/v4/product/info/stocks", {"filter": {"visibility": "ALL"}, "limit": 37, "cursor": ""}))
    assert "result" not in page and len(page["items"]) == 37
    assert isinstance(page["cursor"], str) and page["cursor"]
    for it in items:
        types = [st["type"] for st in it["stocks"]]
        assert len(types) == len(set(types)) and set(types) <= {"fbo", "fbs", "rfbs"}
        for st in it["stocks"]:
            assert 0 <= st["reserved"] <= st["present"]
            assert st["shipment_type"] == "SHIPMENT_TYPE_GENERAL" and isinstance(st["warehouse_ids"], list)


def test_v4_special_products_exist(sb: Sandbox) -> None:
    items = v4_all(sb)
    assert any(it["stocks"] == [] for it in items), "no product with an empty stocks array"
    assert any(it["stocks"] and all(st["present"] == 0 for st in it["stocks"]) for it in items), "no zero-stock product"
    assert any(any(ch >= "А" for ch in it["offer_id"]) for it in items)
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
    for bad in ({"limit": 0}, {"limit": 1001}, {}, {"limit": 10, "filter": {"offer_id": "РЮК-000001-черный"}},
                {"limit": 10, "cursor": "not a cursor!"}, {"limit": 10, "filter": {"visibility": "SOMETIMES"}}):
        resp = post(s, sb, "/v4/product/info/stocks", bad)
        assert resp.status_code == 400, bad
        assert resp.json()["code"] == 3 and resp.json()["details"] == [] and resp.json()["message"]


def test_fbs_per_warehouse_pages_and_adds_up_to_v4(sb: Sandbox) -> None:
    rows = fbs_all(sb, limit=13)
    assert rows == fbs_all(sb, limit=1000)
    assert len({(r["sku"], r["warehouse_id"]) for r in rows}) == len(rows)
    warehouses = ok(post(ozon(sb), sb, "/v2/warehouse/list", {"limit": 100}))["warehouses"]
    rfbs = {w["warehouse_id"]: w["is_rfbs"] for w in warehouses}
    sums: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        assert r["free_stock"] == r["present"] - r["reserved"] and 0 <= r["reserved"] <= r["present"]
        kind = "rfbs" if rfbs[r["warehouse_id"]] else "fbs"
        sums[(r["product_id"], kind)][0] += r["present"]
        sums[(r["product_id"], kind)][1] += r["reserved"]
    totals = {(it["product_id"], st["type"]): [st["present"], st["reserved"]]
              for it in v4_all(sb) for st in it["stocks"] if st["type"] in ("fbs", "rfbs")}
    assert dict(sums) == totals


def test_warehouse_list_cursor_and_is_rfbs(sb: Sandbox) -> None:
    s, cursor, seen = ozon(sb), "", []
    while True:
        page = ok(post(s, sb, "/v2/warehouse/list", {"limit": 1, "cursor": cursor}))
        seen += page["warehouses"]
        if not page["has_next"]:
            break
        cursor = page["cursor"]
    assert len(seen) == 3 and sum(w["is_rfbs"] for w in seen) == 1
    assert all(w["warehouse_id"] > 10**15 and w["name"] for w in seen)


def test_analytics_fbo_adds_up_to_v4(sb: Sandbox) -> None:
    items = v4_all(sb)
    skus = sorted({st["sku"] for it in items for st in it["stocks"]})
    rows = analytics_all(sb, skus)
    fields = {"sku", "offer_id", "name", "warehouse_id", "warehouse_name", "cluster_id", "cluster_name",
              "available_stock_count", "transit_stock_count", "requested_stock_count", "valid_stock_count",
              "return_from_customer_stock_count", "stock_defect_stock_count", "excess_stock_count",
              "expiring_stock_count", "ads", "idc", "days_without_sales", "turnover_grade"}
    assert rows and all(fields <= set(r) for r in rows)
    sums: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        sums[r["sku"]][0] += r["available_stock_count"] + r["requested_stock_count"]
        sums[r["sku"]][1] += r["requested_stock_count"]
    fbo = {st["sku"]: [st["present"], st["reserved"]] for it in items for st in it["stocks"] if st["type"] == "fbo"}
    assert dict(sums) == fbo
    assert len({r["warehouse_id"] for r in rows}) >= 4
    s = ozon(sb)
    for bad in ([], [str(x) for x in range(1, 102)], ["abc"]):
        resp = post(s, sb, "/v1/analytics/stocks", {"skus": bad})
        assert resp.status_code == 400 and resp.json()["code"] == 3


def test_stock_on_warehouses_offset_paging(sb: Sandbox) -> None:
    s, offset, rows = ozon(sb), 0, []
    while offset < 100_000:
        page = ok(post(s, sb, "/v2/analytics/stock_on_warehouses", {"limit": 23, "offset": offset, "warehouse_type": "ALL"}))["result"]["rows"]
        rows += page
        if len(page) < 23:
            break
        offset += 23
    truth = [r for r in sb.account.expected_inventory("ozon") if r["stock_type"] == "FBO"]
    assert len(rows) == len(truth)
    assert sorted((str(r["sku"]), r["warehouse_name"], r["free_to_sell_amount"] + r["reserved_amount"], r["reserved_amount"]) for r in rows) == \
        sorted((t["sku"], t["warehouse_name"], t["quantity_present"], t["quantity_reserved"]) for t in truth)


def test_product_list_and_info(sb: Sandbox) -> None:
    s, last_id, items = ozon(sb), "", []
    while True:
        result = ok(post(s, sb, "/v3/product/list", {"filter": {"visibility": "ALL"}, "last_id": last_id, "limit": 40}))["result"]
        if not result["items"]:
            break
        assert result["total"] == sb.account.summary()["ozon"]["products"]
        assert not {it["product_id"] for it in result["items"]} & {it["product_id"] for it in items}
        items += result["items"]
        last_id = result["last_id"]
    assert len(items) == sb.account.summary()["ozon"]["products"] and not any(it["archived"] for it in items)
    archived = ok(post(s, sb, "/v3/product/list", {"filter": {"visibility": "ARCHIVED"}, "limit": 1000}))["result"]["items"]
    assert archived and all(it["archived"] for it in archived)
    ids = [it["product_id"] for it in items[:50]] + [archived[0]["product_id"]]
    info = ok(post(s, sb, "/v3/product/info/list", {"product_id": ids}))["items"]
    assert sorted(i["id"] for i in info) == sorted(ids)
    v4 = {it["product_id"]: it for it in v4_all(sb)}
    for i in info:
        assert i["barcodes"] and isinstance(i["sku"], int)
        if i["id"] in v4:
            assert all(st["sku"] == i["sku"] for st in v4[i["id"]]["stocks"])
    assert post(s, sb, "/v3/product/info/list", {"product_id": list(range(1, 1002))}).status_code == 400


def test_ozon_report_flow_and_file(sb: Sandbox) -> None:
    s = ozon(sb)
    fbs_ids = ["1020000031415000", "1020000089903000"]
    code = ok(post(s, sb, "/v1/report/warehouse/stock", {"warehouseId": fbs_ids, "language": "DEFAULT"}))["result"]["code"]
    statuses = [ok(post(s, sb, "/v1/report/info", {"code": code}))["result"] for _ in range(3)]
    assert [r["status"] for r in statuses] == ["waiting", "processing", "success"]
    assert statuses[0]["file"] == "" and statuses[2]["file"].startswith(sb.url)
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
    assert post(s, sb, "/v1/report/warehouse/stock", {"warehouseId": ["1"]}).status_code == 400


def test_retired_and_unknown_paths(sb: Sandbox) -> None:
    s = ozon(sb)
    for path in ("/v1/product/info/stocks-by-warehouse/fbs", "/v1/warehouse/list", "/v2/product/info/stocks", "/v3/product/info/stocks"):
        resp = post(s, sb, path, {"limit": 10})
        assert resp.status_code == 404 and resp.json()["code"] == 5 and resp.json()["details"] == []
    assert post(s, sb, "/v9/whatever", {}).status_code == 404
    resp = wb(sb).get(sb.url + "/api/v9/nothing", timeout=10)
    assert resp.status_code == 404 and set(resp.json()) == WB_ERROR_KEYS
    assert s.get(sb.url + "/v4/product/info/stocks", timeout=10).status_code == 405


def test_ozon_auth_failures(sb: Sandbox) -> None:
    url, body = sb.url + "/v4/product/info/stocks", {"limit": 1}
    cases = [({}, 401, 16), ({"Client-Id": OZON_CLIENT_ID}, 401, 16), ({"Client-Id": "abc", "Api-Key": OZON_API_KEY}, 400, 3),
             ({"Client-Id": OZON_CLIENT_ID, "Api-Key": "wrong"}, 401, 16), ({"Client-Id": "999", "Api-Key": OZON_API_KEY}, 401, 16),
             ({"Client-Id": OZON_CLIENT_ID, "Api-Key": OZON_REVOKED_API_KEY}, 403, 7)]
    for headers, status, code in cases:
        resp = requests.post(url, json=body, headers=headers, timeout=10)
        assert resp.status_code == status, headers
        assert resp.json()["code"] == code and resp.json()["details"] == [] and resp.json()["message"]
    assert "required" in requests.post(url, json=body, timeout=10).json()["message"]


def test_wb_auth_failures_and_bearer(sb: Sandbox) -> None:
    url = sb.url + "/api/v1/supplier/stocks"
    for headers in ({}, {"Authorization": "nope"}, {"Authorization": f"Bearer {WB_CONTENT_ONLY_TOKEN}"}):
        resp = requests.get(url, params={"dateFrom": OLD}, headers=headers, timeout=10)
        assert resp.status_code == 401
        body = resp.json()
        assert set(body) == WB_ERROR_KEYS and body["status"] == 401 and body["statusText"] == "Unauthorized"
    assert wb(sb, bearer=True).get(url, params={"dateFrom": OLD}, timeout=10).status_code == 200
    cards = requests.post(sb.url + "/content/v2/get/cards/list", json={"settings": {"cursor": {"limit": 1}}},
                          headers={"Authorization": WB_CONTENT_ONLY_TOKEN}, timeout=10)
    assert cards.status_code == 200


# ---------------------------------------------------------------------- WB
def test_wb_supplier_stocks_cap_paging_reaches_every_row(sb: Sandbox) -> None:
    cap = sb.options.wb_row_cap
    first = ok(wb(sb).get(sb.url + "/api/v1/supplier/stocks", params={"dateFrom": OLD}, timeout=10))
    assert isinstance(first, list) and len(first) == cap
    rows, calls = wb_stocks_all(sb)
    truth = [r for r in sb.account.expected_inventory("wb") if r["stock_type"] == "FBO"]
    assert len(rows) == len(truth) > cap and calls > 2
    stamps = [r["lastChangeDate"] for r in first]
    assert stamps == sorted(stamps)
    fields = {"lastChangeDate", "warehouseName", "supplierArticle", "nmId", "barcode", "quantity", "inWayToClient",
              "inWayFromClient", "quantityFull", "category", "subject", "brand", "techSize", "Price", "Discount",
              "isSupply", "isRealization", "SCCode"}
    for r in rows.values():
        assert set(r) == fields
        assert r["quantityFull"] == r["quantity"] + r["inWayToClient"] + r["inWayFromClient"]
        assert min(r["quantity"], r["inWayToClient"], r["inWayFromClient"]) >= 0
        assert len(r["barcode"]) == 13 and r["barcode"].isdigit()
        datetime.strptime(r["lastChangeDate"], "%Y-%m-%dT%H:%M:%S")
    assert any(r["quantityFull"] == 0 for r in rows.values()), "no all-zero row"
    assert len({r["warehouseName"] for r in rows.values()}) == 6


def test_wb_date_from_rules(sb: Sandbox) -> None:
    s, url = wb(sb), sb.url + "/api/v1/supplier/stocks"
    missing = s.get(url, timeout=10)
    assert missing.status_code == 400 and missing.json()["errors"]
    assert s.get(url, params={"dateFrom": "yesterday"}, timeout=10).status_code == 400
    rows, _ = wb_stocks_all(sb)
    stamps = sorted(r["lastChangeDate"] for r in rows.values())
    pivot = stamps[len(stamps) // 2]
    naive = ok(s.get(url, params={"dateFrom": pivot}, timeout=10))
    assert naive and all(r["lastChangeDate"] >= pivot for r in naive)
    assert naive[0]["lastChangeDate"] == pivot  # >= : a row stamped exactly dateFrom is included
    as_utc = (datetime.fromisoformat(pivot) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    zoned = ok(s.get(url, params={"dateFrom": as_utc}, timeout=10))
    assert zoned == naive
    plus3 = ok(s.get(url, params={"dateFrom": pivot + "+03:00"}, timeout=10))
    assert plus3 == naive
    future = ok(s.get(url, params={"dateFrom": "2030-01-01T00:00:00"}, timeout=10))
    assert future == []


def test_wb_remains_report_flow(sb: Sandbox) -> None:
    s = wb(sb)
    base = sb.url + "/api/v1/warehouse_remains"
    task = ok(s.get(base, params={"locale": "ru", "groupBySa": "true", "groupByNm": "true",
                                   "groupByBarcode": "true", "groupBySize": "true"}, timeout=10))["data"]["taskId"]
    early = s.get(f"{base}/tasks/{task}/download", timeout=10)
    assert early.status_code == 400 and set(early.json()) == WB_ERROR_KEYS
    statuses = [ok(s.get(f"{base}/tasks/{task}/status", timeout=10))["data"]["status"] for _ in range(3)]
    assert statuses == ["new", "processing", "done"]
    report = ok(s.get(f"{base}/tasks/{task}/download", timeout=10))
    stocks, _ = wb_stocks_all(sb)
    assert len(report) == len({r["barcode"] for r in stocks.values()})
    by_barcode: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in stocks.values():
        by_barcode[r["barcode"]].append(r)
    for entry in report:
        places = {w["warehouseName"]: w["quantity"] for w in entry["warehouses"]}
        assert PSEUDO <= set(places)
        rows = by_barcode[entry["barcode"]]
        assert {k: v for k, v in places.items() if k not in PSEUDO} == {r["warehouseName"]: r["quantity"] for r in rows}
        assert places["В пути до получателей"] == sum(r["inWayToClient"] for r in rows)
        assert places["В пути возвраты на склад WB"] == sum(r["inWayFromClient"] for r in rows)
        assert places["Всего находится на складах"] == sum(r["quantityFull"] for r in rows)
    assert s.get(f"{base}/tasks/no-such-task/status", timeout=10).status_code == 404


def test_wb_fbs_stocks(sb: Sandbox) -> None:
    s = wb(sb)
    warehouses = ok(s.get(sb.url + "/api/v3/warehouses", timeout=10))
    assert len(warehouses) == 2 and all({"id", "name", "officeId", "cargoType", "deliveryType"} <= set(w) for w in warehouses)
    got = wb_fbs_all(sb)
    truth = [r for r in sb.account.expected_inventory("wb") if r["stock_type"] == "FBS"]
    assert sum(len(v) for v in got.values()) == len(truth)
    wid = warehouses[0]["id"]
    some = got[wid][:5]
    asked = [r["sku"] for r in some] + ["2000000000000", "4600000000000"]
    answer = ok(post(s, sb, f"/api/v3/stocks/{wid}", {"skus": asked}))["stocks"]
    assert answer == some  # unknown barcodes are simply left out
    chrt = [sb.account.chrt_id(sb.account.bc_by_barcode(r["sku"])) for r in some]
    by_chrt = ok(post(s, sb, f"/api/v3/stocks/{wid}", {"chrtIds": chrt}))["stocks"]
    assert [r["amount"] for r in by_chrt] == [r["amount"] for r in some] and by_chrt[0]["chrtId"] == chrt[0]
    assert post(s, sb, f"/api/v3/stocks/{wid}", {"skus": ["1"] * 1001}).status_code == 400
    assert post(s, sb, f"/api/v3/stocks/{wid}", {"skus": []}).status_code == 400
    assert post(s, sb, "/api/v3/stocks/42", {"skus": asked}).status_code == 404


def test_wb_cards_cursor_paging(sb: Sandbox) -> None:
    cards = cards_all(sb, limit=17)
    acc = sb.account
    assert len(cards) == len({c["nmID"] for c in cards}) == acc.n_products
    assert sorted(c["nmID"] for c in cards_all(sb, limit=100, ascending=True)) == sorted(c["nmID"] for c in cards)
    keys = [(c["updatedAt"], c["nmID"]) for c in cards]
    assert keys == sorted(keys, reverse=True)
    barcodes = {sku for c in cards for size in c["sizes"] for sku in size["skus"]}
    assert barcodes == {acc.barcode(b) for b in range(len(acc.bc_prod))}
    assert all(1 <= len(c["sizes"]) <= 3 and c["vendorCode"] == acc.offer_id(acc.index_by_nm(c["nmID"])) for c in cards)
    resp = post(wb(sb), sb, "/content/v2/get/cards/list", {"settings": {"cursor": {"limit": 101}}})
    assert resp.status_code == 400 and set(resp.json()) == WB_ERROR_KEYS


# ---------------------------------------------------------------------- determinism and time
def test_same_seed_same_bytes_other_seed_differs() -> None:
    def fetch(box: Sandbox) -> list[bytes]:
        o, w = ozon(box), wb(box)
        return [
            post(o, box, "/v4/product/info/stocks", {"limit": 50, "cursor": ""}).content,
            post(o, box, "/v1/analytics/stocks", {"skus": [str(box.account.oz_sku[i]) for i in range(40)]}).content,
            post(o, box, "/v2/product/info/stocks-by-warehouse/fbs", {"limit": 50}).content,
            w.get(box.url + "/api/v1/supplier/stocks", params={"dateFrom": OLD}, timeout=10).content,
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


def test_tick_moves_stock_and_incremental_date_from_finds_only_changes(fresh: Sandbox) -> None:
    before_rows, _ = wb_stocks_all(fresh)
    before_summary = fresh.account.summary()
    before_v4 = {it["product_id"]: it for it in v4_all(fresh)}
    before_truth_rows = fresh.account.expected_inventory("ozon")
    clock_before = datetime.fromisoformat(before_summary["clock"].replace("Z", "+00:00"))
    since = (clock_before + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S")
    assert ok(wb(fresh).get(fresh.url + "/api/v1/supplier/stocks", params={"dateFrom": since}, timeout=10)) == []

    summary = ok(requests.post(fresh.url + "/sandbox/tick", json={"steps": 1}, timeout=10))
    assert summary["ticks"] == 1 and summary["clock"] > before_summary["clock"]
    assert summary["ozon"]["products"] > before_summary["ozon"]["products"]  # new products arrived
    after_rows, _ = wb_stocks_all(fresh)
    changed = {k for k, r in after_rows.items()
               if k not in before_rows or {x: y for x, y in r.items() if x != "lastChangeDate"}
               != {x: y for x, y in before_rows[k].items() if x != "lastChangeDate"}}
    assert changed
    incremental = ok(wb(fresh).get(fresh.url + "/api/v1/supplier/stocks", params={"dateFrom": since}, timeout=10))
    got = {(r["barcode"], r["warehouseName"]) for r in incremental}
    assert got == changed  # exactly the changed and new rows, nothing else
    assert all(r["lastChangeDate"] > since for r in incremental)
    assert all(after_rows[k] == before_rows[k] for k in set(before_rows) - changed)
    after_v4 = {it["product_id"]: it for it in v4_all(fresh)}
    assert set(before_v4) < set(after_v4)
    assert any(after_v4[p]["stocks"] != before_v4[p]["stocks"] for p in before_v4)
    assert any(r["quantity_present"] > 0 and after_rows[k]["quantityFull"] == 0 for k, r in
               ((k, {"quantity_present": before_rows[k]["quantityFull"]}) for k in changed if k in before_rows))
    before_truth = {_key(r): r for r in before_truth_rows}
    after_truth = {_key(r): r for r in fresh.account.expected_inventory("ozon")}
    assert any(r["quantity_present"] > 0 and after_truth[k]["quantity_present"] == 0 for k, r in before_truth.items())
    assert sorted(inventory_from_apis(fresh), key=_key) == sorted(fresh.account.expected_inventory(), key=_key)


def test_account_generation_is_deterministic_and_validates() -> None:
    a, b = Account(300, seed=3), Account(300, seed=3)
    assert a.expected_inventory() == b.expected_inventory() and a.summary() == b.summary()
    assert Account(300, seed=4).expected_inventory() != a.expected_inventory()
    with pytest.raises(ValueError):
        Account(10, tick_changes=2.0)


# ---------------------------------------------------------------------- rate limits
def test_wb_rate_limit_429_headers_and_recovery() -> None:
    box = make(30, rate_limit_scale=0.01)
    try:
        s, url = wb(box), box.url + "/api/v1/supplier/stocks"
        first = s.get(url, params={"dateFrom": OLD}, timeout=10)
        assert first.status_code == 200 and first.headers["X-Ratelimit-Remaining"] == "0"
        second = s.get(url, params={"dateFrom": OLD}, timeout=10)
        assert second.status_code == 429
        retry = float(second.headers["X-Ratelimit-Retry"])
        assert 0 < retry <= 0.6 and second.headers["X-Ratelimit-Limit"] == "1"
        assert float(second.headers["X-Ratelimit-Reset"]) > 0
        body = second.json()
        assert set(body) == WB_ERROR_KEYS and body["status"] == 429 and body["statusText"] == "Too Many Requests"
        time.sleep(retry + 0.05)
        assert s.get(url, params={"dateFrom": OLD}, timeout=10).status_code == 200
        # Buckets are per endpoint group: the marketplace group is untouched.
        assert s.get(box.url + "/api/v3/warehouses", timeout=10).status_code == 200
    finally:
        box.stop()


def test_ozon_rate_limit_body_and_scale_zero() -> None:
    box = make(30, rate_limit_scale=1.0)
    try:
        s = ozon(box)
        sku = str(box.account.oz_sku[0])
        assert post(s, box, "/v1/analytics/stocks", {"skus": [sku]}).status_code == 200
        resp = post(s, box, "/v1/analytics/stocks", {"skus": [sku]})
        assert resp.status_code == 429 and "Retry-After" not in resp.headers
        assert resp.json() == {"code": 8, "message": "You have reached request rate limit per second", "details": []}
        assert post(s, box, "/v4/product/info/stocks", {"limit": 5}).status_code == 200
    finally:
        box.stop()
    off = make(30, rate_limit_scale=0)
    try:
        s = wb(off)
        assert all(s.get(off.url + "/api/v1/supplier/stocks", params={"dateFrom": OLD}, timeout=10).status_code == 200
                   for _ in range(5))
    finally:
        off.stop()
    assert RATE_LIMITS["wb-statistics"].interval == 60 and RATE_LIMITS["ozon"].requests == 50


# ---------------------------------------------------------------------- faults
def test_fault_rate_limit_burst(fresh: Sandbox) -> None:
    fresh.add_fault(Fault(kind="rate_limit", path="/v4/product/info/stocks", count=2, retry_after=1.0))
    fresh.add_fault(Fault(kind="rate_limit", path="/api/v1/supplier/stocks", count=1, retry_after=0.5))
    s = ozon(fresh)
    codes = [post(s, fresh, "/v4/product/info/stocks", {"limit": 5}).status_code for _ in range(3)]
    assert codes == [429, 429, 200]
    assert fresh.request_log.hits(path="/v4/product/info/stocks", status=429) == 2
    resp = wb(fresh).get(fresh.url + "/api/v1/supplier/stocks", params={"dateFrom": OLD}, timeout=10)
    assert resp.status_code == 429
    assert resp.headers["X-Ratelimit-Retry"] == "0.5" and resp.headers["Retry-After"] == "0.5"
    assert resp.json()["status"] == 429
    assert wb(fresh).get(fresh.url + "/api/v1/supplier/stocks", params={"dateFrom": OLD}, timeout=10).status_code == 200


def test_fault_server_error_slow_drop(fresh: Sandbox) -> None:
    s = ozon(fresh)
    fresh.add_fault(Fault(kind="server_error", path="/v4/product/info/stocks", count=None))
    for _ in range(3):
        resp = post(s, fresh, "/v4/product/info/stocks", {"limit": 5})
        assert resp.status_code == 500 and resp.json()["code"] == 13
    fresh.clear_faults()
    assert post(s, fresh, "/v4/product/info/stocks", {"limit": 5}).status_code == 200
    fresh.add_fault(Fault(kind="server_error", path="/api/v3/*", status=503))
    resp = wb(fresh).get(fresh.url + "/api/v3/warehouses", timeout=10)
    assert resp.status_code == 503 and "503" in resp.text

    fresh.add_fault(Fault(kind="slow", path="/v2/warehouse/list", delay=0.3))
    started = time.perf_counter()
    assert post(s, fresh, "/v2/warehouse/list", {"limit": 10}).status_code == 200
    assert time.perf_counter() - started >= 0.3

    fresh.add_fault(Fault(kind="drop", path="/v2/warehouse/list"))
    with pytest.raises(requests.ConnectionError):
        post(s, fresh, "/v2/warehouse/list", {"limit": 10})
    assert post(s, fresh, "/v2/warehouse/list", {"limit": 10}).status_code == 200
    assert ("POST", "/v2/warehouse/list", 0) in fresh.request_log


def test_fault_truncate_sends_half_a_body(fresh: Sandbox) -> None:
    fresh.add_fault(Fault(kind="truncate", path="/v4/product/info/stocks"))
    s = ozon(fresh)
    resp = post(s, fresh, "/v4/product/info/stocks", {"limit": 20})
    assert resp.status_code == 200 and int(resp.headers["Content-Length"]) == len(resp.content)
    with pytest.raises(ValueError):
        json.loads(resp.content)
    full = post(s, fresh, "/v4/product/info/stocks", {"limit": 20}).content
    assert full.startswith(resp.content) and len(resp.content) == len(full) // 2


def test_fault_extra_and_missing_fields(fresh: Sandbox) -> None:
    fresh.add_fault(Fault(kind="extra_field", path="/api/v1/supplier/stocks", field="new_field_2026", value=7))
    rows = ok(wb(fresh).get(fresh.url + "/api/v1/supplier/stocks", params={"dateFrom": OLD}, timeout=10))
    assert rows and all(r["new_field_2026"] == 7 for r in rows)
    fresh.add_fault(Fault(kind="missing_field", path="/v4/product/info/stocks", field="present"))
    items = ok(post(ozon(fresh), fresh, "/v4/product/info/stocks", {"limit": 50}))["items"]
    stocks = [st for it in items for st in it["stocks"]]
    assert stocks and all("present" not in st and "reserved" in st for st in stocks)
    fresh.add_fault(Fault(kind="missing_field", path="/api/v1/supplier/stocks", field="quantityFull", count=None))
    rows = ok(wb(fresh).get(fresh.url + "/api/v1/supplier/stocks", params={"dateFrom": OLD}, timeout=10))
    assert rows and all("quantityFull" not in r and "new_field_2026" not in r for r in rows)
    with pytest.raises(ValueError):
        Fault(kind="missing_field")


def test_fault_negative_stock_and_empty_account(fresh: Sandbox) -> None:
    fresh.add_fault(Fault(kind="negative_stock", path="/v4/product/info/stocks"))
    items = ok(post(ozon(fresh), fresh, "/v4/product/info/stocks", {"limit": 100}))["items"]
    assert sum(st["present"] < 0 for it in items for st in it["stocks"]) == 1
    fresh.add_fault(Fault(kind="negative_stock", path="/api/v1/supplier/stocks"))
    rows = ok(wb(fresh).get(fresh.url + "/api/v1/supplier/stocks", params={"dateFrom": OLD}, timeout=10))
    negative = [r for r in rows if r["quantity"] < 0]
    assert len(negative) == 1 and negative[0]["quantityFull"] == negative[0]["quantity"] + negative[0]["inWayToClient"] + negative[0]["inWayFromClient"]

    fresh.add_fault(Fault(kind="empty_account", count=None))
    page = ok(post(ozon(fresh), fresh, "/v4/product/info/stocks", {"limit": 100}))
    assert page["items"] == [] and page["total_items"] == 0
    assert ok(wb(fresh).get(fresh.url + "/api/v1/supplier/stocks", params={"dateFrom": OLD}, timeout=10)) == []
    assert ok(post(ozon(fresh), fresh, "/v2/product/info/stocks-by-warehouse/fbs", {"limit": 10}))["products"] == []
    # Catalogue endpoints are not stock: they still answer.
    assert ok(post(wb(fresh), fresh, "/content/v2/get/cards/list", {"settings": {"cursor": {"limit": 5}}}))["cards"]


def test_fault_retired_and_http_control(fresh: Sandbox) -> None:
    url = fresh.url + "/sandbox/faults"
    assert requests.post(url, json=[{"kind": "retired", "path": "/api/v1/supplier/stocks", "count": 1},
                                    {"kind": "server_error", "path": "/api/v3/stocks/{warehouseId}", "status": 502}],
                         timeout=10).status_code == 200
    assert len(ok(requests.get(url, timeout=10))["faults"]) == 2
    s = wb(fresh)
    resp = s.get(fresh.url + "/api/v1/supplier/stocks", params={"dateFrom": OLD}, timeout=10)
    assert resp.status_code == 404 and resp.json()["status"] == 404
    assert s.get(fresh.url + "/api/v1/supplier/stocks", params={"dateFrom": OLD}, timeout=10).status_code == 200
    assert post(s, fresh, "/api/v3/stocks/1010101", {"skus": ["2000000000000"]}).status_code == 502
    assert len(ok(requests.get(url, timeout=10))["faults"]) == 0  # both used up
    assert requests.post(url, json={"kind": "meteor"}, timeout=10).status_code == 400
    requests.post(url, json={"kind": "server_error", "count": None}, timeout=10)
    assert post(ozon(fresh), fresh, "/v2/warehouse/list", {"limit": 1}).status_code == 500
    assert requests.delete(url, timeout=10).status_code == 200
    assert post(ozon(fresh), fresh, "/v2/warehouse/list", {"limit": 1}).status_code == 200


def test_fault_waits_for_a_request_it_can_act_on(fresh: Sandbox) -> None:
    fresh.add_fault(Fault(kind="negative_stock", count=1))  # any path, but only stock answers have stock
    s = ozon(fresh)
    assert ok(post(s, fresh, "/v2/warehouse/list", {"limit": 10}))["warehouses"]
    assert len(fresh.faults.active()) == 1  # not used up by the warehouse list
    rows = fbs_all(fresh)
    assert sum(r["present"] < 0 for r in rows) == 1 and fresh.faults.active() == []
    with pytest.raises(ValueError):
        Fault.from_dict({"kind": "slow", "sleep": 3})
    log = fresh.request_log.counter()
    assert log[("POST", "/v2/warehouse/list", 200)] == 1


def test_faults_from_options() -> None:
    box = make(20, faults=[Fault(kind="server_error", path="/v3/product/list", count=1, status=502)])
    try:
        s = ozon(box)
        assert post(s, box, "/v3/product/list", {"limit": 5}).status_code == 502
        assert post(s, box, "/v3/product/list", {"limit": 5}).status_code == 200
    finally:
        box.stop()


# ---------------------------------------------------------------------- HTTP behaviour
def test_keep_alive_and_content_length(sb: Sandbox) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", sb.port, timeout=10)
    headers = {"Client-Id": OZON_CLIENT_ID, "Api-Key": OZON_API_KEY, "Content-Type": "application/json"}
    try:
        for _ in range(3):
            conn.request("POST", "/v4/product/info/stocks", body=json.dumps({"limit": 10}), headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            assert resp.status == 200 and resp.version == 11
            assert int(resp.getheader("Content-Length")) == len(data)
            assert resp.getheader("Connection") != "close"
        sock = conn.sock
        conn.request("GET", "/sandbox/health")
        assert conn.getresponse().read() and conn.sock is sock  # the same connection served all four
    finally:
        conn.close()
