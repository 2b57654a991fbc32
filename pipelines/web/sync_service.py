"""Starting a sync and reading one back: what the REST API and the console both do with syncs.

Why a module of its own: the console's "Sync now" and sync page used to call the API router's
functions (imported inside functions, since the API router imported the application that
imports the console). Both routers now call this service, which knows the launcher and the
warehouse reads and no router.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException

from pipelines.account_scope import AccountScope
from pipelines.web import reads
from pipelines.web.context import WebContext
from pipelines.web.launcher import Launch, LaunchFailed, SyncConflict, TooSoon
from pipelines.web.security import Principal


def visible_launches(ctx: WebContext, principal: Principal) -> list[Launch]:
    """The syncs started here that this caller may follow: none for a token limited to some
    accounts (a launch covers every account, and its progress lines name their figures)."""
    return ctx.launcher.recent() if principal.accounts is None else []


def sync_detail(ctx: WebContext, sync_id: str, scope: AccountScope = None) -> dict[str, Any] | None:
    """A sync by id: what sync_logs and validation_results say, and the launch's progress if it
    started here. A caller limited to some accounts (`scope`) sees only those accounts' rows
    and checks, and no launch (see `visible_launches`): a sync none of them took part in is not found."""
    if scope is not None:
        return reads.sync_run(ctx.wh, sync_id, scope)
    launch: Launch | None = ctx.launcher.get(sync_id) or ctx.launcher.by_run_id(sync_id)
    record = None
    run_id = launch.run_id if launch is not None else sync_id
    reading_blocked = launch is not None and launch.state == "running" and ctx.launcher.writing_duckdb()
    if run_id and not reading_blocked:
        record = reads.sync_run(ctx.wh, run_id)
    if launch is None:
        return record
    out = record or {"id": launch.id, "run_id": launch.run_id, "marketplaces": [], "validation_results": []}
    if launch.state == "running":
        out["status"] = "running"
    elif record is None:
        out["status"] = launch.status  # refused before any sync_logs row (nothing configured, no warehouse)
    out["id"] = launch.id
    out["launch"] = launch.describe()
    return out


def start_sync(ctx: WebContext, marketplace: str, full: bool, reason: str | None, label: str) -> Launch:
    """Start a sync for the API and the console; HTTPException 409 / 429 / 502 when it may not or cannot."""

    def running_elsewhere() -> str | None:
        if reads.sync_lock_held(ctx.wh):
            return "another process is syncing this warehouse (its sync lock is held)"
        rows = reads.running_sync_rows(ctx.wh)
        if rows:
            return f"sync {rows[0]['run_id']} ({rows[0]['marketplace']}) is running since {rows[0]['started_at']}"
        return None

    try:
        return ctx.launcher.start(marketplace, full, reason, label, running_elsewhere)
    except SyncConflict as exc:
        raise HTTPException(409, str(exc)) from None
    except TooSoon as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after)}) from None
    except LaunchFailed as exc:
        raise HTTPException(502, str(exc)) from None
