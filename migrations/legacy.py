"""The two tables a legacy importer left in MySQL and how each is adopted: `inventory_data`
(migration 3) and `sync_logs` (migration 4), given to the adoption engine as data.

Its own module because this is the knowledge of the old importer (its columns, the keys it
used, how each of its values maps to the product's and back), which is separate from both the
mechanics of adopting (`migrations/adoption.py`) and the product's own shapes
(`migrations/specs.py`). See `migrations/README.md` for the mappings in prose.
"""

from __future__ import annotations

from typing import Any

from migrations.adoption import Adoption, marketplace_to_source, source_to_marketplace
from migrations.fit import spec_columns
from migrations.introspection import q
from migrations.specs import (
    INVENTORY_INDEXES, INVENTORY_SPEC, SYNC_LOGS_COLUMNS, SYNC_LOGS_MYSQL_INDEX, SYNC_LOGS_SPEC, column_definitions,
)

# --------------------------------------------------------------------------- 3: inventory_data

LEGACY_INVENTORY_COLUMNS = ("product_id", "sku", "source", "warehouse_name", "stock_type", "quantity_present",
                            "quantity_reserved", "snapshot_date", "last_sync_at")


def _inventory_ddl(name: str, legacy: dict[str, dict[str, Any]]) -> str:
    cols = [f"{q(n)} {t} default null" for n, t, _ in INVENTORY_SPEC]
    keys = [f"{'unique key' if unique else 'key'} {q(n)} ({', '.join(q(c) for c in cs)})" for n, unique, cs in INVENTORY_INDEXES]
    return f"create table {q(name)} (\n  " + ",\n  ".join(cols + keys) + "\n)"


def _inventory_up_select(legacy: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    has = legacy.__contains__
    present = "l.quantity_present"
    reserved = "l.quantity_reserved" if has("quantity_reserved") else "0"
    synced = {
        (True, True): "coalesce(l.last_sync_at, cast(l.snapshot_date as datetime))",
        (True, False): "l.last_sync_at",
        (False, True): "cast(l.snapshot_date as datetime)",
        (False, False): "null",
    }[(has("last_sync_at"), has("snapshot_date"))]
    return [
        ("marketplace", source_to_marketplace("l.source")),
        ("sku", "l.sku"),
        ("product_id", "cast(l.product_id as char)" if has("product_id") else "null"),
        # The rule the dbt models use for warehouses known by name only (macro name_key).
        ("warehouse_id", "substr(md5(convert(l.warehouse_name using utf8mb4)), 1, 16)"),
        ("warehouse_name", "l.warehouse_name"),
        ("stock_type", "cast(l.stock_type as char)"),
        ("quantity_present", present),
        ("quantity_reserved", reserved),
        ("quantity_available", f"{present} - {reserved}"),
        ("last_sync_at", synced),
        ("updated_at", synced),
        ("source", "cast(l.source as char)"),
        ("snapshot_date", "l.snapshot_date" if has("snapshot_date") else f"cast({synced} as date)"),
    ]


def _inventory_notes(legacy: dict[str, dict[str, Any]]) -> list[str]:
    return [
        "source -> marketplace (Ozon->ozon, Wildberries->wb); warehouse_id = first 16 hex chars of md5(warehouse_name)",
        "quantity_available = quantity_present - quantity_reserved; updated_at = last_sync_at "
        "(snapshot_date where last_sync_at was empty); source and snapshot_date kept for legacy readers",
        "offer_id, barcode, product_name, marketplace_product_id stay empty until a sync confirms the row; "
        "rows a complete snapshot does not contain go to zero, never deleted",
    ]


ADOPT_INVENTORY = Adoption(
    table="inventory_data",
    version=3,
    product_marker="marketplace",
    legacy_columns=LEGACY_INVENTORY_COLUMNS,
    required=("sku", "source", "warehouse_name", "stock_type", "quantity_present"),
    product_ddl=_inventory_ddl,
    product_spec=lambda legacy: spec_columns(INVENTORY_SPEC),
    up_select=_inventory_up_select,
    up_after=lambda name, legacy: [],
    product_keys=lambda legacy: [(n, cs) for n, unique, cs in INVENTORY_INDEXES if unique],
    down_map={
        "product_id": ("a.product_id", None),
        "sku": ("a.sku", None),
        "source": (marketplace_to_source("a.marketplace"), None),
        "warehouse_name": ("a.warehouse_name", None),
        "stock_type": ("a.stock_type", None),
        "quantity_present": ("a.quantity_present", "coalesce(a.quantity_present, 0)"),
        "quantity_reserved": ("a.quantity_reserved", "coalesce(a.quantity_reserved, 0)"),
        "snapshot_date": ("coalesce(a.snapshot_date, cast(a.last_sync_at as date))",
                          "coalesce(a.snapshot_date, cast(a.last_sync_at as date), cast(a.updated_at as date), current_date)"),
        "last_sync_at": ("a.last_sync_at", "coalesce(a.last_sync_at, a.updated_at, current_timestamp)"),
    },
    up_order=lambda legacy: "",
    down_order="",
    # Rows a sync zeroed can share the legacy key with a live row (e.g. the md5-keyed legacy row
    # of an Ozon warehouse and the row under its real id): keep the one with stock.
    collapse=("coalesce(a.quantity_present, 0) <> 0 or coalesce(a.quantity_reserved, 0) <> 0",
              "coalesce(a.last_sync_at, a.updated_at)"),
    up_notes=_inventory_notes,
)


# --------------------------------------------------------------------------- 4: sync_logs

LEGACY_SYNC_LOGS_COLUMNS = ("id", "sync_type", "source", "status", "records_processed", "records_updated",
                            "error_message", "started_at", "completed_at", "duration_seconds")
# Legacy columns the product's table has under another name: kept as VIRTUAL generated columns
# (the product inserts with an explicit column list, so they cost nothing and old readers work).
LEGACY_SYNC_LOGS_VIRTUAL = {
    "source": marketplace_to_source("marketplace"),
    "records_processed": "records_fetched",
    "records_updated": "records_written",
    "completed_at": "finished_at",
}


def _sync_logs_ddl(name: str, legacy: dict[str, dict[str, Any]]) -> str:
    virtual = [
        f"{q(col)} {legacy[col]['column_type']} generated always as ({expr}) virtual"
        for col, expr in LEGACY_SYNC_LOGS_VIRTUAL.items() if col in legacy
    ]
    columns = column_definitions(SYNC_LOGS_COLUMNS, "mysql")
    body = ",\n            ".join([*columns, *virtual, SYNC_LOGS_MYSQL_INDEX])
    return f"create table {q(name)} (\n            {body}\n        )"


def _sync_logs_up_select(legacy: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    has = legacy.__contains__
    out = []
    if has("id"):
        out += [("id", "l.id"), ("run_id", "concat('legacy-', l.id)")]
    else:
        out.append(("run_id", "''"))  # numbered after the copy, from the new ids
    opt = lambda col: f"l.{col}" if has(col) else "null"  # noqa: E731
    out += [
        ("marketplace", source_to_marketplace("l.source")),
        ("sync_type", "l.sync_type"),
        ("status", "l.status"),
        ("started_at", "l.started_at"),
        ("finished_at", opt("completed_at")),
        ("duration_seconds", opt("duration_seconds")),
        ("records_fetched", opt("records_processed")),
        ("records_written", opt("records_updated")),
        ("error_message", opt("error_message")),
    ]
    return out


def _sync_logs_notes(legacy: dict[str, dict[str, Any]]) -> list[str]:
    kept = [c for c in LEGACY_SYNC_LOGS_VIRTUAL if c in legacy]
    return [
        "source -> marketplace (Ozon->ozon, Wildberries->wb, Manual->manual); completed_at -> finished_at; "
        "records_processed -> records_fetched; records_updated -> records_written",
        ("run_id = 'legacy-<id>' (legacy ids kept)" if "id" in legacy
         else "the legacy table had no id: rows numbered by started_at, run_id = 'legacy-<new id>'"),
        f"legacy columns kept as VIRTUAL generated columns for old readers: {', '.join(kept) or '-'}",
    ]


ADOPT_SYNC_LOGS = Adoption(
    table="sync_logs",
    version=4,
    product_marker="run_id",
    legacy_columns=LEGACY_SYNC_LOGS_COLUMNS,
    required=("source", "sync_type", "status", "started_at"),
    product_ddl=_sync_logs_ddl,
    product_spec=lambda legacy: spec_columns(SYNC_LOGS_SPEC),
    up_select=_sync_logs_up_select,
    up_after=lambda name, legacy: [] if "id" in legacy else [
        f"update {q(name)} set run_id = concat('legacy-', id) where run_id = ''"
    ],
    product_keys=lambda legacy: [("PRIMARY", ["id"])] if "id" in legacy else [],
    down_map={
        "id": ("a.id", None),
        "sync_type": ("a.sync_type", None),
        "source": (marketplace_to_source("a.marketplace"), None),
        "status": ("a.status", None),
        "records_processed": ("a.records_fetched", "coalesce(a.records_fetched, 0)"),
        "records_updated": ("a.records_written", "coalesce(a.records_written, 0)"),
        "error_message": ("a.error_message", "coalesce(a.error_message, '')"),
        "started_at": ("a.started_at", None),
        "completed_at": ("a.finished_at", "coalesce(a.finished_at, a.started_at)"),
        "duration_seconds": ("a.duration_seconds", "coalesce(a.duration_seconds, 0)"),
    },
    up_order=lambda legacy: "order by l.id" if "id" in legacy else "order by l.started_at",
    down_order="",
    collapse=None,
    up_notes=_sync_logs_notes,
)
