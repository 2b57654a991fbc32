"""Contract tests, Yandex Market: every published sample answer goes through the parser that reads it.

The samples (`docs/api/samples/yandex_market/`, described in its README) are served over real
HTTP on loopback by a scripted stub, and the project's own client (`YandexMarketApi` over
`ApiClient`) reads them: the parsers are held to Yandex's published shapes
(`docs/api/yandex_market.md` §2, §3.1), not to our sandbox's. The samples are generated
placeholders (`"example"`, `0`): shapes and semantics are tested, never values.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from pipelines.api_client import AuthError
from pipelines.config import Settings, load_settings
from pipelines.marketplaces.ym import API_KEY, API_URL
from pipelines.marketplaces.ym import source as ym

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "api" / "samples" / "yandex_market"
KEY = "ACMA:contract-key:0001"
Answer = tuple[int, bytes, dict[str, str]]


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


class Stub:
    """A loopback HTTP server answering each path with scripted (status, body, headers); a list
    is served in turn, the last one repeating. Records (method, path, query, headers, body)."""

    def __init__(self, answers: dict[str, Answer | list[Answer]]):
        self.answers = answers
        self.requests: list[tuple[str, str, dict[str, list[str]], dict[str, str], Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                outer.requests.append((self.command, parts.path, parse_qs(parts.query),
                                       {k.lower(): v for k, v in self.headers.items()},
                                       json.loads(raw) if raw else None))
                answer = outer.answers.get(parts.path, (404, b'{"status": "ERROR", "errors": [{"code": "NOT_FOUND"}]}', {}))
                if isinstance(answer, list):
                    answer = answer.pop(0) if len(answer) > 1 else answer[0]
                status, body, headers = answer
                self.send_response_only(status)
                headers = {"Date": self.date_time_string(), "Content-Type": "application/json", **headers}
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
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
def stub() -> Iterator[Any]:
    servers: list[Stub] = []

    def start(answers: dict[str, Any]) -> Stub:
        servers.append(Stub(answers))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def ym_settings(url: str) -> Settings:
    """Settings with the Yandex Market variables (not read from the environment while the
    marketplace is not in the registry)."""
    base = load_settings({"INVSYNC_RATE_LIMIT_SCALE": "0", "INVSYNC_MAX_RETRIES": "1", "INVSYNC_HTTP_TIMEOUT": "5"})
    return dataclasses.replace(base, marketplace_values={**base.marketplace_values, API_KEY: KEY, API_URL: url},
                               secret_names=base.secret_names | {API_KEY})


def ym_api(url: str) -> ym.YandexMarketApi:
    return ym.YandexMarketApi(ym.make_client(ym_settings(url), backoff_base=0.001), url)


def ok(body: Any) -> Answer:
    return 200, json.dumps(body).encode(), {}


LAST_STOCK_PAGE = ok({"status": "OK", "result": {"warehouses": []}})
CAMPAIGN = {"id": 7, "business": {"id": 70}, "placementType": "FBY", "apiAvailability": "AVAILABLE"}


@pytest.mark.parametrize("name", ["v2_campaigns_offers_stocks.json", "v2_campaigns_offers_stocks.2025-09_prev_page_token.json"])
def test_stocks_answer_in_both_shapes_gives_one_row_per_warehouse_and_offer(stub, name) -> None:
    body = sample(name)
    server = stub({"/v2/campaigns/7/offers/stocks": [(200, body, {}), LAST_STOCK_PAGE]})
    pages = list(ym_api(server.url).stock_pages(7))
    expected = json.loads(body)["result"]
    assert pages == [expected["warehouses"]]  # the empty last page is no page
    rows, unknown = ym.offer_stock_rows(CAMPAIGN, pages[0])
    offer = expected["warehouses"][0]["offers"][0]
    assert unknown == set()
    assert len(rows) == 1
    row = rows[0]
    assert (row["campaign_id"], row["business_id"], row["placement_type"]) == (7, 70, "FBY")
    assert (row["warehouse_id"], row["offer_id"]) == (expected["warehouses"][0]["warehouseId"], offer["offerId"])
    assert row["fit"] == offer["stocks"][0]["count"] and row["available"] is None
    # FIT only: available = FIT - FREEZE (absent = 0), reserved unknown = 0 (§7).
    assert (row["quantity_available"], row["quantity_reserved"]) == (0, 0)
    assert row["turnoverSummary"] == offer["turnoverSummary"] and row["updatedAt"] == offer["updatedAt"]
    # prevPageToken (the 2025 shape) is ignored; nextPageToken is sent back as pageToken.
    (m1, p1, q1, h1, b1), (_m2, _p2, q2, _h2, b2) = server.requests
    assert (m1, p1, b1, b2) == ("POST", "/v2/campaigns/7/offers/stocks", {}, {})
    assert q1 == {"limit": ["100"]}
    assert q2 == {"limit": ["100"], "pageToken": [expected["paging"]["nextPageToken"]]}
    assert h1["api-key"] == KEY and "authorization" not in h1


def test_stock_rows_land_as_an_arrow_page_with_integer_quantities(stub) -> None:
    server = stub({"/v2/campaigns/7/offers/stocks": [(200, sample("v2_campaigns_offers_stocks.json"), {}), LAST_STOCK_PAGE]})
    rows, _ = ym.offer_stock_rows(CAMPAIGN, next(iter(ym_api(server.url).stock_pages(7))))
    table = ym.stock_table(rows)
    for column in ym.OFFER_STOCK_INTEGERS:
        assert str(table.schema.field(column).type) == "int64", column
    assert table.column("turnoverSummary").type == "string"  # nested values land as JSON text


def test_campaigns_answer_without_a_wrapper_and_with_the_old_pager_only(stub) -> None:
    body = sample("v2_campaigns.json")
    server = stub({"/v2/campaigns": (200, body, {})})
    campaigns = ym_api(server.url).campaigns()
    assert campaigns == json.loads(body)["campaigns"]
    assert len(server.requests) == 1  # no nextPageToken: one page
    method, _path, query, _h, _b = server.requests[0]
    assert method == "GET" and query == {"limit": ["100"]}
    row = ym.campaign_row(campaigns[0])
    assert {"campaign_id", "business_id", "business_name", "placement_type", "api_availability", "domain"} <= set(row)
    assert ym.is_available(campaigns[0])
    assert "id" not in row and "placementType" not in row  # one column per field


def test_campaigns_pages_follow_the_token(stub) -> None:
    first = {"campaigns": [{"id": 1, "business": {"id": 9}}], "paging": {"nextPageToken": "p2"}}
    second = {"campaigns": [{"id": 2, "business": {"id": 9}}], "paging": {}}
    server = stub({"/v2/campaigns": [ok(first), ok(second)]})
    assert [c["id"] for c in ym_api(server.url).campaigns()] == [1, 2]
    assert server.requests[1][2] == {"limit": ["100"], "pageToken": ["p2"]}


def test_market_warehouses_give_ids_and_names(stub) -> None:
    body = sample("v2_warehouses.json")
    server = stub({"/v2/warehouses": (200, body, {})})
    rows = ym_api(server.url).fby_warehouses()
    assert rows == json.loads(body)["result"]["warehouses"]
    assert {"id", "name"} <= set(rows[0])
    assert server.requests[0][:2] == ("GET", "/v2/warehouses")


def test_bad_key_401_is_an_authorization_failure_never_retried(stub) -> None:
    server = stub({"/v2/campaigns": (401, sample("error_401_api_key_invalid.json"), {})})
    with pytest.raises(AuthError, match="Api-Key token is invalid") as failure:
        ym_api(server.url).campaigns()
    assert failure.value.status == 401 and "Yandex Market /v2/campaigns" in str(failure.value)
    assert KEY not in str(failure.value)
    assert len(server.requests) == 1


def test_every_sample_is_read_by_a_test_here() -> None:
    """No Yandex Market sample escapes the contract: each is named by a test above."""
    on_disk = {p.name for p in SAMPLES.glob("*.json")}
    assert len(on_disk) >= 5, "the samples are missing"
    source = Path(__file__).read_text(encoding="utf-8").split("def test_every_sample")[0]
    assert not {name for name in on_disk if f'"{name}"' not in source}
