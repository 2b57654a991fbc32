"""The marketplace registry: one `Marketplace` per marketplace, asked by every layer.

Everything outside a marketplace's own source module (`pipelines/ozon.py`,
`pipelines/wildberries.py`) and its dbt staging models learns what differs between
marketplaces here: its name and label, whether credentials are configured, how to build its
dlt source, its raw dataset, the catalog an incremental sync builds on, the API counter the
audit reconciles with, the answer-specific checks, its schedule and chart colour. The CLI,
the sync core, the audit, `status`, the report, the web service and the Dagster definitions
iterate over `MARKETPLACES`; none of them compares a marketplace's name.

Adding a marketplace (say Yandex Market): a source module with `make_source(...)`, an entry
below, its dbt staging models plus `int_inventory__<name>`, and its name in the `marketplaces`
var of `dbt_project/dbt_project.yml` (a test holds the two lists equal).

This module stays light (no dlt, no pandas): `invsync status` and the web service import it.
"""

from __future__ import annotations

from pipelines.marketplaces.base import CatalogBase, Marketplace

__all__ = ["BY_NAME", "MARKETPLACES", "NAMES", "OZON", "WILDBERRIES", "CatalogBase", "Marketplace", "get", "label",
           "selected"]


OZON = Marketplace(
    name="ozon", label="Ozon", enabled_setting="ozon_enabled", credentials_hint="OZON_CLIENT_ID/OZON_API_KEY",
    source_module="pipelines.ozon", raw_dataset="raw_ozon",
    catalog=("product_info", "id"), catalog_cursor=None, catalog_model="stg_ozon__stocks",
    api_count="total_items", answer_checks=("ozon_fbo_sums",),
    cron="0 0,6,12,18 * * *", color="#005bff",
    table_written_by={"analytics_stocks": "fbo_stocks", "warehouses": "fbs_stocks"},
)
WILDBERRIES = Marketplace(
    name="wb", label="Wildberries", enabled_setting="wb_enabled", credentials_hint="WB_API_TOKEN",
    source_module="pipelines.wildberries", raw_dataset="raw_wb",
    catalog=("cards", "chrt_id"), catalog_cursor=("cards", "updated_at"), catalog_model="stg_wb__cards",
    api_count=None, answer_checks=("wb_remains_totals",),
    cron="0 3,9,15,21 * * *", color="#cb11ab",
    table_written_by={"warehouse_remains": "wb_warehouse_stocks"},
)

MARKETPLACES: tuple[Marketplace, ...] = (OZON, WILDBERRIES)
BY_NAME: dict[str, Marketplace] = {m.name: m for m in MARKETPLACES}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def get(name: str) -> Marketplace:
    """The marketplace called `name`; a clear error for anything else."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown marketplace '{name}': use {', '.join(NAMES)} or all") from None


def selected(which: str) -> tuple[Marketplace, ...]:
    """`all` or one marketplace's name."""
    return MARKETPLACES if which == "all" else (get(which),)


def label(name: str) -> str:
    """A marketplace's label, or the name itself for rows of unknown origin (legacy imports)."""
    return BY_NAME[name].label if name in BY_NAME else name
