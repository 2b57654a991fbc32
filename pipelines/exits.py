"""The exit codes of `invsync`, and which failure earns which.

Why a table of its own: cron jobs, monitoring checks and the web service's "Sync now" act on
the code alone, so a code must mean one thing. `invsync status` gives 1 and 2 to stale and
critical data; a warehouse that is not there, a server that does not answer, or a lock held
by another sync are not "stale" and get codes of their own (README, "Exit codes").
"""

from __future__ import annotations

from enum import IntEnum

from pipelines.config import ConfigError
from pipelines.warehouse import WarehouseBusy, WarehouseMissing, WarehouseUnreachable


class Exit(IntEnum):
    OK = 0  # done; `status`: every configured marketplace is fresh
    FAILED = 1  # a marketplace's sync failed; `status`: some data is stale
    CRITICAL = 2  # `status`: critical or never synced; any command: a configuration error
    NOTHING_TO_SYNC = 3  # `sync`: no selected marketplace has credentials (`--allow-unconfigured` makes it 0)
    WAREHOUSE_MISSING = 4  # no DuckDB file / no MySQL database where WAREHOUSE_URL points
    WAREHOUSE_UNREACHABLE = 5  # the MySQL server did not answer or refused the login
    BUSY = 6  # another sync held the warehouse longer than this command waits: try again later
    INTERRUPTED = 130  # Ctrl-C

    @property
    def kind(self) -> str:
        """The name scripts read in `status --json` errors (`warehouse_missing`, ...)."""
        return self.name.lower()


def exit_for(exc: BaseException) -> Exit | None:
    """The code of a failure that has one of its own; None for anything else (a plain failure)."""
    if isinstance(exc, ConfigError):
        return Exit.CRITICAL
    if isinstance(exc, WarehouseMissing):
        return Exit.WAREHOUSE_MISSING
    if isinstance(exc, WarehouseUnreachable):
        return Exit.WAREHOUSE_UNREACHABLE
    if isinstance(exc, WarehouseBusy):
        return Exit.BUSY
    if isinstance(exc, KeyboardInterrupt):
        return Exit.INTERRUPTED
    return None


def sync_status(exit_code: int | None) -> str:
    """The state a finished `invsync sync` process ends in by its exit code alone: what the web
    service's "Sync now" shows when no sync_logs row says more (a sync refused before its first
    row: nothing configured, no warehouse, another sync's lock)."""
    if exit_code is None:
        return "running"
    if exit_code == Exit.OK:
        return "success"
    return "interrupted" if exit_code == Exit.INTERRUPTED else "failed"
