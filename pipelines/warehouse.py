"""Small, explicit access to the warehouse (DuckDB file or MySQL/MariaDB database).

The product's own tables (`sync_logs`, validation results) and the read-side commands
(`status`, `report`) use this module; dlt and dbt bring their own connections. Connections
are opened per unit of work and closed again, because DuckDB allows one writer per file and
dlt and dbt open the same file in between.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from pipelines.config import ConfigError, WarehouseTarget

if TYPE_CHECKING:
    import pandas as pd


log = logging.getLogger(__name__)


class WarehouseError(RuntimeError):
    """The warehouse could not be reached or a statement failed; the message masks the password."""


class Warehouse:
    """A DB-API connection wrapper with one parameter style (`%s`) for both dialects."""

    def __init__(self, target: WarehouseTarget):
        self.target = target

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
            self.target.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                return duckdb.connect(str(self.target.path))
            except duckdb.Error as exc:
                raise WarehouseError(f"cannot open DuckDB file {self.target.path}: {exc}") from None
        import pymysql

        try:
            return pymysql.connect(
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
            raise WarehouseError(
                f"cannot connect to MySQL at {self.target.host}:{self.target.port} database "
                f"'{self.target.database}' as '{self.target.user}' (error {code}: {reason})"
            ) from None

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        """A connection inside a transaction: committed on success, rolled back on error, closed always."""
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
        """Run a SELECT into a pandas DataFrame (DuckDB's columnar fast path; rows on MySQL)."""
        import pandas as pd

        with self.connection() as conn:
            cur = self.execute(conn, sql, params)
            if self.target.is_duckdb:
                return cur.df()
            names = [d[0] for d in cur.description]
            return pd.DataFrame.from_records(cur.fetchall(), columns=names)

    @contextlib.contextmanager
    def exclusive(self, name: str, wait_seconds: float, what: str) -> Iterator[None]:
        """Run a step in one process at a time per database (a MySQL named lock).

        DuckDB needs none: a DuckDB file has a single writing process anyway. Raises
        WarehouseError naming `what` when another process holds the lock for `wait_seconds`.
        """
        if self.target.is_duckdb:
            yield
            return
        lock = f"{name}:{self.schema}"[:64]
        with self.connection() as conn:
            got = self.query("select get_lock(%s, %s) as got", (lock, wait_seconds), conn)[0]["got"]
            if got != 1:
                raise WarehouseError(f"another process has been {what} in {self.schema} for {wait_seconds:g}s; try again later")
            try:
                yield
            finally:
                try:
                    self.query("select release_lock(%s) as released", (lock,), conn)
                except Exception as exc:  # noqa: BLE001 - a lost connection released it already
                    log.warning("could not release the lock %s (%s): the server drops it with the connection", lock, exc)

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


def warehouse_for(target: WarehouseTarget) -> Warehouse:
    if target.kind not in ("duckdb", "mysql"):
        raise ConfigError(f"unsupported warehouse kind {target.kind}")
    return Warehouse(target)
