"""The sync runner: land each marketplace with dlt, record it in `sync_logs`, summarise.

Used by `invsync sync`, `invsync demo` and the Dagster assets. Marketplaces land in parallel
(they share no rate limits); a marketplace without credentials is skipped, not failed.
Each marketplace's extraction and normalization (API calls, JSON parsing, Parquet writing:
CPU-bound Python) run in a child process of their own, so two marketplaces use two cores
instead of sharing one interpreter lock; the load into the warehouse stays in this process,
the only one that writes to it. dlt only loads after a complete extraction and keeps its own
state, so an interrupted sync resumes (pending packages are loaded first) or restarts
without duplicates.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import dlt

from pipelines import ozon, quarantine, sync_log, wildberries
from pipelines.config import PROJECT_ROOT, Settings
from pipelines.api_client import SyncStats
from pipelines.progress import ProgressReporter
from pipelines.sync_log import SyncRecord
from pipelines.warehouse import Warehouse, warehouse_for
from migrations import runner as migrations

log = logging.getLogger(__name__)

MARKETPLACES = ("ozon", "wb")

# How long a sync waits for another sync of the same warehouse to finish.
SYNC_LOCK_WAIT_SECONDS = 900
SYNC_LOCK = "invsync_sync"

# dlt settings the product relies on, injected once: keep the load id on Arrow rows, no
# telemetry, normalize in-process (Arrow pages need no worker pool).
DLT_DEFAULTS = {
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID": "true",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "NORMALIZE__POOL_TYPE": "none",
}


def configure_dlt() -> None:
    for key, value in DLT_DEFAULTS.items():
        os.environ.setdefault(key, value)


@dataclass
class MarketplaceResult:
    marketplace: str
    status: str  # success | partial | failed | skipped
    record: SyncRecord | None = None
    message: str = ""
    row_counts: dict[str, int] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)


@dataclass
class SyncResult:
    run_id: str
    sync_type: str
    results: dict[str, MarketplaceResult]

    @property
    def ok(self) -> bool:
        """No marketplace failed (`partial` published with warnings, which the summary shows)."""
        return all(r.status != "failed" for r in self.results.values())

    @property
    def clean(self) -> bool:
        """Every marketplace succeeded without warnings or was skipped."""
        return all(r.status in ("success", "skipped") for r in self.results.values())

    def summary(self) -> str:
        lines = [f"sync {self.run_id} ({self.sync_type})"]
        for name, r in self.results.items():
            if r.record is None:
                lines.append(f"  {name:5} {r.status:8} {r.message}")
                continue
            rec = r.record
            lines.append(
                f"  {name:5} {r.status:8} {rec.records_fetched} rows fetched, "
                f"{rec.api_requests} requests, {rec.retries} retries, {rec.duration_seconds}s"
                + (f" — {rec.error_message}" if rec.error_message else "")
            )
            lines.extend(f"        warning: {w[:300]}" for w in rec.warnings)
        return "\n".join(lines)


def state_dir(settings: Settings) -> Path:
    """Where dlt keeps its working folders and state, one folder per warehouse."""
    target = settings.warehouse
    if target.is_duckdb:
        assert target.path is not None
        return target.path.parent / f".dlt-{target.path.stem}"
    return PROJECT_ROOT / "data" / f".dlt-mysql-{target.host}-{target.port}-{target.database}"


def destination(settings: Settings) -> Any:
    target = settings.warehouse
    if target.is_duckdb:
        assert target.path is not None
        target.path.parent.mkdir(parents=True, exist_ok=True)
        return dlt.destinations.duckdb(credentials=str(target.path))
    return dlt.destinations.sqlalchemy(credentials=target.sqlalchemy_url())


def make_pipeline(settings: Settings, marketplace: str) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=f"invsync_{marketplace}",
        destination=destination(settings),
        dataset_name=settings.raw_dataset(marketplace),
        pipelines_dir=str(state_dir(settings)),
        progress="log" if os.environ.get("INVSYNC_PROGRESS") else None,
    )


# The catalog column each source needs from its last landing to fetch only what is new.
STORED_CATALOG = {"ozon": ("product_info", "id"), "wb": ("cards", "chrt_id")}

# Incremental state moves only with a publish. The catalog tables are merged by incremental
# syncs, and every landing is committed before its audit; so what the next sync builds on is
# read from the rows that *published* syncs landed (`_dlt_load_id` of a `success`/`partial`
# row in sync_logs), never from dlt's state or from rows of a blocked, failed or interrupted
# sync. Those rows count as unknown: the next sync asks for them again and merges over them.
PUBLISHED_LOADS = ("select load_id from sync_logs where marketplace = %s and status in ('success', 'partial') "
                   "and load_id is not null")


def stored_catalog(settings: Settings, wh: Warehouse, marketplace: str) -> list[Any]:
    """Product ids (Ozon) or sizes (WB `chrtID`) of the catalog that published syncs landed;
    empty before the first publish (the next sync then reads the whole catalog)."""
    table, column = STORED_CATALOG[marketplace]
    dataset = settings.raw_dataset(marketplace)
    if not wh.table_exists(table, schema=dataset) or not wh.table_exists("sync_logs"):
        return []
    rows = wh.query(f"select distinct {column} as v from {dataset}.{table} where {column} is not null "
                    f"and _dlt_load_id in ({PUBLISHED_LOADS})", (marketplace,))
    return [row["v"] for row in rows]


def cards_cursor(settings: Settings, wh: Warehouse) -> str | None:
    """Where an incremental WB sync starts reading cards: the newest `updatedAt` among the
    `cards` rows of published loads (ISO, UTC); None when there are none (read every card)."""
    dataset = settings.raw_dataset("wb")
    if "updated_at" not in wh.columns("cards", schema=dataset) or not wh.table_exists("sync_logs"):
        return None
    rows = wh.query(f"select distinct updated_at as v from {dataset}.cards where updated_at is not null "
                    f"and _dlt_load_id in ({PUBLISHED_LOADS})", ("wb",))
    times = []
    for row in rows:
        value = row["v"]
        moment = value if isinstance(value, datetime) else wildberries.card_time({"updatedAt": value})
        if moment is not None:
            times.append(moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))
    return max(times).isoformat() if times else None


def catalog_base(settings: Settings, wh: Warehouse, marketplace: str, full: bool) -> dict[str, Any]:
    """What an incremental landing builds on (nothing for a full one): the published catalog and,
    for WB, the cards cursor."""
    if full:
        return {"known_catalog": [], "cards_since": None}
    return {"known_catalog": stored_catalog(settings, wh, marketplace),
            "cards_since": cards_cursor(settings, wh) if marketplace == "wb" else None}


def build_source(
    settings: Settings, marketplace: str, stats: SyncStats, counts: dict[str, Any], full: bool, backoff_base: float,
    known_catalog: Sequence[Any] = (), cards_since: str | None = None,
) -> Any:
    if marketplace == "ozon":
        client = ozon.make_client(settings, stats, backoff_base)
        return ozon.ozon_source(ozon.OzonApi(client, settings.ozon_api_url), counts=counts, full=full,
                                known_product_ids=known_catalog)
    client = wildberries.make_client(settings, stats, backoff_base)
    api = wildberries.WildberriesApi(client, settings)
    return wildberries.wildberries_source(api, fbo_source=settings.wb_fbo_source, full=full, counts=counts,
                                         known_chrt_ids=known_catalog, cards_since=cards_since)


def _root_cause(exc: BaseException) -> BaseException:
    """dlt wraps extraction errors several times; the innermost one says what went wrong."""
    seen = exc
    while True:
        inner = seen.__cause__ or seen.__context__
        if inner is None or inner is seen:
            return seen
        seen = inner


def begin_landing(wh: Warehouse, marketplace: str, run_id: str, full: bool, via: str = "cli") -> MarketplaceResult:
    """Record the start of a marketplace's sync (`running` row in sync_logs, phase `landing`,
    with the process that runs it: `via` is `cli` or `dagster`)."""
    rec = SyncRecord(run_id=run_id, marketplace=marketplace, sync_type="full" if full else "incremental",
                     started_at=datetime.now(timezone.utc))
    sync_log.enter_phase(wh, rec, "landing", via)
    sync_log.insert(wh, rec)
    return MarketplaceResult(marketplace, "failed", rec)


def record_landed(
    wh: Warehouse, result: MarketplaceResult, pipeline: dlt.Pipeline, stats: SyncStats,
    row_counts: dict[str, int] | None = None,
) -> None:
    """After dlt loaded: keep the load id and row counts; the row stays `running` until published.

    `row_counts` come with the call when the normalize step ran in another process.
    """
    rec = result.record
    trace = pipeline.last_trace
    rec.load_id = trace.last_load_info.loads_ids[-1] if trace and trace.last_load_info and trace.last_load_info.loads_ids else None
    if rec.load_id is None:  # nothing of this sync reached the warehouse: it must not count as done
        raise LandingError(f"{result.marketplace}: dlt loaded no package for this sync; the previous data stays")
    if row_counts is None:
        normalize_info = trace.last_normalize_info if trace else None
        row_counts = dict(normalize_info.row_counts) if normalize_info else {}
    result.row_counts = {k: v for k, v in row_counts.items() if not k.startswith("_dlt")}
    rec.records_fetched = sum(result.row_counts.values())
    result.status = "success"
    _record_stats(wh, result, stats)


def failure_text(settings: Settings, exc: BaseException) -> str:
    """What went wrong, in one line: the innermost cause, secrets masked."""
    cause = _root_cause(exc)
    return settings.mask(str(cause) or type(cause).__name__)


def record_failed(settings: Settings, wh: Warehouse, result: MarketplaceResult, exc: BaseException, stats: SyncStats) -> None:
    message = failure_text(settings, exc)
    log.error("%s sync failed: %s", result.marketplace, message)
    result.status, result.message = "failed", message
    result.record.finish("failed", message)
    _record_stats(wh, result, stats)


def _record_stats(wh: Warehouse, result: MarketplaceResult, stats: SyncStats) -> None:
    rec = result.record
    rec.api_requests, rec.retries = stats.requests, stats.retries
    rec.details = {**rec.details, "counts": result.counts, "requests_by_endpoint": dict(stats.by_endpoint),
                   "rate_limited": stats.rate_limited, "retry_waits": [round(w, 3) for w in stats.waits[:50]]}
    sync_log.update(wh, rec)


class LandingError(RuntimeError):
    """The child process that called the API reported a failure (message already masked)."""


def extract_in_child(
    settings: Settings, marketplace: str, full: bool, backoff_base: float, known_catalog: Sequence[Any],
    cards_since: str | None = None,
) -> dict[str, Any]:
    """Call the API and write a normalized load package; runs in a child process.

    Returns plain data (it crosses the process boundary): the error if any, the request
    counters, what the API reported and the rows per table. It never opens the warehouse.
    """
    configure_dlt()
    stats = SyncStats()
    counts: dict[str, Any] = {}
    error, row_counts = None, {}
    try:
        pipeline = make_pipeline(settings, marketplace)
        with ProgressReporter(marketplace, stats, counts):
            pipeline.extract(build_source(settings, marketplace, stats, counts, full, backoff_base, known_catalog,
                                          cards_since))
        row_counts = dict(pipeline.normalize().row_counts)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which records it
        error = failure_text(settings, exc)
    return {"error": error, "counts": counts, "row_counts": row_counts, "stats": stats.as_dict()}


class LandingChild:
    """The child interpreter that runs `extract_in_child` (`pipelines.landing_child`).

    Started before the parent prepares the landing, so the seconds the child spends importing
    dlt and the sources overlap with that preparation. A plain subprocess rather than
    `multiprocessing`: it never re-imports the caller's main script, so `run_sync` works from
    any script, notebook or scheduler.
    """

    def __init__(self, marketplace: str) -> None:
        self.marketplace = marketplace
        self._folder = tempfile.TemporaryDirectory(prefix="invsync-landing-")
        self._outcome = Path(self._folder.name) / "outcome.pickle"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.landing_child", str(self._outcome)],
            stdin=subprocess.PIPE, env=env, cwd=str(PROJECT_ROOT),
        )

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        """Send the job (settings, secrets included, over the pipe) and wait for the outcome."""
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(pickle.dumps(job))
            self._process.stdin.close()
        except BrokenPipeError:
            pass  # the child died early: its exit code says so below
        code = self._process.wait()
        if code != 0 or not self._outcome.exists():
            raise LandingError(f"the landing process of {self.marketplace} ended with exit code {code}")
        return pickle.loads(self._outcome.read_bytes())

    def __enter__(self) -> "LandingChild":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process.poll() is None:  # the parent failed before sending the job
            if self._process.stdin is not None and not self._process.stdin.closed:
                self._process.stdin.close()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._folder.cleanup()


def load_pending(pipeline: dlt.Pipeline, mask: Callable[[str], str] = str) -> list[str]:
    """Restore dlt's state from the warehouse if needed, then load what an interrupted sync left.

    A package that cannot be normalized or loaded is set aside (`pipelines.quarantine`), never
    retried forever: the returned warnings say so, and this sync goes on from a clean state.
    """
    pipeline.sync_destination()
    return quarantine.normalize_and_load_pending(pipeline, mask)


def land_marketplace(
    settings: Settings, wh: Warehouse, marketplace: str, run_id: str, full: bool, backoff_base: float = 1.0
) -> MarketplaceResult:
    """Land one marketplace's raw tables and record the attempt in `sync_logs`."""
    result = begin_landing(wh, marketplace, run_id, full)
    stats = SyncStats()
    try:
        with LandingChild(marketplace) as child:
            with wh.writing():  # dlt opens the warehouse: readers wait meanwhile (DuckDB)
                result.record.warnings.extend(load_pending(make_pipeline(settings, marketplace), settings.mask))
            base = catalog_base(settings, wh, marketplace, full)
            outcome = child.run(dict(settings=settings, marketplace=marketplace, full=full,
                                     backoff_base=backoff_base, **base,
                                     log_level=logging.getLogger().getEffectiveLevel()))
        stats = SyncStats.from_dict(outcome["stats"])
        # Fallbacks taken and retired methods met: warnings on the sync record, shown by `status`.
        result.record.warnings.extend(outcome["counts"].pop("warnings", []))
        result.counts.update(outcome["counts"])
        pipeline = make_pipeline(settings, marketplace)  # a fresh instance reads the child's package
        if outcome["error"]:  # one line; nothing it left half-done stays pending
            raise LandingError(quarantine.discard_pending(pipeline, outcome["error"]))
        with wh.writing():
            quarantine.load_or_quarantine(pipeline, f"{marketplace}: the landed data", settings.mask)
        record_landed(wh, result, pipeline, stats, outcome["row_counts"])
    except Exception as exc:  # noqa: BLE001 - every failure is recorded, then reported
        record_failed(settings, wh, result, exc, stats)
    return result


def pending_results(wh: Warehouse, run_id: str) -> dict[str, MarketplaceResult]:
    """Landed-but-unpublished marketplaces of a run, rebuilt from sync_logs (for Dagster steps)."""
    out = {}
    for row in wh.query("select * from sync_logs where run_id = %s and status = 'running' and load_id is not null", (run_id,)):
        rec = sync_log.from_row(row)
        out[rec.marketplace] = MarketplaceResult(rec.marketplace, "success", rec, counts=rec.details.get("counts", {}))
    return out


def selected_marketplaces(settings: Settings, which: str) -> dict[str, str | None]:
    """Marketplace -> None when it will run, or the reason it is skipped."""
    wanted = MARKETPLACES if which == "all" else (which,)
    out: dict[str, str | None] = {}
    for name in wanted:
        if name not in MARKETPLACES:
            raise ValueError(f"unknown marketplace '{name}': use ozon, wb or all")
        enabled = settings.ozon_enabled if name == "ozon" else settings.wb_enabled
        out[name] = None if enabled else (
            "skipped: OZON_CLIENT_ID/OZON_API_KEY not set" if name == "ozon" else "skipped: WB_API_TOKEN not set"
        )
    return out


def prepare_warehouse(settings: Settings, wh: Warehouse | None = None) -> Warehouse:
    """Open the warehouse and bring the product's own tables up to date.

    On MySQL each dlt dataset is its own database. They are created here with the character
    set and collation of the main database, because dbt joins across them and MySQL refuses
    to compare text of different collations.
    """
    wh = wh or warehouse_for(settings.warehouse)
    migrations.up(wh)
    if not settings.warehouse.is_duckdb:
        main = wh.query(
            "select default_character_set_name as cs, default_collation_name as co "
            "from information_schema.schemata where schema_name = %s",
            (settings.warehouse.database,),
        )[0]
        datasets = [settings.raw_ozon_dataset, settings.raw_wb_dataset]
        datasets += [f"{name}_staging" for name in datasets]  # dlt's merge staging datasets
        with wh.connection() as conn:
            for dataset in datasets:
                wh.execute(conn, f"create database if not exists `{dataset}` character set {main['cs']} collate {main['co']}")
    return wh


def _quietly(task: Callable[[], None]) -> Callable[[], None]:
    """A warm-up must never fail a sync: the step it prepares reports its own errors."""
    def run() -> None:
        try:
            task()
        except Exception:  # noqa: BLE001
            log.debug("warm-up failed", exc_info=True)
    return run


def run_sync(
    settings: Settings,
    which: str = "all",
    full: bool = False,
    backoff_base: float = 1.0,
    after_landing: Callable[[Settings, Warehouse, dict[str, MarketplaceResult]], None] | None = None,
    warm_up: Callable[[], None] | None = None,
) -> SyncResult:
    """Land the selected marketplaces in parallel, then hand over to `after_landing` (dbt, checks).

    `warm_up` (e.g. `publish.warm_up`) runs in a background thread while the landing
    processes work: the next step's slow imports happen while this process waits anyway.
    """
    configure_dlt()
    wh = prepare_warehouse(settings)  # migrations take their own lock and are idempotent
    # Syncs of one warehouse share dlt's working folders, the raw tables and the audited
    # snapshot: one at a time, from before the first sync_logs row to the last (a MySQL named
    # lock; on DuckDB an flock on `<file>.sync.lock`). A second sync waits, then refuses
    # having written no sync_logs row.
    with wh.exclusive(SYNC_LOCK, SYNC_LOCK_WAIT_SECONDS, "syncing"):
        # Holding the lock, no other CLI sync runs: rows still `running` belong to dead syncs.
        for rec in sync_log.settle_interrupted(wh, sync_lock_free=True):
            log.warning("%s sync %s (started %s) ended as %s: %s", rec.marketplace, rec.run_id,
                        rec.started_at, rec.status, rec.error_message or "its data had been published")
        return _sync(settings, wh, which, full, backoff_base, after_landing, warm_up)


def _sync(
    settings: Settings,
    wh: Warehouse,
    which: str,
    full: bool,
    backoff_base: float,
    after_landing: Callable[[Settings, Warehouse, dict[str, MarketplaceResult]], None] | None,
    warm_up: Callable[[], None] | None,
) -> SyncResult:
    warming = None
    if warm_up is not None:
        warming = threading.Thread(target=_quietly(warm_up), name="invsync-warm-up", daemon=True)
        warming.start()
    run_id = str(uuid.uuid4())
    plan = selected_marketplaces(settings, which)
    results: dict[str, MarketplaceResult] = {
        name: MarketplaceResult(name, "skipped", message=reason) for name, reason in plan.items() if reason
    }
    to_run = [name for name, reason in plan.items() if reason is None]
    with ThreadPoolExecutor(max_workers=max(1, len(to_run))) as pool:
        futures = {name: pool.submit(land_marketplace, settings, wh, name, run_id, full, backoff_base) for name in to_run}
        for name, future in futures.items():
            results[name] = future.result()
    failure: str | None = None
    if warming is not None:
        warming.join()  # its imports finish before the step that uses them starts
    if after_landing is not None:
        try:
            after_landing(settings, wh, results)
        except Exception as exc:  # noqa: BLE001 - recorded on every unfinished row
            failure = settings.mask(f"publish step failed: {_root_cause(exc)}")
            log.error(failure)
    for result in results.values():
        if result.record is not None and result.record.status == "running":
            result.status = "failed" if failure else "success"
            result.record.finish(result.status, failure)
            sync_log.update(wh, result.record)
    return SyncResult(run_id, "full" if full else "incremental", results)
