"""Contract tests, client side: every published sample answer goes through the parser that reads it.

Each sample (`samples/`, copied from `shared/api/samples/` with its source note) is served
over real HTTP on loopback by a scripted server that answers exactly that file, and the
project's own client (`OzonApi`, `WildberriesApi` over `ApiClient`) reads it. So the parsers are
held to the marketplaces' published shapes, not to our sandbox's. Samples of retired methods
must be refused loudly (or have no parser at all), never read as empty stock.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pytest

from pipelines.marketplaces.ozon import source as ozon
from pipelines.marketplaces.wb import source as wildberries
from pipelines.api_client import ApiError, AuthError
from pipelines.config import load_settings

SAMPLES = Path(__file__).parent / "samples"

# Samples no parser of ours reads, each with the reason. The test below fails when a sample
# appears that is neither read by a test here nor listed here.
NO_PARSER = {
    "ozon/v2_analytics_stock_on_warehouses.diphantxm.json": "legacy FBO report, not part of the stock plan",
    "ozon/v1_analytics_manage_stocks.diphantxm.json": "retired (Dec 2025 / Jan 2026)",
    "wb/supplier_stocks.json": "retired (removed Jun 2026): the client never calls it",
    "wb/error_400_supplier_stocks_legacy.json": "statistics-api error of the retired method (see test_error_bodies)",
}


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


class Scripted:
    """A loopback HTTP server answering each path with a fixed (status, body, headers).

    A list of answers for a path is served in turn, the last one repeating.
    """

    def __init__(self, answers: dict[str, Any]):
        self.answers = answers
        self.requests: list[tuple[str, str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                outer.requests.append((self.command, path, json.loads(raw) if raw else None))
                answer = outer.answers.get(path, (404, b'{"title": "path not found"}', {}))
                if isinstance(answer, list):
                    answer = answer.pop(0) if len(answer) > 1 else answer[0]
                status, body, headers = answer
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[Scripted] = []

    def start(answers: dict[str, tuple[int, bytes, dict[str, str]]]) -> Scripted:
        servers.append(Scripted(answers))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def settings(url: str) -> Any:
    return load_settings({
        "OZON_CLIENT_ID": "1", "OZON_API_KEY": "contract-key", "OZON_API_URL": url,
        "WB_API_TOKEN": "contract-token", "WB_ANALYTICS_API_URL": url, "WB_MARKETPLACE_API_URL": url,
        "WB_CONTENT_API_URL": url, "WB_STATISTICS_API_URL": url,
        "INVSYNC_RATE_LIMIT_SCALE": "0", "INVSYNC_MAX_RETRIES": "1", "INVSYNC_HTTP_TIMEOUT": "5",
    })


def ozon_api(url: str) -> ozon.OzonApi:
    return ozon.OzonApi(ozon.make_client(settings(url), backoff_base=0.001), url)


def wb_api(url: str) -> wildberries.WildberriesApi:
    s = settings(url)
    return wildberries.WildberriesApi(wildberries.make_client(s, backoff_base=0.001), s, sleep=lambda _s: None)


OK: dict[str, str] = {}


# ---------------------------------------------------------------------- Ozon
@pytest.mark.parametrize("name", ["ozon/v4_product_info_stocks.json", "ozon/v4_product_info_stocks.diphantxm.json"])
def test_ozon_v4_totals_are_read_per_scheme(serve, name) -> None:
    body = sample(name)
    server = serve({"/v4/product/info/stocks": (200, body, OK)})
    pages = list(ozon_api(server.url).stock_pages())
    items = [i for page, _total in pages for i in page]
    expected = json.loads(body)
    assert [i["product_id"] for i in items] == [i["product_id"] for i in expected["items"]]
    assert pages[0][1] == expected.get("total_items", expected.get("total"))
    rows = ozon.flatten_stock_items(items)
    assert len(rows) == sum(max(1, len(i.get("stocks") or [])) for i in expected["items"])
    for row in rows:
        assert {"product_id", "offer_id", "type", "sku", "present", "reserved"} <= set(row)
    # A cursor that does not move ends the paging (the same page is not read twice as new items).
    assert len(server.requests) <= 2


def test_ozon_v4_last_page_ends_the_paging(serve) -> None:
    server = serve({"/v4/product/info/stocks": (200, sample("ozon/v4_product_info_stocks.irenicaa_last_page.json"), OK)})
    assert list(ozon_api(server.url).stock_pages()) == []
    request = server.requests[0][2]
    assert request["limit"] == 1000 and request["filter"]["visibility"] == "ALL"


@pytest.mark.parametrize("name", ["ozon/v3_product_list.json", "ozon/v3_product_list.diphantxm.json"])
def test_ozon_product_list(serve, name) -> None:
    body = sample(name)
    last_page = b'{"result": {"items": [], "last_id": "", "total_items": 0}}'
    server = serve({"/v3/product/list": [(200, body, OK), (200, last_page, OK)]})
    pages = list(ozon_api(server.url).product_list_pages())
    assert [i["product_id"] for p in pages for i in p] == [i["product_id"] for i in json.loads(body)["result"]["items"]]


@pytest.mark.parametrize("name", ["ozon/v3_product_info_list.json", "ozon/v3_product_info_list.diphantxm.json"])
def test_ozon_product_info(serve, name) -> None:
    body = sample(name)
    server = serve({"/v3/product/info/list": (200, body, OK)})
    items = ozon_api(server.url).product_info([1, 2])
    assert items == json.loads(body)["items"] and items
    assert server.requests[0][2] == {"product_id": [1, 2]}


def test_ozon_warehouse_stocks(serve) -> None:
    body = sample("ozon/v1_product_info_warehouse_stocks.json")
    server = serve({"/v1/product/info/warehouse/stocks": (200, body, OK)})
    pages = list(ozon_api(server.url).warehouse_stocks(1020003080073000))
    assert [r for p in pages for r in p] == json.loads(body)["stocks"]
    assert server.requests == [("POST", "/v1/product/info/warehouse/stocks",
                                {"warehouse_id": 1020003080073000, "limit": 1000, "cursor": ""})]


@pytest.mark.parametrize("name, call", [
    ("ozon/v1_product_info_stocks_by_warehouse_fbs.diphantxm.json", lambda api: list(api.fbs_stocks_by_sku(["12"]))),
    ("ozon/v1_warehouse_list.diphantxm.json", lambda api: api.seller_warehouses()),
])
def test_ozon_retired_v1_shapes_are_refused_not_read_as_empty(serve, name, call) -> None:
    """A `{"result": [...]}` answer (the v1 methods switched off on 7 Apr 2026) is not stock data."""
    body = sample(name)
    server = serve({"/v2/product/info/stocks-by-warehouse/fbs": (200, body, OK), "/v2/warehouse/list": (200, body, OK)})
    with pytest.raises(ValueError, match="answered without a"):
        call(ozon_api(server.url))


def test_ozon_missing_headers_401_is_an_authorization_failure(serve) -> None:
    server = serve({"/v4/product/info/stocks": (401, sample("ozon/error_401_missing_headers.diphantxm.json"), OK)})
    with pytest.raises(AuthError, match="Client-Id and Api-Key headers are required"):
        list(ozon_api(server.url).stock_pages())
    assert len(server.requests) == 1  # never retried


def test_ozon_item_quota_429_with_a_string_code_is_retried_then_reported(serve) -> None:
    server = serve({"/v4/product/info/stocks": (429, sample("ozon/error_429_item_quota.json"), {"Retry-After": "0"})})
    with pytest.raises(ApiError, match="RESOURCE_EXHAUSTED: You have reached operation items limits"):
        list(ozon_api(server.url).stock_pages())
    assert len(server.requests) == 2  # INVSYNC_MAX_RETRIES=1


# ---------------------------------------------------------------------- WB
def test_wb_cards_give_sizes_with_barcodes_in_card_order(serve) -> None:
    body = sample("wb/cards_list.json")
    server = serve({"/content/v2/get/cards/list": (200, body, OK)})
    cards = [c for page in wb_api(server.url).card_pages() for c in page]
    expected = json.loads(body)["cards"]
    assert [c["nmID"] for c in cards] == [c["nmID"] for c in expected]
    rows = wildberries.flatten_cards(cards)
    want = [(c["nmID"], s["chrtID"], b, n) for c in expected for s in c["sizes"] for n, b in enumerate(s["skus"])]
    assert [(r["nmID"], r["chrtID"], r["barcode"], r["barcode_position"]) for r in rows] == want


def test_wb_stocks_report_rows_are_read_with_their_in_way_counts_and_place_kind(serve) -> None:
    server = serve({wildberries.STOCKS_REPORT_WB: (200, sample("wb/stocks_report_wb_warehouses.json"), OK)})
    pages = list(wb_api(server.url).stocks_report_pages(wildberries.STOCKS_REPORT_WB))
    assert len(pages) == 1 and isinstance(pages[0], pa.Table)  # the documented page (pretty-printed) is read by Arrow
    table, undocumented = wildberries.report_table(pages[0])
    items = json.loads(sample("wb/stocks_report_wb_warehouses.json"))["data"]["items"]
    # Коледино, id 507: a real warehouse; every field as the sample gives it
    assert table.drop_columns(["_fetched_at"]).to_pylist() == [{**item, "place_kind": "physical"} for item in items]
    assert undocumented == []
    row = table.to_pylist()[0]
    assert (row["chrtId"], row["quantity"], row["inWayToClient"], row["inWayFromClient"]) == (91663228, 43, 14, 11)
    assert server.requests[0][2] == {"limit": wildberries.STOCKS_REPORT_LIMIT, "offset": 0}


def test_wb_basic_token_403_is_an_authorization_failure_naming_the_cause(serve) -> None:
    server = serve({wildberries.STOCKS_REPORT_WB: (403, sample("wb/error_403_base_token.json"), OK)})
    with pytest.raises(AuthError, match=r"authorization failed \(403: base token is not allowed\)"):
        list(wb_api(server.url).stocks_report_pages(wildberries.STOCKS_REPORT_WB))
    assert len(server.requests) == 1  # never retried


def test_wb_remains_report_create_poll_download(serve) -> None:
    create = sample("wb/warehouse_remains_create.json")
    task = json.loads(create)["data"]["taskId"]
    base = f"/api/v1/warehouse_remains/tasks/{task}"
    download = sample("wb/warehouse_remains_download.json")
    server = serve({
        "/api/v1/warehouse_remains": (200, create, OK),
        base + "/status": (200, sample("wb/warehouse_remains_status.json"), OK),
        base + "/download": (200, download, OK),
    })
    items = wb_api(server.url).warehouse_remains()
    assert items == json.loads(download)
    rows = wildberries.flatten_remains(items)
    assert {r["warehouseName"] for r in rows} == {w["warehouseName"] for i in items for w in i["warehouses"]}
    assert [p for _m, p, _b in server.requests] == ["/api/v1/warehouse_remains", base + "/status", base + "/download"]


def test_wb_remains_download_204_is_an_empty_snapshot(serve) -> None:
    create = sample("wb/warehouse_remains_create.json")
    base = f"/api/v1/warehouse_remains/tasks/{json.loads(create)['data']['taskId']}"
    server = serve({
        "/api/v1/warehouse_remains": (200, create, OK),
        base + "/status": (200, sample("wb/warehouse_remains_status.json"), OK),
        base + "/download": (204, b"", OK),
    })
    assert wb_api(server.url).warehouse_remains() == []


def test_wb_seller_stock_sku_upload_disabled_is_reported_by_its_code(serve) -> None:
    server = serve({"/api/v3/stocks/7": (400, sample("wb/v3_stocks.error_400_sku_upload_disabled.json"), OK)})
    with pytest.raises(ApiError, match="SKUUploadDisabled: Uploading stock is not allowed by 'sku'"):
        wb_api(server.url).seller_stocks(7, [316399238])
    assert server.requests[0][2] == {"chrtIds": [316399238]}  # and we send chrtIds, never skus


def test_wb_429_problem_json_is_retried_as_told(serve) -> None:
    server = serve({"/content/v2/get/cards/list": (429, sample("wb/error_429.json"), {"X-Ratelimit-Retry": "0"})})
    with pytest.raises(ApiError, match="rate limited \\(429: limited by"):
        list(wb_api(server.url).card_pages())
    assert len(server.requests) == 2


def test_error_bodies_of_every_shape_give_their_message(serve) -> None:
    """statistics-api `{"errors": [...]}` (the retired method's host) still reads as a message."""
    server = serve({"/api/v3/warehouses": (400, sample("wb/error_400_supplier_stocks_legacy.json"), OK)})
    with pytest.raises(ApiError, match="dateFrom: field required"):
        wb_api(server.url).fbs_warehouses()


def test_every_sample_is_read_by_a_parser_test_or_listed_without_one() -> None:
    """No sample escapes the contract: each is named by a test above or in NO_PARSER."""
    on_disk = {str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*.json")}
    assert len(on_disk) >= 20, "the samples are missing"
    source = Path(__file__).read_text(encoding="utf-8").split("def test_every_sample")[0]
    uncovered = {name for name in on_disk if f'"{name}"' not in source}
    assert not uncovered, sorted(uncovered)
    assert set(NO_PARSER) <= on_disk
