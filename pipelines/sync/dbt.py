"""dbt for the sync: which dbt steps a sync runs, how they are invoked, how their results read.

Both entry points run the same steps (`STAGE`, `PUBLISH`, and `APPROVE` when nothing is
approved: a command and a selection each) and judge them with one reader of dbt's
`run_results.json` (`DbtRun`). Only the invocation differs, behind `DbtInvoker`:

- `DbtWorker` (the CLI, the demo, the benchmark, the web service's syncs): one dbt process
  per sync (`dbt_worker`), each step sent with an explicit environment (the `DBT_*`
  connection variables of `dbt_project/profiles.yml` derived from WAREHOUSE_URL, and
  INVSYNC_PUBLISH_LOADS); the caller's environment is never changed.
- `orchestration.resources.DagsterDbt`: dagster-dbt's own subprocess, whose events become
  asset materializations and asset checks.

A person running `dbt build` by hand sets the same variables (README).
"""

from __future__ import annotations

import fcntl
import json
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Protocol

from pipelines.config import PROJECT_ROOT, Settings
from pipelines.config_accounts import DEFAULT_ACCOUNT
from pipelines.marketplaces import MARKETPLACES
from pipelines.sync import child

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
PARTIAL_PARSE_FILE = "partial_parse.msgpack"  # dbt's saved parse, in the target folder

# The loads an invocation publishes: {marketplace: {account: load id}}. A marketplace's single
# load id, {marketplace: load id}, is its `default` account's (the form before several seller
# accounts, still accepted). None: every account's latest published load, as for a person
# running dbt (macros/publish.sql).
PublishLoads = Mapping[str, str | Mapping[str, str]]


def target_dir(settings: Settings) -> Path:
    """Where the sync's dbt invocations keep their artifacts and log: one folder per warehouse
    (`WarehouseTarget.work_dir`), so dbt's partial parsing (keyed on the connection) carries
    over from one sync of a warehouse to the next, and two warehouses never re-parse each other out."""
    return settings.warehouse.work_dir("dbt")


@dataclass(frozen=True)
class DbtStep:
    """A dbt command and the nodes it selects; the Dagster ops are defined with the same
    selection. Outside Dagster a step marked `only_loaded_marketplaces` leaves out the
    marketplaces without a load (the models read are the same: `int_inventory__snapshot`
    reads only the marketplaces it publishes)."""

    command: str
    select: str
    # Leave out the models of the marketplaces that have no load in the invocation (their dbt
    # folders, `marketplace_folders`): a sync of Ozon alone builds no WB or Yandex Market view,
    # and a broken model of a marketplace that did not land cannot hold the others back.
    only_loaded_marketplaces: bool = False

    @property
    def args(self) -> list[str]:
        return [self.command, "--select", *self.select.split()]

    def args_for(self, loads: PublishLoads | None) -> list[str]:
        """The command line for an invocation publishing `loads` (None: every marketplace); a
        marketplace without an account named is left out, as the models leave it unread."""
        if not self.only_loaded_marketplaces or loads is None:
            return self.args
        named = nested_loads(loads)
        left_out = [folder for m in MARKETPLACES if not named.get(m.name) for folder in marketplace_folders(m.name)]
        return [*self.args, "--exclude", *left_out] if left_out else self.args


def marketplace_folders(name: str) -> list[str]:
    """A marketplace's own dbt folders that exist, as dbt selectors (README, "Adding a
    marketplace"); one that does not exist would only add a warning to dbt.log."""
    folders = (f"models/staging/{name}", f"models/intermediate/{name}", f"tests/{name}")
    return [f"path:{folder}" for folder in folders if (DBT_PROJECT_DIR / folder).is_dir()]


# Write: seed, staging and the snapshot of exactly the landed loads, with their tests: a
# failing staging test stops the publish on every path (DBT_INDIRECT_SELECTION=buildable keeps
# tests that also need `inventory_data` for the publish step). Models tagged `audit` (a
# marketplace's models that its answer checks read) are built with them.
STAGE = DbtStep("build", "+int_inventory__snapshot +tag:audit", only_loaded_marketplaces=True)
# Publish: `int_sync__publishable` (a view; the snapshot reads the same rows through a macro, so
# the view is not in the write step) rebuilt with only the approved loads, then `inventory_data`
# merged and tested, in one build (one dbt start-up on either path): a failing approval test
# skips the merge, a failing model fails the sync, failing tests on published data are warnings.
# The history models (marts/history) build after `inventory_data` in the same step: only a
# publish writes history, from the state it has just merged.
PUBLISH = DbtStep("build", "int_sync__publishable inventory_data inventory_history inventory_daily stockouts")
# With nothing approved, only the approval is emptied (`inventory_data` keeps the previous good data).
APPROVE = DbtStep("run", "int_sync__publishable")

FAILED_STATUSES = ("error", "fail", "runtime error")


def node_name(unique_id: str) -> str:
    """`test.invsync.not_null_x_y.1a2b3c` -> `not_null_x_y`; `model.invsync.x` -> `x`."""
    parts = unique_id.split(".")
    return parts[2] if len(parts) > 2 else unique_id


class DbtError(RuntimeError):
    """A dbt command failed; the message lists the failing nodes."""


@dataclass
class DbtRun:
    """What one dbt invocation did, read from its `run_results.json`."""

    results: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None  # dbt did not run (no results): why

    @classmethod
    def from_run_results(cls, run_results: Mapping[str, Any] | None, error: str | None = None) -> "DbtRun":
        if not run_results:
            return cls(error=error or "dbt wrote no run_results.json")
        return cls(results=list(run_results.get("results", [])), error=error if not run_results.get("results") else None)

    def failed(self, resource_type: str | None = None) -> list[str]:
        """`<node>: <message>` of the nodes that errored or failed (of one resource type)."""
        return [f"{node_name(r['unique_id'])}: {(r.get('message') or r.get('status') or '').strip()}"
                for r in self.results
                if r.get("status") in FAILED_STATUSES
                and (resource_type is None or r["unique_id"].startswith(resource_type + "."))]

    def skipped(self, resource_type: str) -> list[str]:
        """The nodes of a resource type that dbt skipped (an upstream node or test failed)."""
        return [node_name(r["unique_id"]) for r in self.results
                if r.get("status") == "skipped" and r["unique_id"].startswith(resource_type + ".")]

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed()

    def describe(self) -> str:
        return self.error or "; ".join(self.failed()) or "see dbt.log in the warehouse's dbt folder"


class DbtInvoker(Protocol):
    def __call__(self, step: DbtStep, loads: PublishLoads | None) -> DbtRun: ...


def dbt_env(settings: Settings) -> dict[str, str]:
    """The variables `dbt_project/profiles.yml` reads, for this warehouse."""
    target = settings.warehouse
    env = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "INVSYNC_DATASET_PREFIX": settings.dataset_prefix,
           "DBT_INDIRECT_SELECTION": "buildable",
           # the sources' freshness (`dbt source freshness`) follows the product's policy
           "INVSYNC_STALE_AFTER_HOURS": str(settings.freshness.stale_after_hours),
           "INVSYNC_CRITICAL_AFTER_HOURS": str(settings.freshness.critical_after_hours),
           # the days of `inventory_daily` are the schedules' days
           "INVSYNC_SCHEDULE_TIMEZONE": settings.schedule_timezone}
    if target.is_duckdb:
        env.update({"DBT_TARGET": "dev", "DBT_DUCKDB_PATH": str(target.path),
                    "DBT_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit})
    else:
        env.update({"DBT_TARGET": "prod", "DBT_MYSQL_HOST": target.host, "DBT_MYSQL_PORT": str(target.port),
                    "DBT_MYSQL_USER": target.user, "DBT_MYSQL_PASSWORD": target.password,
                    "DBT_MYSQL_DATABASE": target.database})
    return env


def nested_loads(loads: PublishLoads) -> dict[str, dict[str, str]]:
    """`loads` as {marketplace: {account: load id}}: a marketplace's single load id is its
    `default` account's; an empty id names nothing."""
    nested: dict[str, dict[str, str]] = {}
    for marketplace, named in loads.items():
        by_account = {DEFAULT_ACCOUNT: named} if isinstance(named, str) else named
        nested[marketplace] = {account: load_id for account, load_id in by_account.items() if load_id}
    return nested


def publish_loads_env(loads: PublishLoads | None) -> dict[str, str]:
    """The variable the `publish_load_id` macro reads: which load of each account of each
    marketplace to build.

    None leaves it empty (as for a person running dbt: each account's last published load); a
    mapping publishes exactly those accounts' loads and no other account or marketplace.
    """
    return {"INVSYNC_PUBLISH_LOADS": "" if loads is None else json.dumps(nested_loads(loads), sort_keys=True)}


def dbt_executable() -> str:
    """The venv's dbt (tests and services often run without the venv on PATH)."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


@contextmanager
def _locked_target_dir(settings: Settings) -> Iterator[Path]:
    """The warehouse's dbt folder, one invocation at a time (a sync holds the warehouse's sync
    lock anyway; `run_dbt` by hand beside a sync must not mix artifacts)."""
    folder = target_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "invocation.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield folder
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class DbtWorker:
    """The sync's `DbtInvoker` outside Dagster: a dbt process (`dbt_worker`) serving one sync
    at a time; between syncs it waits in this process's pool of helpers (`child.lease`).

    Leased when the sync starts, so a new worker's seconds of importing dbt overlap the
    landing; each step then costs only dbt's own work. Every job carries its environment
    explicitly. The worker dies with the process that started it (a killed sync leaves no dbt
    building on).
    """

    def __init__(self, settings: Settings, helper: child.Helper) -> None:
        self.settings = settings
        self._helper = helper
        self._parsing: threading.Thread | None = None

    def parse_ahead(self) -> None:
        """Parse the project now, in the background, when this warehouse's dbt folder holds no
        saved parse (its first sync, or a new folder): the full parse (~3 s of CPU) then runs
        while the landing waits for the APIs, and the sync's first dbt step parses partially
        instead. With a saved parse there is nothing to gain: each step's partial parse is short."""
        if (target_dir(self.settings) / PARTIAL_PARSE_FILE).exists():
            return
        self._parsing = threading.Thread(target=self._invoke, args=(["parse"],), name="dbt-parse-ahead", daemon=True)
        self._parsing.start()

    def wait_for_parse(self) -> None:
        """The parse started by `parse_ahead` is over (its outcome is the next step's to tell:
        a project that does not parse fails that step with dbt's own message)."""
        if self._parsing is not None:
            self._parsing.join()
            self._parsing = None

    def run(self, args: list[str], loads: PublishLoads | None = None) -> DbtRun:
        """Run `dbt <args>` against the configured warehouse and read its results.

        `loads` ({marketplace: {account: load id}}) picks the loads the models build; without it
        they build each account's latest load, if it was published (macros/publish.sql).
        """
        self.wait_for_parse()  # the worker answers one job at a time
        return self._invoke(args, loads)

    def _invoke(self, args: list[str], loads: PublishLoads | None = None) -> DbtRun:
        env = {**dbt_env(self.settings), **publish_loads_env(loads)}
        with _locked_target_dir(self.settings) as target:
            # dbtRunner reads flags only after the command (`dbt --quiet build` ignores --quiet)
            cli = [*args, "--quiet", "--no-use-colors", "--project-dir", str(DBT_PROJECT_DIR),
                   "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target),
                   "--log-path", str(target / "logs")]
            answer = self._helper.ask({"args": cli, "env": env, "target": str(target)})
        if answer is None:
            return DbtRun(error=f"the dbt process ended (exit code {self._helper.exit_code()}) before answering")
        error = answer["error"]
        return DbtRun.from_run_results(answer["run_results"], self.settings.mask(error) if error else None)

    def __call__(self, step: DbtStep, loads: PublishLoads | None) -> DbtRun:
        return self.run(step.args_for(loads), loads)


@contextmanager
def worker_for_sync(settings: Settings, parse_ahead: bool = False) -> Iterator[DbtWorker]:
    """A dbt worker for one sync of `settings`' warehouse (an idle one of this process, else
    new); with `parse_ahead`, one that starts parsing at once (`DbtWorker.parse_ahead`)."""
    with child.lease("pipelines.sync.dbt_worker", keep=settings.keep_helpers) as helper:
        worker = DbtWorker(settings, helper)
        if parse_ahead:
            worker.parse_ahead()
        try:
            yield worker
        finally:
            worker.wait_for_parse()  # never hand the worker back (or end it) mid-parse


def run_dbt(settings: Settings, args: list[str], loads: PublishLoads | None = None) -> DbtRun:
    """One dbt command outside a sync, raising DbtError (secrets masked) unless every node passed."""
    with worker_for_sync(settings) as worker:
        run = worker.run(args, loads)
    if not run.ok:
        raise DbtError(settings.mask(f"dbt {' '.join(args)} failed: {run.describe()}"))
    return run
