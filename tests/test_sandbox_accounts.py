"""Tests of the sandbox serving several seller accounts, over real loopback HTTP (issue 24).

Each extra account of `SandboxOptions.accounts` has its own credentials
(`account_credentials`), catalogue, stock and truth, its own rate limits, reports and tasks;
faults and revocations may hit one account only; and the default account answers byte for
byte as a sandbox without extra accounts. Each test reads the APIs with one account's
credentials the way a client would and checks the answers against that account's truth from
the control API, so a request served from the wrong account fails here.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Iterator

import pytest
import requests

from pipelines.marketplaces.wb.token import read_token
from pipelines.sandbox import (
    OZON_API_KEY,
    OZON_CLIENT_ID,
    OZON_REVOKED_API_KEY,
    WB_API_TOKEN,
    YM_API_KEY,
    YM_REVOKED_API_KEY,
    Fault,
    Sandbox,
    SandboxOptions,
    account_credentials,
    main,
    wb_token,
)

ACCOUNTS = ("default", "a", "b")
REPORT = "/api/analytics/v1/stocks-report"
YM_STOCKS = "/v2/campaigns/{}/offers/stocks"


# ---------------------------------------------------------------------- fixtures and clients
def make(**kw: Any) -> Sandbox:
    kw.setdefault("products", 40)
    kw.setdefault("seed", 7)
    kw.setdefault("rate_limit_scale", 0)
    return Sandbox(SandboxOptions(**kw)).start()


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    """A read-only sandbox with two extra accounts (b smaller than the others)."""
    box = make(accounts=("a", "b"), account_products={"b": 30})
    yield box
    box.stop()


@pytest.fixture
def fresh() -> Iterator[Sandbox]:
    """A private sandbox with two extra accounts, for tests that change state."""
    box = make(products=20, seed=11, accounts=("a", "b"))
    yield box
    box.stop()


def ozon(account: str, key: str = "OZON_API_KEY") -> requests.Session:
    creds = account_credentials(account)
    s = requests.Session()
    s.headers.update({"Client-Id": creds["OZON_CLIENT_ID"], "Api-Key": creds[key]})
    return s


def wb(account: str, key: str = "WB_API_TOKEN") -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = account_credentials(account)[key]
    return s


def ym(account: str, key: str = "YM_API_KEY") -> requests.Session:
    s = requests.Session()
    s.headers["Api-Key"] = account_credentials(account)[key]
    return s


def ok(resp: requests.Response) -> Any:
    assert resp.status_code == 200, (resp.status_code, resp.text[:300])
    return resp.json()


def control(box: Sandbox, path: str, account: str | None = None, **params: str) -> Any:
    if account is not None:
        params["account"] = account
    return ok(requests.get(box.url + path, params=params, timeout=10))


# ---------------------------------------------------------------------- one account's answers, as a client reads them
def ozon_product_ids(box: Sandbox, account: str) -> list[int]:
    s, last_id, ids = ozon(account), "", []
    while True:
        result = ok(s.post(box.url + "/v3/product/list", json={"filter": {"visibility": "ALL"}, "last_id": last_id,
                                                                "limit": 100}, timeout=10))["result"]
        if not result["items"]:
            return ids
        ids += [it["product_id"] for it in result["items"]]
        last_id = result["last_id"]


def ozon_v4_totals(box: Sandbox, account: str) -> tuple[int, int]:
    """Present and reserved over every product's FBO and FBS stock (v4, all pages)."""
    s, cursor, present, reserved = ozon(account), "", 0, 0
    while True:
        page = ok(s.post(box.url + "/v4/product/info/stocks",
                         json={"filter": {"visibility": "ALL"}, "limit": 100, "cursor": cursor}, timeout=10))
        if not page["items"]:
            return present, reserved
        for item in page["items"]:
            for st in item["stocks"]:
                present += st["present"]
                reserved += st["reserved"]
        cursor = page["cursor"]


def wb_nm_ids(box: Sandbox, account: str) -> list[int]:
    s, cursor, nms = wb(account), {"limit": 100}, []
    while True:
        page = ok(s.post(box.url + "/content/v2/get/cards/list",
                         json={"settings": {"cursor": cursor, "filter": {"withPhoto": -1}}}, timeout=10))
        nms += [c["nmID"] for c in page["cards"]]
        if page["cursor"]["total"] < 100:
            return nms
        cursor = {"limit": 100, "updatedAt": page["cursor"]["updatedAt"], "nmID": page["cursor"]["nmID"]}


def wb_fbo_present(box: Sandbox, account: str) -> int:
    """quantity + both in-way counts over the WB-warehouse stocks report (one page here)."""
    resp = wb(account).post(box.url + f"{REPORT}/wb-warehouses", json={"limit": 250_000, "offset": 0}, timeout=10)
    rows = ok(resp)["data"]["items"]
    return sum(r["quantity"] + r["inWayToClient"] + r["inWayFromClient"] for r in rows)


def ym_business(box: Sandbox, account: str) -> int:
    return ok(ym(account).get(box.url + "/v2/campaigns", timeout=10))["campaigns"][0]["business"]["id"]


def ym_offer_ids(box: Sandbox, account: str) -> set[str]:
    s, business, out, token = ym(account), ym_business(box, account), set(), None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"pageToken": token} if token else {})}
        page = ok(s.post(box.url + f"/v2/businesses/{business}/offer-mappings", params=params, json={},
                         timeout=10))["result"]
        out |= {m["offer"]["offerId"] for m in page["offerMappings"]}
        token = page.get("paging", {}).get("nextPageToken")
        if not token:
            return out


def expected(box: Sandbox, account: str, marketplace: str) -> list[dict[str, Any]]:
    return control(box, "/sandbox/expected", account, marketplace=marketplace)


# ---------------------------------------------------------------------- credentials
def test_credentials_are_deterministic_distinct_and_the_default_ones_are_the_constants() -> None:
    default = account_credentials("default")
    assert default["OZON_CLIENT_ID"] == OZON_CLIENT_ID and default["OZON_API_KEY"] == OZON_API_KEY
    assert default["OZON_REVOKED_API_KEY"] == OZON_REVOKED_API_KEY and default["WB_API_TOKEN"] == WB_API_TOKEN
    assert default["YM_API_KEY"] == YM_API_KEY and default["YM_REVOKED_API_KEY"] == YM_REVOKED_API_KEY
    creds = {a: account_credentials(a) for a in ACCOUNTS}
    assert account_credentials("a") == creds["a"]  # a function of the id alone
    for key in default:
        assert len({c[key] for c in creds.values()}) == 3, f"{key} repeats across accounts"
    for c in creds.values():
        assert c["OZON_CLIENT_ID"].isdigit()
        assert re.fullmatch(r"ACMA:[A-Za-z0-9]{40}:[0-9a-f]{8}", c["YM_API_KEY"])
        assert re.fullmatch(r"ACMA:[A-Za-z0-9]{40}:[0-9a-f]{8}", c["YM_REVOKED_API_KEY"])
        info = read_token(c["WB_API_TOKEN"])
        assert info.kind == "Personal" and {"Контент", "Аналитика", "Маркетплейс", "Статистика"} <= info.categories


def test_env_and_accounts_routes(sb: Sandbox) -> None:
    env_a = sb.env("a")
    assert env_a["OZON_CLIENT_ID"] == account_credentials("a")["OZON_CLIENT_ID"]
    assert env_a["WB_API_TOKEN"] == account_credentials("a")["WB_API_TOKEN"]
    assert env_a["YM_API_KEY"] == account_credentials("a")["YM_API_KEY"] and env_a["OZON_API_URL"] == sb.url
    assert sb.env() == sb.env("default") and sb.env()["OZON_API_KEY"] == OZON_API_KEY
    with pytest.raises(ValueError, match="unknown account 'zzz'"):
        sb.env("zzz")
    assert control(sb, "/sandbox/accounts") == {"accounts": list(ACCOUNTS)}
    assert list(sb.accounts) == list(ACCOUNTS) and sb.accounts["default"] is sb.account
    for account in ACCOUNTS:
        assert control(sb, "/sandbox/account", account) == sb.accounts[account].summary()
    assert control(sb, "/sandbox/account") == sb.account.summary()
    assert sb.accounts["b"].n_products == 30 and sb.accounts["a"].n_products == 40
    missing = requests.get(sb.url + "/sandbox/account", params={"account": "zzz"}, timeout=10)
    assert missing.status_code == 404 and "zzz" in missing.json()["error"]


# ---------------------------------------------------------------------- catalogues and truths
def test_each_account_gets_its_own_catalogue_on_every_marketplace(sb: Sandbox) -> None:
    products = {a: ozon_product_ids(sb, a) for a in ACCOUNTS}
    cards = {a: wb_nm_ids(sb, a) for a in ACCOUNTS}
    offers = {a: ym_offer_ids(sb, a) for a in ACCOUNTS}
    businesses = {a: ym_business(sb, a) for a in ACCOUNTS}
    assert len(set(businesses.values())) == 3
    for x, y in (("default", "a"), ("default", "b"), ("a", "b")):
        assert not set(products[x]) & set(products[y]), (x, y)
        assert not set(cards[x]) & set(cards[y]), (x, y)
        assert offers[x] != offers[y], (x, y)
    for account in ACCOUNTS:
        acc = sb.accounts[account]
        assert len(products[account]) == acc.summary()["ozon"]["products"]
        assert sorted(cards[account]) == sorted(acc.wb_nm)
        truth_ozon = expected(sb, account, "ozon")
        assert {int(r["marketplace_product_id"]) for r in truth_ozon} <= set(products[account])
        assert ozon_v4_totals(sb, account) == (sum(r["quantity_present"] for r in truth_ozon),
                                               sum(r["quantity_reserved"] for r in truth_ozon))
        truth_wb = expected(sb, account, "wb")
        assert {int(r["marketplace_product_id"]) for r in truth_wb} <= set(cards[account])
        assert wb_fbo_present(sb, account) == sum(r["quantity_present"] for r in truth_wb if r["stock_type"] == "FBO")
        truth_ym = expected(sb, account, "ym")
        assert truth_ym and {r["offer_id"] for r in truth_ym} <= offers[account]
        assert truth_ym == sb.accounts[account].expected_inventory("ym")


def test_default_account_answers_as_a_sandbox_without_accounts(sb: Sandbox) -> None:
    plain = make(products=40, seed=7)
    try:
        def answers(box: Sandbox) -> list[bytes]:
            o, w, y = ozon("default"), wb("default"), ym("default")
            business = ym_business(box, "default")
            return [
                o.post(box.url + "/v3/product/list", json={"filter": {}, "limit": 50}, timeout=10).content,
                o.post(box.url + "/v4/product/info/stocks", json={"filter": {}, "limit": 50}, timeout=10).content,
                w.post(box.url + "/content/v2/get/cards/list", json={"settings": {"cursor": {"limit": 50}}},
                       timeout=10).content,
                w.post(box.url + f"{REPORT}/wb-warehouses", json={}, timeout=10).content,
                y.post(box.url + f"/v2/businesses/{business}/offer-mappings", json={}, timeout=10).content,
                requests.get(box.url + "/sandbox/expected", timeout=10).content,
                requests.get(box.url + "/sandbox/account", timeout=10).content,
            ]

        assert answers(sb) == answers(plain)
        assert {k: v for k, v in sb.env().items() if not k.endswith("_URL")} == \
            {k: v for k, v in plain.env().items() if not k.endswith("_URL")}
    finally:
        plain.stop()


# ---------------------------------------------------------------------- revocation and unknown credentials
def test_revoking_one_accounts_key_leaves_the_others_working(fresh: Sandbox) -> None:
    url = fresh.url
    calls = {
        "ozon": lambda a: ozon(a).post(url + "/v2/warehouse/list", json={"limit": 10}, timeout=10),
        "wb": lambda a: wb(a).get(url + "/api/v3/warehouses", timeout=10),
        "ym": lambda a: ym(a).get(url + "/v2/campaigns", timeout=10),
    }
    assert all(calls[m](a).status_code == 200 for m in calls for a in ACCOUNTS)
    for marketplace in calls:
        resp = requests.post(url + "/sandbox/revoke", json={"account": "a", "marketplace": marketplace}, timeout=10)
        assert ok(resp) == {"account": "a", "marketplace": marketplace, "revoked": True}
    revoked_ozon = calls["ozon"]("a")
    assert revoked_ozon.status_code == 403 and revoked_ozon.json()["code"] == 7
    assert calls["wb"]("a").status_code == 401
    revoked_ym = calls["ym"]("a")
    assert revoked_ym.status_code == 401 and revoked_ym.json()["errors"][0]["message"] == "Api-Key token is revoked"
    for account in ("default", "b"):
        assert [calls[m](account).status_code for m in calls] == [200, 200, 200], account
    # Each account's built-in revoked variants answer as revoked keys from the start.
    b_ozon = ozon("b", "OZON_REVOKED_API_KEY").post(url + "/v2/warehouse/list", json={"limit": 10}, timeout=10)
    assert b_ozon.status_code == 403 and b_ozon.json()["code"] == 7
    assert wb("b", "WB_REVOKED_API_TOKEN").get(url + "/api/v3/warehouses", timeout=10).status_code == 401
    assert ym("b", "YM_REVOKED_API_KEY").get(url + "/v2/campaigns", timeout=10).status_code == 401
    # A key of one account with another's Client-Id is a wrong key, not a revoked one.
    mixed = requests.post(url + "/v2/warehouse/list", json={"limit": 10}, timeout=10,
                          headers={"Client-Id": OZON_CLIENT_ID, "Api-Key": account_credentials("b")["OZON_API_KEY"]})
    assert mixed.status_code == 404 and mixed.json()["code"] == 5
    bad = requests.post(url + "/sandbox/revoke", json={"account": "zzz", "marketplace": "ozon"}, timeout=10)
    assert bad.status_code == 404
    bad = requests.post(url + "/sandbox/revoke", json={"account": "b", "marketplace": "amazon"}, timeout=10)
    assert bad.status_code == 400
    with pytest.raises(ValueError):
        fresh.revoke("b", "amazon")


def test_unknown_credentials_answer_as_before(fresh: Sandbox) -> None:
    url = fresh.url
    ozon_bad = requests.post(url + "/v2/warehouse/list", json={}, timeout=10,
                             headers={"Client-Id": "999", "Api-Key": OZON_API_KEY})
    assert ozon_bad.status_code == 404 and ozon_bad.json()["code"] == 5
    stranger = wb_token("Personal", token_id="x", account="zzz")  # signed by the sandbox, of a seller it does not serve
    assert requests.get(url + "/api/v3/warehouses", headers={"Authorization": stranger}, timeout=10).status_code == 401
    ym_bad = requests.get(url + "/v2/campaigns", headers={"Api-Key": "ACMA:wrong:key"}, timeout=10)
    assert ym_bad.status_code == 401 and ym_bad.json()["errors"][0]["message"] == "Api-Key token is invalid"
    assert fresh.request_log.hits(path="/v2/warehouse/list", account="default") == 0


# ---------------------------------------------------------------------- isolation: faults, limits, reports, the log
def test_a_fault_scoped_to_one_account_hits_only_that_account(fresh: Sandbox) -> None:
    fresh.add_fault(Fault("server_error", path="/v3/product/list", count=None, account="a"))
    resp = requests.post(fresh.url + "/sandbox/faults", timeout=10,
                         json={"kind": "extra_field", "path": "/content/v2/get/cards/list", "count": None,
                               "field": "only_b", "account": "b"})
    assert [f["account"] for f in ok(resp)["faults"]] == ["a", "b"]
    body = {"filter": {}, "limit": 5}
    statuses = {a: ozon(a).post(fresh.url + "/v3/product/list", json=body, timeout=10).status_code for a in ACCOUNTS}
    assert statuses == {"default": 200, "a": 500, "b": 200}
    cards = {a: ok(wb(a).post(fresh.url + "/content/v2/get/cards/list", json={}, timeout=10))["cards"]
             for a in ACCOUNTS}
    assert all("only_b" in c for c in cards["b"]) and not any("only_b" in c for a in ("default", "a") for c in cards[a])
    assert fresh.request_log.hits(path="/v3/product/list", status=500) == 1
    assert fresh.request_log.hits(path="/v3/product/list", account="a") == 1
    assert fresh.request_log.hits(account="b") == 2 and fresh.request_log.hits() == 7  # the control POST too
    assert ("POST", "/v3/product/list", 500) in fresh.request_log  # entries stay (method, path, status)
    with pytest.raises(ValueError, match="unknown account 'zzz'"):
        fresh.add_fault(Fault("drop", account="zzz"))
    resp = requests.post(fresh.url + "/sandbox/faults", json={"kind": "drop", "account": "zzz"}, timeout=10)
    assert resp.status_code == 404 and len(fresh.faults.active()) == 2


def test_rate_limits_are_counted_per_account() -> None:
    box = make(products=20, accounts=("a", "b"), rate_limit_scale=1.0)
    try:
        started = time.monotonic()
        sku = {a: str(box.accounts[a].oz_sku[0]) for a in ACCOUNTS}

        def analytics(account: str) -> int:
            return ozon(account).post(box.url + "/v1/analytics/stocks", json={"skus": [sku[account]]},
                                      timeout=10).status_code

        assert [analytics("default") for _ in range(3)] == [200, 200, 429]  # 2 per second
        assert [analytics("a") for _ in range(3)] == [200, 200, 429]
        assert analytics("b") == 200

        def report(account: str) -> int:
            return wb(account).post(box.url + f"{REPORT}/wb-warehouses", json={}, timeout=10).status_code

        assert [report("a"), report("a")] == [200, 429]  # one per 20 s, burst 1
        assert [report("default"), report("b")] == [200, 200]
        assert time.monotonic() - started < 1.0  # no bucket refilled in between
    finally:
        box.stop()


def test_ym_parallel_slots_are_per_account() -> None:
    box = make(products=20, accounts=("a",), rate_limit_scale=0.01)
    try:
        campaign = ok(ym("default").get(box.url + "/v2/campaigns", timeout=10))["campaigns"][0]["id"]
        path = YM_STOCKS.format(campaign)  # the same campaign id in both accounts: slots are still apart
        box.add_fault(Fault("slow", path=path, count=5, delay=0.6, account="default"))
        results: list[int] = []
        lock = threading.Lock()

        def call() -> None:
            status = ym("default").post(box.url + path, json={}, timeout=10).status_code
            with lock:
                results.append(status)

        threads = [threading.Thread(target=call) for _ in range(5)]
        for t in threads:
            t.start()
            time.sleep(0.03)
        other = ym("a").post(box.url + path, json={}, timeout=10)
        for t in threads:
            t.join()
        assert sorted(results) == [200, 200, 200, 200, 420]
        assert other.status_code == 200
    finally:
        box.stop()


def test_reports_and_tasks_belong_to_the_account_that_made_them(fresh: Sandbox) -> None:
    url = fresh.url
    code = ok(ozon("a").post(url + "/v1/report/warehouse/stock", json={"warehouseId": ["1020000031415000"]},
                             timeout=10))["result"]["code"]
    assert ozon("default").post(url + "/v1/report/info", json={"code": code}, timeout=10).status_code == 404
    infos = [ok(ozon("a").post(url + "/v1/report/info", json={"code": code}, timeout=10))["result"] for _ in range(3)]
    assert infos[2]["status"] == "success"
    table = requests.get(infos[2]["file"], timeout=10).content.decode("utf-8-sig")
    a_offers = {r["offer_id"] for r in fresh.accounts["a"].expected_inventory("ozon")
                if r["warehouse_id"] == "1020000031415000"}
    assert a_offers and all(offer in table for offer in a_offers)
    base = url + "/api/v1/warehouse_remains"
    task = ok(wb("b").get(base, params={"locale": "ru"}, timeout=10))["data"]["taskId"]
    assert wb("a").get(f"{base}/tasks/{task}/status", timeout=10).status_code == 404
    assert ok(wb("b").get(f"{base}/tasks/{task}/status", timeout=10))["data"]["status"] == "new"


# ---------------------------------------------------------------------- time
def test_ticking_one_account_changes_only_its_truth(fresh: Sandbox) -> None:
    before = {a: fresh.accounts[a].expected_inventory() for a in ACCOUNTS}
    summary = ok(requests.post(fresh.url + "/sandbox/tick", json={"steps": 1, "account": "a"}, timeout=10))
    assert summary == fresh.accounts["a"].summary() and summary["ticks"] == 1
    after = {a: expected(fresh, a, "ozon") + expected(fresh, a, "wb") + expected(fresh, a, "ym") for a in ACCOUNTS}
    assert after["a"] != before["a"] and after["a"] == fresh.accounts["a"].expected_inventory()
    assert after["default"] == before["default"] and after["b"] == before["b"]
    assert [fresh.accounts[a].ticks for a in ACCOUNTS] == [0, 1, 0]
    fresh.tick(2, account="b")
    assert [fresh.accounts[a].ticks for a in ACCOUNTS] == [0, 1, 2]
    everyone = fresh.tick()  # no account: every account moves, the answer is the default's summary
    assert [fresh.accounts[a].ticks for a in ACCOUNTS] == [1, 2, 3] and everyone["ticks"] == 1
    resp = requests.post(fresh.url + "/sandbox/tick", json={"account": "zzz"}, timeout=10)
    assert resp.status_code == 404 and [fresh.accounts[a].ticks for a in ACCOUNTS] == [1, 2, 3]
    with pytest.raises(ValueError, match="unknown account"):
        fresh.tick(account="zzz")


# ---------------------------------------------------------------------- options and the command line
@pytest.mark.parametrize("options, message", [
    ({"accounts": ("default",)}, "default account"),
    ({"accounts": ("a", "b", "a")}, "names a more than once"),
    ({"accounts": ("Shop",)}, "a-z, 0-9 and _"),
    ({"accounts": ("a-b",)}, "a-z, 0-9 and _"),
    ({"accounts": ("",)}, "a-z, 0-9 and _"),
    ({"accounts": ("x" * 33,)}, "1 to 32 characters"),
    ({"accounts": "ab"}, "not one string"),
    ({"accounts": tuple(f"s{i}" for i in range(89))}, "at most 88"),
    ({"accounts": ("a",), "account_products": {"c": 5}}, "not in accounts"),
    ({"accounts": ("a",), "account_products": {"a": -1}}, "integer >= 0"),
    ({"accounts": ("a",), "faults": [Fault("drop", account="b")]}, "does not serve"),
])
def test_bad_account_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        SandboxOptions(**options)


def test_account_seeds_and_id_ranges_are_apart() -> None:
    opts = SandboxOptions(seed=42, accounts=tuple(f"s{i}" for i in range(88)))
    seeds = [opts.account_seed(a) for a in opts.account_ids]
    assert seeds[0] == 42 and len({s % 89 for s in seeds}) == 89


def test_command_line_prints_every_accounts_credentials(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.sandbox import server

    def interrupt(_seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(server.time, "sleep", interrupt)  # serve_forever's wait ends at once
    assert main(["--port", "0", "--products", "10", "--accounts", "a,b"]) == 0
    out = capsys.readouterr().out
    for account in ACCOUNTS:
        creds = account_credentials(account)
        for key in ("OZON_CLIENT_ID", "OZON_API_KEY", "WB_API_TOKEN", "YM_API_KEY"):
            assert f"export {key}={creds[key]}\n" in out, (account, key)
    assert "account a: 10 products" in out and "account b: 10 products" in out
    with pytest.raises(SystemExit):
        main(["--port", "0", "--accounts", "a,default"])
