"""What every marketplace is: the `Marketplace` description the registry lists, and the
`CatalogBase` an incremental landing builds on.

Its own module so that each marketplace's package (`pipelines/marketplaces/<name>/`) can
describe itself without importing the registry that lists it (no circle).
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
