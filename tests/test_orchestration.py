"""The Dagster orchestration: definitions load, the graph syncs the sandbox, alerts are mailed.

Real everything on loopback: the HTTP sandbox, a DuckDB file per test, dbt as a subprocess,
an SMTP server (aiosmtpd) that collects what the sensors and the report send, and
`dagster dev` itself for the smoke test.
"""

from __future__ import annotations

import email
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from pipelines.config import load_settings
from tests.conftest import TEST_MARKETPLACES

ROOT = Path(__file__).resolve().parent.parent
DAGSTER = Path(sys.executable).with_name("dagster")
KEY = ("marketplace", "sku", "warehouse_id", "stock_type")
WRONG_OZON_KEY = "wrong-ozon-api-key-3f9c1a77"

pytestmark = pytest.mark.timeout(600)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    from aiosmtpd.controller import Controller

    handler, port = Inbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    for name, value in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_TLS": "none", "SMTP_USER": "",
                        "SMTP_PASSWORD": "", "ALERT_EMAIL_FROM": "invsync@test.local",
                        "ALERT_EMAIL_TO": "ops@test.local, stock@test.local"}.items():
        monkeypatch.setenv(name, value)
    try:
        yield handler
    finally:
        controller.stop()


def use_env(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    """Point `load_settings()` (what the assets read at run time) at the sandbox and a tmp DuckDB.
    Empty values override a developer's `.env`."""
    base = {"OZON_CLIENT_ID": "", "OZON_API_KEY": "", "WB_API_TOKEN": "", "INVSYNC_DATASET_PREFIX": "",
            "INVSYNC_RATE_LIMIT_SCALE": "0.01", "INVSYNC_HTTP_TIMEOUT": "5", "INVSYNC_MAX_RETRIES": "4"}
    for name, value in {**base, **values}.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def defs() -> Any:
    from orchestration.definitions import build_defs
    from orchestration.resources import InvsyncResource

    return build_defs(invsync=InvsyncResource(backoff_base=0.01))


@pytest.fixture
def instance() -> Iterator[Any]:
    from dagster import instance_for_test

    with instance_for_test() as inst:
        yield inst


def warehouse() -> Any:
    from pipelines.warehouse import warehouse_for

    return warehouse_for(load_settings().warehouse)


def sync_rows(run_id: str) -> dict[str, dict[str, Any]]:
    return {r["marketplace"]: r for r in warehouse().query("select * from sync_logs where run_id = %s", (run_id,))}


def evaluate(sensor_def: Any, instance: Any, cursor: str | None, defs: Any) -> str | None:
    """One sensor tick as the daemon runs it; returns the new cursor."""
    from dagster import build_sensor_context

    resources = {"invsync": defs.resources["invsync"], "mailer": defs.resources["mailer"]}
    context = build_sensor_context(instance=instance, cursor=cursor, resources=resources,
                                   repository_def=defs.get_repository_def())
    sensor_def(context)
    return context.cursor


def body(msg: EmailMessage, subtype: str = "plain") -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    return part.get_content()


# --------------------------------------------------------------------------- definitions


def test_definitions_validate_and_match_the_instance_config() -> None:
    env = {**os.environ, "DAGSTER_HOME": os.environ["DAGSTER_HOME"]}
    done = subprocess.run([str(DAGSTER), "definitions", "validate", "-m", "orchestration.definitions"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    from dagster._core.instance.config import dagster_instance_config_schema
    from dagster._config import Shape, process_config

    from orchestration.definitions import defs
    from orchestration.schedules import TIMEZONE

    # Every lock tag a sync job carries is limited to one run in dagster.yaml; the account tag to
    # one run per account (per unique value).
    for path in (ROOT / "dagster.yaml", ROOT / "orchestration" / "dagster.prod.yaml", ROOT / "deploy" / "dagster" / "dagster.yaml"):
        limits = {(l["key"], json.dumps(l.get("value"))): l["limit"]
                  for l in yaml.safe_load(path.read_text())["concurrency"]["runs"]["tag_concurrency_limits"]}
        assert limits[("invsync/account", json.dumps({"applyLimitPerUniqueValue": True}))] == 1, path
        for marketplace in ("ozon", "wb", "ym"):
            tags = defs.resolve_job_def(f"sync_{marketplace}").tags
            assert {k for k in tags if k in ("invsync/ozon", "invsync/wb", "invsync/ym")} == {f"invsync/{marketplace}"}
            assert limits[(f"invsync/{marketplace}", "null")] == 1 and limits[("invsync/warehouse", "null")] == 1, path
            assert "invsync/full" not in tags

    schedules = {s.name: s for s in defs.schedules}
    assert schedules["sync_ozon_every_6h"].cron_schedule == "0 0,6,12,18 * * *"
    assert schedules["sync_wb_every_6h"].cron_schedule == "0 3,9,15,21 * * *"
    assert schedules["full_resync_ozon_weekly"].job_name == "sync_ozon"
    assert schedules["full_resync_wb_weekly"].cron_schedule == "30 4 * * 0"
    assert {s.execution_timezone for s in defs.schedules} == {TIMEZONE}
    assert {s.name for s in defs.sensors} == {"run_failure_alerts", "check_alerts", "missed_sync_alerts"}

    # Both instance configs are valid Dagster instance configs (prod: with its env vars set).
    mysql = {"DAGSTER_MYSQL_HOST": "db", "DAGSTER_MYSQL_DB": "dagster", "DAGSTER_MYSQL_USER": "u", "DAGSTER_MYSQL_PASSWORD": "p"}
    for path, env_vars in ((ROOT / "dagster.yaml", {}), (ROOT / "orchestration" / "dagster.prod.yaml", mysql),
                           (ROOT / "deploy" / "dagster" / "dagster.yaml", mysql)):
        os.environ.update(env_vars)
        try:
            result = process_config(Shape(dagster_instance_config_schema()), yaml.safe_load(path.read_text()))
        finally:
            for name in env_vars:
                os.environ.pop(name)
        assert result.success, (path, [e.message for e in result.errors or []])


SCHEDULED_RUNS = """
import json
from datetime import datetime, timezone
from dagster import build_schedule_context
from orchestration.definitions import defs

out = {"partitions": {m: defs.resolve_job_def(f"sync_{m}").partitions_def.get_partition_keys() for m in ("ozon", "wb")}}
for name in ("sync_ozon_every_6h", "full_resync_wb_weekly"):
    schedule = defs.get_schedule_def(name)
    context = build_schedule_context(scheduled_execution_time=datetime(2026, 12, 6, 3, tzinfo=timezone.utc),
                                     repository_def=defs.get_repository_def())
    out[name] = [{"partition": r.partition_key, "tags": r.tags, "key": r.run_key}
                 for r in schedule.evaluate_tick(context).run_requests]
print(json.dumps(out))
"""


def test_the_account_partitions_come_from_the_accounts_file_and_schedules_launch_one_run_per_account(
        tmp_path: Path) -> None:
    """The definitions as the code location loads them, with an accounts file (a new process:
    the partitions are read at load time)."""
    accounts = tmp_path / "accounts.toml"
    accounts.write_text('[[account]]\nid = "north"\nmarketplace = "ozon"\nlabel = "North"\n'
                        'env = { OZON_CLIENT_ID = "NORTH_ID", OZON_API_KEY = "NORTH_KEY" }\n'
                        '[[account]]\nid = "south"\nmarketplace = "wb"\nlabel = "South"\n'
                        'env = { WB_API_TOKEN = "SOUTH_TOKEN" }\n', encoding="utf-8")
    env = {**os.environ, "INVSYNC_ACCOUNTS_FILE": str(accounts), "NORTH_ID": "77", "NORTH_KEY": "north-key-0123456789",
           "SOUTH_TOKEN": "south-token-0123456789", "OZON_CLIENT_ID": "42", "OZON_API_KEY": "default-key-0123456789",
           "WB_API_TOKEN": "", "WAREHOUSE_URL": f"duckdb:///{tmp_path / 'w.duckdb'}"}
    done = subprocess.run([sys.executable, "-c", SCHEDULED_RUNS], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["partitions"] == {"ozon": ["default", "north"], "wb": ["default", "south"]}
    ozon = out["sync_ozon_every_6h"]
    assert [r["partition"] for r in ozon] == ["default", "north"]  # both have credentials: a run each
    assert [r["tags"]["invsync/account"] for r in ozon] == ["ozon/default", "ozon/north"]
    assert all(r["tags"]["invsync/ozon"] == "sync" and "invsync/full" not in r["tags"] for r in ozon)
    assert len({r["key"] for r in ozon}) == 2
    wb = out["full_resync_wb_weekly"]  # WB's default has no token: only south's run, full
    assert [(r["partition"], r["tags"]["invsync/full"]) for r in wb] == [("south", "true")]


def test_a_failed_run_is_an_incident_of_its_account() -> None:
    from dagster import DagsterRun

    from orchestration.alerts import Ledger
    from orchestration.sensors import run_account, run_incident

    north = DagsterRun(job_name="sync_ozon", run_id="r1", tags={"dagster/partition": "north"})
    default = DagsterRun(job_name="sync_ozon", run_id="r2", tags={"dagster/partition": "default"})
    assert (run_account(north), run_account(default)) == ("ozon/north", "ozon")
    incident = run_incident(north, "land_ozon", "authorization failed (401)")
    assert incident.marketplace == "ozon/north" and ":ozon/north:" in incident.key  # the mail's subject names it
    assert run_incident(default, "land_ozon", "authorization failed (401)").key != incident.key


def test_dbt_manifest_is_prepared_when_missing(tmp_path: Path) -> None:
    """A fresh checkout has no dbt_project/target: loading the definitions parses the project."""
    from dagster_dbt import DbtProject

    from orchestration.resources import prepare_manifest
    from pipelines.sync.dbt import DBT_PROJECT_DIR

    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target_path=tmp_path / "target")
    assert not project.manifest_path.exists()
    manifest = json.loads(prepare_manifest(project).read_text())
    assert {"model.invsync.inventory_data", "model.invsync.int_inventory__snapshot"} <= set(manifest["nodes"])
    assert "source.invsync.raw_ozon.product_stocks" in manifest["sources"]


def test_a_stale_dbt_manifest_is_parsed_again(tmp_path: Path) -> None:
    """An upgrade that adds models must not leave Dagster on the old manifest (its ops would
    select nodes the manifest does not know): a manifest older than a project file is rebuilt."""
    from dagster_dbt import DbtProject

    from orchestration.resources import prepare_manifest
    from pipelines.sync.dbt import DBT_PROJECT_DIR

    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target_path=tmp_path / "target")
    manifest = prepare_manifest(project)
    fresh = manifest.stat().st_mtime
    assert prepare_manifest(project).stat().st_mtime == fresh  # up to date: not parsed again
    os.utime(manifest, (0, 0))  # as if written before every project file
    assert prepare_manifest(project).stat().st_mtime > 0
    assert "model.invsync.inventory_history" in json.loads(manifest.read_text())["nodes"]


def test_schedule_timezone_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestration.schedules import schedule_timezone

    monkeypatch.delenv("INVSYNC_SCHEDULE_TIMEZONE", raising=False)
    assert schedule_timezone() == "Europe/Moscow"
    monkeypatch.setenv("INVSYNC_SCHEDULE_TIMEZONE", "Asia/Yekaterinburg")
    assert schedule_timezone() == "Asia/Yekaterinburg"
    monkeypatch.setenv("INVSYNC_SCHEDULE_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValueError, match="INVSYNC_SCHEDULE_TIMEZONE"):
        schedule_timezone()


def test_lineage_is_one_graph(defs: Any) -> None:
    from dagster import AssetKey

    graph = defs.get_repository_def().asset_graph
    parents = {key: set(graph.get(key).parent_keys) for key in graph.get_all_asset_keys()}
    # dbt sources are the dlt assets (no orphan source assets), and publish waits for the audit.
    assert AssetKey(["raw_ozon", "product_stocks"]) in parents[AssetKey("stg_ozon__stocks")]
    # A fallback method's table belongs to the resource that writes it.
    assert AssetKey(["raw_wb", "wb_warehouse_stocks"]) in parents[AssetKey("stg_wb__warehouse_remains")]
    assert AssetKey(["raw_ozon", "fbo_stocks"]) in parents[AssetKey("stg_ozon__fbo_stocks")]
    assert AssetKey(["raw_ozon", "fbs_stocks"]) in parents[AssetKey("stg_ozon__warehouses")]
    assert AssetKey("int_inventory__snapshot") in parents[AssetKey("inventory_audit")]
    assert {AssetKey("inventory_audit"), AssetKey("int_inventory__snapshot")} <= parents[AssetKey("inventory_data")]
    raw = {k for k in parents if k.path[0] in ("raw_ozon", "raw_wb")}
    assert all(graph.get(k).is_materializable for k in raw)
    assert len(raw) == 10
    checks = {k.name for k in graph.asset_check_keys if k.asset_key == AssetKey("inventory_data")}
    assert {"ge_validity", "ge_broken_answers", "ge_moves", "ge_warehouse_moves", "freshness_ozon", "freshness_wb",
            "not_null_inventory_data_sku"} <= checks


# --------------------------------------------------------------------------- the graph against the sandbox


def full_resync(defs: Any, instance: Any, account: str = "default") -> list[Any]:
    """What the weekly full resync schedules launch: one run per marketplace's account, tagged full."""
    return [defs.resolve_job_def(f"sync_{m}").execute_in_process(
        instance=instance, partition_key=account, tags={"invsync/full": "true", "invsync/account": f"{m}/{account}"})
        for m in ("ozon", "wb", "ym")]


def test_full_resync_then_incremental_sync_match_the_sandbox(sandbox: Any, duckdb_url: str, defs: Any, instance: Any,
                                                              inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, {**sandbox.env(), "WAREHOUSE_URL": duckdb_url, "INVSYNC_RATE_LIMIT_SCALE": "0.01"})
    started = time.time()
    results = full_resync(defs, instance)
    assert all(r.success for r in results)
    # Each dbt step left its parse cache in the warehouse's dbt folder for the next (else every
    # step parses the whole project): dagster-dbt seeds each new target folder from there.
    from orchestration.resources import current_settings
    from pipelines.sync.dbt import target_dir
    assert (target_dir(current_settings()) / "partial_parse.msgpack").stat().st_mtime >= started

    graph = defs.get_repository_def().asset_graph
    # Each run builds the dbt models of its own marketplace only (as `invsync sync --marketplace`);
    # YM has no credentials here, so its own models are built by no run.
    from orchestration.assets.transform import marketplace_dbt_assets
    own = {m: set(marketplace_dbt_assets(m)) for m in ("ozon", "wb", "ym")}
    assert all(own.values())
    for marketplace, result in zip(("ozon", "wb"), results):
        built = {e.asset_key for e in result.get_asset_materialization_events()}
        assert own[marketplace] <= built and not built & set().union(*(v for m, v in own.items() if m != marketplace))
    expected_assets = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable} - own["ym"]
    materialized = {e.asset_key for r in results for e in r.get_asset_materialization_events()}
    assert materialized == expected_assets
    assert {e.partition for e in results[0].get_asset_materialization_events() if e.asset_key.path[0] == "raw_ozon"} == {"default"}
    evaluations = [e for r in results for e in r.get_asset_check_evaluations()]
    # YM has no credentials here: its run lands nothing, so it stages, audits and checks nothing
    # (freshness_ym is the hourly check_freshness job's to evaluate; its models' checks run with them).
    assert {e.asset_check_key for e in evaluations} == {k for k in graph.asset_check_keys
                                                        if k.name != "freshness_ym" and k.asset_key not in own["ym"]}
    failed = [(e.asset_check_key.to_user_string(), e.description) for e in evaluations if not e.passed]
    assert not failed
    assert_matches_truth(sandbox)

    rows = {m: r for result in results for m, r in sync_rows(result.run_id).items()}
    assert set(rows) == {"ozon", "wb"}
    assert {r["sync_type"] for r in rows.values()} == {"full"}
    assert {r["status"] for r in rows.values()} == {"success"}
    assert {r["account"] for r in rows.values()} == {"default"}
    assert all(r["records_written"] > 0 and r["load_id"] for r in rows.values())
    ge = warehouse().query("select count(*) as n from validation_results where run_id = %s", (results[0].run_id,))
    assert ge[0]["n"] > 0

    # Time moves; an incremental Ozon sync follows it and leaves WB alone.
    sandbox.tick()
    wb_before = {k: v for k, v in inventory().items() if k[0] == "wb"}
    second = defs.resolve_job_def("sync_ozon").execute_in_process(instance=instance, partition_key="default")
    assert second.success
    assert all(e.passed for e in second.get_asset_check_evaluations())
    rows = sync_rows(second.run_id)
    assert set(rows) == {"ozon"} and rows["ozon"]["sync_type"] == "incremental" and rows["ozon"]["status"] == "success"
    ozon_truth = {k: v for k, v in truth(sandbox).items() if k[0] == "ozon"}
    assert_rows_match({k: v for k, v in inventory().items() if k[0] == "ozon"}, ozon_truth)
    assert {k: v for k, v in inventory().items() if k[0] == "wb"} == wb_before

    # Write–audit–publish: an Ozon account that suddenly answers empty is blocked by the audit.
    from dagster import AssetCheckSeverity

    from orchestration.sensors import check_alerts
    from pipelines.sandbox import Fault

    before = inventory()
    cursor = evaluate(check_alerts, instance, None, defs)
    assert inbox.messages == []  # everything so far passed and is fresh
    sandbox.add_fault(Fault(kind="empty_account", count=None))
    blocked = defs.resolve_job_def("sync_ozon").execute_in_process(instance=instance, partition_key="default")
    assert blocked.success  # a blocked publish is the audit working, not a broken run
    row = sync_rows(blocked.run_id)["ozon"]
    assert row["status"] == "failed" and "publish blocked by critical checks" in row["error_message"]
    assert inventory() == before
    verdicts = {e.asset_check_key.name: e for e in blocked.get_asset_check_evaluations()}
    assert not verdicts["ge_broken_answers"].passed and verdicts["ge_broken_answers"].severity == AssetCheckSeverity.ERROR
    assert "broken answer, held back" in verdicts["ge_broken_answers"].description
    evaluate(check_alerts, instance, cursor, defs)
    subjects = [m["Subject"] for m in inbox.messages]
    assert "[invsync] ERROR ozon: check ge_broken_answers on inventory_data failed" in subjects


def inventory() -> dict[tuple, dict[str, Any]]:
    return {tuple(r[k] for k in KEY): r for r in warehouse().query("select * from inventory_data")}


def truth(sandbox: Any) -> dict[tuple, dict[str, Any]]:
    return {tuple(r[k] for k in KEY): r for r in sandbox.account.expected_inventory(TEST_MARKETPLACES)}


def assert_rows_match(got: dict[tuple, dict[str, Any]], want: dict[tuple, dict[str, Any]]) -> None:
    for key, expected in want.items():
        assert key in got, f"missing {key}"
        for q in ("quantity_present", "quantity_reserved", "quantity_available"):
            assert int(got[key][q]) == expected[q], (key, q, got[key][q], expected[q])
    for key in set(got) - set(want):
        assert int(got[key]["quantity_present"]) == 0, f"{key} should have gone to zero"


def assert_matches_truth(sandbox: Any) -> None:
    got = inventory()
    assert {k[0] for k in got} == {"ozon", "wb"}
    assert_rows_match(got, truth(sandbox))


def test_marketplace_without_credentials_is_skipped_not_failed(sandbox: Any, duckdb_url: str, defs: Any,
                                                                 instance: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {k: v for k, v in sandbox.env().items() if not k.startswith("WB_API_TOKEN")}
    use_env(monkeypatch, {**env, "WAREHOUSE_URL": duckdb_url, "WB_API_TOKEN": ""})
    result = defs.resolve_job_def("sync_wb").execute_in_process(instance=instance, partition_key="default")
    assert result.success
    landed = [e for e in result.get_asset_materialization_events() if e.asset_key.path[0] == "raw_wb"]
    assert landed and all("skipped" in e.materialization.metadata for e in landed)
    # Nothing landed, so nothing was staged, audited or published, and no sync_logs row exists.
    assert not any(e.asset_key.path[0] != "raw_wb" for e in result.get_asset_materialization_events())
    assert not warehouse().query("select * from sync_logs")


# --------------------------------------------------------------------------- alerts


def test_failed_sync_is_mailed_once_per_incident(sandbox: Any, duckdb_url: str, defs: Any, instance: Any,
                                                   inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestration.sensors import run_failure_alerts
    from pipelines.sandbox import Fault

    use_env(monkeypatch, {**sandbox.env(), "WAREHOUSE_URL": duckdb_url, "OZON_API_KEY": WRONG_OZON_KEY,
                          "WB_API_TOKEN": ""})
    job = defs.resolve_job_def("sync_ozon")
    first = job.execute_in_process(instance=instance, raise_on_error=False, partition_key="default")
    assert not first.success
    row = sync_rows(first.run_id)["ozon"]
    assert row["status"] == "failed" and "authorization failed (404: Invalid Api-Key" in row["error_message"]
    assert WRONG_OZON_KEY not in row["error_message"]

    cursor = evaluate(run_failure_alerts, instance, None, defs)
    assert len(inbox.messages) == 1
    msg = inbox.messages[0]
    text = body(msg)
    assert "ozon" in msg["Subject"] and "sync_ozon" in msg["Subject"]
    assert "Step: land_ozon" in text and "Marketplace: ozon" in text
    assert "Invalid Api-Key" in text and "authorization failed" in text.lower()
    assert WRONG_OZON_KEY not in msg.as_string()
    assert "land_ozon" in body(msg, "html")
    assert msg["To"] == "ops@test.local, stock@test.local"

    cursor = evaluate(run_failure_alerts, instance, cursor, defs)  # the same tick again: nothing new
    again = job.execute_in_process(instance=instance, raise_on_error=False, partition_key="default")  # the same error again
    assert not again.success
    cursor = evaluate(run_failure_alerts, instance, cursor, defs)
    assert len(inbox.messages) == 1

    # Another incident (a server error at another endpoint) is mailed, once.
    monkeypatch.setenv("OZON_API_KEY", sandbox.env()["OZON_API_KEY"])
    sandbox.add_fault(Fault(kind="server_error", path="/v4/product/info/stocks", status=503, count=None))
    third = job.execute_in_process(instance=instance, raise_on_error=False, partition_key="default")
    assert not third.success
    cursor = evaluate(run_failure_alerts, instance, cursor, defs)
    cursor = evaluate(run_failure_alerts, instance, cursor, defs)
    assert len(inbox.messages) == 2
    assert "503" in body(inbox.messages[1]) and "Step: land_ozon" in body(inbox.messages[1])
    assert sync_rows(third.run_id)["ozon"]["status"] == "failed"

    # A successful Ozon run closes the incidents; the same bad key afterwards is news again.
    sandbox.clear_faults()
    monkeypatch.setenv("OZON_API_KEY", "")
    monkeypatch.setenv("OZON_CLIENT_ID", "")
    assert job.execute_in_process(instance=instance, partition_key="default").success  # no credentials: skipped, not failed
    cursor = evaluate(run_failure_alerts, instance, cursor, defs)
    assert json.loads(cursor)["open"] == {} and len(inbox.messages) == 2
    monkeypatch.setenv("OZON_CLIENT_ID", sandbox.env()["OZON_CLIENT_ID"])
    monkeypatch.setenv("OZON_API_KEY", WRONG_OZON_KEY)
    assert not job.execute_in_process(instance=instance, raise_on_error=False, partition_key="default").success
    evaluate(run_failure_alerts, instance, cursor, defs)
    assert len(inbox.messages) == 3 and "Invalid Api-Key" in body(inbox.messages[2])


def test_stale_data_and_missed_schedule_are_mailed(duckdb_url: str, defs: Any, instance: Any, inbox: Inbox,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster import AssetCheckSeverity

    from orchestration.sensors import check_alerts, missed_sync_alerts
    from pipelines import sync_log
    from pipelines.sync import prepare_warehouse
    from pipelines.sync_log import SyncRecord

    use_env(monkeypatch, {"WAREHOUSE_URL": duckdb_url, "OZON_CLIENT_ID": "123", "OZON_API_KEY": "k-secret-1234567",
                          "WB_API_TOKEN": "t-secret-7654321"})
    wh = prepare_warehouse(load_settings())
    now = datetime.now(timezone.utc)

    def synced(marketplace: str, hours_ago: float, status: str = "success") -> None:
        rec = SyncRecord(run_id=f"r-{marketplace}-{hours_ago}", marketplace=marketplace, sync_type="incremental",
                         started_at=now - timedelta(hours=hours_ago, minutes=5))
        sync_log.insert(wh, rec)
        rec.finish(status)
        rec.finished_at = now - timedelta(hours=hours_ago)
        sync_log.update(wh, rec)

    synced("ozon", 8)  # stale: warns
    synced("wb", 30)  # critical: no success in 24 h
    cursor = evaluate(check_alerts, instance, None, defs)
    cursor = evaluate(check_alerts, instance, cursor, defs)
    assert sorted(m["Subject"] for m in inbox.messages) == [
        "[invsync] ERROR wb: no successful sync in 24 hours",
        "[invsync] WARNING ozon: data older than 6 hours",
    ]
    assert "freshness_ozon" in body(next(m for m in inbox.messages if "ozon" in m["Subject"]))

    # The same verdicts as asset checks (the hourly `check_freshness` job).
    result = defs.resolve_job_def("check_freshness").execute_in_process(instance=instance)
    verdicts = {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}
    assert not verdicts["freshness_ozon"].passed and verdicts["freshness_ozon"].severity == AssetCheckSeverity.WARN
    assert not verdicts["freshness_wb"].passed and verdicts["freshness_wb"].severity == AssetCheckSeverity.ERROR

    # Ozon syncs again: its incident clears without mail; WB stays one open incident.
    synced("ozon", 0.1)
    cursor = evaluate(check_alerts, instance, cursor, defs)
    assert len(inbox.messages) == 2
    assert json.loads(cursor)["open"].keys() == {"freshness:wb:critical"}

    # Missed schedule: WB's last sync started 30 h ago, several 6-hourly ticks went by.
    watching = json.dumps({"open": {}, "position": {"watch_since": (now - timedelta(days=3)).timestamp()}})
    cursor = evaluate(missed_sync_alerts, instance, watching, defs)
    cursor = evaluate(missed_sync_alerts, instance, cursor, defs)
    missed = [m for m in inbox.messages if "scheduled sync did not run" in m["Subject"]]
    assert [m["Subject"] for m in missed] == ["[invsync] ERROR wb: scheduled sync did not run"]
    assert "sync_wb_every_6h" in body(missed[0])
    assert not any(s in m.as_string() for m in inbox.messages for s in ("k-secret-1234567", "t-secret-7654321"))


def test_weekly_report_email_has_stock_and_chart(sandbox: Any, duckdb_url: str, defs: Any, instance: Any,
                                                   inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.sync import run_sync

    use_env(monkeypatch, {**sandbox.env(), "WAREHOUSE_URL": duckdb_url})
    assert run_sync(load_settings(), backoff_base=0.01).clean
    wh = warehouse()
    with wh.connection() as conn:  # one failed expectation this week: it must show up as an anomaly
        wh.execute(conn, "insert into validation_results (run_id, marketplace, suite, expectation, column_name, severity, "
                         "success, observed_value, validated_at) values ('r1', 'wb', 'inventory_moves', "
                         "'expect_column_sum_to_be_between', 'quantity_present', 'critical', false, '12', %s)",
                   (datetime.now(timezone.utc).replace(tzinfo=None),))

    result = defs.resolve_job_def("weekly_report").execute_in_process(instance=instance)
    assert result.success
    assert len(inbox.messages) == 1
    msg = inbox.messages[0]
    assert msg["Subject"].startswith("[invsync] weekly report")
    html = body(msg, "html")
    summary = sandbox.account.summary()
    for marketplace in ("ozon", "wb"):
        assert f"<td>{marketplace}</td>" in html
        assert f"<td>{summary[marketplace]['present']}</td>" in html  # units present now, per marketplace
    assert "Wildberries units: 12 now, outside the usual range." in html and "100%" in html  # plain words
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1
    cid = images[0]["Content-ID"].strip("<>")
    assert f"cid:{cid}" in html
    assert images[0].get_content().startswith(b"\x89PNG")
    attached = [p for p in msg.iter_attachments() if p.get_content_type() == "text/html"]
    assert len(attached) == 1 and attached[0].get_filename().startswith("inventory-report-")
    assert "Inventory report" in attached[0].get_content()


# --------------------------------------------------------------------------- dagster dev


def test_dagster_dev_serves_the_ui(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "WAREHOUSE_URL": f"duckdb:///{tmp_path / 'wh.duckdb'}",
           "OZON_CLIENT_ID": "", "OZON_API_KEY": "", "WB_API_TOKEN": "", "SMTP_HOST": ""}
    log = (tmp_path / "dagster_dev.log").open("w")
    proc = subprocess.Popen([str(DAGSTER), "dev", "-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    query = json.dumps({"query": "{ repositoriesOrError { ... on RepositoryConnection { nodes { jobs { name } } } } }"})
    try:
        deadline, info, jobs = time.monotonic() + 120, None, set()
        while time.monotonic() < deadline and not jobs:
            assert proc.poll() is None, (tmp_path / "dagster_dev.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as answer:
                    info = json.load(answer)
                request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=query.encode(),
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=10) as answer:
                    nodes = json.load(answer)["data"]["repositoriesOrError"].get("nodes", [])
                    jobs = {j["name"] for n in nodes for j in n["jobs"]}
            except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError):
                pass
            time.sleep(1)
        assert info and "dagster_webserver_version" in info, (tmp_path / "dagster_dev.log").read_text()[-3000:]
        assert {"sync_ozon", "sync_wb", "sync_ym", "weekly_report"} <= jobs
    finally:  # stop the whole process group (webserver, daemon, code servers): Ctrl-C, then harder
        for sig, grace in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
        log.close()
