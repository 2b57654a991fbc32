"""The stock queries of the console and the API: one filter, several views of it.

Why one `StockFilter` for all of them: the table, its totals, the CSV export, the API and the
low-stock page must agree on what "this filter" means, or an export would not be what the
person saw. Every value is a bound parameter; the only text put into SQL comes from the fixed
`SORTS` and `GROUP_VIEWS` mappings below. Pages of rows are keyset pages (the cursor carries
the sort value and the table's key), so a page never repeats or skips a row while syncs run;
grouped views (products, warehouses, low stock) are small and paged by a plain limit.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Iterator

from pipelines.account_scope import AccountScope, account_condition, and_account
from pipelines.warehouse import Warehouse
from pipelines.web.reads import INVENTORY_COLUMNS, KEY_COLUMNS, BadCursor, _like, plain_row

# Sortable columns: name in URLs -> a never-null SQL expression (keyset comparison needs one).
EPOCH = "cast('1970-01-01 00:00:00' as datetime)"
SORTS: dict[str, str] = {
    "marketplace": "marketplace",
    "article": "coalesce(offer_id, '')",
    "sku": "sku",
    "name": "coalesce(product_name, '')",
    "warehouse": "coalesce(warehouse_name, warehouse_id)",
    "type": "stock_type",
    "present": "quantity_present",
    "reserved": "quantity_reserved",
    "available": "quantity_available",
    "updated": f"coalesce(updated_at, {EPOCH})",
}
NUMERIC_SORTS = {"present", "reserved", "available"}


@dataclass(frozen=True)
class StockFilter:
    """What a person or a client asked for; empty values filter nothing."""

    marketplace: str | None = None
    account: str | None = None  # a seller account's id (`default`: the single-account variables')
    stock_type: str | None = None
    warehouse: str | None = None  # a warehouse id, or part of its name
    q: str | None = None  # part of the name, article, SKU or barcode
    in_stock: bool = False
    max_available: int | None = None  # low stock: rows with at most this many units available
    product: str | None = None  # marketplace_product_id (with marketplace): one product's rows
    # The accounts the caller's token may see (None: all). Set from the caller, never from the
    # URL, and so never in `query_args`: `account` above narrows within it, never beyond it.
    scope: AccountScope = None

    def where(self, columns: set[str]) -> tuple[str, list[Any]]:
        """The SQL condition (with `where`, or empty) and its parameters."""
        where: list[str] = []
        params: list[Any] = []
        if self.marketplace:
            where.append("marketplace = %s")
            params.append(self.marketplace)
        if self.account:
            where.append("account = %s")
            params.append(self.account)
        scoped, scope_params = account_condition(self.scope)
        if scoped:
            where.append(scoped)
            params += scope_params
        if self.stock_type:
            where.append("stock_type = %s")
            params.append(self.stock_type)
        if self.warehouse:
            where.append("(warehouse_id = %s or lower(warehouse_name) like %s escape '!')")
            params += [self.warehouse, _like(self.warehouse)]
        if self.q:
            fields = [c for c in ("offer_id", "sku", "product_name", "barcode") if c in columns]
            where.append("(" + " or ".join(f"lower(coalesce({c}, '')) like %s escape '!'" for c in fields) + ")")
            params += [_like(self.q)] * len(fields)
        if self.in_stock:
            where.append("quantity_available > 0")
        if self.max_available is not None:
            where.append("quantity_available <= %s")
            params.append(self.max_available)
        if self.product:
            where.append("marketplace_product_id = %s")
            params.append(self.product)
        return (" where " + " and ".join(where) if where else ""), params

    def query_args(self) -> dict[str, str]:
        """The filter as URL parameters (empty ones left out): links and exports keep it."""
        out = {"marketplace": self.marketplace or "", "account": self.account or "", "stock_type": self.stock_type or "",
               "warehouse": self.warehouse or "", "q": self.q or "", "in_stock": "1" if self.in_stock else "",
               "max_available": "" if self.max_available is None else str(self.max_available),
               "product": self.product or ""}
        return {k: v for k, v in out.items() if v}


def _columns(wh: Warehouse) -> tuple[set[str], list[str]]:
    present = set(wh.columns("inventory_data"))
    return present, [c if c in present else f"null as {c}" for c in INVENTORY_COLUMNS]


# -- rows, keyset-paged ------------------------------------------------------------------------
def encode_cursor(row: dict[str, Any], sort: str | None) -> str:
    key: list[Any] = [None if row[c] is None else str(row[c]) for c in KEY_COLUMNS]
    if sort:
        value = row.get("_sort")
        key.insert(0, value.isoformat() if isinstance(value, datetime) else
                   (int(value) if sort in NUMERIC_SORTS else str(value)))
    return base64.urlsafe_b64encode(json.dumps(key, ensure_ascii=False).encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, sort: str | None) -> list[Any]:
    """The cursor's values, typed for binding; BadCursor when it is not one this service made
    (or was made for another sort)."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        raise BadCursor("`after` is not a cursor this API returned") from None
    size = len(KEY_COLUMNS) + (1 if sort else 0)
    if (not isinstance(key, list) or len(key) != size
            or not all(isinstance(v, str) and len(v) <= 512 for v in key[-len(KEY_COLUMNS):])):
        raise BadCursor("`after` is not a cursor this API returned (or the sort changed since)")
    if sort:
        first = key[0]
        try:
            if sort in NUMERIC_SORTS:
                if not isinstance(first, int) or isinstance(first, bool):
                    raise ValueError
            elif sort == "updated":
                key[0] = datetime.fromisoformat(first)
            elif not isinstance(first, str) or len(first) > 512:
                raise ValueError
        except (ValueError, TypeError):
            raise BadCursor("`after` is not a cursor this API returned (or the sort changed since)") from None
    return key


def rows(wh: Warehouse, f: StockFilter, *, sort: str | None = None, descending: bool = False,
         after: str | None = None, limit: int = 100) -> dict[str, Any]:
    """One page of `inventory_data` rows in the chosen order (key order by default)."""
    with wh.session():
        if not wh.table_exists("inventory_data"):
            return {"items": [], "next": None, "limit": limit}
        present, columns = _columns(wh)
        where, params = f.where(present)
        order_columns = ([SORTS[sort]] if sort else []) + list(KEY_COLUMNS)
        if after:
            op = "<" if descending else ">"
            where += (" and " if where else " where ") + \
                f"({', '.join(order_columns)}) {op} ({', '.join(['%s'] * len(order_columns))})"
            params += decode_cursor(after, sort)
        direction = " desc" if descending else ""
        select = ", ".join(columns) + (f", {SORTS[sort]} as _sort" if sort else "")
        found = wh.query(f"select {select} from inventory_data{where} order by "
                         + ", ".join(c + direction for c in order_columns) + " limit %s", [*params, limit + 1])
    more = len(found) > limit
    found = found[:limit]
    items = [plain_row({k: v for k, v in r.items() if k != "_sort"}) for r in found]
    return {"items": items, "next": encode_cursor(found[-1], sort) if more and found else None, "limit": limit}


def totals(wh: Warehouse, f: StockFilter) -> dict[str, int]:
    """Rows, products and units of everything the filter matches (not just the page)."""
    empty = {"rows": 0, "products": 0, "present": 0, "reserved": 0, "available": 0}
    with wh.session():
        if not wh.table_exists("inventory_data"):
            return empty
        where, params = f.where(set(wh.columns("inventory_data")))
        row = wh.query("select count(*) as rows_, count(distinct concat(marketplace, ':', marketplace_product_id)) "
                       "as products, coalesce(sum(quantity_present), 0) as present, "
                       "coalesce(sum(quantity_reserved), 0) as reserved, "
                       f"coalesce(sum(quantity_available), 0) as available from inventory_data{where}", params)[0]
    return {"rows": int(row["rows_"]), "products": int(row["products"]), "present": int(row["present"]),
            "reserved": int(row["reserved"]), "available": int(row["available"])}


def export(wh: Warehouse, f: StockFilter, sort: str | None = None, descending: bool = False,
           page: int = 5000) -> Iterator[dict[str, Any]]:
    """Every row the filter matches, in the table's order, read a keyset page at a time."""
    after = None
    while True:
        found = rows(wh, f, sort=sort, descending=descending, after=after, limit=page)
        yield from found["items"]
        after = found["next"]
        if not after:
            return


# -- grouped views -----------------------------------------------------------------------------
SUMS = ("coalesce(sum(quantity_present), 0) as present, coalesce(sum(quantity_reserved), 0) as reserved, "
        "coalesce(sum(quantity_available), 0) as available")

GROUP_VIEWS: dict[str, dict[str, str]] = {
    # one row per product (article): its sizes and places counted, units summed
    "products": {
        "select": "marketplace, marketplace_product_id, max(offer_id) as offer_id, max(product_name) as product_name, "
                  "count(distinct sku) as sizes, count(distinct warehouse_id) as warehouses, " + SUMS,
        "group": "marketplace, marketplace_product_id",
        "order": {"name": "max(coalesce(product_name, ''))", "article": "max(coalesce(offer_id, ''))",
                  "available": "sum(quantity_available)", "present": "sum(quantity_present)",
                  "marketplace": "marketplace"},
    },
    # one row per warehouse (and marketplace): what it holds
    "warehouses": {
        "select": "marketplace, warehouse_id, max(warehouse_name) as warehouse_name, "
                  "max(warehouse_kind) as warehouse_kind, count(distinct stock_type) as stock_types, "
                  "count(distinct sku) as skus, count(distinct marketplace_product_id) as products, " + SUMS,
        "group": "marketplace, warehouse_id",
        "order": {"name": "max(coalesce(warehouse_name, warehouse_id))", "available": "sum(quantity_available)",
                  "present": "sum(quantity_present)", "products": "count(distinct marketplace_product_id)",
                  "marketplace": "marketplace"},
    },
    # one row per sellable item (size and stock type) over all its places: what runs out
    "items": {
        "select": "marketplace, marketplace_product_id, max(offer_id) as offer_id, max(product_name) as product_name, "
                  "sku, stock_type, count(distinct warehouse_id) as warehouses, " + SUMS,
        "group": "marketplace, marketplace_product_id, sku, stock_type",
        "order": {"available": "sum(quantity_available)", "name": "max(coalesce(product_name, ''))",
                  "article": "max(coalesce(offer_id, ''))", "marketplace": "marketplace"},
    },
}


def grouped(wh: Warehouse, view: str, f: StockFilter, *, sort: str = "", descending: bool = False,
            max_available: int | None = None, limit: int = 500) -> dict[str, Any]:
    """A grouped view of the filtered rows: `items` (at most `limit`), and how many groups there are.
    `max_available` keeps groups whose summed available units are at most that (low stock)."""
    spec = GROUP_VIEWS[view]
    with wh.session():
        if not wh.table_exists("inventory_data"):
            return {"items": [], "count": 0, "limit": limit}
        present = set(wh.columns("inventory_data"))
        select = spec["select"] if "warehouse_kind" in present else spec["select"].replace(
            "max(warehouse_kind)", "max(cast(null as char(1)))")
        where, params = f.where(present)
        having, having_params = "", []
        if max_available is not None:
            having, having_params = " having sum(quantity_available) <= %s", [max_available]
        base = f"select {select} from inventory_data{where} group by {spec['group']}{having}"
        order = spec["order"].get(sort) or next(iter(spec["order"].values()))
        direction = " desc" if descending else ""
        items = wh.query(f"{base} order by {order}{direction}, {spec['group']} limit %s",
                         [*params, *having_params, limit])
        count = wh.query(f"select count(*) as n from ({base}) g", [*params, *having_params])[0]["n"]
    return {"items": [plain_row(r) for r in items], "count": int(count), "limit": limit}


def product(wh: Warehouse, marketplace: str, product_id: str, scope: AccountScope = None) -> dict[str, Any] | None:
    """One product: its sizes (with the card's size name where the marketplace has one) and,
    per size, its places, over the accounts of `scope`. None when none of their rows has it."""
    with wh.session():
        if not wh.table_exists("inventory_data"):
            return None
        present, columns = _columns(wh)
        sizes_known = wh.table_exists("stg_wb__cards") and marketplace == "wb"
        size = "s.size_name" if sizes_known else "null"
        join = (" left join (select sku as size_sku, max(tech_size) as size_name from stg_wb__cards group by sku) s "
                "on s.size_sku = i.sku") if sizes_known else ""
        scoped, scope_params = and_account(scope, "i.account")
        found = wh.query(
            f"select {', '.join('i.' + c if not c.startswith('null') else c for c in columns)}, {size} as size_name "
            f"from inventory_data i{join} where i.marketplace = %s and i.marketplace_product_id = %s{scoped} "
            "order by i.sku, i.stock_type, i.quantity_available desc, i.warehouse_id",
            (marketplace, product_id, *scope_params))
        if not found:
            return None
        last = max((r["last_sync_at"] for r in found if r["last_sync_at"] is not None), default=None)
        sync = None
        if last is not None and wh.table_exists("sync_logs"):
            scoped, scope_params = and_account(scope)
            hit = wh.query(f"select run_id from sync_logs where marketplace = %s and started_at <= %s{scoped} "
                           "order by started_at desc limit 1",
                           (marketplace, last, *scope_params))
            sync = hit[0]["run_id"] if hit else None
    rows_ = [plain_row(r) for r in found]
    sizes: dict[str, dict[str, Any]] = {}
    for r in rows_:
        s = sizes.setdefault(r["sku"], {"sku": r["sku"], "barcode": r["barcode"], "size_name": r["size_name"],
                                        "places": [], "present": 0, "reserved": 0, "available": 0})
        s["places"].append(r)
        for k in ("present", "reserved", "available"):
            s[k] += int(r[f"quantity_{k}"] or 0)
    first = rows_[0]
    return {
        "marketplace": marketplace, "marketplace_product_id": product_id, "offer_id": first["offer_id"],
        "product_name": next((r["product_name"] for r in rows_ if r["product_name"]), None),
        "sizes": list(sizes.values()),
        "present": sum(s["present"] for s in sizes.values()), "reserved": sum(s["reserved"] for s in sizes.values()),
        "available": sum(s["available"] for s in sizes.values()),
        "last_sync_at": rows_ and max((r["last_sync_at"] for r in rows_ if r["last_sync_at"]), default=None),
        "last_sync_run": sync,
    }


def with_filter(f: StockFilter, **changes: Any) -> StockFilter:
    return replace(f, **changes)
