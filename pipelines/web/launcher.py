"""Starting syncs from the web: a background `invsync sync` process, or a Dagster run.

Without `DAGSTER_GRAPHQL_URL` a sync is the same `invsync sync` a cron job runs, in a child
process (it takes the warehouse's sync lock itself); its output is kept, secrets masked, as
the sync's progress. With `DAGSTER_GRAPHQL_URL` the sync is launched as a run of the Dagster
job (`sync_<marketplace>`, one run per seller account with credentials, as the schedules
launch them), so Dagster's run limits and alerts apply; the first run's id is the sync's id.

Both refuse a second sync while one runs (409) and more than one start per marketplace per
`INVSYNC_SYNC_MIN_INTERVAL` seconds (429).
"""

from __future__ import annotations

import collections
import logging
import math
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import requests

from pipelines.config import PROJECT_ROOT, Settings
from pipelines.exits import sync_status
from pipelines.marketplaces import NAMES

log = logging.getLogger("invsync.web")
# Who started which sync: an operator's action, kept in the service's log at every verbosity.
audit_log = logging.getLogger("invsync.audit")

# Names the child process must not inherit: it needs none of them.
WEB_ONLY_VARIABLES = ("INVSYNC_API_TOKENS", "INVSYNC_SESSION_SECRET")
# Dagster run tags (orchestration/common.py: TAG_FULL, TAG_FORCE_PUBLISH), spelled here so the
# web service does not import Dagster; tests/test_web.py holds them equal.
TAG_FULL = "invsync/full"
TAG_FORCE_PUBLISH = "invsync/force-publish"
TAG_ACCOUNT = "invsync/account"
TAG_STARTED_BY = "invsync/started-by"
TAG_PARTITION = "dagster/partition"  # Dagster's own: the partition (seller account) a run lands
DAGSTER_SYNC_JOBS = tuple(f"sync_{name}" for name in NAMES)  # orchestration/jobs.py
DAGSTER_ACTIVE = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")
_SUMMARY = re.compile(r"^sync ([0-9a-f-]{36}) \((incremental|full)\)")
_STEP = re.compile(r"^step: (\w+)")  # pipelines/sync/core.py `timed`: one line per step
_REASON = re.compile(r"^invsync: (?!no DuckDB warehouse at .* yet)(.+)")  # the CLI's one-line reason (not its notice)


class SyncConflict(RuntimeError):
    """A sync is running (409)."""


class TooSoon(RuntimeError):
    """A sync of that marketplace was started less than the minimum interval ago (429)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LaunchFailed(RuntimeError):
    """The sync could not be started (the Dagster webserver refused or did not answer)."""


@dataclass
class Launch:
    """A sync started by this server (kept in memory; `sync_logs` keeps the history)."""

    id: str
    marketplace: str
    full: bool
    started_by: str
    force_publish_reason: str | None
    started_at: datetime
    via: str  # subprocess | dagster
    state: str = "running"  # running | finished
    run_id: str | None = None  # the sync's run id in sync_logs, once known
    exit_code: int | None = None
    finished_at: datetime | None = None
    dagster_status: str | None = None
    runs: list[str] = field(default_factory=list)  # a Dagster launch's runs, one per account (the first is `id`)
    phase: str | None = None  # the step the sync is in (landing, staging, audit, publish)
    error: str | None = None  # the one-line reason a failed `invsync sync` gave
    output: collections.deque = field(default_factory=lambda: collections.deque(maxlen=60))
    process: subprocess.Popen | None = field(default=None, repr=False)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id, "run_id": self.run_id, "state": self.state, "via": self.via,
            "marketplace": self.marketplace, "full": self.full, "started_by": self.started_by,
            "force_publish_reason": self.force_publish_reason,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "exit_code": self.exit_code, "dagster_status": self.dagster_status, "runs": list(self.runs),
            "status": self.status, "phase": self.phase,
            "error": self.error if self.status in ("failed", "interrupted") else None,
            "progress": list(self.output)[-20:],
        }

    @property
    def status(self) -> str:
        """How it ended as far as the launch knows (`running` until then): a subprocess by its exit
        code (`pipelines.exits`), a Dagster run by its status. The sync_logs rows, when there are
        any, say more (`success` / `partial` per marketplace)."""
        if self.state == "running":
            return "running"
        if self.via == "dagster":
            return "success" if self.dagster_status == "SUCCESS" else "failed"
        return sync_status(self.exit_code)


class Launcher:
    """Starts syncs and remembers the ones it started."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.RLock()  # start() reads the warehouse, which asks active()
        self._launches: dict[str, Launch] = {}
        self._last_start: dict[str, float] = {}
        self.via = "dagster" if settings.web.dagster_graphql_url else "subprocess"

    # -- queries -----------------------------------------------------------------------
    def get(self, launch_id: str) -> Launch | None:
        launch = self._launches.get(launch_id)
        if launch is not None and launch.via == "dagster" and launch.state == "running":
            self._refresh_dagster(launch)
        return launch

    def by_run_id(self, run_id: str) -> Launch | None:
        return next((l for l in self._launches.values() if l.run_id == run_id), None)

    def active(self) -> Launch | None:
        with self._lock:
            return next((l for l in self._launches.values() if l.state == "running"
                         and (l.via == "dagster" or (l.process is not None and l.process.poll() is None))), None)

    def writing_duckdb(self) -> bool:
        """A sync this server started runs on the DuckDB file (its single writer)."""
        return self.settings.warehouse.is_duckdb and self.via == "subprocess" and self.active() is not None

    def recent(self) -> list[Launch]:
        return sorted(self._launches.values(), key=lambda l: l.started_at, reverse=True)[:10]

    # -- starting ----------------------------------------------------------------------
    def start(self, marketplace: str, full: bool, reason: str | None, started_by: str,
              running_elsewhere: Callable[[], str | None]) -> Launch:
        """Start a sync, or raise SyncConflict (one runs) / TooSoon (rate limit) / LaunchFailed."""
        wanted = NAMES if marketplace == "all" else (marketplace,)
        with self._lock:
            for launch in self._launches.values():
                if launch.state == "running" and launch.via == "dagster":
                    self._refresh_dagster(launch)
            mine = next((l for l in self._launches.values() if l.state == "running"), None)
            if mine is not None:
                raise SyncConflict(f"sync {mine.id} ({mine.marketplace}) is running; wait for it to end")
            elsewhere = self._dagster_running() if self.via == "dagster" else running_elsewhere()
            if elsewhere:
                raise SyncConflict(elsewhere)
            now = self._clock()
            waits = [self._last_start[m] + self.settings.web.sync_interval - now for m in wanted if m in self._last_start]
            wait = max(waits, default=0.0)
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                raise TooSoon(f"a sync of {marketplace} was started less than {self.settings.web.sync_interval:g} s ago; "
                              f"try again in {seconds} s", seconds)
            if self.via == "dagster":
                launch = self._start_dagster(marketplace, full, reason, started_by)
            else:
                launch = self._start_subprocess(marketplace, full, reason, started_by)
            for m in wanted:
                self._last_start[m] = now
            self._launches[launch.id] = launch
            audit_log.info("sync %s started by %s (%s%s) via %s", launch.id, started_by, marketplace,
                     ", full" if full else "", launch.via)
            return launch

    # -- subprocess ----------------------------------------------------------------------
    def _start_subprocess(self, marketplace: str, full: bool, reason: str | None, started_by: str) -> Launch:
        # Without -v: one line per step, the landing's progress, warnings and the summary (the
        # libraries' own INFO lines would bury them on the sync's page).
        argv = [sys.executable, "-m", "pipelines.cli", "sync", "--marketplace", marketplace]
        if full:
            argv.append("--full")
        if reason:
            argv += ["--force-publish", f"{started_by} via web: {reason}"]
        env = {k: v for k, v in os.environ.items() if k not in WEB_ONLY_VARIABLES}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   env=env, cwd=str(PROJECT_ROOT), text=True, errors="replace", bufsize=1,
                                   start_new_session=True)
        launch = Launch(id=str(uuid.uuid4()), marketplace=marketplace, full=full, started_by=started_by,
                        force_publish_reason=reason, started_at=datetime.now(timezone.utc), via="subprocess",
                        process=process)
        threading.Thread(target=self._follow, args=(launch,), name=f"sync-{launch.id[:8]}", daemon=True).start()
        return launch

    def _follow(self, launch: Launch) -> None:
        """Keep the child's output (secrets masked) and learn its run id from the summary."""
        assert launch.process is not None and launch.process.stdout is not None
        for line in launch.process.stdout:
            line = self.settings.mask(line.rstrip())[:500]
            if not line:
                continue
            launch.output.append(line)
            found = _SUMMARY.match(line)
            if found:
                launch.run_id = found.group(1)
            step = _STEP.match(line)
            if step:
                launch.phase = step.group(1)
            reason = _REASON.match(line)
            if reason:
                launch.error = reason.group(1)
        code = launch.process.wait()
        with self._lock:
            launch.exit_code = code
            launch.finished_at = datetime.now(timezone.utc)
            launch.state = "finished"
        log.info("sync %s ended with exit code %s (run %s)", launch.id, code, launch.run_id)

    def close(self) -> None:
        """Server shutdown: a running sync keeps running (it is a cron-like `invsync sync`)."""

    # -- Dagster -----------------------------------------------------------------------
    def _graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        try:
            answer = requests.post(self.settings.web.dagster_graphql_url, json={"query": query, "variables": variables},
                                   timeout=15)
            answer.raise_for_status()
            data = answer.json()
        except (requests.RequestException, ValueError) as exc:
            raise LaunchFailed(f"the Dagster webserver did not answer: {self.settings.mask(str(exc))}") from None
        if data.get("errors"):
            raise LaunchFailed("Dagster GraphQL error: " + "; ".join(str(e.get("message")) for e in data["errors"]))
        return data.get("data") or {}

    def _dagster_running(self) -> str | None:
        data = self._graphql(RUNS_QUERY, {"filter": {"statuses": list(DAGSTER_ACTIVE)}})
        runs = data.get("runsOrError") or {}
        for run in runs.get("results") or []:
            if run.get("jobName") in DAGSTER_SYNC_JOBS:
                return f"Dagster run {run.get('runId')} ({run.get('jobName')}) is {str(run.get('status')).lower()}"
        if runs.get("__typename") not in (None, "Runs"):
            raise LaunchFailed(f"Dagster could not list runs: {runs.get('message')}")
        return None

    def _start_dagster(self, marketplace: str, full: bool, reason: str | None, started_by: str) -> Launch:
        runs = []
        for job, tags in dagster_runs(self.settings, marketplace, full, reason, started_by):
            params = {
                "selector": {"repositoryLocationName": self.settings.web.dagster_location,
                             "repositoryName": "__repository__", "jobName": job},
                "runConfigData": {},
                "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
            }
            result = self._graphql(LAUNCH_MUTATION, {"executionParams": params}).get("launchRun") or {}
            if result.get("__typename") != "LaunchRunSuccess":
                message = result.get("message") or "; ".join(str(e.get("message")) for e in result.get("errors") or [])
                launched = f" ({len(runs)} run(s) launched before it: {', '.join(r['runId'] for r in runs)})" if runs else ""
                raise LaunchFailed(f"Dagster refused the run of {job} for {tags[TAG_ACCOUNT]}: "
                                   f"{result.get('__typename')}: {message}{launched}")
            runs.append(result["run"])
        first = runs[0]
        return Launch(id=first["runId"], run_id=first["runId"], marketplace=marketplace, full=full, started_by=started_by,
                      force_publish_reason=reason, started_at=datetime.now(timezone.utc), via="dagster",
                      dagster_status=first.get("status"), runs=[r["runId"] for r in runs])

    def _refresh_dagster(self, launch: Launch) -> None:
        """The launch's state from its runs: running while one is, then SUCCESS only if all succeeded."""
        statuses = []
        for run_id in launch.runs or [launch.id]:
            try:
                data = self._graphql(RUN_QUERY, {"runId": run_id}).get("runOrError") or {}
            except LaunchFailed as exc:
                launch.output.append(str(exc))
                return
            statuses.append(data.get("status"))
        if not all(statuses):
            return
        active = [s for s in statuses if s in DAGSTER_ACTIVE]
        launch.dagster_status = active[0] if active else next((s for s in statuses if s != "SUCCESS"), "SUCCESS")
        if not active:
            launch.state = "finished"
            launch.finished_at = launch.finished_at or datetime.now(timezone.utc)


def dagster_runs(settings: Settings, marketplace: str, full: bool, reason: str | None,
                 started_by: str) -> list[tuple[str, dict[str, str]]]:
    """The Dagster runs (job, tags) that do what `invsync sync --marketplace M [--full]` does: one
    run of `sync_<m>` per account of `Settings.accounts_to_run` (the schedules' rule; the partition)."""
    out = []
    for name in NAMES if marketplace == "all" else (marketplace,):
        for account in settings.accounts_to_run(name):
            tags = {TAG_STARTED_BY: started_by, TAG_PARTITION: account, TAG_ACCOUNT: f"{name}/{account}"}
            if full:
                tags[TAG_FULL] = "true"
            if reason:
                tags[TAG_FORCE_PUBLISH] = f"{started_by} via web: {reason}"
            out.append((f"sync_{name}", tags))
    return out


LAUNCH_MUTATION = """
mutation LaunchSync($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    ... on PipelineNotFoundError { message }
    ... on RunConflict { message }
    ... on UnauthorizedError { message }
    ... on PresetNotFoundError { message }
    ... on ConflictingExecutionParamsError { message }
    ... on NoModeProvidedError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { invalidOutputName }
  }
}
"""

RUNS_QUERY = """
query ActiveRuns($filter: RunsFilter) {
  runsOrError(filter: $filter, limit: 50) {
    __typename
    ... on Runs { results { runId jobName status } }
    ... on PythonError { message }
    ... on InvalidPipelineRunsFilterError { message }
  }
}
"""

RUN_QUERY = """
query SyncRun($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { runId jobName status }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}
"""
