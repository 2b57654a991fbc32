"""Small, explicit access to the warehouse (DuckDB file or MySQL/MariaDB database).

(Under 500 lines on purpose: the connection, the DuckDB turn-taking locks it depends on and
the sync lock with its "waiting for …" line are one mechanism; apart, each would be wrong on
its own. Its errors say which way it failed: missing, unreachable, busy; `pipelines.exits`
gives each its exit code.)

The product's own tables (`sync_logs`, validation results) and the read-side commands
(`status`, `report`) use this module; dlt and dbt bring their own connections. Connections
are opened per unit of work and closed again, because DuckDB allows one writer per file and
dlt and dbt open the same file in between.

DuckDB lets many read-only processes OR one writing process open a file, and a process that
finds it taken fails at once ("Could not set lock"). So the processes of this product take
turns through lock files next to the DuckDB file (`fcntl.flock`, released by the kernel when
a process dies):

- `<file>.access.lock`: readers (`Warehouse(read_only=True)`: `invsync status`, `report`,
  the web service) hold it shared while their read-only connection is open; a writing
  process holds it exclusively while it has the file open (its own connections, and
  `writing()` around dlt's load and dbt). `<file>.queue.lock` is the turnstile in front of
  it, so a stream of readers cannot starve a writer. Waits are bounded; DuckDB's own lock
  error is retried briefly too (a notebook outside these locks).
- `<file>.sync.lock`: held by a sync from before its first `sync_logs` row to its end
  (`exclusive()`, the DuckDB twin of MySQL's named lock), so a second sync waits or refuses
  cleanly, and `sync_lock_free()` tells whether any sync is running at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from pipelines.config import WarehouseTarget

if TYPE_CHECKING:
    import pandas as pd


log = logging.getLogger(__name__)


class WarehouseError(RuntimeError):
    """The warehouse could not be reached or a statement failed; the message masks the password."""


class WarehouseBusy(WarehouseError):
    """Another process held the warehouse longer than this one would wait: a reader waited its
    `read_wait` for a sync's write window on the DuckDB file, or a sync waited for another
    sync's lock (`exclusive`). Nothing is wrong with the data: try again later."""


class WarehouseMissing(WarehouseError):
    """There is no warehouse where WAREHOUSE_URL points: no DuckDB file, or no such MySQL database.

    Readers (`status`, `report`, the web service) raise it instead of creating one: a typo in
    WAREHOUSE_URL must not read as an empty warehouse that was "never synced"."""


class WarehouseUnreachable(WarehouseError):
    """The MySQL server did not answer or refused the login (the message masks the password)."""


def missing_duckdb_message(path: Path) -> str:
    """Why a reader stops at a DuckDB path with no file, and the two ways out."""
    return (f"no DuckDB warehouse at {path}: check WAREHOUSE_URL for a typo, "
            "or run `invsync sync` once to create it")


# The named lock a sync holds on its warehouse from its first sync_logs row to its last (the
# sync core takes it; `status`, the web service and Dagster ask whether it is free).
SYNC_LOCK = "invsync_sync"

# How long a reader waits for a sync's write window (a dlt load, a dbt build) to end.
READ_WAIT_SECONDS = 120.0
# How long a writer waits for the readers in the file to finish (they hold it for moments).
WRITE_WAIT_SECONDS = 120.0
# How long DuckDB's own "Could not set lock" is retried (a process outside the lock files).
OPEN_RETRY_SECONDS = 10.0
_POLL_SECONDS = 0.02
MYSQL_UNKNOWN_DATABASE = 1049  # ER_BAD_DB_ERROR


def _utc_now() -> str:
    return f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC"


def _lock_path(db: Path, name: str) -> Path:
    return db.with_name(f"{db.name}.{name}.lock")


class FileLock:
    """An `flock` on a lock file, taken within a bounded wait; the kernel drops it if the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, exclusive: bool, wait_seconds: float) -> bool:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            if exclusive:
                raise WarehouseError(f"cannot create the lock file {self.path}: {exc}") from None
            # A reader without write access to the folder: it reads without taking turns
            # (DuckDB's own lock error is still retried briefly).
            log.debug("no lock file %s (%s): reading without it", self.path, exc)
            return True
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, mode)
                self._fd = fd
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(_POLL_SECONDS)

    def write_note(self, text: str) -> None:
        """Say in the held lock file who holds it (a waiting process shows it)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
                os.pwrite(self._fd, text.encode(), 0)

    def note(self) -> str:
        """What the holder wrote into the lock file (empty when unknown)."""
        try:
            return self.path.read_text(errors="replace").strip()[:200]
        except OSError:
            return ""

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class _WriterGate:
    """This process's exclusive hold on a DuckDB file's access lock, shared by its threads and
    nested uses (DuckDB connections of one process share one database instance)."""

    _gates: dict[Path, "_WriterGate"] = {}
    _registry = threading.Lock()

    def __init__(self, db: Path) -> None:
        self.db = db
        self.mutex = threading.Lock()
        self.count = 0
        self.lock: FileLock | None = None

    @classmethod
    def of(cls, db: Path) -> "_WriterGate":
        with cls._registry:
            return cls._gates.setdefault(db, cls(db))

    @property
    def held(self) -> bool:
        return self.count > 0

    @contextlib.contextmanager
    def hold(self, wait_seconds: float) -> Iterator[None]:
        with self.mutex:
            if self.count == 0:
                self.lock = _take_access(self.db, exclusive=True, wait_seconds=wait_seconds)
            self.count += 1
        try:
            yield
        finally:
            with self.mutex:
                self.count -= 1
                if self.count == 0 and self.lock is not None:
                    self.lock.release()
                    self.lock = None


def _take_access(db: Path, exclusive: bool, wait_seconds: float) -> FileLock:
    """The access lock, through the turnstile (a waiting writer keeps new readers out)."""
    error = WarehouseError if exclusive else WarehouseBusy
    queue = FileLock(_lock_path(db, "queue"))
    if not queue.acquire(True, wait_seconds):
        raise error(_busy_message(db, exclusive, wait_seconds))
    try:
        access = FileLock(_lock_path(db, "access"))
        if not access.acquire(exclusive, wait_seconds):
            raise error(_busy_message(db, exclusive, wait_seconds))
        return access
    finally:
        queue.release()


def _busy_message(db: Path, exclusive: bool, wait_seconds: float) -> str:
    if exclusive:
        return f"the DuckDB file {db} stayed open in a reading process for {wait_seconds:g}s; try again later"
    return f"a sync has been writing the DuckDB file {db} for {wait_seconds:g}s; try again in a minute"


def _is_lock_conflict(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "could not set lock" in text or "conflicting lock" in text


class Warehouse:
    """A DB-API connection wrapper with one parameter style (`%s`) for both dialects.

    `read_only=True` (the read-side commands, the web service): DuckDB opens the file read-only,
    as one of the readers that take turns with a sync's writes (module docstring), waiting at
    most `read_wait` seconds for a write window (then WarehouseBusy); a file that does not exist
    raises WarehouseMissing (readers never create a warehouse). MySQL sessions are set `READ ONLY`.
    """

    read_only = False

    def __init__(self, target: WarehouseTarget, read_only: bool | None = None, read_wait: float = READ_WAIT_SECONDS):
        self.target = target
        if read_only is not None:
            self.read_only = read_only
        self.read_wait = read_wait
        self._local = threading.local()  # the connection of a `session()`, per thread

    @property
    def dialect(self) -> str:
        return "duckdb" if self.target.is_duckdb else "mysql"

    @property
    def schema(self) -> str:
        """Where dbt models and ops tables live: DuckDB `main`, MySQL the URL's database."""
        return "main" if self.target.is_duckdb else self.target.database

    def _connect(self) -> Any:
        if self.target.is_duckdb:
            import duckdb

            assert self.target.path is not None
            path = self.target.path
            # A reader inside a writing process shares that process's (read-write) instance.
            read_only = self.read_only and not _WriterGate.of(path).held
            if read_only and not path.exists():
                raise WarehouseMissing(missing_duckdb_message(path))  # a reader never creates one
            if not read_only:
                path.parent.mkdir(parents=True, exist_ok=True)
            deadline = time.monotonic() + (min(OPEN_RETRY_SECONDS, self.read_wait) if read_only else OPEN_RETRY_SECONDS)
            while True:
                try:
                    return duckdb.connect(str(path), read_only=read_only)
                except duckdb.Error as exc:
                    if not _is_lock_conflict(exc):
                        raise WarehouseError(f"cannot open DuckDB file {path}: {exc}") from None
                    if time.monotonic() >= deadline:
                        raise WarehouseBusy(f"cannot open DuckDB file {path}: {exc}") from None
                time.sleep(0.1)
        import pymysql

        from pipelines.mysql_connections import connect

        try:
            conn = connect(
                host=self.target.host,
                port=self.target.port,
                user=self.target.user,
                password=self.target.password,
                database=self.target.database,
                charset="utf8mb4",
                autocommit=False,
                connect_timeout=10,
            )
        except pymysql.err.OperationalError as exc:
            code = exc.args[0] if exc.args else "?"
            reason = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
            reason = reason.replace(self.target.password, "***") if self.target.password else reason
            where = f"MySQL at {self.target.host}:{self.target.port}"
            if code == MYSQL_UNKNOWN_DATABASE:
                raise WarehouseMissing(f"no database '{self.target.database}' on {where}: check WAREHOUSE_URL, "
                                       "or create it (README, Deploying with MySQL / MariaDB)") from None
            raise WarehouseUnreachable(
                f"cannot connect to {where} database '{self.target.database}' as '{self.target.user}' "
                f"(error {code}: {reason})"
            ) from None
        if self.read_only:
            with conn.cursor() as cur:
                cur.execute("set session transaction read only")
        return conn

    @contextlib.contextmanager
    def access(self) -> Iterator[None]:
        """Hold this process's turn at the DuckDB file: shared for a reader, exclusive for a writer."""
        if not self.target.is_duckdb:
            yield
            return
        assert self.target.path is not None
        gate = _WriterGate.of(self.target.path)
        if self.read_only and not gate.held and not self.target.path.exists():
            # Before any lock file: a reader leaves no folder or lock file behind at a wrong path.
            raise WarehouseMissing(missing_duckdb_message(self.target.path))
        if not self.read_only or gate.held:
            with gate.hold(WRITE_WAIT_SECONDS):
                yield
            return
        lock = _take_access(self.target.path, exclusive=False, wait_seconds=self.read_wait)
        try:
            yield
        finally:
            lock.release()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Around dlt's load and dbt: they open the DuckDB file themselves; readers wait meanwhile."""
        assert not self.read_only, "a read-only warehouse does not write"
        with self.access():
            yield

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        """A connection inside a transaction: committed on success, rolled back on error, closed always.
        Inside `session()`: the session's connection."""
        shared = getattr(self._local, "conn", None)
        if shared is not None:
            yield shared
            return
        with self.access():
            with self._transaction() as conn:
                yield conn

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Every query of this thread in this block shares one connection and transaction (one
        DuckDB snapshot and one turn at the file): a web request makes several small reads, and
        opening DuckDB costs more than one of them. For readers; nested sessions are one."""
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        with self.connection() as conn:
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        conn = self._connect()
        try:
            if self.target.is_duckdb:
                conn.execute("begin transaction")
            yield conn
            conn.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                conn.rollback()
            raise
        finally:
            conn.close()

    def _sql(self, sql: str) -> str:
        return sql.replace("%s", "?") if self.target.is_duckdb else sql

    def execute(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        if self.target.is_duckdb:
            return conn.execute(self._sql(sql), list(params))
        cur = conn.cursor()
        cur.execute(sql, tuple(params))
        return cur

    def query(self, sql: str, params: Sequence[Any] = (), conn: Any = None) -> list[dict[str, Any]]:
        """Run a SELECT and return rows as dicts."""
        if conn is None:
            with self.connection() as own:
                return self.query(sql, params, own)
        cur = self.execute(conn, sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def frame(self, sql: str, params: Sequence[Any] = ()) -> "pd.DataFrame":
        """Run a SELECT into a pandas DataFrame (DuckDB: columnar, through Arrow; rows on MySQL).

        On DuckDB the text columns go from Arrow into pandas' Arrow-backed strings without a
        Python object per value (DuckDB's own `df()` builds one, which pandas then converts: about
        a fifth of an audit's CPU at 100,000 products), and decimals become floats, as `df()`
        gives them.
        """
        import pandas as pd

        with self.connection() as conn:
            if self.target.is_duckdb:
                import pyarrow as pa

                table = conn.sql(self._sql(sql), params=list(params)).to_arrow_table()
                floats = pa.schema([pa.field(f.name, pa.float64()) if pa.types.is_decimal(f.type) else f
                                    for f in table.schema])
                return table.cast(floats).to_pandas()
            cur = self.execute(conn, sql, params)
            names = [d[0] for d in cur.description]
            return pd.DataFrame.from_records(cur.fetchall(), columns=names)

    def _lock_name(self, name: str) -> str:
        return f"{name}:{self.schema}"[:64]

    @contextlib.contextmanager
    def exclusive(self, name: str, wait_seconds: float, what: str) -> Iterator[None]:
        """Run a step in one process at a time per database.

        MySQL: a named lock. DuckDB: an `flock` on `<file>.<name>.lock` next to the file (two
        syncs would otherwise take turns at the file between each other's steps and mix their
        loads). A process that has to wait says once what it waits for and since when (a silent
        15-minute wait looks like a hang); it raises WarehouseBusy naming `what` when the lock
        stays taken for `wait_seconds`. Nothing is written before the lock is held.
        """
        if self.target.is_duckdb:
            assert self.target.path is not None
            file_lock = FileLock(_lock_path(self.target.path, name.replace("invsync_", "")))
            if not file_lock.acquire(True, 0):
                self._say_waiting(what, str(self.target.path), file_lock.note(), wait_seconds)
                if not file_lock.acquire(True, wait_seconds):
                    raise WarehouseBusy(f"another process has been {what} in {self.target.path} for "
                                        f"{wait_seconds:g}s; try again later")
            file_lock.write_note(f"pid {os.getpid()} on {socket.gethostname()}, since {_utc_now()}")
            try:
                yield
            finally:
                file_lock.release()
            return
        lock = self._lock_name(name)
        with self.connection() as conn:
            got = self.query("select get_lock(%s, 0) as got", (lock,), conn)[0]["got"]
            if got != 1:
                self._say_waiting(what, self.schema, self._mysql_holder(lock, conn), wait_seconds)
                got = self.query("select get_lock(%s, %s) as got", (lock, wait_seconds), conn)[0]["got"]
            if got != 1:
                raise WarehouseBusy(f"another process has been {what} in {self.schema} for {wait_seconds:g}s; "
                                    "try again later")
            try:
                yield
            finally:
                try:
                    self.query("select release_lock(%s) as released", (lock,), conn)
                except Exception as exc:  # noqa: BLE001 - a lost connection released it already
                    log.warning("could not release the lock %s (%s): the server drops it with the connection", lock, exc)

    @staticmethod
    def _say_waiting(what: str, where: str, holder: str, wait_seconds: float) -> None:
        log.warning("waiting for another process %s in %s (%s); giving up after %gs", what, where,
                    holder or "holder unknown", wait_seconds)

    def _mysql_holder(self, lock: str, conn: Any) -> str:
        """Which connection holds a named lock and, as it has run nothing since taking it, since when."""
        try:
            cid = self.query("select is_used_lock(%s) as cid", (lock,), conn)[0]["cid"]
            rows = self.query("select host, time from information_schema.processlist where id = %s", (cid,), conn)
        except Exception:  # noqa: BLE001 - only the message would be poorer
            return ""
        if not rows:
            return f"connection {cid}" if cid else ""
        since = datetime.now(timezone.utc) - timedelta(seconds=int(rows[0]["time"] or 0))
        return f"connection {cid} from {rows[0]['host']}, since {since:%Y-%m-%d %H:%M:%S} UTC"

    def lock_free(self, name: str) -> bool:
        """True when no process holds the `exclusive(name, …)` lock right now (a probe, never a wait)."""
        if self.target.is_duckdb:
            assert self.target.path is not None
            probe = FileLock(_lock_path(self.target.path, name.replace("invsync_", "")))
            if not probe.path.exists():
                return True  # nobody ever took it (and a probe makes no lock file at a mistyped path)
            if not probe.acquire(False, 0):
                return False
            probe.release()
            return True
        rows = self.query("select is_free_lock(%s) as free", (self._lock_name(name),))
        return rows[0]["free"] == 1

    def table_exists(self, name: str, schema: str | None = None, conn: Any = None) -> bool:
        rows = self.query(
            "select count(*) as n from information_schema.tables where table_schema = %s and table_name = %s",
            (schema or self.schema, name),
            conn,
        )
        return bool(rows[0]["n"])


    def columns(self, table: str, schema: str | None = None) -> set[str]:
        """The (lower-case) column names of a table; empty when it does not exist."""
        rows = self.query(
            "select column_name as name from information_schema.columns where table_schema = %s and table_name = %s",
            (schema or self.schema, table),
        )
        return {str(r["name"]).lower() for r in rows}


def warehouse_for(target: WarehouseTarget, read_only: bool = False) -> Warehouse:
    """The warehouse; `read_only` for commands that only read (they never break a sync).
    (`parse_warehouse_url` admits only DuckDB and MySQL targets.)"""
    return Warehouse(target, read_only=read_only)
