"""REST API under /api/v1 (its OpenAPI document: /api/v1/openapi.json)."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timezone
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from pipelines.marketplaces import NAMES
from pipelines.warehouse import WarehouseBusy, WarehouseError, WarehouseMissing
from pipelines.web import history_reads, reads, stock_reads
from pipelines.web.context import require, scope_of, web_context
from pipelines.web.export import to_csv
from pipelines.web.security import CSRF_HEADER, csrf_ok
from pipelines.web.sync_service import start_sync, sync_detail, visible_launches

log = logging.getLogger("invsync.web")

router = APIRouter()

# The registry's names as a Literal: FastAPI answers 422 to any other, and OpenAPI lists them.
Marketplace = Literal[NAMES]  # type: ignore[valid-type]
MarketplaceOrAll = Literal[(*NAMES, "all")]  # type: ignore[valid-type]
SyncStatus = Literal["running", "success", "partial", "failed"]
# Free text filters: any value is accepted (bound as a parameter), only the length is limited.
FilterText = Annotated[str | None, Query(max_length=64)]
SyncId = Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{1,64}$", description="a sync's run id, a row id, or the id POST /syncs returned")]
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    marketplace: MarketplaceOrAll = "all"
    full: bool = Field(False, description="re-read complete snapshots (weekly resync, recovery after an outage)")
    force_publish_reason: str | None = Field(
        None, min_length=3, max_length=200, pattern=NO_CONTROL,
        description="publish even when a critical check fails; recorded with the token's label",
    )


def healthz(request: Request) -> JSONResponse:
    """Liveness and warehouse reachability, without authentication (for load balancers and probes)."""
    ctx = web_context(request)
    try:
        ctx.wh.table_exists("sync_logs")
        warehouse = "ok"
    except WarehouseBusy:
        warehouse = "busy"  # a sync is writing DuckDB: the service is fine
    except WarehouseMissing as exc:  # a reader never creates one: a typo in WAREHOUSE_URL shows here
        # The answer says only what kind of failure it is (it needs no login); the service's
        # log says where (a path, a host and user are not for anonymous callers).
        log.warning("health check: %s", ctx.settings.mask(str(exc)))
        return JSONResponse({"status": "unavailable", "warehouse": "missing"}, status_code=503)
    except WarehouseError as exc:
        log.warning("health check: %s", ctx.settings.mask(str(exc)))
        return JSONResponse({"status": "unavailable", "warehouse": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "warehouse": warehouse})


router.add_api_route("/healthz", healthz, methods=["GET"], summary="Health check (no authentication)")


@router.get("/status", summary="Freshness and last outcome per marketplace (as `invsync status --json`)")
def get_status(request: Request) -> dict[str, Any]:
    principal = require(request)
    ctx = web_context(request)
    return reads.status(ctx.settings, ctx.wh, scope=principal.accounts)


SortKey = Literal[tuple(stock_reads.SORTS)]  # type: ignore[valid-type]


def api_filter(
    request: Request,
    marketplace: Marketplace | None = None,
    account: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,31}$",
                                         description="a seller account's id (`default`: the single-account credentials')")] = None,
    stock_type: FilterText = None,
    warehouse: Annotated[str | None, Query(max_length=64, description="warehouse id, or part of its name")] = None,
    q: Annotated[str | None, Query(max_length=64, description="part of the product name, article (offer id), "
                                                            "SKU or barcode; URL-encode Cyrillic")] = None,
    in_stock: Annotated[bool, Query(description="only rows with units available")] = False,
    max_available: Annotated[int | None, Query(ge=0, le=1_000_000_000,
                                               description="only rows with at most this many units available")] = None,
) -> stock_reads.StockFilter:
    """The console's stock filter (`stock_reads.StockFilter`), the same for every stock endpoint,
    within the caller's accounts: an `account` outside them matches no row (200, empty), as an
    account without stock would, so the answer says nothing of other clients' accounts."""
    return stock_reads.StockFilter(marketplace=marketplace, account=account, stock_type=stock_type, warehouse=warehouse, q=q,
                                   in_stock=in_stock, max_available=max_available, scope=scope_of(request))


ApiFilter = Annotated[stock_reads.StockFilter, Depends(api_filter)]



def next_page_headers(request: Request, page: dict[str, Any]) -> dict[str, str]:
    """`Link: <same query, after=next>; rel="next"` and `X-Next-Cursor` for a keyset page that
    has a next one (the same for every paged endpoint)."""
    if not page["next"]:
        return {}
    params = {**request.query_params, "after": page["next"]}
    return {"Link": f'<{request.url.path}?{urlencode(params)}>; rel="next"', "X-Next-Cursor": page["next"]}

@router.get(
    "/inventory",
    summary="Current stock (inventory_data), filtered, sorted (key order by default), one page at a time",
    responses={200: {"content": {"application/json": {}, "text/csv": {}},
                     "description": "JSON `{items, next, limit}`; CSV with `Accept: text/csv` (next cursor in the "
                                    "`X-Next-Cursor` and `Link` headers). Times are UTC (ISO 8601)."}},
)
def get_inventory(
    request: Request,
    f: ApiFilter,
    sort: Annotated[SortKey | None, Query(description="order by this column (then by the table's key)")] = None,
    order: Annotated[Literal["asc", "desc"], Query(description="direction of `sort`")] = "asc",
    after: Annotated[str | None, Query(max_length=2048, description="the `next` cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    require(request)
    ctx = web_context(request)
    try:
        page = stock_reads.rows(ctx.wh, f, sort=sort, descending=order == "desc", after=after, limit=limit)
    except reads.BadCursor as exc:
        raise HTTPException(422, str(exc)) from None
    headers = next_page_headers(request, page)
    if "text/csv" in request.headers.get("accept", ""):
        return Response(to_csv(page["items"]), media_type="text/csv; charset=utf-8", headers=headers)
    return JSONResponse(page, headers=headers)


@router.get("/inventory/totals", summary="Rows, products and units of everything the filter matches")
def get_inventory_totals(request: Request, f: ApiFilter) -> dict[str, int]:
    require(request)
    return stock_reads.totals(web_context(request).wh, f)


GroupSort = Annotated[str | None, Query(max_length=16, pattern=r"^[a-z]*$",
                                        description="name, article, available, present, products or marketplace")]


@router.get("/products", summary="Stock per product (article): sizes and warehouses counted, units summed")
def get_products(request: Request, f: ApiFilter, sort: GroupSort = None,
                 order: Literal["asc", "desc"] = "asc", limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> dict[str, Any]:
    require(request)
    return stock_reads.grouped(web_context(request).wh, "products", f, sort=sort or "name",
                               descending=order == "desc", limit=limit)


@router.get("/products/{marketplace}/{product_id}",
            summary="One product: its sizes (with size names where the marketplace has them) and their places")
def get_product(request: Request, marketplace: Marketplace,
                product_id: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
    principal = require(request)
    found = stock_reads.product(web_context(request).wh, marketplace, product_id, principal.accounts)
    if found is None:
        raise HTTPException(404, "no stock of this product")
    return found


@router.get("/warehouses", summary="Stock per warehouse: SKUs and products counted, units summed")
def get_warehouses(request: Request, f: ApiFilter, sort: GroupSort = None,
                   order: Literal["asc", "desc"] = "asc") -> dict[str, Any]:
    require(request)
    return stock_reads.grouped(web_context(request).wh, "warehouses", f, sort=sort or "name",
                               descending=order == "desc", limit=5000)


@router.get("/low-stock", summary="Sizes per stock scheme with at most INVSYNC_LOW_STOCK units available overall")
def get_low_stock(request: Request, f: ApiFilter, sort: GroupSort = None, order: Literal["asc", "desc"] = "asc",
                  limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> dict[str, Any]:
    require(request)
    ctx = web_context(request)
    view = stock_reads.grouped(ctx.wh, "items", f, sort=sort or "available", descending=order == "desc",
                               max_available=ctx.settings.low_stock, limit=limit)
    return {**view, "low_stock": ctx.settings.low_stock}


@router.get("/syncs", summary="The sync history, newest first: one row per marketplace per sync")
def get_syncs(
    request: Request,
    marketplace: Marketplace | None = None,
    status: SyncStatus | None = None,
    before: Annotated[int | None, Query(ge=1, description="the `next_before` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    principal = require(request)
    ctx = web_context(request)
    page = reads.syncs(ctx.wh, marketplace=marketplace, status=status, before=before, limit=limit,
                       scope=principal.accounts)
    page["launches"] = [l.describe() for l in visible_launches(ctx, principal)]
    return page


@router.get("/syncs/{sync_id}", summary="One sync: its marketplaces' sync_logs rows, errors, warnings and checks")
def get_sync(request: Request, sync_id: SyncId) -> dict[str, Any]:
    principal = require(request)
    found = sync_detail(web_context(request), sync_id, principal.accounts)
    if found is None:
        raise HTTPException(404, "no sync with this id")
    return found


@router.post(
    "/syncs", status_code=202,
    summary="Start a sync (operator): 202 with its id; 409 while one runs; 429 when started too recently",
)
def post_sync(request: Request, body: Annotated[SyncRequest, Body()]) -> JSONResponse:
    principal = require(request, operator=True)
    ctx = web_context(request)
    if principal.via == "session" and not csrf_ok(ctx.session(request), request.headers.get(CSRF_HEADER)):
        raise HTTPException(403, "missing or wrong CSRF token (X-CSRF-Token)")
    launch = start_sync(ctx, body.marketplace, body.full, body.force_publish_reason, principal.label)
    return JSONResponse(
        {"id": launch.id, "run_id": launch.run_id, "state": launch.state, "via": launch.via,
         "url": f"{request.url.path}/{launch.id}"},
        status_code=202, headers={"Location": f"{request.url.path}/{launch.id}"},
    )


# -- stock history (issue 25) --------------------------------------------------------------------
HISTORY_CSV_COLUMNS = history_reads.HISTORY_COLUMNS


def _naive_utc(value: datetime | None) -> datetime | None:
    """The warehouse's times are naive UTC; a client may send any offset (or none: UTC)."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


@router.get(
    "/inventory/history",
    summary="Stock history (inventory_history): intervals of unchanged stock per key, filtered, one page at a time",
    responses={200: {"content": {"application/json": {}, "text/csv": {}},
                     "description": "JSON `{items, next, limit}`, in key order then `valid_from`; CSV with "
                                    "`Accept: text/csv` (next cursor in the `X-Next-Cursor` and `Link` headers). "
                                    "`valid_to` null: the interval is still open. Times are UTC (ISO 8601)."}},
)
def get_inventory_history(
    request: Request,
    f: ApiFilter,
    product: Annotated[str | None, Query(max_length=64, description="one product: its marketplace_product_id "
                                                                     "(Ozon product_id, WB nmId)")] = None,
    since: Annotated[datetime | None, Query(description="only intervals that end after this time")] = None,
    until: Annotated[datetime | None, Query(description="only intervals that start before this time")] = None,
    after: Annotated[str | None, Query(max_length=2048, description="the `next` cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    require(request)
    ctx = web_context(request)
    if product:
        f = replace(f, product=product)
    try:
        page = history_reads.intervals(ctx.wh, f, since=_naive_utc(since), until=_naive_utc(until),
                                       after=after, limit=limit)
    except reads.BadCursor as exc:
        raise HTTPException(422, str(exc)) from None
    headers = next_page_headers(request, page)
    if "text/csv" in request.headers.get("accept", ""):
        return Response(to_csv(page["items"], HISTORY_CSV_COLUMNS), media_type="text/csv; charset=utf-8",
                        headers=headers)
    return JSONResponse(page, headers=headers)
