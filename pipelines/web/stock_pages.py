"""The console's stock pages: the table, products, one product, warehouses, low stock, export.

Why a module of its own: these pages share one filter (`stock_reads.StockFilter`) read from the
same URL parameters, so the table, its totals, the export and the links between pages always
mean the same rows; `console` keeps login, status and syncs. Included by `app` beside `console.router`.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Iterator
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse

from pipelines.account_scope import AccountScope
from pipelines.warehouse import Warehouse
from pipelines.web import history_reads, reads, stock_reads
from pipelines.web.charts import step_chart
from pipelines.web.context import scope_of, web_context
from pipelines.web.export import safe_cell
from pipelines.web.rendering import check_marketplace, login_redirect, render, viewer
from pipelines.web.stock_reads import SORTS, StockFilter

router = APIRouter(include_in_schema=False)

EXPORT_COLUMNS = reads.INVENTORY_COLUMNS


def stock_filter(
    request: Request,
    marketplace: Annotated[str | None, Query(max_length=8)] = None,
    account: Annotated[str | None, Query(pattern=r"^([a-z][a-z0-9_]{0,31})?$")] = None,
    stock_type: Annotated[str | None, Query(max_length=64)] = None,
    warehouse: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(max_length=64)] = None,
    in_stock: Annotated[str | None, Query(max_length=8)] = None,
    max_available: Annotated[int | None, Query(ge=0, le=1_000_000_000)] = None,
) -> StockFilter:
    """The filter of every stock page, from its URL (a form's empty fields filter nothing), within
    the accounts of the visitor's token (every page, total and export built on it is too)."""
    check_marketplace(marketplace)
    return StockFilter(marketplace=marketplace or None, account=account or None, stock_type=stock_type or None,
                       warehouse=(warehouse or "").strip() or None, q=(q or "").strip() or None,
                       in_stock=bool(in_stock), max_available=max_available, scope=scope_of(request))


Filter = Annotated[StockFilter, Depends(stock_filter)]
Sort = Annotated[str | None, Query(max_length=16, pattern=r"^[a-z]*$")]
Direction = Annotated[str | None, Query(max_length=4, pattern=r"^(asc|desc)?$")]


def _url(path: str, **params: Any) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "", False)}
    return path + ("?" + urlencode(kept) if kept else "")


@router.get("/stock")
def stock(request: Request, f: Filter, sort: Sort = None, dir: Direction = None,
          after: Annotated[str | None, Query(max_length=2048)] = None,
          limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
    principal = viewer(request)
    if principal is None:
        return login_redirect(request)
    ctx = web_context(request)
    sort = sort if sort in SORTS else None
    descending = dir == "desc"
    try:
        with ctx.wh.session():
            page = stock_reads.rows(ctx.wh, f, sort=sort, descending=descending, after=after or None, limit=limit)
            totals = stock_reads.totals(ctx.wh, f)
            facets = reads.facets(ctx.wh, principal.accounts)
    except reads.BadCursor as exc:
        raise HTTPException(422, str(exc)) from None
    args = f.query_args()
    order = {"sort": sort, "dir": "desc" if descending else None}
    return render(
        request, "stock.html", principal=principal, page=page, filters=f, facets=facets, totals=totals,
        sort=sort or "", descending=descending, args=args, sorts=SORTS,
        next_url=_url("/stock", **args, **order, limit=limit if limit != 100 else None, after=page["next"])
        if page["next"] else None,
        first_url=_url("/stock", **args, **order), paged=bool(after),
        export_url=_url("/stock.csv", **args, **order), low_stock=ctx.settings.low_stock,
    )


def _csv_lines(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write("\ufeff")  # a BOM: spreadsheets then read the Cyrillic names as UTF-8
    writer.writerow(EXPORT_COLUMNS)
    for n, row in enumerate(rows):
        writer.writerow([safe_cell(row.get(c)) for c in EXPORT_COLUMNS])
        if n % 500 == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


@router.get("/stock.csv")
def stock_csv(request: Request, f: Filter, sort: Sort = None, dir: Direction = None) -> Response:
    """Every row of the filter (not only the page shown), in the table's order, as CSV."""
    if viewer(request) is None:
        return login_redirect(request)
    ctx = web_context(request)
    rows = stock_reads.export(ctx.wh, f, sort=sort if sort in SORTS else None, descending=dir == "desc")
    return StreamingResponse(_csv_lines(rows), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="stock.csv"'})


@router.get("/products")
def products(request: Request, f: Filter, sort: Sort = None, dir: Direction = None) -> Response:
    principal = viewer(request)
    if principal is None:
        return login_redirect(request)
    ctx = web_context(request)
    view = stock_reads.grouped(ctx.wh, "products", f, sort=sort or "name", descending=dir == "desc")
    return render(request, "products.html", principal=principal, view=view, filters=f, args=f.query_args(),
                  sort=sort or "name", descending=dir == "desc")


@router.get("/products/{marketplace}/{product_id}")
def product_page(request: Request, marketplace: str, product_id: str) -> Response:
    principal = viewer(request)
    if principal is None:
        return login_redirect(request)
    check_marketplace(marketplace)
    if not marketplace or len(product_id) > 64:
        raise HTTPException(404, "no such product")
    ctx = web_context(request)
    found = stock_reads.product(ctx.wh, marketplace, product_id, principal.accounts)
    if found is None:
        raise HTTPException(404, "no stock of this product")
    return render(request, "product.html", principal=principal, product=found,
                  **product_history_values(ctx.wh, marketplace, product_id, principal.accounts))


def product_history_values(wh: Warehouse, marketplace: str, product_id: str,
                           scope: AccountScope = None) -> dict[str, Any]:
    """The product page's history part (issue 25): the chart of units available per warehouse
    over the last 90 days (inline SVG, drawn here: the CSP allows no inline script) and the
    stockouts, of the accounts of `scope`. `product_history.html` shows them."""
    history = history_reads.product_history(wh, marketplace, product_id, scope=scope)
    chart = step_chart(history["series"], history["start"], history["end"]) if history["series"] else ""
    return {"history": history, "history_chart": chart}


@router.get("/warehouses")
def warehouses(request: Request, f: Filter, sort: Sort = None, dir: Direction = None) -> Response:
    principal = viewer(request)
    if principal is None:
        return login_redirect(request)
    ctx = web_context(request)
    view = stock_reads.grouped(ctx.wh, "warehouses", f, sort=sort or "name", descending=dir == "desc")
    return render(request, "warehouses.html", principal=principal, view=view, filters=f, args=f.query_args(),
                  sort=sort or "name", descending=dir == "desc")


@router.get("/low-stock")
def low_stock(request: Request, f: Filter, sort: Sort = None, dir: Direction = None) -> Response:
    """Items (a size in one stock scheme, over all its places) at or under INVSYNC_LOW_STOCK units available."""
    principal = viewer(request)
    if principal is None:
        return login_redirect(request)
    ctx = web_context(request)
    limit = ctx.settings.low_stock
    view = stock_reads.grouped(ctx.wh, "items", f, sort=sort or "available", descending=dir == "desc",
                               max_available=limit, limit=1000)
    return render(request, "low_stock.html", principal=principal, view=view, filters=f, args=f.query_args(),
                  sort=sort or "available", descending=dir == "desc", limit=limit)
