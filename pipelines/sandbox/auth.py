"""Sandbox credentials, the header checks of every marketplace, and which account a request is for.

Why fixed credentials: the sandbox stands in for real seller accounts, and a client must be
shown to send its credentials the way each API wants them (Ozon: `Client-Id` + `Api-Key`;
WB: `Authorization: <token>`, `Bearer <token>` also accepted) and to treat 401/403 as "never
retry".

Accounts ("cabinets"): the sandbox serves the default account and any extra ones named in
`SandboxOptions.accounts`. The default account's credentials are the constants below;
`account_credentials(id)` gives every account's, deterministic from its id alone: its Ozon
Client-Id (7 digits) and Api-Key, its WB Personal token (`wb_token(..., account=id)`: the
seller claims `sid`/`oid` name the account), its YM key, and a revoked variant of each. A
`Keyring` holds the credentials of one sandbox's accounts: the checks below resolve WHICH
account a request belongs to (Ozon by Client-Id, WB by the token's seller claim, YM by the key)
and `Keyring.revoke(id, marketplace)` turns that account's normal key into a revoked one (the
answers below for a revoked key), other accounts untouched.

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

WB answers: no token, an unsigned one, or one of a seller the sandbox does not serve -> 401;
a revoked token -> 401 "token withdrawn" (the detail text is unverified; the status is what a
client must act on); a token without the host's category -> 403.

Yandex Market answers (yandex_market.md §3.1, §3.3): the key goes in `Api-Key` with no
prefix; none -> 401 "Credentials are not specified"; a `Bearer ` prefix (in `Api-Key` or
`Authorization`) -> 401 "Api-Key token prefix invalid"; a revoked key (`YM_REVOKED_API_KEY`
for the default account) -> 401 "Api-Key token is revoked"; anything but a served account's
key -> 401 "Api-Key token is invalid" (the official example). A key belongs to its account's
one business and may read everything (scope ALL_METHODS_READ_ONLY, `POST /v2/auth/token`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass
from typing import Iterable, Mapping

from pipelines.marketplaces.wb.token import ANALYTICS, CONTENT, MARKETPLACE, category_bits, read_token

from .errors import ApiError
from .options import DEFAULT_ACCOUNT, MARKETPLACES

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


def _hex(purpose: str, account_id: str) -> str:
    """64 hex digits fixed by (purpose, account id): the source of an extra account's secrets."""
    return hashlib.sha256(f"invsync-sandbox:{purpose}:{account_id}".encode()).hexdigest()


def seller_number(account_id: str) -> int:
    """The account's seller number: its Ozon Client-Id and its WB tokens' `oid` claim.

    The default account keeps 100200; an extra one gets 7 digits from its id (never 100200)."""
    if account_id == DEFAULT_ACCOUNT:
        return int(OZON_CLIENT_ID)
    return 1_000_000 + int(_hex("seller", account_id), 16) % 9_000_000


def seller_claim(account_id: str) -> str:
    """The `sid` claim of the account's WB tokens: how the sandbox tells whose token it is."""
    return "sandbox-seller" if account_id == DEFAULT_ACCOUNT else f"sandbox-seller-{account_id}"


def wb_token(kind: str, categories: Iterable[str] = tuple(WB_CATEGORIES.values()), token_id: str = "sandbox",
             account: str = DEFAULT_ACCOUNT) -> str:
    """A sandbox WB token of type `kind` (Basic, Test, Personal, Service) with `categories`,
    of the seller `account` (the default account unless named).

    Deterministic for the same arguments (no issue time), so the fixed tokens are constants.
    """
    header = {"alg": "HS256", "typ": "JWT", "kid": "sandbox"}
    claims = {"ent": 1, "exp": 4102444800, "id": token_id, "oid": seller_number(account), "sid": seller_claim(account),
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
WB_REVOKED_API_TOKEN = wb_token("Personal", token_id="sandbox-personal-revoked")

# Which key of `account_credentials()` is an account's normal key, and its revoked variant, per marketplace.
NORMAL_KEYS = {"ozon": "OZON_API_KEY", "wb": "WB_API_TOKEN", "ym": "YM_API_KEY"}
REVOKED_KEYS = {"ozon": "OZON_REVOKED_API_KEY", "wb": "WB_REVOKED_API_TOKEN", "ym": "YM_REVOKED_API_KEY"}


def _ym_key(account_id: str, purpose: str) -> str:
    """A YM key shaped like the docs' example `ACMA:<40 chars>:<8 hex>`."""
    digits = _hex(purpose, account_id)
    return f"ACMA:sandboxYm{digits[:31]}:{digits[56:]}"


def account_credentials(account_id: str) -> dict[str, str]:
    """Every credential of one account, deterministic from its id: the default account's are
    the constants of this module, an extra account's are derived from its id (so a test or a
    demo can compute them without a running sandbox)."""
    if account_id == DEFAULT_ACCOUNT:
        return {"OZON_CLIENT_ID": OZON_CLIENT_ID, "OZON_API_KEY": OZON_API_KEY,
                "OZON_REVOKED_API_KEY": OZON_REVOKED_API_KEY, "WB_API_TOKEN": WB_API_TOKEN,
                "WB_REVOKED_API_TOKEN": WB_REVOKED_API_TOKEN, "YM_API_KEY": YM_API_KEY,
                "YM_REVOKED_API_KEY": YM_REVOKED_API_KEY}
    ozon = _hex("ozon", account_id)
    return {
        "OZON_CLIENT_ID": str(seller_number(account_id)),
        "OZON_API_KEY": f"sandbox-ozon-api-key-{account_id}-{ozon[:8]}",
        "OZON_REVOKED_API_KEY": f"sandbox-ozon-api-key-revoked-{account_id}-{ozon[8:12]}",
        "WB_API_TOKEN": wb_token("Personal", token_id=f"sandbox-personal-{account_id}", account=account_id),
        "WB_REVOKED_API_TOKEN": wb_token("Personal", token_id=f"sandbox-personal-revoked-{account_id}",
                                         account=account_id),
        "YM_API_KEY": _ym_key(account_id, "ym"),
        "YM_REVOKED_API_KEY": _ym_key(account_id, "ym-revoked"),
    }


@dataclass(frozen=True)
class WbToken:
    """A token the sandbox accepts: its type (claim `acc`) and the hosts its categories open."""

    token: str
    kind: str  # "personal", "basic", "service", "test"
    scopes: frozenset[str]
    seller: str = ""  # claim `sid`: whose token it is

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
    return WbToken(token, info.kind.lower(), scopes, _seller_of(token))


def _seller_of(token: str) -> str:
    """The `sid` claim of a token the sandbox signed ("" when absent)."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    sid = claims.get("sid") if isinstance(claims, dict) else None
    return sid if isinstance(sid, str) else ""


@dataclass(frozen=True)
class Caller:
    """Who an authenticated request is from: its account, the credential its rate limits are
    counted per (Ozon Client-Id, WB token, YM key), and the WB token's view (WB only)."""

    account: str
    credential: str
    token: WbToken | None = None


class Keyring:
    """The credentials of one sandbox's accounts: which account a request's credentials name,
    and which keys are revoked (each account's built-in revoked variants, plus the normal keys
    revoked while the sandbox runs). Thread-safe."""

    def __init__(self, account_ids: Iterable[str]) -> None:
        self._creds = {a: account_credentials(a) for a in account_ids}
        self._by_client_id = {c["OZON_CLIENT_ID"]: a for a, c in self._creds.items()}
        self._by_seller = {seller_claim(a): a for a in self._creds}
        self._by_ym_key = {c[k]: a for a, c in self._creds.items() for k in ("YM_API_KEY", "YM_REVOKED_API_KEY")}
        if len(self._by_client_id) != len(self._creds) or len(self._by_ym_key) != 2 * len(self._creds):
            raise ValueError(f"two of the accounts {', '.join(self._creds)} got the same credentials: rename one")
        self._revoked = {(a, c[key]) for a, c in self._creds.items() for key in REVOKED_KEYS.values()}
        self._lock = threading.Lock()

    def credentials(self, account_id: str) -> dict[str, str]:
        """A copy of the account's credentials (ValueError for an account it does not hold)."""
        if account_id not in self._creds:
            raise ValueError(f"unknown account '{account_id}': the sandbox serves {', '.join(self._creds)}")
        return dict(self._creds[account_id])

    def revoke(self, account_id: str, marketplace: str) -> None:
        """From now on the account's normal key on `marketplace` answers as a revoked key."""
        if marketplace not in NORMAL_KEYS:
            raise ValueError(f"marketplace must be one of {', '.join(MARKETPLACES)}, got '{marketplace}'")
        key = self.credentials(account_id)[NORMAL_KEYS[marketplace]]
        with self._lock:
            self._revoked.add((account_id, key))

    def normal_key(self, account_id: str, marketplace: str) -> str:
        """The account's working key on `marketplace` (no copy: it is asked once per request)."""
        return self._creds[account_id][NORMAL_KEYS[marketplace]]

    def is_revoked(self, account_id: str, key: str) -> bool:
        with self._lock:
            return (account_id, key) in self._revoked

    def owner(self, api: str, headers: Mapping[str, str]) -> str | None:
        """The account the request's credentials name, not yet checked (None: no account's).

        Faults and YM's parallel limit act before authentication, as on the real services; this
        tells them whose request it is."""
        if api == "ozon":
            return self._by_client_id.get((headers.get("Client-Id") or "").strip())
        if api == "ym":
            return self._by_ym_key.get((headers.get("Api-Key") or "").strip())
        info = wb_token_info(wb_raw_token(headers)) if api.startswith("wb-") else None
        return self._by_seller.get(info.seller) if info is not None else None

    def ozon_account(self, client_id: str) -> str | None:
        return self._by_client_id.get(client_id)

    def wb_account(self, seller: str) -> str | None:
        return self._by_seller.get(seller)

    def ym_account(self, key: str) -> str | None:
        return self._by_ym_key.get(key)


def check_ozon(headers: Mapping[str, str], keyring: Keyring) -> Caller:
    """Return whose request it is or raise the error Ozon would answer."""
    client_id = (headers.get("Client-Id") or "").strip()
    api_key = (headers.get("Api-Key") or "").strip()
    if not client_id or not api_key:
        raise ApiError(401, "Client-Id and Api-Key headers are required")
    if not client_id.isdigit() or int(client_id) <= 0:
        raise ApiError(400, "Client-Id header value should be positive integer")
    account = keyring.ozon_account(client_id)
    if account is not None and keyring.is_revoked(account, api_key):
        raise ApiError(403, "Api-key is deactivated, use another one")
    if account is None or api_key != keyring.normal_key(account, "ozon"):
        raise ApiError(404, OZON_BAD_KEY_MESSAGE)
    return Caller(account, client_id)


def wb_raw_token(headers: Mapping[str, str]) -> str:
    raw = (headers.get("Authorization") or "").strip()
    return raw[7:].strip() if raw[:7].lower() == "bearer " else raw


def check_wb(headers: Mapping[str, str], api: str, keyring: Keyring) -> Caller:
    """Return whose request it is or raise what WB would answer: 401 for a missing, unknown or
    revoked token, 403 for a token without the category the host needs (WB's gateway; §3)."""
    token = wb_raw_token(headers)
    if not token:
        raise ApiError(401, "empty Authorization header", title="unauthorized")
    info = wb_token_info(token)
    account = keyring.wb_account(info.seller) if info is not None else None
    if info is None or account is None:
        raise ApiError(401, "token is malformed or invalid", title="unauthorized")
    if keyring.is_revoked(account, token):
        raise ApiError(401, "token withdrawn", title="unauthorized")
    if api not in info.scopes:
        raise ApiError(403, SCOPE_REFUSED, title="forbidden")
    return Caller(account, token, info)


def check_ym(headers: Mapping[str, str], keyring: Keyring) -> Caller:
    """Return whose request it is or raise the 401 Yandex Market answers (§3.1 messages, code
    UNAUTHORIZED)."""
    key = (headers.get("Api-Key") or "").strip()
    auth = (headers.get("Authorization") or "").strip()
    if key.lower().startswith("bearer ") or (not key and auth.lower().startswith("bearer ")):
        raise ApiError(401, "Api-Key token prefix invalid", code="UNAUTHORIZED")
    if not key:
        raise ApiError(401, "Credentials are not specified", code="UNAUTHORIZED")
    account = keyring.ym_account(key)
    if account is not None and keyring.is_revoked(account, key):
        raise ApiError(401, "Api-Key token is revoked", code="UNAUTHORIZED")
    if account is None or key != keyring.normal_key(account, "ym"):
        raise ApiError(401, "Api-Key token is invalid", code="UNAUTHORIZED")
    return Caller(account, key)
