"""Sandbox credentials and the header checks of both marketplaces.

Why fixed credentials: the sandbox stands in for a real seller account, and a client must be
shown to send its credentials the way each API wants them (Ozon: `Client-Id` + `Api-Key`;
WB: `Authorization: <token>`, `Bearer <token>` also accepted) and to treat 401/403 as "never
retry". Extra credentials exercise the other auth paths:
- `OZON_REVOKED_API_KEY`: a deactivated Ozon key (403, code 7).
- `WB_CONTENT_ONLY_TOKEN`: a Personal WB token whose categories only cover Контент (401
  elsewhere).
- `WB_BASIC_TOKEN`: a plain Basic WB token with every category. It works everywhere except the
  stocks-report methods, which need Personal/Service/Basic-with-secret (wildberries.md §2.1,
  §2.2), and it gets the lower Basic rate limits where limits.py has them.

Ozon answers (ozon.md §4): missing header -> 401 code 16; non-numeric Client-Id -> 400 code 3;
a wrong key or an unknown Client-Id -> 404 code 5 "Invalid Api-Key, please check the key and
try again" (the same code as a retired method: a client must read more than the code);
revoked key -> 403 code 7.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .errors import ApiError

OZON_CLIENT_ID = "100200"
OZON_API_KEY = "sandbox-ozon-api-key-0f3c9a1e"
OZON_REVOKED_API_KEY = "sandbox-ozon-api-key-revoked-5e6d"
WB_API_TOKEN = "sandbox-wb-token-7d2b41c8"
WB_CONTENT_ONLY_TOKEN = "sandbox-wb-token-content-only-93a0"
WB_BASIC_TOKEN = "sandbox-wb-token-basic-4e1f"

OZON_BAD_KEY_MESSAGE = "Invalid Api-Key, please check the key and try again"

# The sandbox's WB "hosts" and the token category each needs.
WB_APIS = ("wb-statistics", "wb-analytics", "wb-marketplace", "wb-content")
WB_CATEGORIES = {"wb-content": "Контент", "wb-analytics": "Аналитика", "wb-marketplace": "Маркетплейс",
                 "wb-statistics": "Статистика"}


@dataclass(frozen=True)
class WbToken:
    """A known WB token: its type (claim `acc`) and the hosts its categories open."""

    token: str
    kind: str  # "personal" or "basic"
    scopes: frozenset[str]

    @property
    def is_basic(self) -> bool:
        return self.kind == "basic"


WB_TOKENS: dict[str, WbToken] = {
    WB_API_TOKEN: WbToken(WB_API_TOKEN, "personal", frozenset(WB_APIS)),
    WB_CONTENT_ONLY_TOKEN: WbToken(WB_CONTENT_ONLY_TOKEN, "personal", frozenset({"wb-content"})),
    WB_BASIC_TOKEN: WbToken(WB_BASIC_TOKEN, "basic", frozenset(WB_APIS)),
}
# Kept for callers of the old name: token -> hosts.
WB_TOKEN_SCOPES: dict[str, frozenset[str]] = {t: info.scopes for t, info in WB_TOKENS.items()}


def check_ozon(headers: Mapping[str, str]) -> str:
    """Return the credential key (the Client-Id) or raise the error Ozon would answer."""
    client_id = (headers.get("Client-Id") or "").strip()
    api_key = (headers.get("Api-Key") or "").strip()
    if not client_id or not api_key:
        raise ApiError(401, "Client-Id and Api-Key headers are required")
    if not client_id.isdigit() or int(client_id) <= 0:
        raise ApiError(400, "Client-Id header value should be positive integer")
    if client_id == OZON_CLIENT_ID and api_key == OZON_REVOKED_API_KEY:
        raise ApiError(403, "Api-key is deactivated, use another one")
    if client_id != OZON_CLIENT_ID or api_key != OZON_API_KEY:
        raise ApiError(404, OZON_BAD_KEY_MESSAGE)
    return client_id


def wb_raw_token(headers: Mapping[str, str]) -> str:
    raw = (headers.get("Authorization") or "").strip()
    return raw[7:].strip() if raw[:7].lower() == "bearer " else raw


def check_wb(headers: Mapping[str, str], api: str) -> WbToken:
    """Return the token's info or raise the 401 WB would answer (bad token or wrong category)."""
    token = wb_raw_token(headers)
    if not token:
        raise ApiError(401, "empty Authorization header", title="unauthorized")
    info = WB_TOKENS.get(token)
    if info is None:
        raise ApiError(401, "token is malformed or invalid", title="unauthorized")
    if api not in info.scopes:
        raise ApiError(401, f"token scope not allowed: the method needs category {WB_CATEGORIES.get(api, api)}",
                       title="unauthorized")
    return info
