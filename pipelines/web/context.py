"""What every request handler of `invsync serve` shares: the `WebContext` and the caller's identity.

Why a module of its own: the REST API, the console and the stock pages all need the context and
the token check, and `app` needs those routers to build the application. With the context in
`app`, the routers imported `app` and `app` imported the routers (a circle held apart by imports
inside functions); here it sits below all of them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import jinja2
from fastapi import HTTPException, Request

from pipelines.account_scope import AccountScope
from pipelines.config import Settings
from pipelines.warehouse import Warehouse
from pipelines.web.launcher import Launcher
from pipelines.web.security import SESSION_COOKIE, Principal, SessionSigner, match_token, token_by_fingerprint


@dataclass
class WebContext:
    """The service's state, built once by `app.create_app` and kept on `app.state.web`."""

    settings: Settings
    signer: SessionSigner
    launcher: Launcher
    wh: Warehouse  # read-only
    templates: jinja2.Environment
    chart_cache: dict[str, Any] = field(default_factory=dict)
    chart_lock: threading.Lock = field(default_factory=threading.Lock)

    def principal(self, request: Request) -> Principal | None:
        """The caller: an `Authorization: Bearer` token, else the console session cookie."""
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, value = header.partition(" ")
            token = match_token(value.strip(), self.settings.web.tokens) if scheme.lower() == "bearer" else None
            return Principal.of(token, "token") if token else None
        session = self.session(request)
        if session and isinstance(session.get("fp"), str):
            token = token_by_fingerprint(session["fp"], self.settings.web.tokens)
            if token is not None:
                return Principal.of(token, "session")
        return None

    def session(self, request: Request) -> dict[str, Any] | None:
        return self.signer.loads(request.cookies.get(SESSION_COOKIE))


def web_context(request: Request) -> WebContext:
    """The context of the application serving `request`."""
    return request.app.state.web


def require(request: Request, operator: bool = False) -> Principal:
    """The API's authentication: 401 without a valid token or session, 403 on operator routes for
    a caller that may not start syncs (a viewer, or a token limited to some accounts)."""
    principal = web_context(request).principal(request)
    if principal is None:
        raise HTTPException(401, "a valid API token is required (Authorization: Bearer <token>)",
                            headers={"WWW-Authenticate": "Bearer"})
    if operator and principal.sync_refusal:
        raise HTTPException(403, principal.sync_refusal)
    return principal


def scope_of(request: Request) -> AccountScope:
    """The accounts the caller may see: its token's (None: all). Nobody logged in sees no
    account: the handlers answer 401 or the login page first, and one that forgot to would
    still read nothing."""
    principal = web_context(request).principal(request)
    return principal.accounts if principal is not None else ()
