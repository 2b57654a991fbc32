"""The console's page helpers: rendering a template, the visitor's session, login and CSRF checks.

Why a module of its own: the console pages, the stock pages and the application's error pages
all render through here; with these helpers in `console`, the stock pages imported `console`
while `console` included them, and `app` imported `console` inside functions to show its
error pages. Routers sit above this module; it imports none of them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pipelines.findings import is_check_message
from pipelines.marketplaces import NAMES
from pipelines.web.context import web_context
from pipelines.web.security import CSRF_FIELD, SESSION_COOKIE, Principal, csrf_ok


def session_of(request: Request) -> tuple[dict[str, Any], bool]:
    """The visitor's session, or a new anonymous one (True: it must be sent as a cookie)."""
    ctx = web_context(request)
    session = ctx.session(request)
    if session is None:
        return ctx.signer.new(), True
    return session, False


def set_session(request: Request, response: Response, session: dict[str, Any]) -> None:
    ctx = web_context(request)
    response.set_cookie(SESSION_COOKIE, ctx.signer.dumps(session), max_age=ctx.signer.lifetime, path="/",
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")


def render(request: Request, template: str, status_code: int = 200, headers: dict[str, str] | None = None,
           **values: Any) -> HTMLResponse:
    ctx = web_context(request)
    if "is_check" not in ctx.templates.tests:  # a sync_logs line that is a check's finding (shown as one)
        ctx.templates.tests["is_check"] = is_check_message
        ctx.templates.globals["link"] = link  # macros see globals, not the page's values
    session, new = session_of(request)
    principal = values.pop("principal", None) or ctx.principal(request)
    page = ctx.templates.get_template(template).render(
        csrf_token=session["csrf"], csrf_field=CSRF_FIELD, principal=principal, path=request.url.path, **values)
    response = HTMLResponse(page, status_code=status_code, headers=headers)
    if new:
        set_session(request, response, session)
    return response


def link(path: str, args: dict[str, Any] | None = None, **changes: Any) -> str:
    """A console URL: `args` (a page's filter) with `changes`; empty values are left out."""
    params = {**(args or {}), **changes}
    kept = {k: v for k, v in params.items() if v not in (None, "", False)}
    return path + ("?" + urlencode(kept) if kept else "")


def login_redirect(request: Request) -> RedirectResponse:
    """To the login page, and back here after it."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)


def viewer(request: Request) -> Principal | None:
    """Who is looking at this page (None: nobody logged in)."""
    return web_context(request).principal(request)


def check_csrf(request: Request, presented: str | None) -> None:
    if not csrf_ok(web_context(request).session(request), presented):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


def check_marketplace(marketplace: str | None) -> None:
    """A console filter names a marketplace we sync, or none."""
    if marketplace and marketplace not in NAMES:
        raise HTTPException(422, f"marketplace must be one of {', '.join(NAMES)}")
