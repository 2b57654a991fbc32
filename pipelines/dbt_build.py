"""Run the dbt project in-process against the configured warehouse.

The dbt profile reads its connection from `DBT_*` environment variables; this module derives
them from WAREHOUSE_URL so that a sync, the demo and Dagster all build the same warehouse that
dlt has just loaded, and a person running `dbt build` by hand can set the same variables.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

from pipelines.config import PROJECT_ROOT, Settings

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


class DbtError(RuntimeError):
    """A dbt command failed; the message lists the failing nodes."""


def dbt_env(settings: Settings) -> dict[str, str]:
    """The environment variables `dbt_project/profiles.yml` reads, for this warehouse."""
    target = settings.warehouse
    env = {
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "INVSYNC_DATASET_PREFIX": settings.dataset_prefix,
    }
    if target.is_duckdb:
        env.update({"DBT_TARGET": "dev", "DBT_DUCKDB_PATH": str(target.path)})
    else:
        env.update({
            "DBT_TARGET": "prod",
            "DBT_MYSQL_HOST": target.host,
            "DBT_MYSQL_PORT": str(target.port),
            "DBT_MYSQL_USER": target.user,
            "DBT_MYSQL_PASSWORD": target.password,
            "DBT_MYSQL_DATABASE": target.database,
        })
    return env


@contextmanager
def temporary_environment(values: dict[str, str]) -> Iterator[None]:
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


def publish_loads_env(loads: Mapping[str, str] | None) -> dict[str, str]:
    """The variable the `publish_load_id` macro reads: which load of each marketplace to build.

    None leaves it empty (as for a person running dbt: each marketplace's last published
    load); a mapping publishes exactly those loads and no other marketplace.
    """
    return {"INVSYNC_PUBLISH_LOADS": "" if loads is None else json.dumps(dict(loads), sort_keys=True)}


def run_dbt(settings: Settings, args: list[str], publish_loads: Mapping[str, str] | None = None, check: bool = True) -> Any:
    """Invoke dbt (e.g. `["run", "--select", "inventory_data"]`) and return its result.

    `publish_loads` ({marketplace: load id}) picks the loads the models build; without it
    they build each marketplace's latest load, if it was published (see macros/publish.sql). Raises DbtError naming the failed
    nodes (secrets masked) when dbt reports failure, unless `check` is false (the caller then
    reads the node results itself).
    """
    from dbt.cli.main import dbtRunner

    cli = [*args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR), "--quiet"]
    with temporary_environment({**dbt_env(settings), **publish_loads_env(publish_loads)}):
        result = dbtRunner().invoke(cli)
    if check and not result.success:
        raise DbtError(failure_message(settings, args, result))
    return result


def failure_message(settings: Settings, args: list[str], result: Any) -> str:
    return settings.mask(f"dbt {' '.join(args)} failed: {describe_failures(result)}")


def failed_models(result: Any) -> list[str]:
    """Models of a `dbt build` that did not build (errored, or skipped after a failed test)."""
    if result.exception is not None:
        return ["(dbt did not run)"]
    return [
        getattr(r.node, "name", "?")
        for r in getattr(result.result, "results", None) or []
        if getattr(r.node, "resource_type", None) == "model" and str(r.status).lower() != "success"
    ]


def describe_failures(result: Any) -> str:
    if result.exception is not None:
        return str(result.exception)
    failures = []
    for node_result in getattr(result.result, "results", None) or []:
        status = str(getattr(node_result, "status", ""))
        if status.lower() in ("error", "fail", "runtime error"):
            name = getattr(getattr(node_result, "node", None), "name", "?")
            failures.append(f"{name}: {(node_result.message or status).strip()}")
    return "; ".join(failures) or "see dbt_project/logs/dbt.log"
