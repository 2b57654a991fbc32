"""Shared fixtures: a real sandbox over HTTP, a real DuckDB file, a real MariaDB database.

MariaDB tests skip when no server answers on 127.0.0.1:3306, unless REQUIRE_MYSQL=1 (CI),
where they fail instead.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from pathlib import Path
from typing import Iterator

import pytest

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

from pipelines.config import Settings, load_settings  # noqa: E402

MYSQL_HOST, MYSQL_PORT = "127.0.0.1", 3306
MYSQL_USER = os.environ.get("TEST_MYSQL_USER", "root")
MYSQL_PASSWORD = os.environ.get("TEST_MYSQL_PASSWORD", "")


def mysql_available() -> bool:
    try:
        with socket.create_connection((MYSQL_HOST, MYSQL_PORT), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _isolated_dagster_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.getbasetemp() / "dagster_home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("DAGSTER_HOME", str(home))


@pytest.fixture
def sandbox() -> Iterator["object"]:
    from pipelines.sandbox import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(products=120, seed=7, rate_limit_scale=0.01)) as sb:
        yield sb


def settings_for(sandbox_env: dict[str, str], warehouse_url: str, **extra: str) -> Settings:
    """Settings pointing at a sandbox and a warehouse; nothing read from the real environment."""
    env = {**sandbox_env, "WAREHOUSE_URL": warehouse_url, "INVSYNC_RATE_LIMIT_SCALE": "0.01",
           "INVSYNC_HTTP_TIMEOUT": "5", "INVSYNC_MAX_RETRIES": "4", **extra}
    return load_settings(env)


@pytest.fixture
def duckdb_url(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"


@contextlib.contextmanager
def fresh_mysql_database() -> Iterator[str]:
    """A fresh MariaDB database (plus its raw datasets), dropped afterwards; its URL.

    Skips when no server answers, unless REQUIRE_MYSQL=1 (CI), where it fails instead.
    """
    if not mysql_available():
        if os.environ.get("REQUIRE_MYSQL") == "1":
            pytest.fail("REQUIRE_MYSQL=1 but no MySQL/MariaDB answers on 127.0.0.1:3306")
        pytest.skip("no MySQL/MariaDB on 127.0.0.1:3306")
    import pymysql

    name = f"t_{uuid.uuid4().hex[:10]}"
    conn = pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, password=MYSQL_PASSWORD, autocommit=True)
    with conn.cursor() as cur:
        # The server's default character set and collation, as a DBA would create it.
        cur.execute(f"create database `{name}`")
    auth = MYSQL_USER + (f":{MYSQL_PASSWORD}" if MYSQL_PASSWORD else "")
    try:
        yield f"mysql://{auth}@{MYSQL_HOST}:{MYSQL_PORT}/{name}"
    finally:
        with conn.cursor() as cur:
            for db in (name, f"{name}_raw_ozon", f"{name}_raw_wb", f"{name}_raw_ozon_staging", f"{name}_raw_wb_staging"):
                cur.execute(f"drop database if exists `{db}`")
        conn.close()


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A fresh MariaDB database for one test."""
    with fresh_mysql_database() as url:
        yield url
