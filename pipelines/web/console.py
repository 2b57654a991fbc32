"""The web console: login, stock status, the sync history, "Sync now".

The stock pages are `stock_pages`, a router of their own beside this one (both included by
`app`); the helpers both use (rendering, session, login and CSRF checks) are `rendering`.
"""

from __future__ import annotations

import base64
import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from pipelines.account_scope import AccountScope
from pipelines.config_accounts import account_key
from pipelines.findings import failed, finding, is_check_message
from pipelines.marketplaces import NAMES
from pipelines.warehouse import WarehouseBusy
from pipelines.web import reads
from pipelines.web.context import WebContext, web_context
from pipelines.web.rendering import check_csrf, check_marketplace, login_redirect, render, set_session, viewer
from pipelines.web.security import match_token
from pipelines.web.sync_service import start_sync, sync_detail, visible_launches

router = APIRouter(include_in_schema=False)


class LoginRequired(Exception):
    pass


def png_from_data_uri(uri: str) -> bytes:
    """The PNG bytes of the report's chart (a `data:image/png;base64,` URI)."""
    return base64.b64decode(uri.split(",", 1)[1])


def _safe_next(target: str | None) -> str:
    """Only paths of this site (no `//host` or scheme): no open redirect after login."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


# -- login ---------------------------------------------------------------------------------------
@router.get("/login")
def login_page(request: Request, next: Annotated[str | None, Query(max_length=512)] = None) -> Response:
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login")
def login(
    request: Request,
    token: Annotated[str, Form(max_length=512)] = "",
    csrf_token: Annotated[str | None, Form(max_length=128)] = None,
    next: Annotated[str | None, Form(max_length=512)] = None,
) -> Response:
    check_csrf(request, csrf_token)
    ctx = web_context(request)
    matched = match_token(token.strip(), ctx.settings.web.tokens)
    if matched is None:
        time.sleep(0.2)  # a wrong token costs a moment
        return render(request, "login.html", status_code=401, next=_safe_next(next), error="That token is not valid.")
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session(request, response, ctx.signer.new(matched))  # a fresh session and CSRF token after login
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str | None, Form(max_length=128)] = None) -> Response:
    check_csrf(request, csrf_token)
    response = RedirectResponse("/login", status_code=303)
    set_session(request, response, web_context(request).signer.new())
    return response


# -- pages ---------------------------------------------------------------------------------------
@router.get("/")
def dashboard(request: Request) -> Response:
    principal = viewer(request)
    if principal is None:
        return login_redirect(request)
    ctx = web_context(request)
    active = ctx.launcher.active()
    status, history, busy = None, [], None
    runs: dict[str, str] = {}
    findings: dict[str, list[Any]] = {}
    try:
        with ctx.wh.session():
            # Every figure over the caller's accounts only: one card per account.
            status = reads.status(ctx.settings, ctx.wh, scope=principal.accounts)
            history = reads.syncs(ctx.wh, limit=10, scope=principal.accounts)["items"]
            for row in history:  # each account's last attempt, and what its checks found
                runs.setdefault(account_key(row["marketplace"], row["account"]), row["run_id"])
            findings = _last_findings(ctx, runs, principal.accounts)
    except WarehouseBusy as exc:
        busy = str(exc)
    return render(request, "dashboard.html", principal=principal, status=status, history=history, busy=busy,
                  runs=runs, findings=findings,
                  active=active, chart=busy is None and status is not None and any(m["rows"] for m in status["marketplaces"]),
                  error=None)


def _last_findings(ctx: WebContext, runs: dict[str, str], scope: AccountScope) -> dict[str, list[Any]]:
    """The failed checks of each account's last sync (keyed by `account_key`), in plain words
    (pipelines.findings), of the accounts of `scope`."""
    out: dict[str, list[Any]] = {}
    for run_id in set(runs.values()):
        found = reads.sync_run(ctx.wh, run_id, scope) or {}
        for f in failed(found.get("validation_results", [])):
            if runs.get(f.name) == run_id:
                out.setdefault(f.name, []).append(f)
    return out


@router.get("/chart.png")
def chart(request: Request) -> Response:
    """The stock chart of the caller's accounts, cached per data version and accounts (a chart
    drawn for one client is never served to another)."""
    principal = viewer(request)
    if principal is None:
        raise HTTPException(401, "log in first")
    ctx = web_context(request)
    with ctx.wh.session():
        version = f"{reads.data_version(ctx.wh)}|{principal.accounts}"
        places = (reads.stock_places(ctx.wh, principal.accounts)
                  if ctx.chart_cache.get("version") != version else None)
    with ctx.chart_lock:
        if places is not None and ctx.chart_cache.get("version") != version:
            from pipelines.report import Report, stock_chart
            from datetime import datetime, timezone

            report = Report(datetime.now(timezone.utc), 0, [], stock=places)
            uri = stock_chart(report)
            ctx.chart_cache = {"version": version, "png": png_from_data_uri(uri) if uri else None}
        png = ctx.chart_cache["png"]
    if png is None:
        raise HTTPException(404, "no stock synced yet")
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=60"})


@router.get("/syncs")
def history(
    request: Request,
    marketplace: Annotated[str | None, Query(max_length=8)] = None,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    principal = viewer(request)
    if principal is None:
        return login_redirect(request)
    ctx = web_context(request)
    check_marketplace(marketplace)
    page = reads.syncs(ctx.wh, marketplace=marketplace or None, before=before, limit=50, scope=principal.accounts)
    return render(request, "syncs.html", principal=principal, page=page, marketplace=marketplace or "",
                  launches=visible_launches(ctx, principal))


@router.get("/syncs/{sync_id}")
def sync_page(request: Request, sync_id: str) -> Response:
    principal = viewer(request)
    if principal is None:
        return login_redirect(request)
    if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", sync_id):
        raise HTTPException(404, "no sync with this id")
    found = sync_detail(web_context(request), sync_id, principal.accounts)
    if found is None:
        raise HTTPException(404, "no sync with this id")
    checks = [finding(c) for c in found.get("validation_results", [])]
    return render(request, "sync.html", principal=principal, sync=found, is_check_message=is_check_message,
                  failed=[f for f in checks if not f.passed], passed=[f for f in checks if f.passed],
                  checks=list(zip(found.get("validation_results", []), checks)))


SYNC_CHOICE = "^(" + "|".join([*NAMES, "all"]) + ")$"  # the registry's names are plain identifiers


@router.post("/sync")
def sync_now(
    request: Request,
    csrf_token: Annotated[str | None, Form(max_length=128)] = None,
    marketplace: Annotated[str, Form(pattern=SYNC_CHOICE)] = "all",
    mode: Annotated[str, Form(pattern=r"^(incremental|full)$")] = "incremental",
    reason: Annotated[str | None, Form(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")] = None,
) -> Response:
    principal = viewer(request)
    if principal is None:
        return login_redirect(request)
    check_csrf(request, csrf_token)
    if principal.sync_refusal:
        raise HTTPException(403, principal.sync_refusal)
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) < 3:
        raise HTTPException(422, "a force-publish reason needs at least 3 characters")
    launch = start_sync(web_context(request), marketplace, mode == "full", reason, principal.label)
    return RedirectResponse(f"/syncs/{launch.id}", status_code=303)

