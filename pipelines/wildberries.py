"""dlt source for the Wildberries seller APIs: FBO stock, FBS stock, FBS warehouses, cards.

FBO stock comes from the statistics method `supplier/stocks`, fetched incrementally by
`lastChangeDate` and merged on (barcode, warehouse), or from the warehouse-remains report
(a complete snapshot). The statistics method is being retired, so a 404/410 there switches to
the report automatically. The cards (the catalog) are read whole on a full sync and, on an
incremental one, only those edited since the last (newest `updatedAt` first); FBS stock is
asked for every barcode each time. Endpoint facts: `shared/api/wildberries.md`.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator

import dlt
import pyarrow as pa

from pipelines.config import Settings
from pipelines.api_client import ApiClient, EndpointGone, SyncStats, client_for
from pipelines.pages import chunks, rows_to_table

log = logging.getLogger(__name__)

FULL_PICTURE_DATE = "2019-06-20T00:00:00"
CARDS_PAGE_LIMIT = 100
FBS_SKUS_PER_CALL = 1000
REPORT_POLL_SECONDS = 5.0
REPORT_MAX_POLLS = 120

# Minimum seconds between calls per API group, from WB's published limits
# (scaled by INVSYNC_RATE_LIMIT_SCALE; 0 turns pacing off).
PACING = {"statistics": 60.0, "analytics": 60.0, "analytics_poll": 5.0, "marketplace": 0.2, "content": 0.6}


def endpoint_group(path: str) -> str:
    if path.startswith("/api/v1/supplier"):
        return "statistics"
    if path.startswith("/api/v1/warehouse_remains/tasks"):
        return "analytics_poll"
    if path.startswith("/api/v1/warehouse_remains"):
        return "analytics"
    if path.startswith("/content"):
        return "content"
    return "marketplace"


def make_client(settings: Settings, stats: SyncStats | None = None, backoff_base: float = 1.0) -> ApiClient:
    """An API client with WB's token header, pacing and the configured retry policy."""
    return client_for(settings, "wb", {"Authorization": settings.wb_api_token}, PACING, endpoint_group, stats, backoff_base)


class WildberriesApi:
    """The WB calls the source needs. Each WB API lives on its own host."""

    def __init__(self, client: ApiClient, settings: Settings, sleep: Callable[[float], None] = time.sleep):
        self.client = client
        self.statistics = settings.wb_statistics_api_url
        self.analytics = settings.wb_analytics_api_url
        self.marketplace = settings.wb_marketplace_api_url
        self.content = settings.wb_content_api_url
        self.poll_seconds = REPORT_POLL_SECONDS * settings.rate_limit_scale
        self._sleep = sleep

    def get(self, base: str, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.request("GET", base + path, endpoint=path, params=params)

    def post(self, base: str, path: str, body: Any) -> Any:
        return self.client.request("POST", base + path, endpoint=path, json_body=body)

    def supplier_stock_pages(self, date_from: str) -> Iterator[list[dict[str, Any]]]:
        """Pages of `supplier/stocks` from `date_from`, each next call from the last row's date.

        `dateFrom` is inclusive, so the rows at the boundary come back on the next page: they
        are skipped here (a full resync replaces the table, nothing would merge them away);
        paging stops when a page brings nothing new.
        """
        boundary: set[tuple[Any, Any]] = set()  # rows already yielded with lastChangeDate == date_from
        while True:
            rows = self.get(self.statistics, "/api/v1/supplier/stocks", {"dateFrom": date_from})
            if not isinstance(rows, list):
                raise ValueError(f"Wildberries /api/v1/supplier/stocks answered {type(rows).__name__}, expected a JSON array")
            fresh = [
                r for r in rows
                if not (str(r.get("lastChangeDate") or "") == date_from and (r.get("barcode"), r.get("warehouseName")) in boundary)
            ]
            if not fresh:
                return
            yield fresh
            newest = max(str(r.get("lastChangeDate") or "") for r in fresh)
            keys_at_newest = {(r.get("barcode"), r.get("warehouseName")) for r in fresh if str(r.get("lastChangeDate") or "") == newest}
            boundary = keys_at_newest | (boundary if newest == date_from else set())
            date_from = newest

    def warehouse_remains(self) -> list[dict[str, Any]]:
        """Run the warehouse-remains report task to the end and download it."""
        params = {"locale": "ru", "groupBySa": "true", "groupByNm": "true", "groupByBarcode": "true", "groupBySize": "true"}
        task = self.get(self.analytics, "/api/v1/warehouse_remains", params)
        task_id = ((task or {}).get("data") or {}).get("taskId")
        if not task_id:
            raise ValueError(f"Wildberries /api/v1/warehouse_remains answered no taskId: {str(task)[:200]}")
        base = f"/api/v1/warehouse_remains/tasks/{task_id}"
        for _ in range(REPORT_MAX_POLLS):
            status = ((self.get(self.analytics, base + "/status") or {}).get("data") or {}).get("status")
            if status == "done":
                return self.get(self.analytics, base + "/download") or []
            if status in ("purged", "canceled"):
                raise ValueError(f"Wildberries warehouse_remains task {task_id} ended as '{status}'")
            self._sleep(self.poll_seconds)
        raise TimeoutError(f"Wildberries warehouse_remains task {task_id} not done after {REPORT_MAX_POLLS} polls")

    def fbs_warehouses(self) -> list[dict[str, Any]]:
        return self.get(self.marketplace, "/api/v3/warehouses") or []

    def fbs_stocks(self, warehouse_id: int, barcodes: list[str]) -> list[dict[str, Any]]:
        answer = self.post(self.marketplace, f"/api/v3/stocks/{warehouse_id}", {"skus": barcodes})
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


def flatten_remains(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (barcode, `warehouses[]` element); pseudo-warehouses are kept (staging drops them)."""
    rows = []
    for item in items:
        outer = {k: v for k, v in item.items() if k != "warehouses"}
        for place in item.get("warehouses") or []:
            rows.append({**outer, **place})
    return rows


def flatten_cards(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (card, size, barcode), card fields repeated."""
    rows = []
    for card in cards:
        outer = {k: v for k, v in card.items() if k not in ("sizes", "photos", "video", "characteristics", "tags", "dimensions")}
        for size in card.get("sizes") or [{}]:
            size_fields = {k: v for k, v in size.items() if k != "skus"}
            for barcode in size.get("skus") or [None]:
                rows.append({**outer, **size_fields, "barcode": barcode})
    return rows


@dlt.source(name="wb", max_table_nesting=0)
def wildberries_source(
    api: WildberriesApi,
    fbo_source: str = "stocks",
    full: bool = False,
    counts: dict[str, Any] | None = None,
    known_barcodes: Iterable[str] = (),
) -> list[Any]:
    """All WB resources.

    `fbo_source` is `stocks` (the statistics method, incremental) or `remains` (the report);
    `full` re-reads the complete statistics picture and the whole catalog and replaces the
    tables instead of merging. `known_barcodes` are the barcodes of the catalog landed before
    (the runner reads them from `cards`): given them, an incremental sync reads only the cards
    edited since the last one and still asks FBS stock for every barcode.
    `counts` (optional) receives what the API reported, e.g. the distinct nmIds seen.
    """
    counts = counts if counts is not None else {}
    known = [] if full else list(dict.fromkeys(b for b in known_barcodes if b))
    catalog_delta = bool(known)
    # Root resources are `parallelized`: dlt pulls their pages in worker threads, so calls to
    # different endpoints overlap instead of queueing. Each endpoint group still obeys its
    # pacing (the Pacer is shared and thread-safe) and pages of one resource stay in order.

    @dlt.resource(name="supplier_stocks", write_disposition="merge", primary_key=("barcode", "warehouseName"), parallelized=True)
    def fbo_stocks() -> Iterator[Any]:
        """FBO stock: `supplier/stocks` since the last `lastChangeDate` seen, else the remains report.

        The cursor lives in dlt's resource state, which dlt commits only with a successful load,
        so an interrupted sync starts again from the same point (the merge removes duplicates).
        """
        state = dlt.current.resource_state()
        if fbo_source == "stocks":
            date_from = FULL_PICTURE_DATE if full else state.get("last_change_date", FULL_PICTURE_DATE)
            newest, nm_ids = date_from, set()
            try:
                for rows in api.supplier_stock_pages(date_from):
                    nm_ids.update(r.get("nmId") for r in rows)
                    newest = max(newest, max(str(r.get("lastChangeDate") or "") for r in rows))
                    yield rows_to_table(rows)
                state["last_change_date"] = newest
                counts["fbo_method"] = "supplier_stocks"
                counts["nm_ids_fetched"] = len(nm_ids)
                return
            except EndpointGone:
                log.warning("Wildberries /api/v1/supplier/stocks is retired: using the warehouse-remains report")
        items = api.warehouse_remains()
        counts["fbo_method"] = "warehouse_remains"
        counts["nm_ids_fetched"] = len({i.get("nmId") for i in items})
        hints = dlt.mark.make_hints(table_name="warehouse_remains", write_disposition="replace", primary_key=())
        for page in chunks(flatten_remains(items), 50_000):
            yield dlt.mark.with_hints(rows_to_table(page), hints, create_table_variant=True)

    if full:
        fbo_stocks.apply_hints(write_disposition="replace")

    @dlt.resource(name="fbs_warehouses", write_disposition="replace")
    def fbs_warehouses() -> Iterator[pa.Table]:
        rows = api.fbs_warehouses()
        if rows:
            yield rows_to_table(rows)

    @dlt.resource(name="cards", write_disposition="replace", parallelized=True)
    def cards() -> Iterator[pa.Table]:
        """The catalog: every card on a full sync; on an incremental one the cards edited since.

        The newest `updatedAt` seen is kept in dlt's resource state, committed with the load.
        """
        state = dlt.current.resource_state()
        since = card_time({"updatedAt": state.get("updated_at")}) if catalog_delta else None
        newest = since
        fetched = 0
        for page in api.card_pages(since):
            fetched += len(page)
            times = [t for t in map(card_time, page) if t is not None] + ([newest] if newest else [])
            newest = max(times, default=None)
            yield rows_to_table(flatten_cards(page))
        if newest is not None:
            state["updated_at"] = newest.isoformat()
        counts["catalog"] = "changed cards" if since else "all cards"
        counts["cards_fetched"] = fetched
        yield rows_to_table([])  # end-of-catalog marker: fbs_stocks flushes its last batch

    if catalog_delta:
        # Edited cards replace all their rows (a barcode removed from a card goes with it).
        cards.apply_hints(write_disposition={"disposition": "merge", "strategy": "delete-insert"}, merge_key="nmID")

    pending: list[str] = list(known)  # the stored catalog's barcodes, then each new card's
    queued: set[str] = set(known)
    seller_warehouses: list[dict[str, Any]] | None = None  # fetched once, on the first batch

    @dlt.transformer(name="fbs_stocks", data_from=cards, write_disposition="replace")
    def fbs_stocks(page: pa.Table) -> Iterator[pa.Table]:
        """Stock per seller warehouse for every barcode in the catalog, 1000 barcodes per call."""
        nonlocal seller_warehouses
        if page.num_rows and "barcode" in page.column_names:
            for barcode in page.column("barcode").to_pylist():
                if barcode and str(barcode) not in queued:
                    queued.add(str(barcode))
                    pending.append(str(barcode))
        end_of_catalog = page.num_rows == 0
        while len(pending) >= FBS_SKUS_PER_CALL or (end_of_catalog and pending):
            batch = pending[:FBS_SKUS_PER_CALL]
            del pending[:FBS_SKUS_PER_CALL]
            if seller_warehouses is None:
                seller_warehouses = api.fbs_warehouses()
            for warehouse in seller_warehouses:
                stocks = api.fbs_stocks(warehouse["id"], batch)
                if stocks:
                    yield rows_to_table([{"warehouse_id": warehouse["id"], **s} for s in stocks])

    return [fbo_stocks, fbs_warehouses, cards, fbs_stocks]
