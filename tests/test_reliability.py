"""Issue 15, findings 4, 5 and 8: a blocked sync is never the base of the next one, readers
never break a DuckDB sync and syncs of one file take turns, a killed sync leaves an honest record.

Real sandbox over HTTP, real DuckDB files, real `invsync` processes (`python -m pipelines.cli`,
the console script's module) killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from pipelines import marketplaces, sync_log
from pipelines.sync import run_sync
from pipelines.sandbox import Fault
from pipelines.warehouse import SYNC_LOCK, WarehouseError, warehouse_for
from tests.conftest import TEST_MARKETPLACES, dataset_prefix, settings_for
from tests.test_landing import raw_query as read

ROOT = Path(__file__).resolve().parent.parent
KEY = ("marketplace", "sku", "warehouse_id", "stock_type")


def sync(settings, **kwargs):
    return run_sync(settings, backoff_base=0.01, **kwargs)




def rows_of(settings, sql: str) -> list[dict]:
    return warehouse_for(settings.warehouse, read_only=True).query(sql)


def assert_published_truth(settings, sandbox, check_names: bool = True) -> None:
    """inventory_data equals the sandbox's truth: quantities, and the catalog fields that come
    from the merged catalog tables (offer_id), so a stale or corrupt catalog row shows."""
    got = {tuple(r[k] for k in KEY): r for r in rows_of(settings, "select * from inventory_data")}
    want = {tuple(r[k] for k in KEY): r for r in sandbox.account.expected_inventory(TEST_MARKETPLACES)}
    for key, expected in want.items():
        assert key in got, f"missing {key}"
        for column in ("quantity_present", "quantity_reserved", "quantity_available"):
            assert int(got[key][column]) == expected[column], (key, column)
        if check_names:
            assert got[key]["offer_id"] == expected["offer_id"], (key, got[key]["offer_id"], expected["offer_id"])
    for key in set(got) - set(want):
        assert int(got[key]["quantity_present"]) == 0, key


# --------------------------------------------------------------------------- finding 4

def test_a_blocked_full_sync_is_followed_by_a_plain_sync_that_publishes_correctly(sandbox, published) -> None:
    settings = published
    # The API answers an empty Ozon account: the full sync replaces the raw catalog, and the
    # audit holds the publish back.
    sandbox.add_fault(Fault(kind="empty_account", path="/v4/product/info/stocks", count=None))
    blocked = sync(settings, which="ozon", full=True)
    assert blocked.results["ozon"].status == "failed"
    assert "publish blocked by critical checks" in blocked.results["ozon"].record.error_message
    # The API is right again (and the account moved on): a plain sync publishes the truth.
    sandbox.clear_faults()
    sandbox.tick()
    after = sync(settings)
    assert after.ok, after.summary()
    ozon = after.results["ozon"]
    assert ozon.status in ("success", "partial")
    # The blocked load's (empty) catalog was not taken as known: the whole catalog was asked.
    assert ozon.counts["catalog"] == "all products"
    assert_published_truth(settings, sandbox)


def test_a_blocked_sync_never_moves_the_wb_cards_cursor(sandbox, synced_once) -> None:
    settings = synced_once
    corrupt = f"select count(*) as n from {marketplaces.get('wb').dataset(settings)}.cards where vendor_code is null"
    sandbox.tick()  # new cards, edited after the published cursor
    # Blocked: the stock report answers nothing. The cards answer lacks vendorCode: those
    # (merged) rows are committed with the blocked load.
    sandbox.add_fault(Fault(kind="empty_account", path="/api/analytics/v1/stocks-report/wb-warehouses", count=None))
    sandbox.add_fault(Fault(kind="missing_field", path="/content/v2/get/cards/list", field="vendorCode", count=None))
    blocked = sync(settings, which="wb")
    assert blocked.results["wb"].status == "failed"
    blocked_cards = blocked.results["wb"].counts["cards_fetched"]
    assert blocked_cards > 0
    assert rows_of(settings, corrupt)[0]["n"] > 0

    sandbox.clear_faults()
    after = sync(settings)
    assert after.ok, after.summary()
    wb = after.results["wb"]
    # The cursor is the published one, not the blocked sync's: its cards are read again ...
    assert wb.counts["catalog"] == "changed cards" and wb.counts["cards_fetched"] >= blocked_cards
    # ... and merged over the corrupt rows.
    assert rows_of(settings, corrupt)[0]["n"] == 0
    assert_published_truth(settings, sandbox)
    # A sync after that builds on this publish: only the boundary card is read again.
    again = sync(settings, which="wb")
    assert again.ok and again.results["wb"].counts["cards_fetched"] < blocked_cards


def test_catalog_rows_of_unpublished_loads_count_as_unknown(sandbox, duckdb_url, monkeypatch) -> None:
    from pipelines.sync import wap
    from pipelines.sync.landing import catalog_base

    def stored_catalog(settings, wh, marketplace):
        return list(catalog_base(settings, wh, marketplaces.get(marketplace), full=False).known_catalog)

    def cards_cursor(settings, wh):
        return catalog_base(settings, wh, marketplaces.get("wb"), full=False).since

    settings = settings_for(sandbox.env(), duckdb_url)
    wh = warehouse_for(settings.warehouse)
    assert stored_catalog(settings, wh, "ozon") == [] and cards_cursor(settings, wh) is None  # nothing yet
    assert sync(settings).clean
    known = {str(v) for v in stored_catalog(settings, wh, "ozon")}
    cursor = cards_cursor(settings, wh)
    assert len(known) == sandbox.account.summary()["ozon"]["products"] and cursor
    # The landing of a sync that failed after landing (its row is `failed`): its rows are unknown.
    sandbox.tick()
    monkeypatch.setattr(wap, "stage", lambda *a: (_ for _ in ()).throw(RuntimeError("dbt down")))
    result = run_sync(settings, backoff_base=0.01)
    assert not result.ok
    assert {str(v) for v in stored_catalog(settings, wh, "ozon")} == known
    # (the boundary card it read again now carries the failed load: the cursor may step back, never on)
    assert datetime.fromisoformat(cards_cursor(settings, wh)) <= datetime.fromisoformat(cursor)


# --------------------------------------------------------------------------- finding 5

def _env(sandbox, url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OZON_", "WB_", "INVSYNC_", "WAREHOUSE_"))}
    return {**env, **sandbox.env(), "WAREHOUSE_URL": url, "INVSYNC_DATASET_PREFIX": dataset_prefix(url),
            "INVSYNC_RATE_LIMIT_SCALE": "0.01", "INVSYNC_HTTP_TIMEOUT": "30", "INVSYNC_MAX_RETRIES": "4",
            "PYTHONPATH": str(ROOT), **extra}


def invsync(env: dict[str, str], *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", *args], cwd=str(ROOT), env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


READER_LOOP = """
import json, sys, time
from pathlib import Path
from pipelines.config import load_settings
from pipelines.report import build_report
from pipelines.status import collect_status
stop = Path(sys.argv[1])
settings = load_settings()
ok, errors = 0, []
while not stop.exists():
    try:
        collect_status(settings)
        build_report(settings)
        ok += 1
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    time.sleep(0.02)
print(json.dumps({"ok": ok, "errors": errors}))
"""


def test_status_and_report_in_a_loop_beside_a_duckdb_sync_never_break_it(sandbox, duckdb_url, tmp_path) -> None:
    settings = settings_for(sandbox.env(), duckdb_url)
    env = _env(sandbox, duckdb_url)
    # The file exists, empty, before the first sync: readers never create one (a missing file is exit 4).
    duckdb.connect(str(settings.warehouse.path)).close()
    stop = tmp_path / "stop"
    script = tmp_path / "readers.py"
    script.write_text(READER_LOOP)
    loops = [subprocess.Popen([sys.executable, str(script), str(stop)], cwd=str(ROOT), env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    cli_runs: list[tuple[int, str]] = []

    def cli_status_loop() -> None:  # the real command too, as cron runs it
        while not stop.exists():
            proc = invsync(env, "status", "--json")
            out, err = proc.communicate(timeout=300)
            cli_runs.append((proc.returncode, err[-500:] if proc.returncode not in (0, 2) else ""))

    cli = threading.Thread(target=cli_status_loop)
    cli.start()
    try:
        time.sleep(2)  # the readers are reading before the sync starts
        results = [sync(settings), sync(settings)]  # the second starts with readers already in the file
    finally:
        stop.touch()
        cli.join(timeout=300)
    outcomes = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1]) for p in loops]
    for result in results:
        assert result.clean, result.summary()
    for outcome in outcomes:
        assert outcome["errors"] == [] and outcome["ok"] > 5, outcome
    assert cli_runs and all(code in (0, 2) for code, _err in cli_runs), cli_runs
    assert_published_truth(settings, sandbox)


def test_two_syncs_of_one_duckdb_file_take_turns_and_leave_no_running_rows(sandbox, duckdb_url) -> None:
    settings = settings_for(sandbox.env(), duckdb_url)
    env = _env(sandbox, duckdb_url)
    first = invsync(env, "sync")
    time.sleep(1.5)
    second = invsync(env, "sync")
    outs = [p.communicate(timeout=600) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outs
    rows = rows_of(settings, "select run_id, marketplace, status, started_at, finished_at, load_id from sync_logs")
    assert len(rows) == 4 and {r["status"] for r in rows} <= {"success", "partial"}, rows
    runs: dict[str, list[dict]] = {}
    for row in rows:
        runs.setdefault(row["run_id"], []).append(row)
    assert len(runs) == 2
    early, late = sorted(runs.values(), key=lambda rs: min(r["started_at"] for r in rs))
    # One after the other: the second wrote its first row after the first had finished.
    assert min(r["started_at"] for r in late) >= max(r["finished_at"] for r in early)
    assert len({r["load_id"] for r in rows}) == 4  # each sync loaded its own packages


def test_a_second_sync_that_cannot_wait_longer_refuses_having_written_nothing(sandbox, duckdb_url, monkeypatch) -> None:
    from pipelines.sync import core

    settings = settings_for(sandbox.env(), duckdb_url)
    holder = warehouse_for(settings.warehouse)
    monkeypatch.setattr(core, "SYNC_LOCK_WAIT_SECONDS", 1)
    with holder.exclusive(SYNC_LOCK, 1, "syncing"):  # as a running sync holds it
        assert not holder.lock_free(SYNC_LOCK)
        with pytest.raises(WarehouseError, match="another process has been syncing .* for 1s; try again later"):
            run_sync(settings, backoff_base=0.01)
    assert holder.lock_free(SYNC_LOCK)
    assert holder.query("select count(*) as n from sync_logs")[0]["n"] == 0  # no row claims anything
    assert not holder.table_exists("inventory_data") and sandbox.request_log.hits() == 0


def test_a_reader_waits_for_a_write_window_instead_of_breaking_it(duckdb_url, tmp_path) -> None:
    from pipelines.config import load_settings

    settings = load_settings({"WAREHOUSE_URL": duckdb_url})
    writer = warehouse_for(settings.warehouse)
    with writer.connection() as conn:
        writer.execute(conn, "create table t as select 1 as x")
    script = tmp_path / "reader.py"
    script.write_text(
        "import sys, time\n"
        "from pipelines.config import load_settings\n"
        "from pipelines.warehouse import warehouse_for\n"
        f"wh = warehouse_for(load_settings({{'WAREHOUSE_URL': {duckdb_url!r}}}).warehouse, read_only=True)\n"
        "started = time.monotonic()\n"
        "print(wh.query('select x from t')[0]['x'], round(time.monotonic() - started, 1))\n"
    )
    with writer.writing():  # a long write window (as around a dbt build), file open read-write
        con = duckdb.connect(str(settings.warehouse.path))
        reader = subprocess.Popen([sys.executable, str(script)], cwd=str(ROOT), text=True, stdout=subprocess.PIPE,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})
        time.sleep(3)
        con.execute("insert into t values (2)")
        con.close()
    value, waited = reader.communicate(timeout=60)[0].split()
    assert reader.returncode == 0 and value == "1" and float(waited) >= 2


# --------------------------------------------------------------------------- finding 8

def status_json(env: dict[str, str]) -> dict:
    proc = invsync(env, "status", "--json")
    out, err = proc.communicate(timeout=120)
    return {s["marketplace"]: s for s in json.loads(out)["marketplaces"] if s["relevant"]}  # the synced ones


def kill_sync_at(sandbox, env: dict[str, str], phase: str, delay: float) -> subprocess.Popen:
    """Start `invsync -v sync`, SIGKILL it `delay` s after it logs that it reached `phase`."""
    proc = invsync(env, "-v", "sync")
    seen = threading.Event()

    def watch() -> None:
        for line in proc.stderr:
            if line.rstrip().endswith(f": {phase}") and "pipelines.sync_log" in line:
                seen.set()

    threading.Thread(target=watch, daemon=True).start()
    assert seen.wait(180), f"the sync never reached {phase}"
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return proc


def dbt_processes_on(path: Path) -> list[int]:
    """Live dbt processes building the DuckDB file at `path` (their environment names it)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except (OSError, ValueError):
            continue
        if b"dbt" in cmdline and f"DBT_DUCKDB_PATH={path}".encode() in environ.split(b"\0"):
            found.append(int(proc.name))
    return found


@pytest.mark.parametrize("phase", ["landing", "staging", "publish"])
def test_a_sync_killed_at_any_phase_is_shown_interrupted_and_the_next_sync_succeeds(sandbox, published, duckdb_url, phase) -> None:
    settings = published
    env = _env(sandbox, duckdb_url)
    if phase == "landing":  # held in the API calls
        sandbox.add_fault(Fault(kind="slow", path="/v4/product/info/stocks", delay=20, count=None))
    sandbox.tick()
    # Landing: the slow Ozon answers hold it there for 20 s, so wait until both marketplaces'
    # rows are surely written (the phase is logged just before a row's insert).
    killed = kill_sync_at(sandbox, env, phase, {"landing": 3.0, "staging": 0.5, "publish": 0.1}[phase])
    assert killed.returncode == -signal.SIGKILL
    # Its dbt died with it: an orphan would go on building under the next sync.
    deadline = time.monotonic() + 5
    while dbt_processes_on(settings.warehouse.path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert dbt_processes_on(settings.warehouse.path) == []
    sandbox.clear_faults()
    stuck = rows_of(settings, "select * from sync_logs where status = 'running'")
    assert len(stuck) == 2  # what the table says right after the kill

    shown = status_json(env)
    for row in stuck:
        rec = sync_log.from_row(row)
        published = read(settings, "select count(*) from inventory_data where marketplace = "
                                   f"'{rec.marketplace}' and last_sync_at = '{sync_log.naive_utc(rec.started_at)}'")[0][0]
        s = shown[rec.marketplace]
        assert s["last_attempt_at"] == str(row["started_at"]), s
        if published:  # killed just past the publish commit: its data is the last success
            assert phase == "publish" and s["last_attempt_status"] in ("success", "partial")
            assert s["last_success_at"] is not None and s["last_success_at"] >= str(row["started_at"])
        else:
            assert s["last_attempt_status"] == "interrupted", s
            assert s["last_attempt_phase"] == rec.details["phase"]
            assert s["last_error"].startswith(f"interrupted during {rec.details['phase']}")
            assert rec.details["phase"] == phase  # for staging and publish: killed while dbt built it
    assert rows_of(settings, "select count(*) as n from sync_logs where status = 'running'")[0]["n"] == 2  # status only reads

    after = sync(settings)
    assert after.ok, after.summary()
    assert_published_truth(settings, sandbox)
    statuses = {r["id"]: r["status"] for r in rows_of(settings, "select id, status from sync_logs")}
    assert "running" not in statuses.values()
    for row in stuck:
        assert statuses[row["id"]] in ("interrupted", "success", "partial")
    shown = status_json(env)
    assert all(s["last_attempt_status"] in ("success", "partial") and s["level"] == "fresh"
               for s in shown.values()), shown


def test_a_sync_killed_after_its_publish_commit_counts_as_the_last_success(sandbox, warehouse_url, synced_once) -> None:
    settings = synced_once
    sandbox.tick()
    second = sync(settings, which="ozon")
    assert second.clean
    # As if the process had died between the publish commit and its last sync_logs update.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    rec = second.results["ozon"].record
    rec.status, rec.finished_at, rec.records_written = "running", None, 0
    rec.details["phase"] = "publish"
    rec.details["process"] = {**sync_log.process_info(), "pid": dead.pid, "proc_start": "0"}
    sync_log.update(warehouse_for(settings.warehouse), rec)
    env = _env(sandbox, warehouse_url)
    shown = status_json(env)["ozon"]
    assert shown["last_attempt_status"] == "success" and shown["last_attempt_at"] == str(sync_log.naive_utc(rec.started_at))
    assert shown["last_success_at"] >= str(sync_log.naive_utc(rec.started_at))  # the newer sync, not the older one
    # The next sync writes it down: success, with the published rows counted.
    assert sync(settings, which="wb").clean
    row = rows_of(settings, f"select * from sync_logs where id = {rec.id}")[0]
    assert row["status"] == "success" and row["records_written"] > 0
    assert json.loads(row["details"])["interrupted"]["published"] is True
    # A sync row whose process is gone and no sync holding the lock: interrupted, on both warehouses.
    rec.id, rec.status, rec.load_id = None, "running", None
    rec.details["phase"] = "audit"
    sync_log.insert(warehouse_for(settings.warehouse), rec)
    shown = status_json(env)["ozon"]
    assert shown["last_attempt_status"] == "interrupted" and shown["last_attempt_phase"] == "audit", shown
    assert shown["last_error"].startswith("interrupted during audit: the sync process (pid ")


def test_two_accounts_of_one_marketplace_each_keep_their_own_sync_logs_row(warehouse_url, synced_once) -> None:
    """The accounts of one marketplace start side by side in one run. Their rows must not be
    mixed up: the id a sync takes is its own row's even when the other account's row lands
    between its insert and its id lookup (else both syncs write to one row, and a failed
    account's status showed its previous success), and a dead sync of one account is not taken
    for published by the other account's rows of the same start."""
    wh = warehouse_for(synced_once.warehouse)
    published_at = wh.query("select max(last_sync_at) as t from inventory_data where marketplace = 'ozon'")[0]["t"]
    started = published_at.replace(tzinfo=timezone.utc)
    default = sync_log.SyncRecord(run_id="side-by-side", marketplace="ozon", sync_type="full", started_at=started)
    north = sync_log.SyncRecord(run_id="side-by-side", marketplace="ozon", sync_type="full", started_at=started,
                                account="north", load_id="north-load")
    real_execute = wh.execute

    def execute(conn, sql, params=()):
        cur = real_execute(conn, sql, params)
        if sql.startswith("insert into sync_logs") and params[-1] == "default":  # north's row lands in between
            real_execute(conn, sql, sync_log._values(north))
        return cur

    wh.execute = execute
    sync_log.insert(wh, default)
    wh.execute = real_execute
    rows = {r["id"]: r["account"] for r in wh.query("select id, account from sync_logs where run_id = 'side-by-side'")}
    assert rows[default.id] == "default" and len(rows) == 2
    # North's sync died with nothing published: the default account's rows of that start are not its.
    north.id = next(i for i, a in rows.items() if a == "north")
    assert sync_log.conclude_dead(wh, north, found_by="status").status == "interrupted"
