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
            return Principal(token.role, token.label, "token") if token else None
        session = self.session(request)
        if session and isinstance(session.get("fp"), str):
            token = token_by_fingerprint(session["fp"], self.settings.web.tokens)
            if token is not None:
                return Principal(token.role, token.label, "session")
        return None

    def session(self, request: Request) -> dict[str, Any] | None:
        return self.signer.loads(request.cookies.get(SESSION_COOKIE))


def web_context(request: Request) -> WebContext:
    """The context of the application serving `request`."""
    return request.app.state.web


def require(request: Request, operator: bool = False) -> Principal:
    """The API's authentication: 401 without a valid token or session, 403 for a viewer on operator routes."""
    principal = web_context(request).principal(request)
    if principal is None:
        raise HTTPException(401, "a valid API token is required (Authorization: Bearer <token>)",
                            headers={"WWW-Authenticate": "Bearer"})
    if operator and not principal.may_sync:
        raise HTTPException(403, f"the {principal.role} role may not start syncs (an operator token may)")
    return principal
