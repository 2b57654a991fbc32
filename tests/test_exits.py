"""Every refusal of `invsync` has its exit code and its one line (README, "Exit codes").

No credentials, no warehouse where WAREHOUSE_URL points (each reader), a MySQL server that does
not answer, a sync waiting for another's lock. `main()` runs in this process where it can
(no sync runs in any of these), `invsync serve` as the process it is. Real DuckDB files,
a real closed port, MariaDB on 127.0.0.1:3306 for the lock holder and a missing database.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import duckdb
import pytest

from pipelines.cli import main
from pipelines.config import PROJECT_ROOT, load_settings
from pipelines.exits import Exit
from pipelines.sync import core
from pipelines.warehouse import SYNC_LOCK, warehouse_for
from tests.conftest import dataset_prefix, fresh_mysql_database
from tests.test_web import free_port, start_server, stop_server, web_env

CREDENTIALS = ("OZON_CLIENT_ID", "OZON_API_KEY", "WB_API_TOKEN")
# Credentials that are never used: every case here stops before the first API call.
FAKE_CREDENTIALS = {"OZON_CLIENT_ID": "1", "OZON_API_KEY": "never-called", "WB_API_TOKEN": "never-called",
                    "OZON_API_URL": "http://127.0.0.1:9", "WB_ANALYTICS_API_URL": "http://127.0.0.1:9",
                    "WB_MARKETPLACE_API_URL": "http://127.0.0.1:9", "WB_CONTENT_API_URL": "http://127.0.0.1:9"}


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Only what each test sets: no credentials, no web settings from the machine's environment; the
    logging `main()` sets up (bound to this test's captured stderr) is undone afterwards."""
    for name in list(os.environ):
        if name.startswith(("OZON_", "WB_", "INVSYNC_", "WAREHOUSE_URL", "DAGSTER_GRAPHQL")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "ERROR")  # restored afterwards (logs.setup sets it when unset)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- no credentials ---------------------------------------------------------------------------------
def test_sync_with_no_credentials_exits_3_with_one_line_and_creates_nothing(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("WAREHOUSE_URL", f"duckdb:///{tmp_path / 'w' / 'inventory.duckdb'}")
    monkeypatch.delenv("RUNTIME__LOG_LEVEL")
    handlers = list(logging.getLogger().handlers)
    assert main(["sync"]) == Exit.NOTHING_TO_SYNC == 3
    # main() in-process leaves the caller's logging and environment as they were.
    assert logging.getLogger().handlers == handlers and "RUNTIME__LOG_LEVEL" not in os.environ
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ("invsync: nothing to sync: no marketplace has credentials (ozon: OZON_CLIENT_ID/OZON_API_KEY not set; "
                   "wb: WB_API_TOKEN not set; ym: YM_API_KEY not set). Set them (environment or .env), or add "
                   "--allow-unconfigured when "
                   "nothing to do is what you mean\n")
    assert not (tmp_path / "w").exists()  # no warehouse, no dlt folder, no lock file

    # One marketplace asked for, only the other configured: still nothing to do.
    monkeypatch.setenv("WB_API_TOKEN", "token-not-used")
    assert main(["sync", "--marketplace", "ozon"]) == 3
    assert "no marketplace has credentials (ozon: OZON_CLIENT_ID/OZON_API_KEY not set)." in capsys.readouterr().err

    # Asked for deliberately: exit 0, said on standard output.
    monkeypatch.delenv("WB_API_TOKEN")
    assert main(["sync", "--allow-unconfigured"]) == 0
    out, err = capsys.readouterr()
    assert out == ("nothing to sync: no marketplace has credentials (ozon: OZON_CLIENT_ID/OZON_API_KEY not set; "
                   "wb: WB_API_TOKEN not set; ym: YM_API_KEY not set)\n") and err == ""
    assert not (tmp_path / "w").exists()


def test_sync_now_without_credentials_ends_failed_with_the_reason(tmp_path, monkeypatch) -> None:
    """The web service's "Sync now" is `invsync sync` in a child: it ends `failed`, not `unknown`."""
    from pipelines.web.launcher import Launcher

    monkeypatch.setenv("WAREHOUSE_URL", f"duckdb:///{tmp_path / 'inventory.duckdb'}")
    launcher = Launcher(load_settings())
    launch = launcher.start("all", False, None, "ops", running_elsewhere=lambda: None)
    deadline = time.monotonic() + 60
    while launch.state == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    described = launch.describe()
    assert described["state"] == "finished" and described["exit_code"] == 3
    assert described["status"] == "failed"
    assert described["error"].startswith("nothing to sync: no marketplace has credentials (ozon: ")
    assert not (tmp_path / "inventory.duckdb").exists()


# -- no warehouse where WAREHOUSE_URL points (a typo) -------------------------------------------------
def missing_line(path: Path) -> str:
    return f"invsync: no DuckDB warehouse at {path}: check WAREHOUSE_URL for a typo, or run `invsync sync` once to create it\n"


@pytest.mark.parametrize("argv", [["status"], ["report"], ["report", "--html", "REPORT"]])
def test_a_reader_of_a_mistyped_duckdb_path_exits_4_and_creates_nothing(argv, tmp_path, monkeypatch, capsys) -> None:
    typo = tmp_path / "dta" / "inventory.duckdb"
    monkeypatch.setenv("WAREHOUSE_URL", f"duckdb:///{typo}")
    argv = [str(tmp_path / "report.html") if a == "REPORT" else a for a in argv]
    assert main(argv) == Exit.WAREHOUSE_MISSING == 4
    out, err = capsys.readouterr()
    assert out == "" and err == missing_line(typo)
    assert leftovers(tmp_path) == []  # no folder, no lock files, no report page

    # Next to an existing folder too: no lock files beside the missing file.
    typo.parent.mkdir()
    assert main(argv) == 4
    assert leftovers(typo.parent) == []


def test_status_json_prints_json_on_every_error(tmp_path, monkeypatch, capsys) -> None:
    typo = tmp_path / "inventory.duckbd"
    monkeypatch.setenv("WAREHOUSE_URL", f"duckdb:///{typo}")
    assert main(["status", "--json"]) == 4
    out, err = capsys.readouterr()
    message = missing_line(typo)[len("invsync: "):-1]
    assert json.loads(out) == {"exit_code": 4, "error": message, "error_kind": "warehouse_missing", "marketplaces": []}
    assert err == missing_line(typo)

    monkeypatch.setenv("WAREHOUSE_URL", "postgres://db/inventory")  # a configuration error
    assert main(["status", "--json"]) == 2
    payload = json.loads(capsys.readouterr().out)
    assert payload["error_kind"] == "configuration_error"
    assert payload["error"] == "configuration error: WAREHOUSE_URL scheme 'postgres' is not supported: use duckdb:/// or mysql://"


def test_serve_and_healthz_of_a_missing_duckdb_file(tmp_path) -> None:
    """`invsync serve` refuses a missing file at the start (4); /healthz says `missing` when it goes later."""
    from pipelines.web.security import new_token

    viewer, operator = new_token(), new_token()
    typo = tmp_path / "inventroy.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OZON_", "WB_", "INVSYNC_"))}
    env.update(web_env(viewer, operator), PYTHONPATH=str(PROJECT_ROOT), WAREHOUSE_URL=f"duckdb:///{typo}")
    run = subprocess.run([sys.executable, "-m", "pipelines.cli", "serve", "--port", str(free_port())], env=env,
                         capture_output=True, text=True, timeout=60, cwd=str(PROJECT_ROOT))
    assert (run.returncode, run.stderr) == (4, missing_line(typo))
    assert leftovers(tmp_path) == []

    real = tmp_path / "inventory.duckdb"
    duckdb.connect(str(real)).close()
    server = start_server({**web_env(viewer, operator), "WAREHOUSE_URL": f"duckdb:///{real}"}, tmp_path / "serve.log",
                          "duckdb", viewer=viewer, operator=operator)
    try:
        real.unlink()  # moved away under the running service
        health = server.get("/healthz")
        assert health.status_code == 503
        assert health.json() == {"status": "unavailable", "warehouse": "missing"}  # no path to anonymous callers
        assert not real.exists()  # the probe did not create it again
    finally:
        stop_server(server)
    assert missing_line(real)[len("invsync: "):-1] in (tmp_path / "serve.log").read_text()  # the log says where


# -- a MySQL server that does not answer ----------------------------------------------------------
def test_readers_of_an_unreachable_mysql_exit_5_with_the_password_masked(tmp_path, monkeypatch, capsys) -> None:
    port = closed_port()
    monkeypatch.setenv("WAREHOUSE_URL", f"mysql://inv:pa55-w0rd-secret@127.0.0.1:{port}/inventory")
    line = (f"invsync: cannot connect to MySQL at 127.0.0.1:{port} database 'inventory' as 'inv' (error 2003: "
            "Can't connect to MySQL server on '127.0.0.1' ([Errno 111] Connection refused))\n")
    for argv in (["status"], ["report"]):
        assert main(argv) == Exit.WAREHOUSE_UNREACHABLE == 5
        out, err = capsys.readouterr()
        assert (out, err) == ("", line)
    assert main(["status", "--json"]) == 5
    out, err = capsys.readouterr()
    assert json.loads(out)["error_kind"] == "warehouse_unreachable" and err == line
    assert "pa55" not in out + err

    from pipelines.web.security import new_token

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OZON_", "WB_", "INVSYNC_"))}
    env.update(web_env(new_token(), new_token()), PYTHONPATH=str(PROJECT_ROOT))
    run = subprocess.run([sys.executable, "-m", "pipelines.cli", "serve", "--port", str(free_port())], env=env,
                         capture_output=True, text=True, timeout=60, cwd=str(PROJECT_ROOT))
    assert (run.returncode, run.stderr) == (5, line)


def test_a_missing_mysql_database_is_missing_not_unreachable(capsys, monkeypatch) -> None:
    with fresh_mysql_database() as url:  # skips without MariaDB (fails under REQUIRE_MYSQL=1)
        absent = url.rsplit("/", 1)[0] + "/no_such_inventory_db"
    monkeypatch.setenv("WAREHOUSE_URL", absent)
    assert main(["status"]) == Exit.WAREHOUSE_MISSING
    assert capsys.readouterr().err == ("invsync: no database 'no_such_inventory_db' on MySQL at 127.0.0.1:3306: check "
                                       "WAREHOUSE_URL, or create it (README, Deploying with MySQL / MariaDB)\n")


# -- a sync waiting for another sync's lock -----------------------------------------------------------
def test_a_waiting_sync_says_for_whom_and_since_when_then_exits_6(tmp_path, monkeypatch, capsys) -> None:
    path = tmp_path / "inventory.duckdb"
    monkeypatch.setenv("WAREHOUSE_URL", f"duckdb:///{path}")
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(core, "SYNC_LOCK_WAIT_SECONDS", 1)
    holder = warehouse_for(load_settings().warehouse)
    with holder.exclusive(SYNC_LOCK, 1, "syncing"):  # as a running sync holds it
        assert main(["sync"]) == Exit.BUSY == 6
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == (f"invsync: no DuckDB warehouse at {path} yet: creating a new one (if you expected data there, "
                        "check WAREHOUSE_URL)")
    assert re.fullmatch(rf"invsync: waiting for another process syncing in {re.escape(str(path))} "
                        rf"\(pid {os.getpid()} on {re.escape(socket.gethostname())}, since \d{{4}}-\d\d-\d\d "
                        r"\d\d:\d\d:\d\d UTC\); giving up after 1s", lines[1]), lines[1]
    assert lines[2:] == [f"invsync: another process has been syncing in {path} for 1s; try again later"]
    assert holder.query("select count(*) as n from sync_logs")[0]["n"] == 0  # it wrote nothing


def test_a_waiting_sync_on_mysql_names_the_lock_holder(monkeypatch, capsys) -> None:
    with fresh_mysql_database() as url:
        monkeypatch.setenv("WAREHOUSE_URL", url)
        monkeypatch.setenv("INVSYNC_DATASET_PREFIX", dataset_prefix(url))  # its raw datasets go with it
        for name, value in FAKE_CREDENTIALS.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(core, "SYNC_LOCK_WAIT_SECONDS", 1)
        holder = warehouse_for(load_settings().warehouse)
        with holder.exclusive(SYNC_LOCK, 1, "syncing"):
            assert main(["sync"]) == 6
        database = url.rsplit("/", 1)[1]
        lines = capsys.readouterr().err.splitlines()
        assert re.fullmatch(rf"invsync: waiting for another process syncing in {database} \(connection \d+ from "
                            r"[^,]+, since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\); giving up after 1s", lines[0]), lines
        assert lines[1:] == [f"invsync: another process has been syncing in {database} for 1s; try again later"]
