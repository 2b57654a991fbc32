"""Sandbox credentials and the header checks of both marketplaces.

Why fixed credentials: the sandbox stands in for a real seller account, and a client must be
shown to send its credentials the way each API wants them (Ozon: `Client-Id` + `Api-Key`;
WB: `Authorization: <token>` or `Bearer <token>`) and to treat 401/403 as "never retry".
Two extra credentials exercise the other auth failures: a revoked Ozon key (403) and a WB
token whose categories only cover Content (401 "token scope not allowed" elsewhere).
"""

from __future__ import annotations

from typing import Mapping

from .errors import ApiError

OZON_CLIENT_ID = "100200"
OZON_API_KEY = "sandbox-ozon-api-key-0f3c9a1e"
OZON_REVOKED_API_KEY = "sandbox-ozon-api-key-revoked-5e6d"
WB_API_TOKEN = "sandbox-wb-token-7d2b41c8"
WB_CONTENT_ONLY_TOKEN = "sandbox-wb-token-content-only-93a0"

WB_APIS = ("wb-statistics", "wb-analytics", "wb-marketplace", "wb-content")
WB_TOKEN_SCOPES: dict[str, frozenset[str]] = {
    WB_API_TOKEN: frozenset(WB_APIS),
    WB_CONTENT_ONLY_TOKEN: frozenset({"wb-content"}),
}


def check_ozon(headers: Mapping[str, str]) -> str:
    """Return the credential key (the Client-Id) or raise the error Ozon would answer."""
    client_id = (headers.get("Client-Id") or "").strip()
    api_key = (headers.get("Api-Key") or "").strip()
    if not client_id or not api_key:
        raise ApiError(401, "Client-Id and Api-Key headers are required")
    if not client_id.isdigit():
        raise ApiError(400, f"Invalid Client-Id header value '{client_id}': must be a number")
    if client_id == OZON_CLIENT_ID and api_key == OZON_REVOKED_API_KEY:
        raise ApiError(403, "Api-key is deactivated, use another one")
    if client_id != OZON_CLIENT_ID or api_key != OZON_API_KEY:
        raise ApiError(401, "Invalid Api-Key or Client-Id, please check them")
    return client_id


def check_wb(headers: Mapping[str, str], api: str) -> str:
    """Return the token or raise the 401 WB would answer (bad token or wrong category)."""
    raw = (headers.get("Authorization") or "").strip()
    if not raw:
        raise ApiError(401, "empty Authorization header", title="unauthorized")
    token = raw[7:].strip() if raw[:7].lower() == "bearer " else raw
    scopes = WB_TOKEN_SCOPES.get(token)
    if scopes is None:
        raise ApiError(401, "token is malformed or invalid", title="unauthorized")
    if api not in scopes:
        raise ApiError(401, "token scope not allowed", title="unauthorized")
    return token
