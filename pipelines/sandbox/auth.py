"""Sandbox credentials and the header checks of both marketplaces.

Why fixed credentials: the sandbox stands in for a real seller account, and a client must be
shown to send its credentials the way each API wants them (Ozon: `Client-Id` + `Api-Key`;
WB: `Authorization: <token>`, `Bearer <token>` also accepted) and to treat 401/403 as "never
retry".

WB tokens are JWTs like WB's own, with the claims the client reads (`acc` type, `s` category
bits; wildberries.md §0), signed HS256 with the sandbox's own key. `wb_token(kind, categories)`
issues one of any type and categories; the sandbox accepts exactly the tokens it could have
issued (a valid signature), so a test can pick a Basic token without Аналитика and nothing
else has to be registered. The fixed ones:
- `WB_API_TOKEN`: Personal, every category the stock plan needs.
- `WB_CONTENT_ONLY_TOKEN`: Personal with only Контент (403 "scope is not allowed" elsewhere).
- `WB_BASIC_TOKEN`: a plain Basic token with every category. It works everywhere except the
  stocks-report methods, which need Personal/Service/Basic-with-secret (wildberries.md §2.1,
  §2.2: 403 "base token is not allowed"), and it gets the lower Basic rate limits where
  limits.py has them.

Ozon answers (ozon.md §4): missing header -> 401 code 16; non-numeric Client-Id -> 400 code 3;
a wrong key or an unknown Client-Id -> 404 code 5 "Invalid Api-Key, please check the key and
try again" (the same code as a retired method: a client must read more than the code);
revoked key -> 403 code 7.

Yandex Market answers (yandex_market.md §3.1, §3.3): the key goes in `Api-Key` with no
prefix; none -> 401 "Credentials are not specified"; a `Bearer ` prefix (in `Api-Key` or
`Authorization`) -> 401 "Api-Key token prefix invalid"; `YM_REVOKED_API_KEY` -> 401 "Api-Key
token is revoked"; anything else but `YM_API_KEY` -> 401 "Api-Key token is invalid" (the
official example). The key belongs to the sandbox's one business and may read everything
(scope ALL_METHODS_READ_ONLY, `POST /v2/auth/token`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Iterable, Mapping

from pipelines.marketplaces.wb.token import ANALYTICS, CONTENT, MARKETPLACE, category_bits, read_token

from .errors import ApiError

OZON_CLIENT_ID = "100200"
OZON_API_KEY = "sandbox-ozon-api-key-0f3c9a1e"
OZON_REVOKED_API_KEY = "sandbox-ozon-api-key-revoked-5e6d"

# Yandex Market keys look like the docs' example `ACMA:<40 chars>:<8 hex>`.
YM_API_KEY = "ACMA:sandboxYmKey0000000000000000000000000001:5a4d6b1c"
YM_REVOKED_API_KEY = "ACMA:sandboxYmKey0000000000000000000000000002:0e7f3a90"
YM_KEY_NAME = "invsync sandbox (read-only)"
YM_KEY_SCOPES = ("ALL_METHODS_READ_ONLY",)

OZON_BAD_KEY_MESSAGE = "Invalid Api-Key, please check the key and try again"

# The sandbox's WB "hosts" and the token category each needs.
WB_APIS = ("wb-statistics", "wb-analytics", "wb-marketplace", "wb-content")
WB_CATEGORIES = {"wb-content": CONTENT, "wb-analytics": ANALYTICS, "wb-marketplace": MARKETPLACE,
                 "wb-statistics": "Статистика"}
# What WB answers a Basic token on a method closed to it, and a token without the method's
# category (403 bodies as seen by third-party clients, 2026; wildberries.md §3).
BASIC_REFUSED = "base token is not allowed"
SCOPE_REFUSED = "scope is not allowed for this resource"

_SIGNING_KEY = b"invsync-sandbox-wb-signing-key"  # the sandbox's own: it is the only verifier
_KIND_CLAIM = {"Basic": 1, "Test": 2, "Personal": 3, "Service": 4}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def wb_token(kind: str, categories: Iterable[str] = tuple(WB_CATEGORIES.values()), token_id: str = "sandbox") -> str:
    """A sandbox WB token of type `kind` (Basic, Test, Personal, Service) with `categories`.

    Deterministic for the same arguments (no issue time), so the fixed tokens are constants.
    """
    header = {"alg": "HS256", "typ": "JWT", "kid": "sandbox"}
    claims = {"ent": 1, "exp": 4102444800, "id": token_id, "oid": 100200, "sid": "sandbox-seller",
              "acc": _KIND_CLAIM[kind], "s": category_bits(frozenset(categories)), "t": kind == "Test"}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims, ensure_ascii=False).encode())}"
    signature = hmac.new(_SIGNING_KEY, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _signed(token: str) -> bool:
    signing_input, _, signature = token.rpartition(".")
    expected = _b64(hmac.new(_SIGNING_KEY, signing_input.encode("ascii", "replace"), hashlib.sha256).digest())
    return bool(signing_input) and hmac.compare_digest(signature, expected)


WB_API_TOKEN = wb_token("Personal", token_id="sandbox-personal")
WB_CONTENT_ONLY_TOKEN = wb_token("Personal", {CONTENT}, token_id="sandbox-content-only")
WB_BASIC_TOKEN = wb_token("Basic", token_id="sandbox-basic")


@dataclass(frozen=True)
class WbToken:
    """A token the sandbox accepts: its type (claim `acc`) and the hosts its categories open."""

    token: str
    kind: str  # "personal", "basic", "service", "test"
    scopes: frozenset[str]

    @property
    def is_basic(self) -> bool:
        return self.kind == "basic"


def wb_token_info(token: str) -> WbToken | None:
    """The sandbox's view of a token it issued (None for anything else)."""
    if not _signed(token):
        return None
    info = read_token(token)
    if info.kind is None or info.categories is None:
        return None
    scopes = frozenset(api for api, category in WB_CATEGORIES.items() if category in info.categories)
    return WbToken(token, info.kind.lower(), scopes)


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
    """Return the token's info or raise what WB would answer: 401 for a missing or unknown
    token, 403 for a token without the category the host needs (WB's gateway; §3)."""
    token = wb_raw_token(headers)
    if not token:
        raise ApiError(401, "empty Authorization header", title="unauthorized")
    info = wb_token_info(token)
    if info is None:
        raise ApiError(401, "token is malformed or invalid", title="unauthorized")
    if api not in info.scopes:
        raise ApiError(403, SCOPE_REFUSED, title="forbidden")
    return info


def check_ym(headers: Mapping[str, str]) -> str:
    """Return the key or raise the 401 Yandex Market answers (§3.1 messages, code UNAUTHORIZED)."""
    key = (headers.get("Api-Key") or "").strip()
    auth = (headers.get("Authorization") or "").strip()
    if key.lower().startswith("bearer ") or (not key and auth.lower().startswith("bearer ")):
        raise ApiError(401, "Api-Key token prefix invalid", code="UNAUTHORIZED")
    if not key:
        raise ApiError(401, "Credentials are not specified", code="UNAUTHORIZED")
    if key == YM_REVOKED_API_KEY:
        raise ApiError(401, "Api-Key token is revoked", code="UNAUTHORIZED")
    if key != YM_API_KEY:
        raise ApiError(401, "Api-Key token is invalid", code="UNAUTHORIZED")
    return key
