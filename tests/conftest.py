"""Shared fixtures: a real sandbox over HTTP, a real DuckDB file, a real MariaDB database.

MariaDB tests skip when no server answers on 127.0.0.1:3306, unless REQUIRE_MYSQL=1 (CI),
where they fail instead.

Why the warehouses are where they are (the suite's minutes go to syncs):
- Each test worker (pytest-xdist) has one stable DuckDB path and stable MariaDB database
  names, emptied before each test. dbt keys its partial parsing on the connection, so a new
  path per test would make every test's first sync re-parse the whole project; with a stable
  one, dbt's folder for that warehouse (`WarehouseTarget.work_dir("dbt")`) survives.
- `published`: the clean first sync many tests start from is built once per worker and its
  files are copied into the test's warehouse (the sandbox is deterministic, so the copy is
  what the test's own first sync would have written).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import uuid
from pathlib import Path
from typing import Iterable, Iterator

import pytest

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
# dbt's file log (`logs/dbt.log` of each warehouse) at info, not dbt's default debug: writing
# each statement and timing was ~18% of the dbt worker's CPU in a profile of the suite (py-spy,
# tests/test_inventory.py), and no test reads it. Set DBT_LOG_LEVEL_FILE=debug to see the SQL
# of a failing test's syncs; the product keeps dbt's default.
os.environ.setdefault("DBT_LOG_LEVEL_FILE", "info")

from pipelines.config import Settings, load_settings  # noqa: E402
from pipelines.marketplaces import MARKETPLACES  # noqa: E402

MYSQL_HOST, MYSQL_PORT = "127.0.0.1", 3306
MYSQL_USER = os.environ.get("TEST_MYSQL_USER", "root")
MYSQL_PASSWORD = os.environ.get("TEST_MYSQL_PASSWORD", "")
# This test process's name under pytest-xdist ("gw0", "gw1"; "main" without it), and a short
# mark of this checkout: the stable MariaDB names of two checkouts' suites never meet.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
CHECKOUT = hashlib.sha1(str(Path(__file__).resolve().parent.parent).encode()).hexdigest()[:6]
# The standard sandbox account of the tests (and of the `published` baseline).
# The marketplaces the shared end-to-end tests sync. Every sync of the suite syncing every
# marketplace would cost minutes for no new behaviour: each further marketplace has its own
# end-to-end tests, which ask for it (`settings_for(..., marketplaces=...)`, or a sandbox
# whose `env_marketplaces` names it).
TEST_MARKETPLACES: tuple[str, ...] = ("ozon", "wb")
SANDBOX_OPTIONS = dict(products=120, seed=7, rate_limit_scale=0.01, env_marketplaces=TEST_MARKETPLACES)


def mysql_available() -> bool:
    try:
        with socket.create_connection((MYSQL_HOST, MYSQL_PORT), timeout=2):
            return True
    except OSError:
        return False


# The files whose tests take longest, in that order, run first: `make test` hands whole files
# to its two workers (`--dist loadfile`) in collection order (`--no-loadscope-reorder`: xdist's
# default orders files by their number of tests, which put the slowest last), and a long file
# handed out last would leave one worker running alone at the end. Seconds per file on 2
# workers (`pytest --durations=0`, 2026-12-07): 308, 286, 285, 221, 171, 150, 137, 118, 105, 96,
# 84, 75, 59, 50, 40; the rest under 35 each.
LONGEST_FIRST = ("test_orchestration.py", "test_bad_answers.py", "test_reliability.py", "test_inventory.py",
                 "test_one_sync_path.py", "test_history.py", "test_web.py", "test_migrations.py",
                 "test_expectations.py", "test_accounts_sync.py", "test_landing.py", "test_status_report.py",
                 "test_dbt_accounts.py", "test_ym_sync.py", "test_migration_account.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def weight(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=weight)  # stable: each file keeps its own order


@pytest.fixture(autouse=True)
def _isolated_dagster_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.getbasetemp() / "dagster_home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("DAGSTER_HOME", str(home))


@pytest.fixture
def sandbox() -> Iterator["object"]:
    from pipelines.sandbox import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(**SANDBOX_OPTIONS)) as sb:
        yield sb


def dataset_prefix(warehouse_url: str) -> str:
    """The raw datasets' prefix of a test's warehouse: on MySQL they are databases of the whole
    server, so each test names them after its own database (`<db>_raw_ozon`); unprefixed, two
    tests syncing at once on two workers would replace each other's raw loads."""
    return warehouse_url.rsplit("/", 1)[1] + "_" if warehouse_url.startswith("mysql") else ""


def settings_for(sandbox_env: dict[str, str], warehouse_url: str, marketplaces: Iterable[str] = TEST_MARKETPLACES,
                 **extra: str) -> Settings:
    """Settings pointing at a sandbox and a warehouse (its raw datasets named after it on MySQL),
    with the credentials of `marketplaces` only; nothing read from the real environment."""
    # INVSYNC_KEEP_HELPERS: the suite's process syncs hundreds of times; its helpers are kept.
    unsynced = {v.name for m in MARKETPLACES if m.name not in set(marketplaces) for v in m.variables if v.required}
    env = {**{k: v for k, v in sandbox_env.items() if k not in unsynced}, "WAREHOUSE_URL": warehouse_url,
           "INVSYNC_RATE_LIMIT_SCALE": "0.01", "INVSYNC_HTTP_TIMEOUT": "5", "INVSYNC_MAX_RETRIES": "4",
           "INVSYNC_KEEP_HELPERS": "1", "INVSYNC_DATASET_PREFIX": dataset_prefix(warehouse_url), **extra}
    return load_settings(env)


@pytest.fixture(scope="session")
def warehouse_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This worker's folder for the tests' DuckDB warehouse (basetemp is per worker)."""
    root = tmp_path_factory.getbasetemp() / "warehouse"
    root.mkdir(exist_ok=True)
    return root


def warehouse_files(path: Path) -> list[Path]:
    """A DuckDB warehouse's own files: the database, its WAL and lock files, dlt's folder."""
    return [*path.parent.glob(path.name + "*"), load_settings({"WAREHOUSE_URL": f"duckdb:///{path}"}).warehouse.work_dir("dlt")]


def remove(paths: list[Path]) -> None:
    for p in paths:
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


@pytest.fixture
def duckdb_url(warehouse_root: Path) -> str:
    """An empty DuckDB warehouse at this worker's stable path (dbt's parse cache for it kept)."""
    path = warehouse_root / "warehouse.duckdb"
    remove(warehouse_files(path))
    return f"duckdb:///{path}"


@pytest.fixture(scope="session")
def _published_files(warehouse_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One clean published sync of the standard sandbox into this worker's warehouse path,
    built once and kept as a copy of its files."""
    from pipelines.sandbox import Sandbox, SandboxOptions
    from pipelines.sync import run_sync

    path = warehouse_root / "warehouse.duckdb"
    remove(warehouse_files(path))
    with Sandbox(SandboxOptions(**SANDBOX_OPTIONS)) as sb:
        result = run_sync(settings_for(sb.env(), f"duckdb:///{path}"), backoff_base=0.01)
    assert result.clean, result.summary()
    keep = tmp_path_factory.mktemp("published")
    for source in warehouse_files(path):
        if source.is_dir():
            shutil.copytree(source, keep / source.name)
        elif source.exists():
            shutil.copy2(source, keep / source.name)
    # Leave the path empty as `duckdb_url` does: a test that asks for `published` by name
    # (`synced_once`) may have set up its `duckdb_url` before this session fixture ran.
    remove(warehouse_files(path))
    return keep


@pytest.fixture
def published(sandbox: "object", duckdb_url: str, _published_files: Path) -> Settings:
    """Settings for a warehouse holding one clean published sync of the standard sandbox, as
    if the test had just run `run_sync(settings).clean` on an empty warehouse (copied files)."""
    target = Path(duckdb_url.removeprefix("duckdb:///")).parent
    for source in _published_files.iterdir():
        if source.is_dir():
            shutil.copytree(source, target / source.name)
        else:
            shutil.copy2(source, target / source.name)
    return settings_for(sandbox.env(), duckdb_url)  # type: ignore[attr-defined]


@pytest.fixture(params=["duckdb", pytest.param("mysql", marks=pytest.mark.mysql)])
def warehouse_url(request: pytest.FixtureRequest) -> str:
    """Each warehouse the product supports: the test runs on DuckDB and on MariaDB."""
    return request.getfixturevalue("duckdb_url" if request.param == "duckdb" else "mysql_url")


@pytest.fixture
def synced_once(request: pytest.FixtureRequest, sandbox: "object", warehouse_url: str) -> Settings:
    """Settings for `warehouse_url` after one clean sync of the standard sandbox: on DuckDB the
    session's `published` copy, on MariaDB a real first sync."""
    if warehouse_url.startswith("duckdb"):
        return request.getfixturevalue("published")
    from pipelines.sync import run_sync

    settings = settings_for(sandbox.env(), warehouse_url)  # type: ignore[attr-defined]
    result = run_sync(settings, backoff_base=0.01)
    assert result.clean, result.summary()
    return settings


def drop_databases(conn: "object", name: str) -> None:
    """The test's database and every raw dataset named after it (each marketplace, account and
    dlt staging dataset: `<name>_raw_ozon__north_staging`)."""
    with conn.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute("select schema_name from information_schema.schemata")
        for (db,) in cur.fetchall():
            if db == name or db.startswith(f"{name}_raw_"):
                cur.execute(f"drop database if exists `{db}`")


@contextlib.contextmanager
def fresh_mysql_database(slot: str | None = None) -> Iterator[str]:
    """A fresh MariaDB database (plus its raw datasets), dropped afterwards; its URL.

    `slot` gives it a name stable for this checkout's worker (`t_<checkout>_<worker>_<slot>`, emptied first), so
    dbt's parse cache for it survives from test to test; without one the name is random.
    Skips when no server answers, unless REQUIRE_MYSQL=1 (CI), where it fails instead.
    """
    if not mysql_available():
        if os.environ.get("REQUIRE_MYSQL") == "1":
            pytest.fail("REQUIRE_MYSQL=1 but no MySQL/MariaDB answers on 127.0.0.1:3306")
        pytest.skip("no MySQL/MariaDB on 127.0.0.1:3306")
    import pymysql

    name = f"t_{CHECKOUT}_{WORKER}_{slot}" if slot else f"t_{uuid.uuid4().hex[:10]}"
    auth = MYSQL_USER + (f":{MYSQL_PASSWORD}" if MYSQL_PASSWORD else "")
    url = f"mysql://{auth}@{MYSQL_HOST}:{MYSQL_PORT}/{name}"
    target = load_settings({"WAREHOUSE_URL": url}).warehouse
    dlt_folder = target.work_dir("dlt")
    # A random name's dbt folder goes with it; a stable name keeps its parse cache.
    folders = [dlt_folder] if slot else [dlt_folder, target.work_dir("dbt")]
    conn = pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, password=MYSQL_PASSWORD, autocommit=True)
    drop_databases(conn, name)  # what a killed run may have left under a stable name
    remove([dlt_folder])
    with conn.cursor() as cur:
        # The server's default character set and collation, as a DBA would create it.
        cur.execute(f"create database `{name}`")
    try:
        yield url
    finally:
        drop_databases(conn, name)
        remove(folders)
        conn.close()


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A fresh MariaDB database for one test (this worker's stable name)."""
    with fresh_mysql_database("test") as url:
        yield url
