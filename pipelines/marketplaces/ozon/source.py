"""dlt source for the Ozon Seller API: stock totals, stock per warehouse, warehouses, catalog.

The stock plan (`docs/api/ozon.md` §1), method by method:

| need | method (fallback) | raw table |
| --- | --- | --- |
| totals per product and scheme | `/v4/product/info/stocks` | `product_stocks` |
| FBO present/reserved per Ozon warehouse | `/v1/product/info/stocks-by-warehouse/fbo` (`/v1/analytics/stocks`) | `fbo_stocks` (`analytics_stocks`) |
| FBO warehouse names | `/v1/warehouse/ozon/list` | `ozon_warehouses` |
| seller warehouses (FBS / rFBS) | `/v2/warehouse/list` | `warehouses` |
| FBS/rFBS per seller warehouse | `/v1/product/info/warehouse/stocks` per warehouse (`/v2/product/info/stocks-by-warehouse/fbs` by SKU) | `fbs_stocks` |
| catalog | `/v3/product/list`, `/v3/product/info/list` | `products`, `product_info` |

Per-warehouse methods always get id chunks, never empty filters. A fallback is taken only
when the method itself is gone (404/410 that is not Ozon's bad-key 404). The fallback then
answers for everything (SKUs answered before the switch are asked again), staging reads only
its rows for that load (`analytics_stocks` rows present; `fbs_stocks.method`), and the sync's
`sync_logs` row carries a warning naming the method that went away.

Every stock resource is a complete snapshot (`replace`): dlt only loads after the whole
extraction succeeded, so a failed sync leaves the previous snapshot in place.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Iterable, Iterator

import dlt
import pyarrow as pa

from pipelines.api_client import ApiClient, EndpointGone, SyncStats, client_for
from pipelines.config import Settings
from pipelines.marketplaces.base import CatalogBase
from pipelines.marketplaces.ozon import API_KEY, API_URL, CLIENT_ID, OZON
from pipelines.pages import check_quantities, chunks, rows_to_table
from pipelines.progress import plan

log = logging.getLogger(__name__)

PAGE_LIMIT = 1000
IDS_PER_CALL = 1000  # SKUs per call of the per-warehouse stock methods
ANALYTICS_SKUS_PER_CALL = 100
SELLER_WAREHOUSES_LIMIT = 200

# Minimum seconds between calls, per endpoint group (scaled by INVSYNC_RATE_LIMIT_SCALE).
# Ozon allows 50 rps per Client-Id overall; analytics reads get 429 above about 2 rps.
PACING = {"default": 1 / 40, "analytics": 1.0}

# The quantities staging reads, per answer: checked at the edge (`pages.check_quantities`), so
# a bad value rejects its row (`_invalid_reason`) instead of breaking the load or being rounded.
STOCK_QUANTITIES = ("present", "reserved")
ANALYTICS_QUANTITIES = ("available_stock_count",)


def stock_table(rows: list[dict[str, Any]], quantities: tuple[str, ...] = STOCK_QUANTITIES) -> pa.Table:
    """A page of stock rows with its quantities checked and typed int64."""
    return rows_to_table(check_quantities(rows, quantities), integers=quantities)


# Method names as recorded in the `sync_logs` counts (and `fbs_stocks.method`).
FBO_METHOD, FBO_FALLBACK = "stocks_by_warehouse_fbo", "analytics_stocks"
FBS_METHOD, FBS_FALLBACK = "warehouse_stocks", "stocks_by_warehouse_fbs"


# The shape each method's answer must have (see `api_client.shape_problem`): a wrong one fails
# as "Ozon <method>: unexpected answer shape (...)" before any parser reads it. Unlisted: an object.
ANSWER_SHAPES: dict[str, Any] = {
    "/v4/product/info/stocks": {"items": [{"stocks": [dict]}]},
    "/v1/product/info/stocks-by-warehouse/fbo": {"products": [dict]},
    "/v1/analytics/stocks": {"items": [dict]},
    "/v1/warehouse/ozon/list": {"warehouses": [dict]},
    "/v2/warehouse/list": {"warehouses": [dict]},
    "/v1/product/info/warehouse/stocks": {"stocks": [dict]},
    "/v2/product/info/stocks-by-warehouse/fbs": {"products": [dict]},
    "/v3/product/list": {"result": {"items": [dict]}},
    "/v3/product/info/list": {"items": [dict], "result": {"items": [dict]}},
}


def endpoint_group(path: str) -> str:
    return "analytics" if path.startswith("/v1/analytics") else "default"


def is_bad_key(status: int, body: Any) -> bool:
    """Ozon's authorization failures: 401, 403, and the 404 code 5 "Invalid Api-Key…".

    A 404 alone proves nothing (retired methods answer 404 too, with the same gRPC code 5),
    so the message decides: only a 404 that talks about the key is a bad key.
    """
    if status in (401, 403):
        return True
    if status != 404 or not isinstance(body, dict):
        return False
    message = str(body.get("message") or "").lower()
    return "api-key" in message or "api key" in message or "apikey" in message


def make_client(settings: Settings, stats: SyncStats | None = None, backoff_base: float = 1.0) -> ApiClient:
    """An API client with Ozon's auth headers, pacing and the configured retry policy."""
    headers = {"Client-Id": settings.value(CLIENT_ID), "Api-Key": settings.value(API_KEY), "Content-Type": "application/json"}
    return client_for(settings, OZON.name, OZON.label, headers, PACING, endpoint_group, stats, backoff_base, auth_failure=is_bad_key)


class OzonApi:
    """The Ozon calls the source needs, each returning plain Python data."""

    def __init__(self, client: ApiClient, base_url: str):
        self.client = client
        self.base_url = base_url.rstrip("/")

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.request("POST", self.base_url + path, endpoint=path, json_body=body,
                                   expect=ANSWER_SHAPES.get(path, dict)) or {}

    def stock_pages(self) -> Iterator[tuple[list[dict[str, Any]], int | None]]:
        """`/v4/product/info/stocks` pages: (items, total_items). The answer is not wrapped in `result`.

        `total_items` is read, else the deprecated `total`, else None (both may be gone).
        """
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

    def cursor_pages(self, path: str, key: str, body: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Cursor + `has_next` paging: repeat `body` with the returned cursor while `has_next`."""
        cursor = ""
        while True:
            answer = self.post(path, {**body, "cursor": cursor})
            rows = answer.get(key)
            if not isinstance(rows, list):  # e.g. a retired v1 method's `{"result": [...]}`
                raise ValueError(f"Ozon {path} answered without a `{key}` array: {str(answer)[:200]}")
            if rows:
                yield rows
            next_cursor = answer.get("cursor") or ""
            if not answer.get("has_next") or not next_cursor or next_cursor == cursor:
                return
            cursor = next_cursor

    def fbo_stocks(self, skus: list[str]) -> Iterator[list[dict[str, Any]]]:
        """FBO present/reserved per Ozon warehouse for up to 1000 SKUs (note the plural `skus`)."""
        return self.cursor_pages("/v1/product/info/stocks-by-warehouse/fbo", "products", {"limit": PAGE_LIMIT, "skus": skus})

    def analytics_stocks(self, skus: list[str]) -> list[dict[str, Any]]:
        """FBO analytics per SKU × warehouse (and cluster aggregate rows) for up to 100 SKUs."""
        return self.post("/v1/analytics/stocks", {"skus": skus}).get("items") or []

    def ozon_warehouses(self) -> list[dict[str, Any]]:
        return self.post("/v1/warehouse/ozon/list", {}).get("warehouses") or []

    def seller_warehouses(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for page in self.cursor_pages("/v2/warehouse/list", "warehouses", {"limit": SELLER_WAREHOUSES_LIMIT}):
            rows.extend(page)
        return rows

    def warehouse_stocks(self, warehouse_id: Any) -> Iterator[list[dict[str, Any]]]:
        """Everything on one seller warehouse (`/v1/product/info/warehouse/stocks`)."""
        return self.cursor_pages("/v1/product/info/warehouse/stocks", "stocks", {"warehouse_id": warehouse_id, "limit": PAGE_LIMIT})

    def fbs_stocks_by_sku(self, skus: list[str]) -> Iterator[list[dict[str, Any]]]:
        """FBS/rFBS rows per seller warehouse for up to 1000 SKUs (note the singular `sku`)."""
        return self.cursor_pages("/v2/product/info/stocks-by-warehouse/fbs", "products", {"limit": PAGE_LIMIT, "sku": skus})

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
        # Each stock element's quantities are checked; a product without stock has none to check.
        rows.extend(check_quantities([{**outer, **stock} for stock in stocks], STOCK_QUANTITIES))
    return rows


def skus_of_type(page: pa.Table, types: Iterable[str]) -> list[str]:
    """The distinct SKUs of a v4 page's rows whose `type` is one of `types`, as strings."""
    if "type" not in page.column_names or "sku" not in page.column_names:
        return []
    wanted = set(types)
    pairs = zip(page.column("sku").to_pylist(), page.column("type").to_pylist())
    return sorted({str(s) for s, t in pairs if s is not None and str(t).lower() in wanted})


@dlt.source(name=OZON.name, max_table_nesting=0)
def ozon_source(
    api: OzonApi, counts: dict[str, Any] | None = None, full: bool = False, known_product_ids: Iterable[Any] = ()
) -> list[Any]:
    """All Ozon resources.

    Stock is a complete snapshot on every sync (Ozon has no "changed since" for stock). The
    catalog is not: `known_product_ids` (the runner reads them from `product_info`) lets an
    incremental sync ask `/v3/product/info/list` only for products it has not seen, and skip
    the product list; a `full` sync reads and replaces the whole catalog.
    `counts` (optional) receives what the API reported (`total_items`), the methods used
    (`fbo_method`, `fbs_method`) and `warnings` for the sync record.
    """
    counts = counts if counts is not None else {}
    warnings: list[str] = counts.setdefault("warnings", [])
    known = set() if full else {str(i) for i in known_product_ids if i is not None}
    catalog_delta = bool(known)

    @dlt.resource(name="product_stocks", write_disposition="replace", parallelized=True)
    def product_stocks() -> Iterator[pa.Table]:
        rows_seen = 0
        for items, total in api.stock_pages():
            if "total_items" not in counts and total:
                pages = -(-int(total) // PAGE_LIMIT)  # each page also costs an FBO call and, when new, a catalog call
                plan(counts, "/v4/product/info/stocks", pages + 1)  # the empty page that ends the paging
                plan(counts, "/v1/product/info/stocks-by-warehouse/fbo", pages)
                if not catalog_delta:
                    plan(counts, "/v3/product/info/list", pages)
            counts["total_items"] = total
            rows = flatten_stock_items(items)
            rows_seen += len(rows)
            yield rows_to_table(rows, integers=STOCK_QUANTITIES)
        counts["product_stock_rows"] = rows_seen

    # v4 pages reach the transformers below in parallel worker threads: the method each need
    # uses, and the switch to a fallback, are decided under these locks.
    fbo_lock, fbs_lock, counts_lock = threading.Lock(), threading.Lock(), threading.Lock()
    fbo_done: list[str] = []  # SKUs the FBO method answered, asked again if it goes away mid-sync

    def analytics(skus: list[str]) -> Iterator[Any]:
        answered: list[dict[str, Any]] = []  # one table per v4 page, not per call
        for batch in chunks(skus, ANALYTICS_SKUS_PER_CALL):
            answered.extend(api.analytics_stocks(batch))
        if skus and not answered:
            # Staging tells the fallback's load by its rows: with none, the FBO method's
            # partial answer would pass for a complete one and zero the rest.
            raise ValueError(f"Ozon /v1/analytics/stocks answered no rows for {len(skus)} FBO SKUs")
        if answered:
            yield dlt.mark.with_table_name(stock_table(answered, ANALYTICS_QUANTITIES), "analytics_stocks")

    @dlt.transformer(name="fbo_stocks", data_from=product_stocks, write_disposition="replace", parallelized=True)
    def fbo_stocks(page: pa.Table) -> Iterator[Any]:
        """FBO present/reserved per Ozon warehouse for the FBO SKUs of each v4 page.

        When the method goes away, the fallback answers for this page and for every page the
        method answered before (its rows stay in the load but staging reads only the
        fallback's); a page answered by the method while another found it gone counts as
        not answered.
        """
        skus = skus_of_type(page, ("fbo",))
        with fbo_lock:
            use_fallback = counts.get("fbo_method") == FBO_FALLBACK
        if not use_fallback:
            try:  # every answer on this v4 page's SKUs, landed as one table
                rows = [row for batch in chunks(skus, IDS_PER_CALL) for page in api.fbo_stocks(batch) for row in page]
            except EndpointGone as gone:
                with fbo_lock:
                    first = counts.get("fbo_method") != FBO_FALLBACK
                    counts["fbo_method"] = FBO_FALLBACK
                    skus = sorted(set(fbo_done) | set(skus))
                    fbo_done.clear()
                if first:
                    warnings.append(
                        f"Ozon FBO per warehouse: {gone}; fell back to /v1/analytics/stocks, which gives units "
                        "available for sale only (no reserved count per warehouse; supply-request and transit "
                        "units are not counted)")
                    log.warning(warnings[-1])
            else:
                with fbo_lock:
                    answered = counts.get("fbo_method") != FBO_FALLBACK
                    if answered:
                        counts["fbo_method"] = FBO_METHOD
                        fbo_done.extend(skus)
                if answered:
                    if rows:
                        yield stock_table(rows)
                    return
        yield from analytics(skus)

    @dlt.resource(name="ozon_warehouses", write_disposition="replace", parallelized=True)
    def ozon_warehouses() -> Iterator[pa.Table]:
        """Names of Ozon's own warehouses (the FBO method gives ids only)."""
        try:
            rows = api.ozon_warehouses()
        except EndpointGone as gone:
            warnings.append(f"Ozon FBO warehouse names: {gone}; FBO rows keep their warehouse ids as names")
            return
        if rows:
            yield rows_to_table(rows)

    seller_warehouses: list[dict[str, Any]] = []

    @dlt.transformer(name="fbs_stocks", data_from=product_stocks, write_disposition="replace", parallelized=True)
    def fbs_stocks(page: pa.Table) -> Iterator[Any]:
        """FBS/rFBS stock per seller warehouse.

        Preferred: everything on each seller warehouse, read once, by the first v4 page to
        arrive (the others wait for its verdict). When that method is gone: the by-SKU method
        with the FBS/rFBS SKUs of every v4 page.
        """
        tables: list[Any] = []
        with fbs_lock:
            if "fbs_method" not in counts:
                seller_warehouses.extend(api.seller_warehouses())
                if seller_warehouses:
                    tables.append(dlt.mark.with_table_name(rows_to_table(seller_warehouses), "warehouses"))
                try:
                    for warehouse in seller_warehouses:
                        for rows in api.warehouse_stocks(warehouse.get("warehouse_id")):
                            tables.append(stock_table([{**r, "method": FBS_METHOD} for r in rows]))
                    counts["fbs_method"] = FBS_METHOD
                except EndpointGone as gone:
                    counts["fbs_method"] = FBS_FALLBACK
                    warnings.append(f"Ozon FBS per warehouse: {gone}; fell back to /v2/product/info/stocks-by-warehouse/fbs")
                    log.warning(warnings[-1])
                    # Rows of warehouses read before the method went away are in this load too:
                    # their `method` column tells staging to read only the fallback's rows.
            by_sku = counts["fbs_method"] == FBS_FALLBACK and bool(seller_warehouses)
        yield from tables
        if by_sku:
            for batch in chunks(skus_of_type(page, ("fbs", "rfbs")), IDS_PER_CALL):
                for rows in api.fbs_stocks_by_sku(batch):
                    yield dlt.mark.with_table_name(stock_table([{**r, "method": FBS_FALLBACK} for r in rows]), "fbs_stocks")

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
        with counts_lock:
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
    return [product_stocks, fbo_stocks, ozon_warehouses, fbs_stocks, products, product_info]


def make_source(settings: Settings, stats: SyncStats, counts: dict[str, Any], full: bool, backoff_base: float,
                base: CatalogBase = CatalogBase()) -> Any:
    """The registry's source factory (`pipelines.marketplaces.OZON`): a fresh source per sync."""
    api = OzonApi(make_client(settings, stats, backoff_base), settings.value(API_URL))
    return ozon_source(api, counts=counts, full=full, known_product_ids=base.known_catalog)
