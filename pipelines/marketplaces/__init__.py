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

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # types of the signatures only: `invsync status` loads no HTTP stack through here
    from pipelines.api_client import SyncStats
    from pipelines.config import Settings


@dataclass(frozen=True)
class CatalogBase:
    """What an incremental landing builds on: the catalog published syncs landed (product ids,
    WB sizes) and, where the marketplace has one, the cursor of catalog changes (ISO time).
    Empty for a full sync, or before the first publish: the whole catalog is read."""

    known_catalog: Sequence[Any] = ()
    since: str | None = None


@dataclass(frozen=True)
class Marketplace:
    name: str  # the key in sync_logs, inventory_data, dbt, asset keys, CLI options
    label: str  # for people: reports, e-mails, the console, error messages
    enabled_setting: str  # the `Settings` property that says its credentials are configured
    credentials_hint: str  # the variables to set, named when the marketplace is skipped
    source_module: str  # its dlt source module: `make_source(...)`, imported on first use
    raw_dataset: str  # dlt dataset of its raw tables (before INVSYNC_DATASET_PREFIX)
    catalog: tuple[str, str]  # (raw table, column): the catalog ids an incremental sync knows
    catalog_cursor: tuple[str, str] | None  # (raw table, column) of the catalog's change time
    catalog_model: str  # dbt model listing every product of the load (the catalog-drop check)
    api_count: str | None  # key of `counts` that states the API's own product total
    answer_checks: tuple[str, ...]  # its answer's own totals the audit holds it to (expectations/audit.py)
    cron: str  # incremental schedule (staggered so the two never queue on the warehouse)
    color: str  # chart colour in the weekly report
    # Raw tables that a resource of another name writes (a fallback method's answer), for lineage.
    table_written_by: dict[str, str] = field(default_factory=dict)

    def enabled(self, settings: Settings) -> bool:
        return bool(getattr(settings, self.enabled_setting))

    def skip_reason(self, settings: Settings) -> str | None:
        """None when it will sync, else why it is skipped (not failed)."""
        return None if self.enabled(settings) else f"skipped: {self.credentials_hint} not set"

    def dataset(self, settings: Settings) -> str:
        """The raw dataset in this installation (DuckDB schema, MySQL database)."""
        return f"{settings.dataset_prefix}{self.raw_dataset}"

    def make_source(self, settings: Settings, stats: SyncStats, counts: dict[str, Any], full: bool,
                    backoff_base: float, base: CatalogBase = CatalogBase()) -> Any:
        """A fresh dlt source for one sync (dlt sources must not be reused across runs)."""
        module = importlib.import_module(self.source_module)
        return module.make_source(settings, stats, counts, full, backoff_base, base)


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
