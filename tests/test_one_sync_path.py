"""One sync path: `invsync sync` and the Dagster jobs land, stage, audit and publish alike.

The same sandbox account is synced by the real `invsync sync` command into one DuckDB file
and by the Dagster jobs `sync_ozon` and `sync_wb` into another; both must publish identical
`inventory_data` and equivalent `sync_logs` rows, and a failing staging test must hold the
publish back on both paths with the same record.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipelines.marketplaces import NAMES
from pipelines.warehouse import warehouse_for
from tests.conftest import SANDBOX_OPTIONS, dataset_prefix, settings_for
from tests.test_orchestration import use_env

INVSYNC = Path(sys.executable).with_name("invsync")
ROOT = Path(__file__).resolve().parent.parent
# Differ by construction: when each path ran.
TIMES = ("last_sync_at", "updated_at", "snapshot_date")
# What a sync_logs row says about the sync, as opposed to when and by which process it ran.
RECORD = ("status", "sync_type", "api_requests", "retries", "records_fetched", "records_written", "records_rejected")

pytestmark = pytest.mark.timeout(900)


def cli_sync(sandbox: Any, url: str, *args: str) -> subprocess.CompletedProcess:
    """The real command, as an operator or cron runs it."""
    env = {**os.environ, **sandbox.env(), "WAREHOUSE_URL": url, "INVSYNC_DATASET_PREFIX": dataset_prefix(url),
           "INVSYNC_RATE_LIMIT_SCALE": "0.01", "INVSYNC_HTTP_TIMEOUT": "5", "INVSYNC_MAX_RETRIES": "4", "PYTHONPATH": str(ROOT)}
    return subprocess.run([str(INVSYNC), "sync", *args], env=env, cwd=str(ROOT), capture_output=True, text=True,
                          timeout=600)


def dagster_sync(monkeypatch: pytest.MonkeyPatch, sandbox: Any, url: str, defs: Any, instance: Any,
                 marketplace: str) -> Any:
    use_env(monkeypatch, {**sandbox.env(), "WAREHOUSE_URL": url, "INVSYNC_DATASET_PREFIX": dataset_prefix(url)})
    return defs.resolve_job_def(f"sync_{marketplace}").execute_in_process(instance=instance, raise_on_error=False,
                                                                           partition_key="default")


def inventory(url: str) -> dict[tuple, dict[str, Any]]:
    rows = warehouse_for(settings_for({}, url).warehouse).query("select * from inventory_data")
    return {(r["marketplace"], r["sku"], r["warehouse_id"], r["stock_type"]):
            {k: v for k, v in r.items() if k not in TIMES} for r in rows}


def last_records(url: str) -> dict[str, dict[str, Any]]:
    """Each marketplace's latest sync_logs row, reduced to what the sync did."""
    wh = warehouse_for(settings_for({}, url).warehouse)
    out = {}
    for name in NAMES:
        row = wh.query("select * from sync_logs where marketplace = %s order by id desc limit 1", (name,))[0]
        details = json.loads(row["details"])
        out[name] = {**{k: row[k] for k in RECORD}, "warnings": json.loads(row["warnings"] or "[]"),
                     "counts": details.get("counts"), "phase": details.get("phase"), "via": details["process"]["via"],
                     "error": row["error_message"], "loaded": row["load_id"] is not None}
    return out


@pytest.fixture
def defs() -> Any:
    from orchestration.definitions import build_defs
    from orchestration.resources import InvsyncResource

    return build_defs(invsync=InvsyncResource(backoff_base=0.01))


@pytest.fixture
def instance() -> Any:
    from dagster import instance_for_test

    with instance_for_test() as inst:
        yield inst


@pytest.fixture
def sandbox() -> Any:
    """Every registered marketplace configured: the one sync path is proved for each of them."""
    from pipelines.sandbox import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(**{**SANDBOX_OPTIONS, "env_marketplaces": NAMES})) as sb:
        yield sb


def test_cli_and_dagster_publish_the_same_inventory_and_records(sandbox, tmp_path, defs, instance, monkeypatch) -> None:
    from pipelines.sandbox import Fault

    cli_url, dagster_url = (f"duckdb:///{tmp_path / name}.duckdb" for name in ("cli", "dagster"))
    done = cli_sync(sandbox, cli_url)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in NAMES:
        assert dagster_sync(monkeypatch, sandbox, dagster_url, defs, instance, name).success

    published = inventory(cli_url)
    assert published and {k[0] for k in published} == set(NAMES)
    assert inventory(dagster_url) == published
    cli_records, dagster_records = last_records(cli_url), last_records(dagster_url)
    for name in NAMES:
        assert cli_records[name].pop("via") == "cli" and dagster_records[name].pop("via") == "dagster"
        # `partial` only with its warnings (the standard Yandex sandbox has a campaign off for inactivity).
        assert (cli_records[name]["status"] == "success" or cli_records[name]["status"] == "partial"
                and cli_records[name]["warnings"]), cli_records[name]
        assert cli_records[name]["records_written"] > 0
    assert dagster_records == cli_records

    # A failing staging test (an Ozon stock row without its product id: `not_null` on
    # stg_ozon__stocks) holds the publish back on both paths, with the same record.
    sandbox.add_fault(Fault(kind="missing_value", path="/v4/product/info/stocks", field="product_id", count=None))
    sandbox.tick()
    done = cli_sync(sandbox, cli_url, "--marketplace", "ozon")
    assert done.returncode == 1 and "dbt staging failed" in done.stdout, done.stdout + done.stderr
    run = dagster_sync(monkeypatch, sandbox, dagster_url, defs, instance, "ozon")
    assert not run.success
    assert inventory(cli_url) == inventory(dagster_url) == published  # the previous good data stays
    cli_ozon, dagster_ozon = last_records(cli_url)["ozon"], last_records(dagster_url)["ozon"]
    assert cli_ozon["status"] == dagster_ozon["status"] == "failed"
    assert cli_ozon["phase"] == dagster_ozon["phase"] == "staging"
    assert "not_null_stg_ozon__stocks_marketplace_product_id" in cli_ozon["error"]
    assert "not_null_stg_ozon__stocks_marketplace_product_id" in dagster_ozon["error"]


def test_dbt_knows_the_marketplaces_of_the_registry() -> None:
    """dbt's `marketplaces` var (the loops of int_sync__publishable, int_inventory__snapshot and
    the legacy `source` label of inventory_data) is the registry's list, labels included."""
    import yaml

    from pipelines.marketplaces import MARKETPLACES, STOCK_TYPES

    project = yaml.safe_load((ROOT / "dbt_project" / "dbt_project.yml").read_text())
    assert project["vars"]["marketplaces"] == {m.name: m.label for m in MARKETPLACES}
    assert project["vars"]["stock_types"] == list(STOCK_TYPES)
