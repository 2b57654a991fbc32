"""Tokens, console sessions, CSRF and the security headers of `invsync serve`.

- API tokens are configured as SHA-256 hashes (`INVSYNC_API_TOKENS`); a presented token is
  hashed and compared with every configured hash in constant time (`hmac.compare_digest`,
  no early exit), so neither the answer nor its timing says which part matched. Tokens are
  never logged, stored or echoed; only the label of the token that matched is.
- The console keeps a signed, HTTP-only, SameSite=Strict session cookie (HMAC-SHA256 keyed
  with `INVSYNC_SESSION_SECRET`). It holds a fingerprint of the token's hash, never the token,
  and the role and accounts are looked up in the settings on every request: a token removed
  from the settings logs its sessions out at once, and a token's scope changed in the settings
  applies to its open sessions at once too.
- Every session (also before login) carries a CSRF token: each form posts it back and the
  server compares it with the session's in constant time (403 when missing or forged).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from pipelines.account_scope import AccountScope
from pipelines.config import ApiToken, WebSettings

SESSION_COOKIE = "invsync_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

# No inline script or style anywhere: scripts and styles come from /static; the chart is an <img>.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def hash_token(token: str) -> str:
    """The SHA-256 hex digest that INVSYNC_API_TOKENS holds for `token`."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random API token (256 bits)."""
    return "inv_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the matched token's role, label and accounts (never the token)."""

    role: str
    label: str
    via: str  # "token" (Authorization header) or "session" (console cookie)
    accounts: AccountScope = None  # the seller accounts it may see (every read is limited to them); None: all

    @classmethod
    def of(cls, token: ApiToken, via: str) -> "Principal":
        return cls(token.role, token.label, via, token.accounts)

    @property
    def sync_refusal(self) -> str | None:
        """Why this caller may not start a sync (None: it may). A sync covers every account of
        its marketplaces (the launcher takes no account), so a token limited to some accounts
        may not start one, whatever its role."""
        if self.role != "operator":
            return f"the {self.role} role may not start syncs (an operator token may)"
        if self.accounts is not None:
            return ("a token limited to some accounts may not start syncs: a sync covers every account "
                    "(an operator token without `accounts=` may)")
        return None

    @property
    def may_sync(self) -> bool:
        return self.sync_refusal is None


def match_token(presented: str, tokens: tuple[ApiToken, ...]) -> ApiToken | None:
    """The configured token whose hash equals the presented token's, compared in constant time."""
    if not presented or len(presented) > 512:
        return None
    digest = hash_token(presented).encode("ascii")
    found = None
    for token in tokens:  # no early exit: every configured hash is compared
        if hmac.compare_digest(digest, token.sha256.encode("ascii")):
            found = token
    return found


def fingerprint(token: ApiToken) -> str:
    """What a session stores to name its token: a hash of the configured hash."""
    return hashlib.sha256(("invsync-session-fp:" + token.sha256).encode("ascii")).hexdigest()[:32]


def token_by_fingerprint(fp: str, tokens: tuple[ApiToken, ...]) -> ApiToken | None:
    found = None
    for token in tokens:
        if hmac.compare_digest(fp.encode("ascii", "replace"), fingerprint(token).encode("ascii")):
            found = token
    return found


class SessionSigner:
    """Signs and verifies the console's session cookie (a small JSON document)."""

    def __init__(self, settings: WebSettings) -> None:
        self._key = hmac.new(settings.session_secret.encode("utf-8"), b"invsync-session-v1", hashlib.sha256).digest()
        self.lifetime = int(settings.session_hours * 3600)

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def dumps(self, data: dict[str, Any]) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode("utf-8")).rstrip(b"=")
        mac = base64.urlsafe_b64encode(self._mac(payload)).rstrip(b"=")
        return (payload + b"." + mac).decode("ascii")

    def loads(self, value: str | None) -> dict[str, Any] | None:
        """The session, or None when missing, malformed, forged or expired."""
        if not value or len(value) > 4096 or value.count(".") != 1:
            return None
        payload, mac = value.encode("ascii", "replace").split(b".")
        try:
            given = base64.urlsafe_b64decode(mac + b"=" * (-len(mac) % 4))
        except ValueError:
            return None
        if not hmac.compare_digest(given, self._mac(payload)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("exp"), int) or data["exp"] < time.time():
            return None
        if not isinstance(data.get("csrf"), str):
            return None
        return data

    def new(self, token: ApiToken | None = None) -> dict[str, Any]:
        """A fresh session (fresh CSRF token): anonymous, or logged in with `token`."""
        data: dict[str, Any] = {"csrf": secrets.token_urlsafe(32), "exp": int(time.time()) + self.lifetime}
        if token is not None:
            data["fp"] = fingerprint(token)
        return data


def csrf_ok(session: dict[str, Any] | None, presented: str | None) -> bool:
    if not session or not presented:
        return False
    return hmac.compare_digest(str(session["csrf"]).encode("ascii", "replace"), presented.encode("ascii", "replace"))
