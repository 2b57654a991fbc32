"""dlt source for the Ozon Seller API: stock totals, stock per warehouse, warehouses, catalog.

Every stock resource is a complete snapshot (`replace`): dlt only loads after the whole
extraction succeeded, so a failed sync leaves the previous snapshot in place and dbt can treat
"absent from the table" as "absent from the account". The catalog (`product_info`) is a
snapshot on full syncs and grows by the unseen products on incremental ones.
Endpoint facts: `shared/api/ozon.md`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Iterable, Iterator

import dlt
import pyarrow as pa

from pipelines.config import Settings
from pipelines.api_client import ApiClient, EndpointGone, SyncStats, client_for
from pipelines.pages import chunks, rows_to_table

log = logging.getLogger(__name__)

PAGE_LIMIT = 1000
ANALYTICS_SKUS_PER_CALL = 100

# Minimum seconds between calls, per endpoint group (scaled by INVSYNC_RATE_LIMIT_SCALE).
# Ozon allows 50 rps per Client-Id overall; analytics methods are much stricter.
PACING = {"default": 1 / 40, "analytics": 1.0, "report": 1.0}


def endpoint_group(path: str) -> str:
    if path.startswith(("/v1/analytics", "/v2/analytics")):
        return "analytics"
    if path.startswith("/v1/report"):
        return "report"
    return "default"


def make_client(settings: Settings, stats: SyncStats | None = None, backoff_base: float = 1.0) -> ApiClient:
    """An API client with Ozon's auth headers, pacing and the configured retry policy."""
    headers = {"Client-Id": settings.ozon_client_id, "Api-Key": settings.ozon_api_key, "Content-Type": "application/json"}
    return client_for(settings, "ozon", headers, PACING, endpoint_group, stats, backoff_base)


class OzonApi:
    """The Ozon calls the source needs, each returning plain Python data."""

    def __init__(self, client: ApiClient, base_url: str):
        self.client = client
        self.base_url = base_url.rstrip("/")

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.request("POST", self.base_url + path, endpoint=path, json_body=body)

    def stock_pages(self) -> Iterator[tuple[list[dict[str, Any]], int | None]]:
        """`/v4/product/info/stocks` pages: (items, total_items). The answer is not wrapped in `result`."""
        cursor = ""
        seen: set[Any] = set()  # a cursor that does not move may repeat the last page's items
        while True:
            body = {"filter": {"visibility": "ALL", "offer_id": [], "product_id": []}, "limit": PAGE_LIMIT, "cursor": cursor}
            answer = self.post("/v4/product/info/stocks", body)
            total = answer.get("total_items", answer.get("total"))
            items = [i for i in answer.get("items") or [] if i.get("product_id") not in seen]
            if not items:
                return
            seen.update(i.get("product_id") for i in items)
            yield items, total
            next_cursor = answer.get("cursor") or ""
            if not next_cursor or next_cursor == cursor:
                return
            cursor = next_cursor

    def cursor_pages(self, path: str, key: str, limit: int) -> Iterator[list[dict[str, Any]]]:
        """Cursor + `has_next` paging (`/v2/product/info/stocks-by-warehouse/fbs`, `/v2/warehouse/list`)."""
        cursor = ""
        body: dict[str, Any] = {"limit": limit}
        if path.endswith("/fbs"):
            body.update({"sku": [], "offer_id": []})
        while True:
            answer = self.post(path, {**body, "cursor": cursor})
            rows = answer.get(key) or []
            if rows:
                yield rows
            next_cursor = answer.get("cursor") or ""
            if not answer.get("has_next") or not next_cursor or next_cursor == cursor:
                return
            cursor = next_cursor

    def analytics_stocks(self, skus: list[str]) -> list[dict[str, Any]]:
        return self.post("/v1/analytics/stocks", {"skus": skus}).get("items") or []

    def stock_on_warehouses_pages(self) -> Iterator[list[dict[str, Any]]]:
        """The older FBO method, offset paging until a short page."""
        offset = 0
        while True:
            answer = self.post("/v2/analytics/stock_on_warehouses", {"limit": PAGE_LIMIT, "offset": offset, "warehouse_type": "ALL"})
            rows = (answer.get("result") or {}).get("rows") or []
            if rows:
                yield rows
            if len(rows) < PAGE_LIMIT:
                return
            offset += len(rows)

    def product_list_pages(self) -> Iterator[list[dict[str, Any]]]:
        last_id = ""
        while True:
            answer = self.post("/v3/product/list", {"filter": {"visibility": "ALL"}, "last_id": last_id, "limit": PAGE_LIMIT})
            result = answer.get("result") or {}
            items = result.get("items") or []
            if not items:
                return
            yield items
            next_id = result.get("last_id") or ""
            if not next_id or next_id == last_id:
                return
            last_id = next_id

    def product_info(self, product_ids: list[int]) -> list[dict[str, Any]]:
        answer = self.post("/v3/product/info/list", {"product_id": product_ids})
        return answer.get("items") or (answer.get("result") or {}).get("items") or []


def flatten_stock_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per `stocks[]` element with the product fields repeated; empty `stocks` keeps one row."""
    rows: list[dict[str, Any]] = []
    for item in items:
        outer = {k: v for k, v in item.items() if k != "stocks"}
        stocks = item.get("stocks") or []
        if not stocks:
            rows.append(outer)
        for stock in stocks:
            rows.append({**outer, **stock})
    return rows


@dlt.source(name="ozon", max_table_nesting=0)
def ozon_source(
    api: OzonApi, counts: dict[str, Any] | None = None, full: bool = False, known_product_ids: Iterable[Any] = ()
) -> list[Any]:
    """All Ozon resources.

    Stock is a complete snapshot on every sync (Ozon has no "changed since" for stock). The
    catalog is not: `known_product_ids` (the runner reads them from `product_info`) lets an
    incremental sync ask `/v3/product/info/list` only for products it has not seen, and skip
    the product list; a `full` sync reads and replaces the whole catalog.
    `counts` (optional) receives what the API reported, e.g. `total_items`.
    """
    counts = counts if counts is not None else {}
    known = set() if full else {str(i) for i in known_product_ids if i is not None}
    catalog_delta = bool(known)
    # Root resources are `parallelized`: dlt pulls their pages in worker threads, so calls to
    # different endpoints overlap instead of queueing. Each endpoint group still obeys its
    # pacing (the Pacer is shared and thread-safe) and pages of one resource stay in order.

    @dlt.resource(name="product_stocks", write_disposition="replace", parallelized=True)
    def product_stocks() -> Iterator[pa.Table]:
        rows_seen = 0
        for items, total in api.stock_pages():
            counts["total_items"] = total
            rows = flatten_stock_items(items)
            rows_seen += len(rows)
            yield rows_to_table(rows)
        counts["product_stock_rows"] = rows_seen

    fallback_lock = threading.Lock()
    counts_lock = threading.Lock()

    @dlt.transformer(name="analytics_stocks", data_from=product_stocks, write_disposition="replace", parallelized=True)
    def fbo_stocks(page: pa.Table) -> Iterator[Any]:
        """FBO stock per Ozon warehouse for the FBO SKUs of each v4 page (fallback: the older method)."""
        if counts.get("fbo_method") == "stock_on_warehouses":
            return
        if "type" not in page.column_names or "sku" not in page.column_names:
            return
        types = page.column("type").to_pylist()
        skus = sorted({str(s) for s, t in zip(page.column("sku").to_pylist(), types) if t == "fbo" and s is not None})
        answered: list[dict[str, Any]] = []  # one table per v4 page, not per call: less per-item overhead
        for batch in chunks(skus, ANALYTICS_SKUS_PER_CALL):
            try:
                rows = api.analytics_stocks(batch)
            except EndpointGone:
                with fallback_lock:  # pages run in parallel: only the first one falls back
                    if counts.get("fbo_method") == "stock_on_warehouses":
                        return
                    counts["fbo_method"] = "stock_on_warehouses"
                log.warning("Ozon /v1/analytics/stocks is retired for this account: using /v2/analytics/stock_on_warehouses")
                for fallback in api.stock_on_warehouses_pages():
                    yield dlt.mark.with_table_name(rows_to_table(fallback), "stock_on_warehouses")
                return
            counts.setdefault("fbo_method", "analytics_stocks")
            answered.extend(rows)
        if answered:
            yield rows_to_table(answered)

    @dlt.resource(name="fbs_stocks", write_disposition="replace", parallelized=True)
    def fbs_stocks() -> Iterator[pa.Table]:
        for rows in api.cursor_pages("/v2/product/info/stocks-by-warehouse/fbs", "products", PAGE_LIMIT):
            yield rows_to_table(rows)

    @dlt.resource(name="warehouses", write_disposition="replace")
    def warehouses() -> Iterator[pa.Table]:
        for rows in api.cursor_pages("/v2/warehouse/list", "warehouses", 100):
            yield rows_to_table(rows)

    @dlt.resource(name="products", write_disposition="replace", parallelized=True)
    def products() -> Iterator[pa.Table]:
        """The product list (archived flags, stock presence): read on full syncs only."""
        if catalog_delta:
            return
        for items in api.product_list_pages():
            yield rows_to_table(items)

    @dlt.transformer(name="product_info", data_from=product_stocks, write_disposition="replace", parallelized=True)
    def product_info(page: pa.Table) -> Iterator[pa.Table]:
        """Catalog attributes (name, barcodes) of the products on each v4 page not known yet."""
        if "product_id" not in page.column_names:
            return
        ids = [i for i in dict.fromkeys(page.column("product_id").to_pylist()) if i is not None and str(i) not in known]
        with counts_lock:  # pages run in parallel threads
            counts["catalog_products_fetched"] = counts.get("catalog_products_fetched", 0) + len(ids)
        for batch in chunks(ids, PAGE_LIMIT):
            items = api.product_info(batch)
            if items:
                yield rows_to_table(items)

    counts["catalog"] = "new products" if catalog_delta else "all products"
    if catalog_delta:
        product_info.apply_hints(write_disposition="merge", primary_key="id")
        # A replace resource that yields nothing would empty its table: keep the last list.
        products.apply_hints(write_disposition="append")
    return [product_stocks, fbo_stocks, fbs_stocks, warehouses, products, product_info]
