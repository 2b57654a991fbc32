"""pymysql connections share one preferred-mode TLS context per process (pipelines/mysql_connections.py).

pymysql builds its context in the connection's constructor, so `defer_connect=True` shows it
without a server; the SQLAlchemy path (dlt's destination) is checked against the real MariaDB.
"""

from __future__ import annotations

import ssl

import pymysql
import pytest

from pipelines import mysql_connections
from tests.conftest import MYSQL_HOST, MYSQL_PASSWORD, MYSQL_PORT, MYSQL_USER


def deferred(factory, **kwargs):
    return factory(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, password=MYSQL_PASSWORD, defer_connect=True, **kwargs)


def test_connections_share_one_context_that_is_pymysqls_preferred_mode() -> None:
    first, second = deferred(mysql_connections.connect), deferred(mysql_connections.connect)
    own = deferred(pymysql.connect)  # pymysql's own: a new context for each connection
    assert first.ctx is second.ctx
    assert own.ctx is not first.ctx and own.ctx is not deferred(pymysql.connect).ctx
    # The same mode as pymysql's: TLS if the server offers it, required by neither side, verifying nothing.
    for conn in (first, own):
        assert conn.ssl and not conn._ssl_required  # noqa: SLF001 - pymysql's only record of the mode
    assert (first.ctx.verify_mode, first.ctx.check_hostname, first.ctx.options, first.ctx.verify_flags) == \
           (own.ctx.verify_mode, own.ctx.check_hostname, own.ctx.options, own.ctx.verify_flags)
    assert first.ctx.verify_mode == ssl.CERT_NONE and not first.ctx.check_hostname


def test_a_connection_given_tls_options_keeps_its_own_context() -> None:
    shared = deferred(mysql_connections.connect).ctx
    required = deferred(mysql_connections.connect, ssl_verify_cert=True)
    assert required.ctx is not shared and required._ssl_required  # noqa: SLF001
    assert required.ctx.verify_mode == ssl.CERT_REQUIRED
    off = deferred(mysql_connections.connect, ssl_disabled=True)
    assert not off.ssl


@pytest.mark.mysql
def test_sqlalchemy_connections_are_the_shared_ones_with_the_dialects_arguments(mysql_url: str) -> None:
    """dlt's `sqlalchemy` destination gets these `engine_kwargs` (pipelines/sync/landing.py)."""
    import sqlalchemy

    from tests.conftest import settings_for

    url = settings_for({}, mysql_url).warehouse.sqlalchemy_url()
    plain = sqlalchemy.create_engine(url)
    shared = sqlalchemy.create_engine(url, **mysql_connections.engine_kwargs(url))
    try:
        with plain.connect() as a, shared.connect() as b, shared.connect() as c:
            raw_a, raw_b, raw_c = (conn.connection.dbapi_connection for conn in (a, b, c))
            assert isinstance(raw_b, mysql_connections.connection_class())
            assert raw_b is not raw_c and raw_b.ctx is raw_c.ctx and raw_a.ctx is not raw_b.ctx
            # What SQLAlchemy's pymysql dialect asks for (FOUND_ROWS among the client flags, the
            # database) is what the shared connections asked for.
            assert raw_b.client_flag == raw_a.client_flag and raw_b.db == raw_a.db
            assert b.execute(sqlalchemy.text("select database()")).scalar() == \
                   a.execute(sqlalchemy.text("select database()")).scalar()
    finally:
        plain.dispose()
        shared.dispose()
