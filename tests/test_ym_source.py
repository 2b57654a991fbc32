"""The Yandex Market source's own rules (`docs/api/yandex_market.md` §7), fast and on loopback only.

- Quantities: AVAILABLE / FREEZE / FIT / held types, FIT-only rows, unknown types, bad counts.
- Paging: a warehouse continuing on the next page, empty pages that still carry a token.
- Campaigns: not AVAILABLE or refused with 403 are skipped with a warning; every campaign
  refused is an authorization failure.
- Rate limits through the shared client: 420 (and 429) waited until `X-RateLimit-Resource-Until`
  within the cap, a parallel-limit 420 backed off, 423 retried; a client without Yandex's
  settings still treats 420 as a plain rejection (Ozon and WB unchanged).
"""

from __future__ import annotations

import json
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from typing import Any

import dlt
import duckdb
import pytest
import requests

from pipelines.api_client import ApiClient, ApiError, AuthError, RateLimitTooLong, SyncStats
from pipelines.marketplaces.ym import source as ym
from tests.contract.test_ym_parsers import LAST_STOCK_PAGE, ok, stub, ym_api  # noqa: F401  (fixture)

CAMPAIGN = {"id": 1, "business": {"id": 9}, "placementType": "FBS", "apiAvailability": "AVAILABLE"}


# ---------------------------------------------------------------------- quantities (§7)
@pytest.mark.parametrize("stocks, available, reserved", [
    ([{"type": "AVAILABLE", "count": 7}, {"type": "FREEZE", "count": 2}, {"type": "FIT", "count": 9}], 7, 2),
    ([{"type": "FIT", "count": 9}], 9, 0),  # FIT only: available, reserved unknown (0)
    ([{"type": "FIT", "count": 9}, {"type": "FREEZE", "count": 2}], 7, 2),  # no AVAILABLE: FIT - FREEZE
    ([{"type": "AVAILABLE", "count": 1}, {"type": "FREEZE", "count": 1}, {"type": "QUARANTINE", "count": 2},
      {"type": "DEFECT", "count": 3}, {"type": "EXPIRED", "count": 4}, {"type": "UTILIZATION", "count": 5}], 1, 15),
    ([], 0, 0),  # no types at all: everything 0
    ([{"type": "AVAILABLE", "count": "12"}], 12, 0),  # lossless decimal text
])
def test_quantities_follow_the_mapping(stocks, available, reserved) -> None:
    row, unknown = ym.offer_quantities(stocks)
    assert (row["quantity_available"], row["quantity_reserved"]) == (available, reserved)
    assert unknown == [] and "_invalid_reason" not in row


def test_fit_is_never_added_and_a_disagreeing_fit_is_counted() -> None:
    row, _ = ym.offer_quantities([{"type": "AVAILABLE", "count": 5}, {"type": "FIT", "count": 9}, {"type": "FREEZE", "count": 1}])
    assert (row["quantity_available"], row["quantity_reserved"], row["fit"]) == (5, 1, 9)
    assert ym.fit_disagrees(row)
    agreeing, _ = ym.offer_quantities([{"type": "AVAILABLE", "count": 5}, {"type": "FIT", "count": 6}, {"type": "FREEZE", "count": 1}])
    assert not ym.fit_disagrees(agreeing)


@pytest.mark.parametrize("stocks, reason", [
    ([{"type": "AVAILABLE", "count": 2.5}], "available: not a whole number (2.5)"),
    ([{"type": "AVAILABLE", "count": "many"}], 'available: text, not a number ("many")'),
    ([{"type": "FREEZE"}], "freeze: missing"),
    ([{"type": "AVAILABLE", "count": 1}, {"type": "AVAILABLE", "count": 1}], "available: given 2 times"),
])
def test_a_bad_count_rejects_the_row_and_is_never_coerced(stocks, reason) -> None:
    row, _ = ym.offer_quantities(stocks)
    assert reason in row["_invalid_reason"] and row["_invalid_reason"].startswith("invalid quantity: ")
    assert row["quantity_available"] is None and row["quantity_reserved"] is None


def test_an_unknown_type_is_not_counted_but_kept() -> None:
    page = [{"warehouseId": 5, "offers": [{"offerId": "A", "stocks": [{"type": "AVAILABLE", "count": 3},
                                                                      {"type": "IN_TRANSIT", "count": 50}]}]}]
    rows, unknown = ym.offer_stock_rows(CAMPAIGN, page)
    assert unknown == {"IN_TRANSIT"}
    assert (rows[0]["quantity_available"], rows[0]["quantity_reserved"]) == (3, 0)
    assert rows[0]["unknown_stocks"] == [{"type": "IN_TRANSIT", "count": 50}]
    table = ym.stock_table(rows)
    assert json.loads(table.column("unknown_stocks")[0].as_py()) == [{"type": "IN_TRANSIT", "count": 50}]


def test_offer_ids_stay_exact_strings() -> None:
    page = [{"warehouseId": 5, "offers": [{"offerId": "0557722", "stocks": []}, {"offerId": "557722", "stocks": []}]}]
    table = ym.stock_table(ym.offer_stock_rows(CAMPAIGN, page)[0])
    assert table.column("offer_id").to_pylist() == ["0557722", "557722"]


# ---------------------------------------------------------------------- paging
def stocks_page(warehouses: list[dict[str, Any]], token: str | None) -> tuple[int, bytes, dict[str, str]]:
    return ok({"status": "OK", "result": {"warehouses": warehouses, **({"paging": {"nextPageToken": token}} if token else {})}})


def offer(offer_id: str, count: int) -> dict[str, Any]:
    return {"offerId": offer_id, "stocks": [{"type": "AVAILABLE", "count": count}]}


def test_a_warehouse_continuing_on_the_next_page_keeps_every_offer(stub) -> None:  # noqa: F811
    server = stub({"/v2/campaigns/1/offers/stocks": [
        stocks_page([{"warehouseId": 5, "offers": [offer("A", 1), offer("B", 2)]}], "t1"),
        stocks_page([{"warehouseId": 5, "offers": [offer("C", 3)]}, {"warehouseId": 6, "offers": [offer("A", 4)]}], None),
    ]})
    rows = [r for page in ym_api(server.url).stock_pages(1) for r in ym.offer_stock_rows(CAMPAIGN, page)[0]]
    assert [(r["warehouse_id"], r["offer_id"], r["quantity_available"]) for r in rows] == [
        (5, "A", 1), (5, "B", 2), (5, "C", 3), (6, "A", 4)]


def test_empty_pages_with_a_token_are_passed_then_stop_after_three(stub) -> None:  # noqa: F811
    server = stub({"/v2/campaigns/1/offers/stocks": [
        stocks_page([], "t1"),
        stocks_page([{"warehouseId": 5, "offers": []}], "t2"),  # a warehouse without offers is empty too
        stocks_page([{"warehouseId": 5, "offers": [offer("A", 1)]}], "t3"),
        stocks_page([], "t4"), stocks_page([], "t5"), stocks_page([], "t6"),
        stocks_page([{"warehouseId": 5, "offers": [offer("Z", 1)]}], None),  # never asked
    ]})
    api = ym_api(server.url)
    pages = list(api.stock_pages(1))
    assert [[o["offerId"] for w in p for o in w["offers"]] for p in pages] == [["A"]]
    assert len(server.requests) == 6
    assert any("3 empty pages in a row" in w for w in api.warnings)


def test_a_token_that_comes_back_stops_the_paging(stub) -> None:  # noqa: F811
    server = stub({"/v2/campaigns/1/offers/stocks": [
        stocks_page([{"warehouseId": 5, "offers": [offer("A", 1)]}], "same"),
        stocks_page([{"warehouseId": 5, "offers": [offer("B", 1)]}], "same"),
    ]})
    api = ym_api(server.url)
    assert len(list(api.stock_pages(1))) == 2
    assert len(server.requests) == 2 and any("same nextPageToken" in w for w in api.warnings)


# ---------------------------------------------------------------------- the source
def tables_of(source: Any, tmp_path: Any) -> dict[str, list[dict[str, Any]]]:
    """Load the dlt source into a DuckDB file under `tmp_path`, as a sync lands it: rows per raw
    table, with the column names dlt gives them."""
    pipeline = dlt.pipeline(pipeline_name="ym_source_test", pipelines_dir=str(tmp_path / "dlt"),
                            destination=dlt.destinations.duckdb(str(tmp_path / "raw.duckdb")), dataset_name="raw_ym")
    pipeline.run(source)
    with duckdb.connect(str(tmp_path / "raw.duckdb"), read_only=True) as db:
        names = [r[0] for r in db.execute("select table_name from information_schema.tables "
                                          "where table_schema = 'raw_ym' and table_name not like '_dlt%'").fetchall()]
        out = {}
        for name in names:
            cursor = db.execute(f"select * from raw_ym.{name} order by all")
            columns = [c[0] for c in cursor.description]
            out[name] = [dict(zip(columns, row)) for row in cursor.fetchall()]
    return out


def account(server_answers: dict[str, Any]) -> dict[str, Any]:
    campaigns = {"campaigns": [
        CAMPAIGN,
        {"id": 2, "business": {"id": 9}, "placementType": "DBS", "apiAvailability": "DISABLED_BY_INACTIVITY"},
        {"id": 3, "business": {"id": 9}, "placementType": "FBY", "apiAvailability": "AVAILABLE"},
    ]}
    return {"/v2/campaigns": ok(campaigns), "/v2/warehouses": ok({"status": "OK", "result": {"warehouses": [{"id": 300, "name": "Tomilino"}]}}),
            "/v2/businesses/9/warehouses": ok({"status": "OK", "result": {"warehouses": [{"id": 5, "name": "Mine", "express": True, "campaignId": 1}]}}),
            "/v2/businesses/9/offer-mappings": ok({"status": "OK", "result": {"offerMappings": [
                {"offer": {"offerId": "A", "name": "Thing", "barcodes": ["4600001"]}, "mapping": {"marketSku": 101}}]}}),
            **server_answers}


NOT_ACTIVE = (403, json.dumps({"status": "ERROR", "errors": [{"code": "FORBIDDEN", "message": "Access denied for campaign '3' because it is not active"}]}).encode(), {})


def test_skipped_campaigns_are_warned_and_recorded_the_rest_lands(stub, tmp_path) -> None:  # noqa: F811
    server = stub(account({
        "/v2/campaigns/1/offers/stocks": [stocks_page([{"warehouseId": 5, "offers": [offer("A", 1)]}], "t1"),
                                          stocks_page([{"warehouseId": 5, "offers": [
                                              {"offerId": "B", "stocks": [{"type": "FIT", "count": 4}, {"type": "NEW", "count": 1}]}]}], None)],
        "/v2/campaigns/3/offers/stocks": NOT_ACTIVE,
    }))
    counts: dict[str, Any] = {}
    tables = tables_of(ym.yandex_market_source(ym_api(server.url), counts=counts), tmp_path)
    assert [(r["campaign_id"], r["offer_id"], r["quantity_available"]) for r in tables["offer_stocks"]] == [(1, "A", 1), (1, "B", 4)]
    read = {r["campaign_id"]: (r["stocks_read"], r["skip_reason"]) for r in tables["campaigns"]}
    assert read[1] == (True, None)
    assert read[2] == (False, "apiAvailability DISABLED_BY_INACTIVITY")
    assert read[3][0] is False and "not active" in read[3][1]
    warnings = " | ".join(counts["warnings"])
    assert "campaign 2" in warnings and "DISABLED_BY_INACTIVITY" in warnings
    assert "campaign 3" in warnings and "not active" in warnings
    assert "stock type 'NEW'" in warnings
    assert (counts["campaigns"], counts["campaigns_read"], counts["campaigns_skipped"]) == (3, 1, 2)
    assert tables["seller_warehouses"][0]["business_id"] == 9 and tables["seller_warehouses"][0]["express"] is True
    assert tables["fby_warehouses"][0]["name"] == "Tomilino"
    assert (tables["offers"][0]["offer_id"], tables["offers"][0]["market_sku"]) == ("A", 101)
    assert len([r for r in server.requests if r[1] == "/v2/campaigns"]) == 1  # read once for every resource


def test_every_campaign_refused_is_an_authorization_failure(stub) -> None:  # noqa: F811
    server = stub(account({"/v2/campaigns/1/offers/stocks": NOT_ACTIVE, "/v2/campaigns/3/offers/stocks": NOT_ACTIVE}))
    source = ym.yandex_market_source(ym_api(server.url), counts={})
    with pytest.raises(Exception) as failure:
        list(source.resources["offer_stocks"])
    cause = failure.value
    while not isinstance(cause, AuthError) and (cause.__cause__ or cause.__context__):
        cause = cause.__cause__ or cause.__context__
    assert isinstance(cause, AuthError) and cause.status == 403


# ---------------------------------------------------------------------- rate limits
def response(status: int, headers: dict[str, str]) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r.headers.update(headers)
    return r


NOW = datetime(2026, 12, 6, 10, 0, 0, tzinfo=timezone.utc)


def http(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


@pytest.mark.parametrize("headers, wait", [
    ({"Date": http(NOW), "X-RateLimit-Resource-Until": http(NOW + timedelta(seconds=42)),
      "X-RateLimit-Resource-Remaining": "0"}, 42.0),
    ({"Date": http(NOW), "X-RateLimit-Resource-Until": http(NOW + timedelta(seconds=42))}, 42.0),  # no Remaining
    ({"Date": http(NOW), "X-RateLimit-Resource-Until": http(NOW - timedelta(seconds=5))}, 1.0),  # already passed
    ({"Retry-After": "3", "X-RateLimit-Resource-Until": http(NOW + timedelta(seconds=42))}, 3.0),  # honoured first
    ({"Date": http(NOW), "X-RateLimit-Resource-Until": http(NOW + timedelta(hours=1)),
      "X-RateLimit-Resource-Remaining": "17"}, None),  # the parallel limit: back off, never an hour
    ({"X-RateLimit-Resource-Until": "not a date"}, None),
    ({}, None),
])
def test_the_wait_a_420_asks_for(headers, wait) -> None:
    assert ym.server_wait(response(420, headers)) == wait


def until_answer(seconds: float, status: int = 420, remaining: str = "0") -> Any:
    def headers_now() -> dict[str, str]:
        now = datetime.now(timezone.utc).replace(microsecond=0)
        return {"Date": http(now), "X-RateLimit-Resource-Until": http(now + timedelta(seconds=seconds)),
                "X-RateLimit-Resource-Remaining": remaining}
    return headers_now


def ym_client(url: str, waits: list[float], **overrides: Any) -> ApiClient:
    options = dict(label="Yandex Market", secrets=[], max_retries=2, backoff_base=0.001, sleep=waits.append,
                   stats=SyncStats(), rate_limit_status=ym.RATE_LIMIT_STATUS, server_wait=ym.server_wait,
                   retry_status=ym.RETRY_STATUS, max_server_wait=300.0)
    options.update(overrides)
    return ApiClient("ym", {"Api-Key": "k"}, **options)


LIMITED = json.dumps({"status": "ERROR", "errors": [{"code": "LIMIT_EXCEEDED", "message": "Hit rate limit of 100 requests per 'hour' for resource 'R'"}]}).encode()


@pytest.mark.parametrize("status", [420, 429])
def test_a_rate_limit_is_waited_out_until_the_reset_then_retried(stub, status) -> None:  # noqa: F811
    now = datetime.now(timezone.utc).replace(microsecond=0)
    limited = (status, LIMITED, {"Date": http(now), "X-RateLimit-Resource-Until": http(now + timedelta(seconds=30)),
                                 "X-RateLimit-Resource-Remaining": "0"})
    server = stub({"/v2/warehouses": [limited, ok({"status": "OK", "result": {"warehouses": []}})]})
    waits: list[float] = []
    client = ym_client(server.url, waits)
    assert client.request("GET", server.url + "/v2/warehouses", endpoint="/v2/warehouses") == {"status": "OK", "result": {"warehouses": []}}
    assert waits == [30.0]
    assert (client.stats.requests, client.stats.retries, client.stats.rate_limited) == (2, 1, 1)


def test_a_reset_beyond_the_cap_fails_at_once(stub) -> None:  # noqa: F811
    now = datetime.now(timezone.utc).replace(microsecond=0)
    server = stub({"/v2/warehouses": (420, LIMITED, {"Date": http(now), "X-RateLimit-Resource-Until": http(now + timedelta(minutes=40))})})
    waits: list[float] = []
    with pytest.raises(RateLimitTooLong, match=r"Yandex Market /v2/warehouses: rate limited for 2400 s"):
        ym_client(server.url, waits).request("GET", server.url + "/v2/warehouses", endpoint="/v2/warehouses")
    assert waits == [] and len(server.requests) == 1


def test_a_423_is_retried_like_a_server_error(stub) -> None:  # noqa: F811
    migrating = (423, json.dumps({"status": "ERROR", "errors": [{"code": "LOCKED", "message": "Business is in migration"}]}).encode(), {})
    server = stub({"/v2/campaigns": [migrating, ok({"campaigns": []})]})
    waits: list[float] = []
    client = ym_client(server.url, waits)
    assert client.request("GET", server.url + "/v2/campaigns", endpoint="/v2/campaigns") == {"campaigns": []}
    assert len(waits) == 1 and client.stats.rate_limited == 0


def test_without_its_settings_a_client_rejects_420_as_before(stub) -> None:  # noqa: F811
    """The defaults are today's behaviour (Ozon, WB): 429 alone is a rate limit, 423 is not retried."""
    server = stub({"/x": (420, LIMITED, {"Retry-After": "1"}), "/y": (423, b"{}", {})})
    waits: list[float] = []
    plain = ApiClient("m", {}, label="M", secrets=[], max_retries=2, backoff_base=0.001, sleep=waits.append)
    with pytest.raises(ApiError, match=r"request rejected \(420"):
        plain.request("GET", server.url + "/x", endpoint="/x")
    with pytest.raises(ApiError, match=r"request rejected \(423"):
        plain.request("GET", server.url + "/y", endpoint="/y")
    assert waits == [] and len(server.requests) == 2
