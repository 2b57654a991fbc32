"""Dagster resources: the product's settings and warehouse, and dbt wired to the same warehouse.

Settings are read from the environment when a step runs (not when the code location loads),
so a changed `.env` or a test's monkeypatched environment applies to the next run without a
reload, exactly like the `invsync` CLI. dbt runs as a subprocess (dagster-dbt); it must build
the warehouse dlt has just loaded, so every dbt call gets the `DBT_*` variables that
`pipelines.dbt_build.dbt_env` derives from WAREHOUSE_URL.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from dagster import ConfigurableResource
from dagster_dbt import DbtCliInvocation, DbtCliResource, DbtProject

from pipelines import runner
from pipelines.config import ConfigError, Settings, load_settings
from pipelines.dbt_build import DBT_PROJECT_DIR, dbt_env, temporary_environment
from pipelines.warehouse import Warehouse, warehouse_for


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
        return runner.prepare_warehouse(settings or self.settings())

    def reader(self, settings: Settings | None = None) -> Warehouse:
        """The warehouse without running migrations (sensors only read, and must not lock long)."""
        return warehouse_for((settings or self.settings()).warehouse)


@contextmanager
def dbt_environment(settings: Settings | None = None) -> Iterator[None]:
    """Temporarily export the `DBT_*` variables for the configured warehouse.

    `DBT_INDIRECT_SELECTION=buildable` (unless set) keeps a test that spans a staging model and
    a mart (e.g. `relationships` from inventory_data to the seed) out of the staging step: it
    runs with the mart, once both sides exist.
    """
    try:
        values = dbt_env(settings or current_settings())
    except ConfigError:
        values = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    values.setdefault("DBT_INDIRECT_SELECTION", os.environ.get("DBT_INDIRECT_SELECTION", "buildable"))
    with temporary_environment(values):
        yield


class InvsyncDbtCliResource(DbtCliResource):
    """`DbtCliResource` whose every invocation targets the warehouse of WAREHOUSE_URL."""

    def cli(self, args: Sequence[str], **kwargs: Any) -> DbtCliInvocation:  # type: ignore[override]
        with dbt_environment():
            return super().cli(args, **kwargs)


def dbt_executable() -> str:
    """The venv's dbt (tests and services often run without the venv on PATH)."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_resource() -> InvsyncDbtCliResource:
    return InvsyncDbtCliResource(project_dir=DBT_PROJECT, dbt_executable=dbt_executable())


def prepare_manifest(project: DbtProject = DBT_PROJECT) -> Path:
    """Parse the dbt project when the manifest is missing, or always under `dagster dev`.

    `dbt_project/target/` is not committed, so a fresh checkout (or CI) has no manifest yet;
    parsing takes seconds and needs no database connection. Under `dagster dev` the manifest is
    rebuilt on every code reload so model changes show up at once.
    """
    if os.environ.get("DAGSTER_IS_DEV_CLI") or not project.manifest_path.exists():
        dbt_resource().cli(["parse", "--quiet"], target_path=project.project_dir / project.target_path).wait()
    return project.manifest_path
