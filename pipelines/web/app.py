"""The FastAPI application of `invsync serve`: the REST API (/api/v1) and the web console.

One process serves both. The routers (`api`, `console`, `stock_pages`) share `context` (the
`WebContext`, the token check) and the console's `rendering`, and start and read syncs through
`sync_service`; this module sits above all of them and imports them at the top. Reads go
through a read-only `Warehouse` (see `reads`); syncs are started by `launcher.Launcher`; who
may do what is decided in `security`. The console is server-rendered
Jinja2 (autoescaped) with one small script file for the sync progress; no inline script or
style, so the Content-Security-Policy forbids both.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipelines.config import ConfigError, Settings
from pipelines.marketplaces import MARKETPLACES
from pipelines.status import UnmigratedWarehouse
from pipelines.warehouse import Warehouse, WarehouseBusy, WarehouseError
from pipelines.web import api, console, stock_pages, times
from pipelines.web.context import WebContext
from pipelines.web.launcher import Launcher
from pipelines.web.rendering import render
from pipelines.web.security import SECURITY_HEADERS, SessionSigner

log = logging.getLogger("invsync.web")

HERE = Path(__file__).resolve().parent
API_PREFIX = "/api/v1"


def check_can_serve(settings: Settings) -> None:
    """Refuse to serve without tokens or without a session secret (fail closed, say how to fix)."""
    web = settings.web
    if not web.tokens:
        raise ConfigError(
            "invsync serve needs at least one API token: create one with `invsync serve --new-token operator` "
            "and put the printed line into INVSYNC_API_TOKENS (only its SHA-256 is configured)"
        )
    if not web.session_secret:
        raise ConfigError(
            "INVSYNC_SESSION_SECRET is not set: the console signs its login sessions with it. Create one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )


def create_app(settings: Settings) -> FastAPI:
    check_can_serve(settings)
    app = FastAPI(
        title="invsync",
        version="1",
        description=f"Stock of {' and '.join(m.label for m in MARKETPLACES)} per product, warehouse and scheme; "
                    "the sync history; starting syncs. "
                    "Authenticate with `Authorization: Bearer <token>` (roles: viewer reads, operator also starts syncs).",
        docs_url=None, redoc_url=None,  # their pages load scripts from a CDN, which the CSP forbids
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    launcher = Launcher(settings)
    templates = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True,
                                   undefined=jinja2.StrictUndefined)
    templates.globals["marketplaces"] = MARKETPLACES  # the filter and sync choices of every page
    times.install(templates, settings.schedule_timezone)  # local times and ages, UTC on hover
    app.state.web = WebContext(
        settings=settings, signer=SessionSigner(settings.web), launcher=launcher,
        wh=Warehouse(settings.warehouse, read_only=True, read_wait=settings.web.read_retry_seconds),
        templates=templates,
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(WarehouseBusy)
    async def busy(request: Request, exc: WarehouseBusy) -> Response:
        return _unavailable(request, str(exc), retry_after=5)

    @app.exception_handler(UnmigratedWarehouse)
    async def unmigrated(request: Request, exc: UnmigratedWarehouse) -> Response:
        return _unavailable(request, str(exc))

    @app.exception_handler(WarehouseError)
    async def unreachable(request: Request, exc: WarehouseError) -> Response:
        log.warning("warehouse unavailable: %s", settings.mask(str(exc)))
        return _unavailable(request, settings.mask(str(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        path = request.url.path
        if path.startswith((API_PREFIX, "/static/", "/healthz", "/chart.png")):
            return await http_exception_handler(request, exc)
        return render(request, "error.html", status_code=exc.status_code, headers=getattr(exc, "headers", None),
                      message=str(exc.detail))

    app.include_router(api.router, prefix=API_PREFIX)
    app.add_api_route("/healthz", api.healthz, methods=["GET"], include_in_schema=False)
    app.include_router(console.router)
    # The stock pages (table, products, warehouses, low stock, export) share their filter.
    app.include_router(stock_pages.router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    return app


def _unavailable(request: Request, message: str, retry_after: int | None = None) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    if request.url.path.startswith(API_PREFIX) or request.url.path == "/healthz":
        return JSONResponse({"detail": message}, status_code=503, headers=headers)
    return render(request, "unavailable.html", status_code=503, headers=headers, message=message,
                  busy=retry_after is not None)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Run the API and console on uvicorn until interrupted."""
    import uvicorn

    app = create_app(settings)
    logging.getLogger("invsync.web").setLevel(logging.INFO)
    if not is_loopback(host):
        log.warning("serving on %s, beyond this machine: put a TLS reverse proxy in front (see README, "
                    "'Web console and REST API')", host)
    log.info("invsync serve on http://%s:%s (warehouse %s, %d token(s), syncs via %s)", host, port,
             settings.warehouse.display(), len(settings.web.tokens), app.state.web.launcher.via)
    # proxy_headers: a TLS proxy on this machine (127.0.0.1) may say the request came over https,
    # which makes the session cookie `Secure`.
    uvicorn.run(app, host=host, port=port, proxy_headers=True, forwarded_allow_ips="127.0.0.1",
                server_header=False, log_level="info")
