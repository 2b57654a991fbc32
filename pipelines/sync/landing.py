"""Landing: one marketplace's API answers into its raw tables with dlt, recorded in `sync_logs`.

Where landing runs, decided once for every entry point (`invsync sync`, `invsync demo`, the
Dagster landing assets, the benchmark): extraction and normalization (API calls, JSON
parsing, Parquet writing: CPU-bound Python) run in a child process per marketplace
(`pipelines.sync.landing_child`), so two marketplaces use two cores instead of sharing one
interpreter lock, and the calling process, the only one that writes to the warehouse, loads
the package. dlt loads only after a complete extraction and keeps its own state, so an
interrupted sync resumes (pending packages load first) or restarts without duplicates.

The landing builds on what *published* syncs landed (`catalog_base`): incremental state moves
only with a publish.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import dlt

from pipelines import quarantine, sync_log
from pipelines.api_client import SyncStats
from pipelines.config import Settings
from pipelines.config_accounts import DEFAULT_ACCOUNT
from pipelines.marketplaces import CatalogBase, Marketplace, get
from pipelines.progress import ProgressReporter
from pipelines.sync import child
from pipelines.sync.result import MarketplaceResult, Outcome
from pipelines.sync_log import SyncRecord
from pipelines.warehouse import Warehouse

log = logging.getLogger(__name__)

# dlt settings the product relies on: keep the load id on Arrow rows, no telemetry, normalize
# in-process (Arrow pages need no worker pool). Given to dlt through its in-memory config
# provider, never through the process environment.
DLT_SETTINGS = {
    "normalize.parquet_normalizer.add_dlt_load_id": True,
    "runtime.dlthub_telemetry": False,
    "normalize.pool_type": "none",
}


def configure_dlt() -> None:
    for key, value in DLT_SETTINGS.items():
        dlt.config[key] = value


class LandingError(RuntimeError):
    """The landing of a marketplace failed (message already masked)."""


def state_dir(settings: Settings) -> Path:
    """Where dlt keeps its working folders and state, one folder per warehouse."""
    return settings.warehouse.work_dir("dlt")


def destination(settings: Settings) -> Any:
    """The warehouse as dlt's destination. Dataset names are taken as given: dlt would fold the
    `__` of an account's dataset (`raw_ozon__acme`, `Marketplace.dataset`) into one `_`, and dbt
    reads the name as written."""
    target = settings.warehouse
    if target.is_duckdb:
        assert target.path is not None
        target.path.parent.mkdir(parents=True, exist_ok=True)
        from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

        # Loading a landed package took the syncing process to ~630 MB at 100,000 products under
        # DuckDB's default limit (80 % of the machine's memory); the same limit as dbt's builds.
        credentials = DuckDbCredentials(str(target.path), global_config={"memory_limit": settings.duckdb_memory_limit})
        return dlt.destinations.duckdb(credentials=credentials, enable_dataset_name_normalization=False)
    from dlt.destinations.impl.sqlalchemy.configuration import SqlalchemyCredentials

    from pipelines import mysql_connections

    credentials = SqlalchemyCredentials(target.sqlalchemy_url())
    credentials.engine_kwargs = mysql_connections.engine_kwargs(target.sqlalchemy_url())  # one TLS context, not one a connection
    return dlt.destinations.sqlalchemy(credentials=credentials, enable_dataset_name_normalization=False)


def make_pipeline(settings: Settings, market: Marketplace, account: str = DEFAULT_ACCOUNT) -> dlt.Pipeline:
    """One account's dlt pipeline: its own name (so its own state and pending packages) and its
    own raw dataset (`Marketplace.dataset`)."""
    view = settings.for_account(account, market.name)
    return dlt.pipeline(
        pipeline_name=f"invsync_{market.name}{view.dataset_suffix}",
        destination=destination(settings),
        dataset_name=market.dataset(view),
        pipelines_dir=str(state_dir(settings)),
    )


# The catalog tables are merged by incremental syncs, and every landing is committed before its
# audit; so what the next sync builds on is read from the rows that *published* syncs landed
# (`_dlt_load_id` of a `success`/`partial` row in sync_logs), never from dlt's state or from
# rows of a blocked, failed or interrupted sync. Those count as unknown: asked for again.
PUBLISHED_LOADS = ("select load_id from sync_logs where marketplace = %s and account = %s "
                   "and status in ('success', 'partial') and load_id is not null")


def published_values(settings: Settings, wh: Warehouse, market: Marketplace, table: str, column: str,
                     account: str = DEFAULT_ACCOUNT) -> list[Any]:
    """Distinct non-null values of an account's raw column among the rows of its published loads."""
    dataset = market.dataset(settings.for_account(account, market.name))
    if column not in wh.columns(table, schema=dataset) or not wh.table_exists("sync_logs"):
        return []
    rows = wh.query(f"select distinct {column} as v from {dataset}.{table} where {column} is not null "
                    f"and _dlt_load_id in ({PUBLISHED_LOADS})", (market.name, account))
    return [row["v"] for row in rows]


def newest_time(values: list[Any]) -> str | None:
    """The latest of stored times (datetimes, or ISO text with `Z`) as ISO UTC; None if none parse."""
    times = []
    for value in values:
        if not isinstance(value, datetime):
            try:
                value = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                continue
        times.append(value if value.tzinfo else value.replace(tzinfo=timezone.utc))
    return max(times).isoformat() if times else None


def catalog_base(settings: Settings, wh: Warehouse, market: Marketplace, full: bool,
                 account: str = DEFAULT_ACCOUNT) -> CatalogBase:
    """What an account's incremental landing builds on (nothing for a full one): its published
    catalog and, where the marketplace has one, the newest change time of that catalog."""
    if full:
        return CatalogBase()
    since = (newest_time(published_values(settings, wh, market, *market.catalog_cursor, account=account))
             if market.catalog_cursor else None)
    return CatalogBase(known_catalog=published_values(settings, wh, market, *market.catalog, account=account), since=since)


def root_cause(exc: BaseException) -> BaseException:
    """dlt wraps extraction errors several times; the innermost one says what went wrong."""
    seen = exc
    while True:
        inner = seen.__cause__ or seen.__context__
        if inner is None or inner is seen:
            return seen
        seen = inner


def failure_text(settings: Settings, exc: BaseException) -> str:
    """What went wrong, in one line: the innermost cause, secrets masked."""
    cause = root_cause(exc)
    return settings.mask(str(cause) or type(cause).__name__)


def begin_landing(wh: Warehouse, marketplace: str, run_id: str, full: bool, via: str,
                  account: str = DEFAULT_ACCOUNT) -> MarketplaceResult:
    """Record the start of an account's sync (`running` row in sync_logs, phase `landing`,
    with the process that runs it: `via` is `cli` or `dagster`)."""
    rec = SyncRecord(run_id=run_id, marketplace=marketplace, sync_type="full" if full else "incremental",
                     started_at=datetime.now(timezone.utc), account=account)
    sync_log.enter_phase(wh, rec, "landing", via)
    sync_log.insert(wh, rec)
    return MarketplaceResult(marketplace, rec, account=account)


def record_landed(wh: Warehouse, result: MarketplaceResult, pipeline: dlt.Pipeline, stats: SyncStats,
                  row_counts: dict[str, int]) -> None:
    """After dlt loaded: keep the load id and row counts; the row stays `running` until published."""
    rec = result.record
    trace = pipeline.last_trace
    info = trace.last_load_info if trace else None
    load_id = info.loads_ids[-1] if info and info.loads_ids else None
    if load_id is None:  # nothing of this sync reached the warehouse: it must not count as done
        raise LandingError(f"{result.key}: dlt loaded no package for this sync; the previous data stays")
    result.row_counts = {k: v for k, v in row_counts.items() if not k.startswith("_dlt")}
    rec.records_fetched = sum(result.row_counts.values())
    rec.load_id = load_id
    record_stats(wh, result, stats)


def record_failed(settings: Settings, wh: Warehouse, result: MarketplaceResult, exc: BaseException,
                  stats: SyncStats) -> None:
    result.message = failure_text(settings, exc)
    log.error("%s sync failed: %s", result.key, result.message)
    result.record.finish(Outcome.FAILED, result.message)
    record_stats(wh, result, stats)


def record_stats(wh: Warehouse, result: MarketplaceResult, stats: SyncStats) -> None:
    rec = result.record
    rec.api_requests, rec.retries = stats.requests, stats.retries
    rec.details = {**rec.details, "counts": result.counts, "requests_by_endpoint": dict(stats.by_endpoint),
                   "rate_limited": stats.rate_limited, "retry_waits": [round(w, 3) for w in stats.waits[:50]]}
    sync_log.update(wh, rec)


def extract_in_child(settings: Settings, marketplace: str, full: bool, backoff_base: float,
                     base: CatalogBase, account: str = DEFAULT_ACCOUNT) -> dict[str, Any]:
    """Call the API and write a normalized load package; runs in the child process.

    Returns plain data (it crosses the process boundary): the error if any, the request
    counters, what the API reported and the rows per table. It never opens the warehouse.
    """
    configure_dlt()
    market = get(marketplace)  # the child's entry point: resolved once, here
    stats = SyncStats()
    counts: dict[str, Any] = {}
    error, row_counts = None, {}
    try:
        pipeline = make_pipeline(settings, market, account)
        view = settings.for_account(account, marketplace)  # the account's credentials and dataset
        with ProgressReporter(marketplace, stats, counts):
            pipeline.extract(market.make_source(view, stats, counts, full, backoff_base, base))
        row_counts = dict(pipeline.normalize().row_counts)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which records it
        error = failure_text(settings, exc)
    return {"error": error, "counts": counts, "row_counts": row_counts, "stats": stats.as_dict()}


class LandingChild:
    """The child interpreter that runs `extract_in_child` (`pipelines.sync.landing_child`).

    Leased before the parent prepares the landing, so the seconds a new child spends importing
    dlt and the sources overlap with that preparation; between syncs it waits in this process's
    pool of helpers (`child.lease`). A plain subprocess rather than `multiprocessing`: it never
    re-imports the caller's main script, so a sync works from any script, notebook, scheduler
    or Dagster step.
    """

    def __init__(self, marketplace: str, helper: child.Helper | None = None) -> None:
        self.marketplace = marketplace
        self._owned = helper is None  # started for this one landing (not leased): ended by it
        self._helper = helper or child.Helper("pipelines.sync.landing_child")
        self._process = self._helper.process

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        """Send the job (settings, secrets included, over the pipe) and wait for the outcome."""
        outcome = self._helper.ask(job)
        if outcome is None:
            raise LandingError(f"the landing process of {self.marketplace} ended with exit code "
                               f"{self._helper.exit_code()}")
        return outcome

    def __enter__(self) -> "LandingChild":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._owned:
            self._helper.close(timeout=30)


@contextmanager
def landing_child(marketplace: str, keep: bool = False) -> Iterator[LandingChild]:
    """A landing process for one marketplace's landing: an idle one of this process, else new
    (`keep`: Settings.keep_helpers, it then waits for the process's next sync)."""
    with child.lease("pipelines.sync.landing_child", keep=keep) as helper:
        yield LandingChild(marketplace, helper)


def load_pending(pipeline: dlt.Pipeline, mask: Callable[[str], str] = str) -> list[str]:
    """Restore dlt's state from the warehouse if needed, then load what an interrupted sync left.

    A package that cannot be normalized or loaded is set aside (`pipelines.quarantine`), never
    retried forever: the returned warnings say so, and this sync goes on from a clean state.
    """
    pipeline.sync_destination()
    return quarantine.normalize_and_load_pending(pipeline, mask)


def land_marketplace(settings: Settings, wh: Warehouse, marketplace: str, run_id: str, full: bool,
                     backoff_base: float = 1.0, via: str = "cli", account: str = DEFAULT_ACCOUNT) -> MarketplaceResult:
    """Land one account's raw tables (its own dataset) and record the attempt in `sync_logs`.

    Never raises for an account's failure: the result (and its row) says `failed` and why.
    """
    market = get(marketplace)  # resolved once for the whole landing (the child resolves its own)
    result = begin_landing(wh, marketplace, run_id, full, via, account)
    stats = SyncStats()
    try:
        with landing_child(result.key, settings.keep_helpers) as process:
            with wh.writing():  # dlt opens the warehouse: readers wait meanwhile (DuckDB)
                result.record.warnings.extend(load_pending(make_pipeline(settings, market, account), settings.mask))
            outcome = process.run(dict(settings=settings, marketplace=marketplace, account=account, full=full,
                                       backoff_base=backoff_base, base=catalog_base(settings, wh, market, full, account),
                                       log_level=logging.getLogger().getEffectiveLevel()))
        stats = SyncStats.from_dict(outcome["stats"])
        # Fallbacks taken and retired methods met: warnings on the sync record, shown by `status`.
        result.record.warnings.extend(outcome["counts"].pop("warnings", []))
        result.counts.update(outcome["counts"])
        pipeline = make_pipeline(settings, market, account)  # a fresh instance reads the child's package
        if outcome["error"]:  # one line; nothing it left half-done stays pending
            raise LandingError(quarantine.discard_pending(pipeline, outcome["error"]))
        with wh.writing():
            quarantine.load_or_quarantine(pipeline, f"{result.key}: the landed data", settings.mask)
        record_landed(wh, result, pipeline, stats, outcome["row_counts"])
    except Exception as exc:  # noqa: BLE001 - every failure is recorded, then reported
        record_failed(settings, wh, result, exc, stats)
    return result


def pending_results(wh: Warehouse, run_id: str) -> dict[str, MarketplaceResult]:
    """Landed-but-unpublished accounts of a run, rebuilt from sync_logs (for steps that run
    in another process than the landing, as Dagster's do), by `account_key`."""
    out = {}
    for row in wh.query("select * from sync_logs where run_id = %s and status = 'running' and load_id is not null",
                        (run_id,)):
        rec = sync_log.from_row(row)
        result = MarketplaceResult(rec.marketplace, rec, counts=rec.details.get("counts", {}), account=rec.account)
        out[result.key] = result
    return out
