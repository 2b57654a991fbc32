"""pymysql connections whose "preferred" TLS context is built once per process, not per connection.

Why: given no TLS option, pymysql (1.2) encrypts if the server offers TLS and verifies nothing
("preferred" mode), and builds that context anew for every connection, loading the system's CA
certificates into it although, verifying nothing, it never reads them: ~30 ms of CPU a
connection against ~1 ms for the rest. A sync on MySQL opens ~50 (the warehouse's own and
dlt's), so that was ~1.5 s of CPU a sync. Here pymysql builds the same context once and every
connection of the process shares it (`ssl.SSLContext` is meant to be shared); a connection
given TLS options (a CA, a certificate: "required" mode) still gets its own, as before.

`connect` is `pymysql.connect` for `Warehouse`; `engine_kwargs` makes SQLAlchemy's connections
(dlt's `sqlalchemy` destination) the same.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable


@functools.lru_cache(maxsize=1)
def connection_class() -> type:
    """pymysql's `Connection`, with its preferred-mode TLS context shared (imported on first use)."""
    import pymysql.connections

    lock = threading.Lock()
    shared: list[Any] = []

    class SharedTLSContextConnection(pymysql.connections.Connection):
        def _create_ssl_ctx(self, sslp: Any) -> Any:
            if sslp != {}:  # TLS options given: pymysql's own context for them
                return super()._create_ssl_ctx(sslp)
            with lock:
                if not shared:
                    shared.append(super()._create_ssl_ctx({}))
                return shared[0]

    return SharedTLSContextConnection


def connect(**kwargs: Any) -> Any:
    """`pymysql.connect(**kwargs)`, sharing the process's preferred-mode TLS context."""
    return connection_class()(**kwargs)


def engine_kwargs(sqlalchemy_url: str) -> dict[str, Callable[[], Any]]:
    """`sqlalchemy.create_engine` arguments under which its pymysql connections are `connect`'s:
    a `creator` passing exactly the arguments SQLAlchemy's pymysql dialect would (it adds
    `client_flag` FOUND_ROWS, for instance); the dialect's own set-up on connect still runs."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(sqlalchemy_url)  # opens no connection: only its dialect is read
    cargs, cparams = engine.dialect.create_connect_args(engine.url)
    engine.dispose()

    def creator() -> Any:
        return connection_class()(*cargs, **cparams)

    return {"creator": creator}
