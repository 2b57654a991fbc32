"""What every marketplace is: the `Marketplace` description the registry lists, and the
`CatalogBase` an incremental landing builds on.

Its own module so that each marketplace's package (`pipelines/marketplaces/<name>/`) can
describe itself without importing the registry that lists it (no circle).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence

if TYPE_CHECKING:
    import pandas as pd


# The account of a marketplace's single-account variables (README, "Several seller accounts"):
# defined here, below the configuration (`pipelines.config_accounts` names the others), because
# the answer checks read one account's rows and default to it.
DEFAULT_ACCOUNT = "default"


# What a marketplace asks of the layers above it, as the shapes it uses: the registry sits below
# the configuration, the API client and the warehouse (they import it), so it names none of them.
class SettingsView(Protocol):
    """The settings as a marketplace reads them (`pipelines.config.Settings` is one)."""

    dataset_prefix: str
    dataset_suffix: str  # "" for an account `default`, `__<id>` for another seller account

    def value(self, name: str) -> str: ...


class FrameReader(Protocol):
    """A warehouse as an answer check reads it (`pipelines.warehouse.Warehouse` is one)."""

    def frame(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame: ...


@dataclass(frozen=True)
class CatalogBase:
    """What an incremental landing builds on: the catalog published syncs landed (product ids,
    WB sizes) and, where the marketplace has one, the cursor of catalog changes (ISO time).
    Empty for a full sync, or before the first publish: the whole catalog is read."""

    known_catalog: Sequence[Any] = ()
    since: str | None = None


@dataclass(frozen=True)
class Variable:
    """One environment variable a marketplace reads: a credential, an API host or an option.

    Declared in the marketplace's package; `pipelines.config` (the one reader of the
    environment) reads, checks and masks every declared variable, so a marketplace's settings
    need no field in `Settings` and no entry in a masking list.
    """

    name: str  # e.g. OZON_API_KEY
    default: str = ""
    secret: bool = False  # masked everywhere (logs, errors, `describe()`), never in repr
    url: bool = False  # an http(s) base URL (checked, trailing slash removed)
    required: bool = False  # needed to sync: the marketplace is skipped while one is empty


# Checks a marketplace's values together and returns them normalised (say, an old spelling read
# as its successor); raises `ConfigError` with one clear line. Values arrive stripped, defaults filled.
ValuesCheck = Callable[[dict[str, str]], dict[str, str]]


@dataclass(frozen=True)
class AnswerTotals:
    """An answer's own totals against the sums of its rows in the same load, one row per key of
    `frame`: for each (reported, landed) column pair the two must be equal. The audit turns it
    into an expectation (critical where the marketplace's figures must agree, else a warning)."""

    frame: pd.DataFrame
    pairs: tuple[tuple[str, str], ...]  # (the answer's own total, the sum of the landed rows)
    critical: bool
    description: str  # what is compared, for people reading a finding
    index_columns: tuple[str, ...]  # the columns that name a failing row


class AnswerCheck(Protocol):
    """A marketplace's check of its answer's own totals: reads its models of the load being
    audited, the rows of one seller `account` (the models hold every account the build reads),
    and returns what to compare, or None when this load's answer carries no such totals."""

    def __call__(self, wh: FrameReader, account: str = ...) -> AnswerTotals | None: ...


@dataclass(frozen=True)
class Marketplace:
    name: str  # the key in sync_logs, inventory_data, dbt, asset keys, CLI options
    label: str  # for people: reports, e-mails, the console, error messages
    source_module: str  # its dlt source module: `make_source(...)`, imported on first use
    raw_dataset: str  # dlt dataset of its raw tables (before INVSYNC_DATASET_PREFIX)
    catalog: tuple[str, str]  # (raw table, column): the catalog ids an incremental sync knows
    catalog_cursor: tuple[str, str] | None  # (raw table, column) of the catalog's change time
    catalog_model: str  # dbt model listing every product of the load (the catalog-drop check)
    api_count: str | None  # key of `counts` that states the API's own product total
    answer_checks: tuple[AnswerCheck, ...]  # its answer's own totals the audit holds it to (`<name>/checks.py`)
    cron: str  # incremental schedule (staggered so the two never queue on the warehouse)
    color: str  # chart colour in the weekly report
    # Raw tables that a resource of another name writes (a fallback method's answer), for lineage.
    table_written_by: dict[str, str] = field(default_factory=dict)
    stock_types: tuple[str, ...] = ()  # its schemes, the values of `stock_type` its rows may carry
    variables: tuple[Variable, ...] = ()  # its environment variables (credentials, hosts, options)
    check_values: ValuesCheck | None = None  # checks across its variables (`pipelines.config` calls it)

    @property
    def credentials_hint(self) -> str:
        """The variables to set, named when the marketplace is skipped."""
        return "/".join(v.name for v in self.variables if v.required)

    def enabled(self, settings: SettingsView) -> bool:
        """Whether its credentials are configured (every required variable set)."""
        return all(settings.value(v.name) for v in self.variables if v.required)

    def skip_reason(self, settings: SettingsView) -> str | None:
        """None when it will sync, else why it is skipped (not failed)."""
        return None if self.enabled(settings) else f"{self.credentials_hint} not set"

    def dataset(self, settings: SettingsView) -> str:
        """The raw dataset of the account `settings` reads (DuckDB schema, MySQL database): each
        account's loads stay apart, since dlt's `replace` tables hold one load each."""
        return f"{settings.dataset_prefix}{self.raw_dataset}{settings.dataset_suffix}"

    def make_source(self, settings: SettingsView, stats: Any, counts: dict[str, Any], full: bool,
                    backoff_base: float, base: CatalogBase = CatalogBase()) -> Any:
        """A fresh dlt source for one sync (dlt sources must not be reused across runs).
        `stats` is the sync's `pipelines.api_client.SyncStats`, handed on to the source's client."""
        module = importlib.import_module(self.source_module)
        return module.make_source(settings, stats, counts, full, backoff_base, base)
