"""dlt source for the Wildberries seller APIs: FBO stock, seller-warehouse stock, cards.

The stock plan (`docs/api/wildberries.md` §1), method by method:

| need | method (fallback) | raw table |
| --- | --- | --- |
| sizes: chrtID → nmID, vendorCode, techSize, barcodes | `POST /content/v2/get/cards/list` | `cards` |
| FBO per size and WB warehouse, with in-way counts | `POST /api/analytics/v1/stocks-report/wb-warehouses` (warehouse-remains report) | `wb_warehouse_stocks` (`warehouse_remains`) |
| seller warehouses and their `deliveryType` | `GET /api/v3/warehouses` | `fbs_warehouses` |
| stock per size on each seller warehouse | `POST /api/v3/stocks/{warehouseId}` with `chrtIds` (≤1000) | `fbs_stocks` |

`GET /api/v1/supplier/stocks` was removed in June 2026 and is never called; `skus` (barcodes)
is never sent. The token's own claims (`pipelines.marketplaces.wb.token`) choose the plan before the first
call (`plan_for`): a plain Basic (or Test) token is refused the stocks report (403 "base token
is not allowed"), so its FBO comes straight from the remains report, paced to the Basic limits
(4 calls an hour per method, one per 15 min) as planned waits; a token without Аналитика fails
the FBO part naming the category. A token whose claims cannot be read tries the stocks report
and, when refused, paces the remains report as for Basic (right under either answer). The plan's
one-line description lands in the sync's counts (`credentials`, shown by `invsync status`). The stocks report may also be
unavailable: then the remains report answers (`WB_FBO_SOURCE=auto`, the default), and the
sync's `sync_logs` row carries a warning. A `204 No Content` from either report is an empty,
complete snapshot. FBO stock is a complete snapshot on every sync; the cards are read whole
on a full sync and, on an incremental one, only those edited since the last.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator

import dlt
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.api_client import ApiClient, ApiError, AuthError, EndpointGone, SyncStats, client_for
from pipelines.config import Settings
from pipelines.marketplaces.base import CatalogBase
from pipelines.marketplaces.wb import (
    ANALYTICS_API_URL,
    API_TOKEN,
    CONTENT_API_URL,
    FBO_SOURCE,
    MARKETPLACE_API_URL,
    WILDBERRIES,
)
from pipelines.marketplaces.wb.token import ANALYTICS, CONTENT, MARKETPLACE, WbTokenInfo, read_token
from pipelines.pages import check_quantities, chunks, json_rows, row_batches, rows_to_table, stamped
from pipelines.progress import plan

log = logging.getLogger(__name__)

CARDS_PAGE_LIMIT = 100
CHRT_IDS_PER_CALL = 1000
STOCKS_REPORT_LIMIT = 250_000
STOCKS_REPORT_WB = "/api/analytics/v1/stocks-report/wb-warehouses"
REMAINS_TASK = "/api/v1/warehouse_remains/tasks/{task_id}"
REPORT_POLL_SECONDS = 5.0
REPORT_MAX_POLLS = 120

# Minimum seconds between calls per API group, from WB's published limits
# (scaled by INVSYNC_RATE_LIMIT_SCALE; 0 turns pacing off).
PACING = {"stocks_report": 20.0, "analytics": 60.0, "analytics_poll": 5.0, "marketplace": 0.2, "content": 0.6}
# Basic (and Test) tokens: the remains report's create, status and download each allow 4 calls
# an hour, one per 15 min, burst 1 (wildberries.md §2.3). Whether the three share one bucket is
# unverified (§4.6), so all three are paced as one group: right under either answer, and the
# report is done long before its status is first asked. Seller-warehouse methods: 150/min for
# Basic/Test in WB's general docs, 300/min in the 1 Oct spec (unverified which): 0.4 s is
# right under both. These are planned waits, scaled like all pacing, and no cap applies to them.
BASIC_REMAINS_INTERVAL = 900.0
BASIC_REMAINS_LIMIT = "Basic token: remains report 4 calls/hour per method, 1 per 15 min"
BASIC_PACING = {**PACING, "remains_basic": BASIC_REMAINS_INTERVAL, "marketplace": 0.4}
BASIC_REPORT_MAX_POLLS = 4  # an hour of polling at one status call per 15 min
# WB counts any 4XX answer of its marketplace API as 10 requests.
ERROR_COST = {"marketplace": 10}

# The quantities staging reads, per answer (API names): checked at the edge
# (`pages.check_quantities`), so a bad value rejects its row (`_invalid_reason`) instead of
# breaking the load or being rounded.
REPORT_QUANTITIES = ("quantity", "inWayToClient", "inWayFromClient")
REMAINS_QUANTITIES = ("quantity",)
SELLER_QUANTITIES = ("amount",)


def stock_table(rows: list[dict[str, Any]], quantities: tuple[str, ...]) -> pa.Table:
    """A page of stock rows with its quantities checked and typed int64."""
    return rows_to_table(check_quantities(rows, quantities), integers=quantities)


# Method names as recorded in the `sync_logs` counts.
FBO_METHOD, FBO_FALLBACK = "stocks_report_wb_warehouses", "warehouse_remains"


# The shape each method's answer must have (see `api_client.shape_problem`), by method template:
# a wrong one fails as "Wildberries <method>: unexpected answer shape (...)" before any parser
# reads it. Unlisted: an object.
_REPORT_SHAPE = {"data": {"items": [dict]}, "items": [dict]}
ANSWER_SHAPES: dict[str, Any] = {
    STOCKS_REPORT_WB: _REPORT_SHAPE,
    "/api/analytics/v1/stocks-report/seller-warehouses": _REPORT_SHAPE,
    "/api/v1/warehouse_remains": {"data": dict},
    REMAINS_TASK + "/status": {"data": dict},
    REMAINS_TASK + "/download": [{"warehouses": [dict]}],
    "/api/v3/warehouses": [dict],
    "/api/v3/stocks/{warehouseId}": {"stocks": [dict]},
    "/content/v2/get/cards/list": {"cards": [{"sizes": [{"skus": list}]}], "cursor": dict},
}


def endpoint_group(path: str) -> str:
    if path.startswith("/api/analytics/v1/stocks-report"):
        return "stocks_report"
    if path.startswith("/api/v1/warehouse_remains/tasks"):
        return "analytics_poll"
    if path.startswith("/api/v1/warehouse_remains"):
        return "analytics"
    if path.startswith("/content"):
        return "content"
    return "marketplace"


def basic_endpoint_group(path: str) -> str:
    """As `endpoint_group`, with the remains report's three methods in one Basic-paced group."""
    return "remains_basic" if path.startswith("/api/v1/warehouse_remains") else endpoint_group(path)


@dataclass(frozen=True)
class MethodPlan:
    """How this token's sync reads FBO stock, decided from its claims before the first call.

    `stocks_report`: ask `wb-warehouses` first (else straight to the remains report);
    `basic_limits`: pace the remains report to the Basic limits; `describe`: the one line for
    the sync record and `invsync status`.
    """

    token: WbTokenInfo
    stocks_report: bool
    basic_limits: bool
    fbo: str

    @property
    def describe(self) -> str:
        return self.token.describe(self.fbo)


def plan_for(token: WbTokenInfo, fbo_source: str = "auto") -> MethodPlan:
    """The method plan for a token (`fbo_source` as WB_FBO_SOURCE says: auto, stocks-report, remains)."""
    if token.lacks(ANALYTICS):
        return MethodPlan(token, False, False, f"FBO not readable: the token lacks category {ANALYTICS}")
    basic = token.kind in ("Basic", "Test")
    unknown = token.kind is None
    remains = ("FBO from the remains report (4 calls/hour per method)" if basic or unknown
               else "FBO from the remains report (1 call/min)")
    if fbo_source == "remains":
        return MethodPlan(token, False, basic or unknown, remains + " (WB_FBO_SOURCE=remains)")
    if basic and fbo_source == "auto":
        return MethodPlan(token, False, True, remains)
    if unknown:
        return MethodPlan(token, True, True, "FBO from the stocks report (wb-warehouses), else from the remains "
                          "report paced as for Basic (4 calls/hour per method)")
    return MethodPlan(token, True, basic, "FBO from the stocks report (wb-warehouses, 3 calls/min)")


def make_client(settings: Settings, stats: SyncStats | None = None, backoff_base: float = 1.0,
                method_plan: MethodPlan | None = None) -> ApiClient:
    """An API client with WB's token header, pacing and the configured retry policy.

    Under a plan with Basic limits the remains report is paced one call per 15 min (scaled),
    and a 429 asking up to 15 min (scaled) there is expected (the token's published limit) and
    waited out even above INVSYNC_MAX_SERVER_WAIT; longer waits still fail at once.
    """
    basic = method_plan is not None and method_plan.basic_limits
    # Scaled like the pacing: the sandbox scales its limits (and its 429s) the same way.
    explained = {"remains_basic": (BASIC_REMAINS_INTERVAL * settings.rate_limit_scale, BASIC_REMAINS_LIMIT)} if basic else {}
    return client_for(settings, WILDBERRIES.name, WILDBERRIES.label, {"Authorization": settings.value(API_TOKEN)},
                      BASIC_PACING if basic else PACING, basic_endpoint_group if basic else endpoint_group,
                      stats, backoff_base, error_cost=ERROR_COST, explained_waits=explained,
                      pacing_reasons={"remains_basic": BASIC_REMAINS_LIMIT})


def report_page(body: bytes) -> Any:
    """A stocks-report answer: its rows as an Arrow table, read without a Python object per value
    (`pages.json_rows`: a 250,000-row page is ~140 MB of dicts), when they are plain and every
    quantity a whole number; else the answer parsed as JSON, for the row-by-row way that names
    each bad value (`report_items`, `report_table`)."""
    table = json_rows(body, ("data", "items"), REPORT_QUANTITIES)
    return table if table is not None else orjson.loads(body)


def report_items(answer: Any, path: str) -> list[dict[str, Any]]:
    """The rows of a stocks-report answer: `{"data": {"items": [...]}}`; None (204) = no rows."""
    if answer is None:
        return []
    data = answer.get("data") if isinstance(answer, dict) else None
    items = data.get("items") if isinstance(data, dict) else None
    if items is None and isinstance(answer, dict) and "data" not in answer:
        items = answer.get("items")
    if not isinstance(items, list):
        raise ValueError(f"Wildberries {path} answered no data.items array: {str(answer)[:200]}")
    return items


class WildberriesApi:
    """The WB calls the source needs. Each WB API lives on its own host."""

    def __init__(self, client: ApiClient, settings: Settings, sleep: Callable[[float], None] = time.sleep,
                 basic_limits: bool = False):
        self.client = client
        self.analytics = settings.value(ANALYTICS_API_URL)
        self.marketplace = settings.value(MARKETPLACE_API_URL)
        self.content = settings.value(CONTENT_API_URL)
        # Under Basic limits the client's pacing already spaces the status calls 15 min apart.
        self.poll_seconds = 0.0 if basic_limits else REPORT_POLL_SECONDS * settings.rate_limit_scale
        self.max_polls = BASIC_REPORT_MAX_POLLS if basic_limits else REPORT_MAX_POLLS
        self._sleep = sleep

    # `method` names the call in counters and errors by its template (`/api/v3/stocks/{warehouseId}`),
    # so requests per method add up across warehouses and report tasks.
    def get(self, base: str, path: str, params: dict[str, Any] | None = None, method: str | None = None) -> Any:
        return self.client.request("GET", base + path, endpoint=method or path, params=params,
                                   expect=ANSWER_SHAPES.get(method or path, dict))

    def post(self, base: str, path: str, body: Any, method: str | None = None,
             parse: Callable[[bytes], Any] | None = None) -> Any:
        return self.client.request("POST", base + path, endpoint=method or path, json_body=body,
                                   expect=ANSWER_SHAPES.get(method or path, dict), parse=parse)

    def stocks_report_pages(self, path: str) -> Iterator[pa.Table | list[dict[str, Any]]]:
        """Pages of a stocks-report method (`.../wb-warehouses`, `.../seller-warehouses`).

        Offset paging with the largest page WB allows; no `nmIds` filter, which WB reads as
        "all products". The end is a short page or `204 No Content` (both are seen). A page
        is an Arrow table when Arrow could read it whole (`report_page`), else its rows.
        """
        offset = 0
        while True:
            answer = self.post(self.analytics, path, {"limit": STOCKS_REPORT_LIMIT, "offset": offset},
                               parse=report_page)
            rows = answer if isinstance(answer, pa.Table) else report_items(answer, path)
            if len(rows):
                yield rows
            if len(rows) < STOCKS_REPORT_LIMIT:
                return
            offset += len(rows)

    def warehouse_remains(self) -> list[dict[str, Any]]:
        """Run the warehouse-remains report task to the end and download it."""
        params = {"locale": "ru", "groupBySa": "true", "groupByNm": "true", "groupByBarcode": "true", "groupBySize": "true"}
        task = self.get(self.analytics, "/api/v1/warehouse_remains", params)
        task_id = ((task or {}).get("data") or {}).get("taskId")
        if not task_id:
            raise ValueError(f"Wildberries /api/v1/warehouse_remains answered no taskId: {str(task)[:200]}")
        base = f"/api/v1/warehouse_remains/tasks/{task_id}"
        for _ in range(self.max_polls):
            status = ((self.get(self.analytics, base + "/status", method=REMAINS_TASK + "/status") or {}).get("data") or {}).get("status")
            if status == "done":
                rows = self.get(self.analytics, base + "/download", method=REMAINS_TASK + "/download")  # 204 (None) = no data
                return rows or []
            if status in ("purged", "canceled"):
                raise ValueError(f"Wildberries warehouse_remains task {task_id} ended as '{status}'")
            if self.poll_seconds:
                self._sleep(self.poll_seconds)
        raise TimeoutError(f"Wildberries warehouse_remains task {task_id} not done after {self.max_polls} polls")

    def fbs_warehouses(self) -> list[dict[str, Any]]:
        return self.get(self.marketplace, "/api/v3/warehouses") or []

    def seller_stocks(self, warehouse_id: int, chrt_ids: list[int]) -> list[dict[str, Any]]:
        """`amount` per size (`chrtId`) on one seller warehouse; `skus` (barcodes) is switched off."""
        answer = self.post(self.marketplace, f"/api/v3/stocks/{warehouse_id}", {"chrtIds": chrt_ids},
                           method="/api/v3/stocks/{warehouseId}")
        return (answer or {}).get("stocks") or []

    def card_pages(self, since: datetime | None = None) -> Iterator[list[dict[str, Any]]]:
        """Card pages, newest `updatedAt` first (the method's default order).

        With `since`, paging stops at the first card updated before it: only cards created or
        edited since then come back, which is what an incremental sync needs.
        """
        cursor: dict[str, Any] = {"limit": CARDS_PAGE_LIMIT}
        seen: set[Any] = set()  # cards with equal updatedAt may repeat across a page boundary
        while True:
            # Newest first, said explicitly: the `since` cut-off relies on this order.
            body = {"settings": {"sort": {"ascending": False}, "cursor": cursor, "filter": {"withPhoto": -1}}}
            answer = self.post(self.content, "/content/v2/get/cards/list", body) or {}
            cards = answer.get("cards") or []
            fresh = [c for c in cards if c.get("nmID") not in seen]
            reached_since = False
            if since is not None:
                kept = [c for c in fresh if (card_time(c) or since) >= since]
                reached_since, fresh = len(kept) < len(fresh), kept
            seen.update(c.get("nmID") for c in fresh)
            if fresh:
                yield fresh
            page = answer.get("cursor") or {}
            if reached_since or not cards or int(page.get("total") or 0) < CARDS_PAGE_LIMIT:
                return
            cursor = {"limit": CARDS_PAGE_LIMIT, "updatedAt": page.get("updatedAt"), "nmID": page.get("nmID")}


def card_time(card: dict[str, Any]) -> datetime | None:
    """A card's `updatedAt` as an aware datetime (None when missing or unreadable)."""
    try:
        return datetime.fromisoformat(str(card.get("updatedAt")).replace("Z", "+00:00"))
    except ValueError:
        return None


# Places that are totals over several WB warehouses, told from the answer itself (wildberries.md
# §1.5), not from a list of names in SQL: the stocks report gives such a place a negative
# `warehouseId` (−999999 "Склад WB"); the remains report names only, and every aggregate name WB
# has documented starts with "Склад WB" ("Склад WB РФ", "Склад WB СГТ РФ") while its warehouses
# are named by their town. A name with the marker that WB has not documented (a renamed or new
# aggregate, e.g. after the display change of 24 Nov 2026) is still an aggregate, kept as its
# own place, and reported as a warning; totals per size never depend on any of this.
AGGREGATE_PLACES = ("Склад WB", "Склад WB РФ", "Склад WB СГТ РФ")
AGGREGATE_MARKER = "Склад WB"
REMAINS_PSEUDO = ("В пути до получателей", "В пути возвраты на склад WB", "Всего находится на складах")


def place_kind(name: Any, warehouse_id: Any = None) -> str:
    """`aggregate` or `physical` for one FBO place, from its id when the answer has one, else its name."""
    try:
        if warehouse_id is not None and int(warehouse_id) < 0:
            return "aggregate"
    except (TypeError, ValueError):
        pass
    text = str(name or "").strip()
    return "aggregate" if text in AGGREGATE_PLACES or text.startswith(AGGREGATE_MARKER) else "physical"


def undocumented_aggregates(rows: list[dict[str, Any]]) -> list[str]:
    """Aggregate places in an answer whose names WB has not documented (sorted, once each)."""
    return sorted({str(r.get("warehouseName")) for r in rows if r.get("place_kind") == "aggregate"
                   and str(r.get("warehouseName") or "").strip() not in AGGREGATE_PLACES})


def mark_places(rows: list[dict[str, Any]], with_ids: bool) -> list[dict[str, Any]]:
    """Each row gains `place_kind` (staging reads it); the remains report's pseudo entries, which
    are totals and never places, get none."""
    for row in rows:
        name = row.get("warehouseName")
        if not with_ids and name in REMAINS_PSEUDO:
            continue
        row["place_kind"] = place_kind(name, row.get("warehouseId") if with_ids else None)
    return rows


def place_kinds(table: pa.Table) -> tuple[pa.Array, list[str]] | None:
    """`place_kind` for every row of a stocks-report table, as `place_kind` tells it row by
    row, and the aggregate names WB has not documented (as `undocumented_aggregates`); None
    unless the columns it reads are plain (`warehouseId` whole numbers, `warehouseName` text)."""
    names = table.column("warehouseName") if "warehouseName" in table.column_names else pa.nulls(table.num_rows, pa.string())
    ids = table.column("warehouseId") if "warehouseId" in table.column_names else None
    if "place_kind" in table.column_names or not pa.types.is_string(names.type) or (
            ids is not None and not pa.types.is_int64(ids.type)):
        return None
    text = pc.utf8_trim_whitespace(pc.fill_null(names, ""))
    documented = pc.is_in(text, value_set=pa.array(AGGREGATE_PLACES))
    aggregate = pc.or_(documented, pc.starts_with(text, AGGREGATE_MARKER))
    if ids is not None:
        aggregate = pc.or_(pc.fill_null(pc.less(ids, 0), False), aggregate)
    undocumented = pc.unique(pc.filter(names, pc.and_(aggregate, pc.invert(documented)))).to_pylist()
    return pc.if_else(aggregate, "aggregate", "physical"), sorted(str(name) for name in undocumented)


def report_table(page: pa.Table | list[dict[str, Any]]) -> tuple[pa.Table, list[str]]:
    """A stocks-report page as its raw table (quantities checked, `place_kind` added) and the
    aggregate place names WB has not documented. A page Arrow read (`report_page`) gets both
    column by column; rows parsed as JSON (a page with a bad value, say) row by row, which
    gives the same table."""
    if isinstance(page, pa.Table):
        marked = place_kinds(page)
        if marked is not None:
            return stamped(page.append_column("place_kind", marked[0])), marked[1]
        page = page.to_pylist()
    rows = mark_places(page, with_ids=True)
    return stock_table(rows, REPORT_QUANTITIES), undocumented_aggregates(rows)


def flatten_remains(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (barcode, `warehouses[]` element), with its `place_kind`; pseudo-warehouses
    are kept (staging drops them)."""
    rows = []
    for item in items:
        outer = {k: v for k, v in item.items() if k != "warehouses"}
        for place in item.get("warehouses") or []:
            rows.append({**outer, **place})
    return mark_places(rows, with_ids=False)


def flatten_cards(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (card, size, barcode), card fields repeated.

    `barcode_position` keeps the barcode's place in `sizes[].skus`: the size's first barcode
    is its `sku` in `inventory_data`.
    """
    rows = []
    for card in cards:
        outer = {k: v for k, v in card.items() if k not in ("sizes", "photos", "video", "characteristics", "tags", "dimensions")}
        for size in card.get("sizes") or [{}]:
            size_fields = {k: v for k, v in size.items() if k != "skus"}
            for position, barcode in enumerate(size.get("skus") or [None]):
                rows.append({**outer, **size_fields, "barcode": barcode, "barcode_position": position})
    return rows


@dlt.source(name=WILDBERRIES.name, max_table_nesting=0)
def wildberries_source(
    api: WildberriesApi,
    fbo_source: str = "auto",
    full: bool = False,
    counts: dict[str, Any] | None = None,
    known_chrt_ids: Iterable[Any] = (),
    cards_since: str | None = None,
    method_plan: MethodPlan | None = None,
) -> list[Any]:
    """All WB resources.

    `method_plan` (from the token's claims, `plan_for`): whether to ask the stocks report at
    all, and which categories each part needs; a part whose category the token lacks fails
    naming it, before any call of that part.

    `fbo_source`: `auto` (the stocks report, the remains report when it is refused or gone),
    `stocks-report` or `remains` (only that one). `full` re-reads the whole catalog and
    replaces it instead of merging. `known_chrt_ids` are the sizes of the catalog landed
    before (the runner reads them from `cards`): given them, an incremental sync reads only
    the cards edited since `cards_since` (ISO time: the newest `updatedAt` of the catalog
    rows that published syncs landed, read by the runner) and still asks seller-warehouse
    stock for every size. `counts` (optional) receives what the API reported, the method used
    and `warnings`.
    """
    counts = counts if counts is not None else {}
    warnings: list[str] = counts.setdefault("warnings", [])
    token = method_plan.token if method_plan else WbTokenInfo(None, None)
    if method_plan:
        counts["credentials"] = method_plan.describe
    known = [] if full else list(dict.fromkeys(int(c) for c in known_chrt_ids if c is not None))
    catalog_delta = bool(known)

    def note_new_places(names: list[str]) -> None:
        for name in names:
            text = (f"WB FBO place '{name}' is not a documented WB place name; read as an aggregate place "
                    "(a total over several warehouses) and kept as its own place")
            if text not in warnings:
                warnings.append(text)
                log.warning(text)

    @dlt.resource(name="wb_warehouse_stocks", write_disposition="replace", parallelized=True)
    def fbo_stocks() -> Iterator[Any]:
        """FBO stock per size and WB warehouse: the stocks report, else the remains report."""
        nm_ids: set[Any] = set()
        yielded = 0
        token.require(ANALYTICS, "FBO stock (WB warehouses)")
        refused: ApiError | None = None
        ask_report = fbo_source == "stocks-report" or (
            fbo_source == "auto" and (method_plan is None or method_plan.stocks_report))
        if ask_report:
            plan(counts, STOCKS_REPORT_WB, 1)
            try:
                for page in api.stocks_report_pages(STOCKS_REPORT_WB):
                    table, new_places = report_table(page)
                    nm_ids.update(table.column("nmId").unique().to_pylist() if "nmId" in table.column_names else [None])
                    yielded += table.num_rows
                    note_new_places(new_places)
                    yield table
                counts["fbo_method"] = FBO_METHOD
                counts["nm_ids_fetched"] = len(nm_ids)
                return
            except (AuthError, EndpointGone) as exc:
                if fbo_source != "auto":
                    raise
                refused = exc
                warnings.append(f"WB FBO stock: {exc}; fell back to the warehouse-remains report "
                                "(in-way units per size, not per warehouse)")
                log.warning(warnings[-1])
        try:
            items = api.warehouse_remains()
        except AuthError as exc:
            if not (isinstance(refused, AuthError) or token.categories is None):
                raise
            failure: AuthError | None = exc
        else:
            failure = None
        if failure is not None:
            # Both reports need Аналитика: refused twice (or by a token whose categories are
            # unreadable), the token most likely lacks it. Raised outside the `except` so the
            # sync's one-line error (the innermost cause) is this one.
            raise AuthError(failure.marketplace, failure.endpoint,
                            f"{failure}. Both FBO reports need the token category {ANALYTICS}: add it to the "
                            "token in the seller's profile (Settings → API access)", failure.status)
        if yielded and not items:
            # Staging tells the fallback's load by its rows: with none, the partial report
            # would pass for a complete one.
            raise ValueError("Wildberries warehouse-remains report answered no data after the stocks report failed mid-way")
        counts["fbo_method"] = FBO_FALLBACK
        counts["nm_ids_fetched"] = len({i.get("nmId") for i in items})
        flat = flatten_remains(items)
        note_new_places(undocumented_aggregates(flat))
        for page in chunks(flat, 50_000):
            yield dlt.mark.with_table_name(stock_table(page, REMAINS_QUANTITIES), "warehouse_remains")

    @dlt.resource(name="fbs_warehouses", write_disposition="replace")
    def fbs_warehouses() -> Iterator[pa.Table]:
        rows = api.fbs_warehouses()
        if rows:
            yield rows_to_table(rows)

    @dlt.resource(name="cards", write_disposition="replace", parallelized=True)
    def cards() -> Iterator[pa.Table]:
        """The catalog: every card on a full sync; on an incremental one the cards edited since.

        The cursor is not dlt's resource state (committed with every load, published or not)
        but `cards_since`, which the runner reads from the catalog rows of published loads:
        a sync whose publish was blocked never moves it.
        """
        token.require(CONTENT, "product cards")
        since = card_time({"updatedAt": cards_since}) if catalog_delta and cards_since else None
        fetched = 0

        def flattened_pages() -> Iterator[list[dict[str, Any]]]:
            nonlocal fetched
            for page in api.card_pages(since):
                fetched += len(page)
                yield flatten_cards(page)

        for rows in row_batches(flattened_pages()):
            yield rows_to_table(rows)
        counts["catalog"] = "changed cards" if since else "all cards"
        counts["cards_fetched"] = fetched
        yield rows_to_table([])  # end-of-catalog marker: fbs_stocks flushes its last batch

    if catalog_delta:
        # Edited cards replace all their rows (a size or barcode removed from a card goes with it).
        # nmID stays nullable as in the Arrow pages: a merge key is NOT NULL by default in dlt, and
        # the mismatch made dlt warn "column hints were different" on every incremental sync.
        cards.apply_hints(write_disposition={"disposition": "merge", "strategy": "delete-insert"}, merge_key="nmID",
                          columns={"nmID": {"name": "nmID", "nullable": True}})

    pending: list[int] = list(known)  # the stored catalog's sizes, then each new card's
    queued: set[int] = set(known)
    seller_warehouses: list[dict[str, Any]] | None = None  # fetched once, on the first batch

    @dlt.transformer(name="fbs_stocks", data_from=cards, write_disposition="replace")
    def fbs_stocks(page: pa.Table) -> Iterator[pa.Table]:
        """Stock per seller warehouse for every size (`chrtId`) in the catalog, 1000 per call."""
        nonlocal seller_warehouses
        if page.num_rows and "chrtID" in page.column_names:  # the API's own name: dlt renames later
            for chrt in page.column("chrtID").to_pylist():
                if chrt is not None and int(chrt) not in queued:
                    queued.add(int(chrt))
                    pending.append(int(chrt))
        end_of_catalog = page.num_rows == 0
        while len(pending) >= CHRT_IDS_PER_CALL or (end_of_catalog and pending):
            batch = pending[:CHRT_IDS_PER_CALL]
            del pending[:CHRT_IDS_PER_CALL]
            if seller_warehouses is None:
                token.require(MARKETPLACE, "seller-warehouse stock")
                seller_warehouses = api.fbs_warehouses()
            # One table for every seller warehouse's answer on this batch of sizes.
            rows = [{"warehouse_id": warehouse["id"], **s}
                    for warehouse in seller_warehouses for s in api.seller_stocks(warehouse["id"], batch)]
            if rows:
                yield stock_table(rows, SELLER_QUANTITIES)

    return [fbo_stocks, fbs_warehouses, cards, fbs_stocks]


def make_source(settings: Settings, stats: SyncStats, counts: dict[str, Any], full: bool, backoff_base: float,
                base: CatalogBase = CatalogBase()) -> Any:
    """The registry's source factory (`pipelines.marketplaces.WILDBERRIES`): a fresh source per sync."""
    method_plan = plan_for(read_token(settings.value(API_TOKEN)), settings.value(FBO_SOURCE))
    api = WildberriesApi(make_client(settings, stats, backoff_base, method_plan), settings,
                         basic_limits=method_plan.basic_limits)
    return wildberries_source(api, fbo_source=settings.value(FBO_SOURCE), full=full, counts=counts,
                              known_chrt_ids=base.known_catalog, cards_since=base.since, method_plan=method_plan)
