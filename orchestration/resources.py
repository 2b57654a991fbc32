"""Dagster resources: the product's settings and warehouse, and dbt wired to the same warehouse.

Settings are read from the environment when a step runs (not when the code location loads),
so a changed `.env` or a test's monkeypatched environment applies to the next run without a
reload, exactly like the `invsync` CLI. dbt runs as dagster-dbt's subprocess (its events become
asset materializations and checks); the sync core decides what it builds and how its results
count (`pipelines.sync.dbt`), through `DagsterDbt`, the core's `DbtInvoker` under Dagster.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from dagster import AssetExecutionContext, ConfigurableResource
from dagster_dbt import DbtCliInvocation, DbtCliResource, DbtProject

from pipelines.config import ConfigError, Settings, load_settings
from pipelines.sync import prepare_warehouse
from pipelines.sync.dbt import (DBT_PROJECT_DIR, DbtRun, DbtStep, PublishLoads, dbt_env, dbt_executable, publish_loads_env,
                                 target_dir)
from pipelines.warehouse import Warehouse, warehouse_for


PARTIAL_PARSE_FILE = "partial_parse.msgpack"  # dbt's parse cache in a target folder


def current_settings() -> Settings:
    """Settings from the environment (and `.env`), validated by `pipelines.config`."""
    return load_settings()


def masker() -> Any:
    """`Settings.mask` of the current configuration; still masks URL passwords if it is invalid."""
    try:
        return current_settings().mask
    except ConfigError:
        return Settings().mask


def warehouse_kind() -> str:
    """`duckdb` or `mysql`, for run tags and the executor; load-time only, never fails."""
    try:
        return current_settings().warehouse.kind
    except ConfigError:
        return "duckdb"


class InvsyncResource(ConfigurableResource):
    """Access to the product's configuration and warehouse from assets, checks and sensors.

    `backoff_base` scales the HTTP client's retry back-off (1.0 in production; tests use a
    small value so that injected 5xx faults do not take minutes).
    """

    backoff_base: float = 1.0

    def settings(self) -> Settings:
        return current_settings()

    def warehouse(self, settings: Settings | None = None) -> Warehouse:
        """The warehouse with the product's own tables migrated (writers use this)."""
        return prepare_warehouse(settings or self.settings())

    def reader(self, settings: Settings | None = None) -> Warehouse:
        """The warehouse without running migrations (sensors only read, and must not lock long)."""
        return warehouse_for((settings or self.settings()).warehouse)


@contextmanager
def exported(values: Mapping[str, str]) -> Iterator[None]:
    """Export `values` while dagster-dbt starts its dbt process, then restore the environment.

    The one place the product changes `os.environ`: `DbtCliResource.cli` takes no environment
    and copies the process's into the dbt subprocess when it starts it (synchronously, inside
    `cli`). Steps of one Dagster run execute one at a time in their process, so nothing else
    sees these values.
    """
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


class InvsyncDbtCliResource(DbtCliResource):
    """`DbtCliResource` whose every invocation targets the warehouse of WAREHOUSE_URL."""

    def cli(self, args: Sequence[str], *, loads: PublishLoads | None = None,  # type: ignore[override]
            **kwargs: Any) -> DbtCliInvocation:
        try:
            settings = current_settings()
            # DBT_TARGET_PATH here only tells dagster-dbt where to take `partial_parse.msgpack`
            # from for the invocation's own target folder (it sets the subprocess's own value):
            # the warehouse's dbt folder, so a step re-parses only what changed (`keep_parse_cache`).
            values = {**dbt_env(settings), "DBT_TARGET_PATH": str(target_dir(settings))}
        except ConfigError:  # parsing needs no connection
            values = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        with exported({**values, **publish_loads_env(loads)}):
            return super().cli(args, **kwargs)


def keep_parse_cache(invocation: DbtCliInvocation) -> None:
    """Keep an invocation's parse cache in the warehouse's dbt folder for the next one.

    dagster-dbt gives each invocation a new target folder and seeds it from DBT_TARGET_PATH's
    `partial_parse.msgpack`; without this every step would parse the whole project (seconds),
    since the one `dbt parse` of the manifest is keyed on another connection. The CLI's dbt
    worker keeps the same file there (same connection variables, so either serves both). The
    file is replaced atomically: a dbt starting meanwhile reads the old or the new one.
    """
    cache = invocation.target_path / PARTIAL_PARSE_FILE
    if not cache.exists():
        return
    try:
        folder = target_dir(current_settings())
        folder.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".partial_parse.")
        os.close(fd)
        shutil.copyfile(cache, temporary)
        os.replace(temporary, folder / PARTIAL_PARSE_FILE)
    except (ConfigError, OSError):  # only a cache: the next step parses a little longer
        return


class DagsterDbt:
    """The sync core's `DbtInvoker` inside a `@dbt_assets` op: runs the core's step with the op's
    own selection (the op is defined with the step's `select`) and keeps dagster-dbt's events,
    which the asset yields once the core has judged the run."""

    def __init__(self, dbt: InvsyncDbtCliResource, context: AssetExecutionContext, own: DbtStep) -> None:
        self.dbt, self.context, self.own = dbt, context, own
        self.events: list[Any] = []

    def __call__(self, step: DbtStep, loads: PublishLoads | None) -> DbtRun:
        """The op's own step streams its events; another (`APPROVE` alone, when nothing was
        approved) runs plainly, as it would outside Dagster."""
        try:
            if step == self.own:
                invocation = self.dbt.cli([step.command], loads=loads, context=self.context, raise_on_error=False)
                # A repeated build (the staging's search for a broken account, `wap.stage`) replaces
                # the events of the one before: the asset reports what its last build made.
                self.events = list(invocation.stream())
            else:
                invocation = self.dbt.cli(step.args_for(loads), loads=loads, raise_on_error=False).wait()
        except Exception as exc:  # noqa: BLE001 - dbt could not start: the core records why
            return DbtRun(error=f"{type(exc).__name__}: {exc}")
        if (invocation.target_path / "run_results.json").exists():
            run = DbtRun.from_run_results(invocation.get_artifact("run_results.json"))
        else:  # dbt did not get to run a node (project, profile or connection error): say why
            run = DbtRun(error=str(invocation.get_error() or "dbt wrote no run_results.json"))
        if not run.error:
            keep_parse_cache(invocation)
        if not run.error and not run.failed("model"):  # every call gets its own target folder: keep
            shutil.rmtree(invocation.target_path, ignore_errors=True)  # only those of failures (dbt.log)
        return run


DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_resource() -> InvsyncDbtCliResource:
    return InvsyncDbtCliResource(project_dir=DBT_PROJECT, dbt_executable=dbt_executable())


def prepare_manifest(project: DbtProject = DBT_PROJECT) -> Path:
    """Parse the dbt project when the manifest is missing or older than a project file, or
    always under `dagster dev`.

    `dbt_project/target/` is not committed, so a fresh checkout (or CI) has no manifest yet;
    parsing takes seconds and needs no database connection. An upgrade that adds models (the
    stock history joined the publish op's selection) leaves the old manifest behind, and the
    ops' selections would name nodes it does not know: a stale one is parsed again. Under
    `dagster dev` the manifest is rebuilt on every code reload so model changes show up at once.
    """
    if os.environ.get("DAGSTER_IS_DEV_CLI") or not project.manifest_path.exists() or _manifest_is_stale(project):
        dbt_resource().cli(["parse", "--quiet"], target_path=project.project_dir / project.target_path).wait()
    return project.manifest_path


def _manifest_is_stale(project: DbtProject) -> bool:
    """Whether a file the manifest is parsed from changed after it was written."""
    built = project.manifest_path.stat().st_mtime
    root = Path(project.project_dir)
    files = [root / "dbt_project.yml", *(f for folder in ("models", "macros", "tests", "seeds")
                                         for f in (root / folder).rglob("*") if f.is_file())]
    return any(f.stat().st_mtime > built for f in files if f.exists())
