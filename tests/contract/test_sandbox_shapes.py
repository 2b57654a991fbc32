"""Contract tests, sandbox side: the sandbox answers in the shapes of the published samples.

For every sample of a LIVE method (`samples/`, copied unchanged from `shared/api/samples/`) the
same method is called on the sandbox over real HTTP and the answer must have the sample's keys
and JSON types, recursively: every key of the sample is in the answer (extra keys in the answer
are fine), and every element of an answer list has the shape of the sample's first element.
Types: bool, int, float (an int answer is accepted for a float sample: JSON does not tell them
apart), string, object, array; a sample `null` accepts anything. In a MOCK sample (placeholder
values written by an SDK author, `*.diphantxm.json`, `*.irenicaa_*.json`) a numeric placeholder
`0` stands for "a number": it accepts an int or a float answer. Values are never compared
(the samples are illustrative), except where a sample is an exact error body.

Exceptions are listed per sample with their reason, and an exception that is no longer needed
fails the test, so the lists cannot rot. An answer list that is empty cannot show its element
shape: such a path must be non-empty in at least one answer element somewhere, or be listed
in ALLOWED_EMPTY with a reason. Samples of retired methods are checked the other way round:
the sandbox must refuse the method the way the marketplace does. A sample that is neither
checked here nor listed as not applicable fails `test_every_sample_is_accounted_for`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests

from pipelines.sandbox import OZON_API_KEY, OZON_CLIENT_ID, WB_API_TOKEN, Fault, Sandbox, SandboxOptions

SAMPLES = Path(__file__).parent / "samples"
REPORT = "/api/analytics/v1/stocks-report"

# Keys of a sample the sandbox's default answer does not carry, with the reason (path = dotted
# keys, `[]` for list elements).
MISSING_OK: dict[str, dict[str, str]] = {
    "ozon/v4_product_info_stocks.json": {
        "total": "deprecated 24 Sep 2026, announced off from 23 Nov 2026 (ozon.md §2.1, §6.1): omitted by "
                 "default, served with SandboxOptions.ozon_total_field (test_total_field_option_restores_the_sample_shape)",
    },
    "ozon/v4_product_info_stocks.diphantxm.json": {"total": "as in the official v4 sample"},
    "ozon/v4_product_info_stocks.irenicaa_last_page.json": {
        "total": "as in the official v4 sample",
        "unexpected_key": "the SDK fixture adds an unknown key on purpose to test tolerance; not an API field",
    },
    "ozon/v3_product_list.json": {"result.total": "announced off from 23 Nov 2026 (ozon.md §2.7); see ozon_total_field"},
    "ozon/v3_product_list.diphantxm.json": {"result.total": "announced off from 23 Nov 2026 (ozon.md §2.7)"},
    "ozon/v3_product_info_list.diphantxm.json": {
        "items[].marketing_price": "older schema (SDK fixture of 2025): not in the 2026 official example",
    },
}
# Answer lists that may stay empty everywhere, with the reason.
ALLOWED_EMPTY: dict[str, dict[str, str]] = {
    "ozon/v3_product_list.diphantxm.json": {
        "result.items[].quants[]": "quants belong to the Econom tariff, switched off in Sep 2026 (ozon.md §2.1)",
    },
    "ozon/v3_product_info_list.json": {
        "items[].errors[]": "the sandbox's products have no moderation errors",
        "items[].color_image[]": "the sandbox's products have no colour swatch image",
    },
    "ozon/v3_product_info_list.diphantxm.json": {
        "items[].errors[]": "the sandbox's products have no moderation errors",
        "items[].color_image[]": "the sandbox's products have no colour swatch image",
        "items[].images360[]": "the sandbox's products have no 360° images",
    },
}
# Samples that are not about a live method of the sandbox, with the reason.
NOT_APPLICABLE = {
    "ozon/error_429_item_quota.json": "per-item quota of the import methods (/v3/product/import): the sandbox serves "
                                      "no import method; stock reads get the per-second 429 (code 8)",
}
# Samples of retired methods: the sandbox must refuse them (Ozon: 404 code 5 "Obsolete method
# cannot be used"; WB: 404 "path not found").
RETIRED = {
    "ozon/v1_product_info_stocks_by_warehouse_fbs.diphantxm.json": "/v1/product/info/stocks-by-warehouse/fbs",
    "ozon/v1_warehouse_list.diphantxm.json": "/v1/warehouse/list",
    "ozon/v1_analytics_manage_stocks.diphantxm.json": "/v1/analytics/manage/stocks",
    "wb/supplier_stocks.json": "/api/v1/supplier/stocks",
    "wb/error_400_supplier_stocks_legacy.json": "/api/v1/supplier/stocks",
}


def is_mock(name: str) -> bool:
    """MOCK samples carry their author's name in the file name; OFFICIAL ones do not."""
    return "diphantxm" in name or "irenicaa" in name


def load(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


# ---------------------------------------------------------------------- the shape comparison
def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    return "dict"


class Shape:
    """Walks a sample and an answer together and collects the differences."""

    def __init__(self, missing_ok: dict[str, str], mock: bool = False) -> None:
        self.missing_ok = missing_ok
        self.mock = mock
        self.problems: list[str] = []
        self.used_exceptions: set[str] = set()
        self.empty: set[str] = set()
        self.filled: set[str] = set()

    def compare(self, sample: Any, answer: Any, path: str = "") -> None:
        want, got = _kind(sample), _kind(answer)
        if want == "null":
            return
        if want == "float" and got == "int":
            return
        if self.mock and want == "int" and sample == 0 and got == "float":
            return
        if want != got:
            self.problems.append(f"{path or '<root>'}: sample {want}, answer {got} ({answer!r:.60})")
            return
        if want == "dict":
            for key, value in sample.items():
                sub = f"{path}.{key}" if path else key
                if key not in answer:
                    if sub in self.missing_ok:
                        self.used_exceptions.add(sub)
                    else:
                        self.problems.append(f"{sub}: missing in the answer")
                    continue
                self.compare(value, answer[key], sub)
        elif want == "list" and sample:
            sub = f"{path}[]"
            if not answer:
                self.empty.add(sub)
                return
            self.filled.add(sub)
            for element in answer:
                self.compare(sample[0], element, sub)


def check(name: str, answers: list[Any]) -> None:
    """Every answer has the shape of sample `name`; exceptions must all be needed."""
    shape = Shape(MISSING_OK.get(name, {}), mock=is_mock(name))
    assert answers, "no answer to compare"
    for answer in answers:
        shape.compare(load(name), answer)
    assert not shape.problems, f"{name}: " + "; ".join(sorted(set(shape.problems))[:15])
    unused = set(MISSING_OK.get(name, {})) - shape.used_exceptions
    assert not unused, f"{name}: listed exceptions no longer needed: {sorted(unused)}"
    never_filled = shape.empty - shape.filled
    allowed = ALLOWED_EMPTY.get(name, {})
    assert never_filled <= set(allowed), f"{name}: answer lists always empty: {sorted(never_filled - set(allowed))}"
    stale = set(allowed) - never_filled
    assert not stale, f"{name}: ALLOWED_EMPTY entries no longer needed: {sorted(stale)}"


# ---------------------------------------------------------------------- the sandbox
@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(SandboxOptions(products=80, seed=21, rate_limit_scale=0)) as box:
        yield box


def oz(box: Sandbox, path: str, body: Any) -> requests.Response:
    return requests.post(box.url + path, json=body, timeout=10,
                         headers={"Client-Id": OZON_CLIENT_ID, "Api-Key": OZON_API_KEY})


def wbr(box: Sandbox, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(method, box.url + path, timeout=10, headers={"Authorization": WB_API_TOKEN}, **kw)


def ok(resp: requests.Response) -> Any:
    assert resp.status_code == 200, (resp.status_code, resp.text[:300])
    return resp.json()


# ---------------------------------------------------------------------- fetchers of live answers
def v4_first_page(box: Sandbox) -> list[Any]:
    return [ok(oz(box, "/v4/product/info/stocks", {"filter": {"visibility": "ALL"}, "limit": 25, "cursor": ""}))]


def v4_last_page(box: Sandbox) -> list[Any]:
    cursor = ""
    while True:
        page = ok(oz(box, "/v4/product/info/stocks", {"filter": {"visibility": "ALL"}, "limit": 1000, "cursor": cursor}))
        if not page["items"]:
            assert page["cursor"] == ""
            return [page]
        cursor = page["cursor"]


def product_list(box: Sandbox) -> list[Any]:
    return [ok(oz(box, "/v3/product/list", {"filter": {"visibility": "ALL"}, "last_id": "", "limit": 50}))]


def product_info_list(box: Sandbox) -> list[Any]:
    ids = [it["product_id"] for it in product_list(box)[0]["result"]["items"]]
    return [ok(oz(box, "/v3/product/info/list", {"product_id": ids}))]


def warehouse_stocks(box: Sandbox) -> list[Any]:
    warehouses = ok(oz(box, "/v2/warehouse/list", {"limit": 200}))["warehouses"]
    return [ok(oz(box, "/v1/product/info/warehouse/stocks", {"warehouse_id": w["warehouse_id"], "limit": 50, "cursor": ""}))
            for w in warehouses]


def stock_on_warehouses(box: Sandbox) -> list[Any]:
    return [ok(oz(box, "/v2/analytics/stock_on_warehouses", {"limit": 100, "offset": 0, "warehouse_type": "ALL"}))]


def ozon_401(box: Sandbox) -> list[Any]:
    resp = requests.post(box.url + "/v4/product/info/stocks", json={"filter": {}, "limit": 1}, timeout=10)
    assert resp.status_code == 401
    sample = load("ozon/error_401_missing_headers.diphantxm.json")
    assert (resp.json()["code"], resp.json()["message"]) == (sample["code"], sample["message"])
    return [resp.json()]


def cards(box: Sandbox) -> list[Any]:
    return [ok(wbr(box, "POST", "/content/v2/get/cards/list", json={"settings": {
        "sort": {"ascending": asc}, "cursor": {"limit": 30}, "filter": {"withPhoto": -1}}})) for asc in (True, False)]


def remains(box: Sandbox, step: str) -> list[Any]:
    flags = {"locale": "ru", "groupByBrand": "true", "groupBySubject": "true", "groupBySa": "true",
             "groupByNm": "true", "groupByBarcode": "true", "groupBySize": "true"}
    created = ok(wbr(box, "GET", "/api/v1/warehouse_remains", params=flags))
    if step == "create":
        return [created]
    task = created["data"]["taskId"]
    statuses = [ok(wbr(box, "GET", f"/api/v1/warehouse_remains/tasks/{task}/status")) for _ in range(3)]
    assert statuses[-1]["data"]["status"] == "done"
    if step == "status":
        return statuses
    return [ok(wbr(box, "GET", f"/api/v1/warehouse_remains/tasks/{task}/download"))]


def sku_upload_disabled(box: Sandbox) -> list[Any]:
    warehouse = ok(wbr(box, "GET", "/api/v3/warehouses"))[0]["id"]
    resp = wbr(box, "POST", f"/api/v3/stocks/{warehouse}", json={"skus": ["2000000000001"]})
    assert resp.status_code == 400
    assert resp.json() == load("wb/v3_stocks.error_400_sku_upload_disabled.json")  # an exact body: values too
    return [resp.json()]


def wb_429(box: Sandbox) -> list[Any]:
    box.add_fault(Fault(kind="rate_limit", path=f"{REPORT}/wb-warehouses", retry_after=2))
    resp = wbr(box, "POST", f"{REPORT}/wb-warehouses", json={})
    assert resp.status_code == 429 and resp.headers["Content-Type"].startswith("application/problem+json")
    assert {"X-Ratelimit-Retry", "X-Ratelimit-Limit", "X-Ratelimit-Reset"} <= set(resp.headers)
    sample = load("wb/error_429.json")
    assert (resp.json()["status"], resp.json()["statusText"]) == (sample["status"], sample["statusText"])
    return [resp.json()]


def stocks_report_wb(box: Sandbox) -> list[Any]:
    return [ok(wbr(box, "POST", f"{REPORT}/wb-warehouses", json={"limit": 50, "offset": 0}))]


def wb_403_base_token(box: Sandbox) -> list[Any]:
    from pipelines.sandbox import WB_BASIC_TOKEN

    resp = requests.post(box.url + f"{REPORT}/wb-warehouses", json={}, timeout=10,
                         headers={"Authorization": WB_BASIC_TOKEN})
    assert resp.status_code == 403 and resp.headers["Content-Type"].startswith("application/problem+json")
    sample = load("wb/error_403_base_token.json")
    assert {k: resp.json()[k] for k in ("title", "detail", "code", "status", "statusText")} == \
        {k: sample[k] for k in ("title", "detail", "code", "status", "statusText")}
    return [resp.json()]


# Every sample of a live method and how to get the sandbox's answers to compare with it.
LIVE: dict[str, Callable[[Sandbox], list[Any]]] = {
    "ozon/v4_product_info_stocks.json": v4_first_page,
    "ozon/v4_product_info_stocks.diphantxm.json": v4_first_page,
    "ozon/v4_product_info_stocks.irenicaa_last_page.json": v4_last_page,
    "ozon/v3_product_list.json": product_list,
    "ozon/v3_product_list.diphantxm.json": product_list,
    "ozon/v3_product_info_list.json": product_info_list,
    "ozon/v3_product_info_list.diphantxm.json": product_info_list,
    "ozon/v1_product_info_warehouse_stocks.json": warehouse_stocks,
    "ozon/v2_analytics_stock_on_warehouses.diphantxm.json": stock_on_warehouses,
    "ozon/error_401_missing_headers.diphantxm.json": ozon_401,
    "wb/cards_list.json": cards,
    "wb/warehouse_remains_create.json": lambda box: remains(box, "create"),
    "wb/warehouse_remains_status.json": lambda box: remains(box, "status"),
    "wb/warehouse_remains_download.json": lambda box: remains(box, "download"),
    "wb/v3_stocks.error_400_sku_upload_disabled.json": sku_upload_disabled,
    "wb/error_429.json": wb_429,
    "wb/stocks_report_wb_warehouses.json": stocks_report_wb,
    "wb/error_403_base_token.json": wb_403_base_token,
}


@pytest.mark.parametrize("name", sorted(LIVE))
def test_live_method_answers_have_the_sample_shape(sb: Sandbox, name: str) -> None:
    check(name, LIVE[name](sb))


def test_total_field_option_restores_the_sample_shape() -> None:
    with Sandbox(SandboxOptions(products=20, seed=21, rate_limit_scale=0, ozon_total_field=True)) as box:
        answers = {"ozon/v4_product_info_stocks.json": v4_first_page(box)[0],
                   "ozon/v3_product_list.json": product_list(box)[0]}
    for name, answer in answers.items():
        shape = Shape({})
        shape.compare(load(name), answer)
        assert not shape.problems, shape.problems


def test_legacy_supplier_stocks_shapes_behind_the_option() -> None:
    """Removed method (refused by default, see RETIRED): the samples describe the legacy mode."""
    with Sandbox(SandboxOptions(products=10, seed=21, rate_limit_scale=0, wb_legacy_supplier_stocks=True)) as box:
        rows = ok(wbr(box, "GET", "/api/v1/supplier/stocks", params={"dateFrom": "2019-06-20"}))
        error = wbr(box, "GET", "/api/v1/supplier/stocks")
    shape = Shape({})
    shape.compare(load("wb/supplier_stocks.json"), rows)
    assert rows and not shape.problems, shape.problems
    assert error.status_code == 400
    shape = Shape({})
    shape.compare(load("wb/error_400_supplier_stocks_legacy.json"), error.json())
    assert not shape.problems, shape.problems


# ---------------------------------------------------------------------- retired methods
@pytest.mark.parametrize("name", sorted(RETIRED))
def test_retired_method_samples_are_refused(sb: Sandbox, name: str) -> None:
    path = RETIRED[name]
    if name.startswith("ozon/"):
        resp = oz(sb, path, {"limit": 10})
        assert resp.status_code == 404
        assert resp.json() == {"code": 5, "message": "Obsolete method cannot be used", "details": []}
    else:
        resp = wbr(sb, "GET", path, params={"dateFrom": "2019-06-20"})
        assert resp.status_code == 404 and resp.json()["title"] == "path not found" and resp.json()["status"] == 404


def test_every_sample_is_accounted_for() -> None:
    """Every sample is shape-checked (LIVE), refused as retired (RETIRED) or not applicable."""
    names = {p.relative_to(SAMPLES).as_posix() for p in SAMPLES.rglob("*.json")}
    assert names, "no samples found"
    for name in names:
        assert (SAMPLES / name.replace(".json", ".src.txt")).exists(), f"{name} has no source note"
    groups = [set(LIVE), set(RETIRED), set(NOT_APPLICABLE)]
    assert sum(len(g) for g in groups) == len(set().union(*groups)), "a sample is listed twice"
    assert set().union(*groups) == names, (f"unaccounted: {sorted(names - set().union(*groups))}; "
                                           f"listed but missing: {sorted(set().union(*groups) - names)}")
    assert set(MISSING_OK) | set(ALLOWED_EMPTY) <= set(LIVE)
