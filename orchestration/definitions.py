"""The Dagster code location of invsync (`dagster dev -m orchestration.definitions`).

Gathers the asset graph (dlt landing → dbt staging → GE audit → dbt publish), the asset
checks, jobs, schedules, alert sensors and resources. On DuckDB the steps of a run execute in
one process, one after another, because a DuckDB file admits a single writing process; on
MySQL they run in parallel processes (both marketplaces land at once).
"""

from __future__ import annotations

from typing import Any

from dagster import Definitions, ExecutorDefinition, in_process_executor, multiprocess_executor

from orchestration.assets import ALL_ASSETS
from orchestration.checks import ALL_CHECKS
from orchestration.jobs import ASSET_JOBS
from orchestration.mailer import AlertMailer
from orchestration.report import weekly_report
from orchestration.resources import InvsyncResource, dbt_resource, warehouse_kind
from orchestration.schedules import SYNC_SCHEDULES, weekly_report_schedule
from orchestration.sensors import ALL_SENSORS


def default_resources() -> dict[str, Any]:
    return {"invsync": InvsyncResource(), "dbt": dbt_resource(), "mailer": AlertMailer()}


def executor() -> ExecutorDefinition:
    return in_process_executor if warehouse_kind() == "duckdb" else multiprocess_executor


def build_defs(**resources: Any) -> Definitions:
    """The definitions, with some resources replaced (tests pass e.g. a faster back-off)."""
    return Definitions(
        assets=ALL_ASSETS,
        asset_checks=ALL_CHECKS,
        jobs=[*ASSET_JOBS, weekly_report],
        schedules=[*SYNC_SCHEDULES, weekly_report_schedule(weekly_report)],
        sensors=ALL_SENSORS,
        resources={**default_resources(), **resources},
        executor=executor(),
    )


defs = build_defs()
