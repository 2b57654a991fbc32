"""What the web service reads from the warehouse, read-only, with bound parameters only.

The service reads through `pipelines.warehouse.Warehouse(read_only=True)`, like `invsync
status`: DuckDB is opened read-only as one of the readers that take turns with a sync's writes
(a read waits `INVSYNC_READ_RETRY` seconds for a write window, then answers "busy":
`WarehouseBusy`); MySQL sessions are set `READ ONLY`. A request's reads share one connection
(`Warehouse.session()`). Every filter value is passed as a query parameter; the only text put
into SQL is chosen from fixed lists in this module.
"""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from pipelines import status as status_module
from pipelines.account_scope import AccountScope, account_condition, and_account
from pipelines.config import Settings
from pipelines.status import UnmigratedWarehouse, check_sync_log_layout
from pipelines.warehouse import SYNC_LOCK, Warehouse


# -- plain values ------------------------------------------------------------------------------
def plain(value: Any) -> Any:
    """A JSON-ready value: timestamps as ISO 8601 UTC, decimals as numbers."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def plain_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: plain(v) for k, v in row.items()}


def _json_field(value: Any, default: Any) -> Any:
    if value in (None, ""):
        return default
    if isinstance(value, (list, dict)):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


# -- status --------------------------------------------------------------------------------------
def status(settings: Settings, wh: Warehouse, now: datetime | None = None, scope: AccountScope = None) -> dict[str, Any]:
    """What `invsync status --json` prints (`pipelines.status`), read through `wh`, over the
    accounts of `scope` (the caller's token's; None: all, exactly what the CLI prints)."""
    with wh.session():
        try:
            statuses = status_module.read_status(wh, settings, now, scope)
        except UnmigratedWarehouse as exc:
            return {"exit_code": 2, "error": str(exc), "marketplaces": []}
    return {"exit_code": status_module.exit_code(statuses), "marketplaces": [plain_row(s.to_dict()) for s in statuses]}


# -- inventory -----------------------------------------------------------------------------------
INVENTORY_COLUMNS = (
    "marketplace", "account", "sku", "marketplace_product_id", "offer_id", "product_id", "barcode", "product_name",
    "warehouse_id", "warehouse_name", "warehouse_kind", "stock_type", "quantity_present", "quantity_reserved",
    "quantity_available", "last_sync_at", "updated_at",
)
# The grain (the table's unique key, indexed): the order of the pages and the keyset cursor. The
# seller account is part of it (migration 6): a cursor from before it no longer decodes (422).
KEY_COLUMNS = ("marketplace", "account", "sku", "warehouse_id", "stock_type")


class BadCursor(ValueError):
    pass


def encode_cursor(row: dict[str, Any]) -> str:
    key = [None if row[c] is None else str(row[c]) for c in KEY_COLUMNS]
    return base64.urlsafe_b64encode(json.dumps(key, ensure_ascii=False).encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> list[str]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        raise BadCursor("`after` is not a cursor this API returned") from None
    if (not isinstance(key, list) or len(key) != len(KEY_COLUMNS)
            or not all(isinstance(v, str) and len(v) <= 512 for v in key)):
        raise BadCursor("`after` is not a cursor this API returned")
    return key


def _like(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its wildcards escaped (escape character `!`)."""
    return "%" + text.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"


def facets(wh: Warehouse, scope: AccountScope = None) -> dict[str, list[str]]:
    """The stock types and warehouses present in the accounts of `scope`, for the console's filter
    choices (another client's warehouse names are its data too)."""
    if not wh.table_exists("inventory_data"):
        return {"stock_types": [], "warehouses": []}
    scoped, params = and_account(scope)
    with wh.connection() as conn:
        types = wh.query(f"select distinct stock_type as v from inventory_data where 1 = 1{scoped} order by 1",
                         params, conn)
        places = wh.query("select distinct warehouse_name as v from inventory_data where warehouse_name is not null"
                          f"{scoped} order by 1 limit 500", params, conn)
    return {"stock_types": [str(r["v"]) for r in types], "warehouses": [str(r["v"]) for r in places]}


# -- syncs -------------------------------------------------------------------------------------
SYNC_COLUMNS = (
    "id", "run_id", "marketplace", "account", "sync_type", "status", "started_at", "finished_at", "duration_seconds",
    "api_requests", "retries", "records_fetched", "records_written", "records_rejected", "error_message", "warnings",
)
CHECK_COLUMNS = (
    "marketplace", "suite", "expectation", "column_name", "severity", "success", "observed_value",
    "unexpected_count", "unexpected_values", "details", "validated_at",
)


def _sync_row(row: dict[str, Any], with_details: bool = False) -> dict[str, Any]:
    out = plain_row({k: row.get(k) for k in SYNC_COLUMNS})
    out["warnings"] = _json_field(row.get("warnings"), [])
    if with_details:
        out["details"] = _json_field(row.get("details"), {})
    return out


def syncs(wh: Warehouse, *, marketplace: str | None = None, status: str | None = None,
          before: int | None = None, limit: int = 50, scope: AccountScope = None) -> dict[str, Any]:
    """The sync history, newest first (one row per marketplace and account per sync), keyset-paged
    by id, of the accounts of `scope` only."""
    with wh.session():
        return _syncs(wh, marketplace, status, before, limit, scope)


def _syncs(wh: Warehouse, marketplace: str | None, status: str | None, before: int | None,
           limit: int, scope: AccountScope) -> dict[str, Any]:
    if not wh.table_exists("sync_logs"):
        return {"items": [], "next_before": None, "limit": limit}
    check_sync_log_layout(wh)
    where, params = [], []
    scoped, scope_params = account_condition(scope)
    if scoped:
        where.append(scoped)
        params += scope_params
    if marketplace:
        where.append("marketplace = %s")
        params.append(marketplace)
    if status:
        where.append("status = %s")
        params.append(status)
    if before is not None:
        where.append("id < %s")
        params.append(before)
    rows = wh.query(f"select {', '.join(SYNC_COLUMNS)} from sync_logs"
                    + (" where " + " and ".join(where) if where else "")
                    + " order by id desc limit %s", [*params, limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [_sync_row(r) for r in rows], "next_before": int(rows[-1]["id"]) if more and rows else None,
            "limit": limit}


def sync_run(wh: Warehouse, sync_id: str, scope: AccountScope = None) -> dict[str, Any] | None:
    """One sync (its marketplaces' rows) by run id or by a row's numeric id, with its checks, as
    far as the accounts of `scope` took part (None when none of them did: as if it did not exist)."""
    with wh.session():
        return _sync_run(wh, sync_id, scope)


def _sync_run(wh: Warehouse, sync_id: str, scope: AccountScope) -> dict[str, Any] | None:
    if not wh.table_exists("sync_logs"):
        return None
    check_sync_log_layout(wh)
    scoped, scope_params = and_account(scope)
    with wh.connection() as conn:
        run_id = sync_id
        if sync_id.isdigit():
            found = wh.query(f"select run_id from sync_logs where id = %s{scoped}", (int(sync_id), *scope_params), conn)
            if not found:
                return None
            run_id = found[0]["run_id"]
        rows = wh.query(f"select * from sync_logs where run_id = %s{scoped} order by marketplace, account",
                        (run_id, *scope_params), conn)
        if not rows:
            return None
        checks: list[dict[str, Any]] = []
        if wh.table_exists("validation_results", conn=conn):
            checks = wh.query(f"select {', '.join(CHECK_COLUMNS)} from validation_results where run_id = %s{scoped} "
                              "order by success, marketplace, suite, expectation", (run_id, *scope_params), conn)
    out_checks = []
    for c in checks:
        row = plain_row(c)
        row["success"] = bool(c["success"])
        row["details"] = _json_field(c.get("details"), {})
        out_checks.append(row)
    marketplaces = [_sync_row(r, with_details=True) for r in rows]
    return {"id": run_id, "run_id": run_id, "status": overall_status([r["status"] for r in marketplaces]),
            "marketplaces": marketplaces, "validation_results": out_checks}


def overall_status(statuses: list[str]) -> str:
    """A sync's outcome over its marketplaces: running while any runs, else the worst."""
    for status in ("running", "failed", "partial", "success"):
        if status in statuses:
            return status
    return "unknown"


def running_sync_rows(wh: Warehouse, within_hours: float = 1.0) -> list[dict[str, Any]]:
    """`running` rows started in the last hour: a sync in progress elsewhere (older ones were interrupted)."""
    if not wh.table_exists("sync_logs"):
        return []
    rows = wh.query("select id, run_id, marketplace, started_at from sync_logs where status = 'running' "
                    "order by id desc limit 20")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    out = []
    for r in rows:
        started = r["started_at"]
        if isinstance(started, str):
            started = datetime.fromisoformat(started)
        if started is not None and started.tzinfo is not None:
            started = started.astimezone(timezone.utc).replace(tzinfo=None)
        if started is not None and (now - started).total_seconds() < within_hours * 3600:
            out.append(r)
    return out


def sync_lock_held(wh: Warehouse) -> bool:
    """Another process holds the sync lock of this warehouse (`SYNC_LOCK`: a sync is running)."""
    return not wh.lock_free(SYNC_LOCK)


# -- chart ------------------------------------------------------------------------------------
def stock_places(wh: Warehouse, scope: AccountScope = None) -> list[dict[str, Any]]:
    """The report's stock by marketplace, warehouse and type (for its chart), of the accounts of
    `scope`: the report's query over those accounts' rows only."""
    from pipelines.report import STOCK_BY_PLACE

    if not wh.table_exists("inventory_data"):
        return []
    kind = ("coalesce(warehouse_kind, 'physical')" if "warehouse_kind" in wh.columns("inventory_data")
            else "'physical'")
    scoped, params = account_condition(scope)
    return wh.query(STOCK_BY_PLACE.format(kind=kind, where=f" where {scoped}" if scoped else ""), params)


def data_version(wh: Warehouse) -> str:
    """Changes whenever a sync finishes: the key of cached renderings (the chart)."""
    if not wh.table_exists("sync_logs"):
        return "none"
    row = wh.query("select count(*) as n, max(finished_at) as at from sync_logs")[0]
    return f"{row['n']}:{row['at']}"
