"""What a WB token allows, read from its own claims before the first call.

Why: WB decides by the token's **type** and **categories** which methods answer and how fast
(docs/api/wildberries.md §0). A plain Basic token is refused the stocks report (403 "base token
is not allowed") and gets the warehouse-remains report at 4 calls an hour per method; a token
without Аналитика cannot read FBO stock at all. Knowing this up front lets the source choose
its method plan and pacing instead of learning it from a 403 or a 900 s 429 mid-sync, and lets
the sync record say in one line what it could do.

The token is a JWT; its payload is only **decoded**, never verified (we are not the party that
trusts it: WB is) and never logged. Claims read: `acc` (type: 1 Basic, 2 Test, 3 Personal,
4 Service), `s` (category bits, bit 30 = read-only), `t` (true on Test tokens). Anything
unreadable (not a JWT, an older token format) gives an unknown type and unknown categories:
the source then plays it safe (tries the stocks report, falls back, paces the fallback as for
Basic).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

# Claim `acc` -> token type (WB "Authorization" docs; wildberries.md §0).
TOKEN_TYPES = {1: "Basic", 2: "Test", 3: "Personal", 4: "Service"}
# Bits of claim `s` -> category as WB's seller profile names it (bit n = 1 << n).
CATEGORY_BITS = {1: "Контент", 2: "Аналитика", 3: "Цены и скидки", 4: "Маркетплейс", 5: "Статистика",
                 6: "Продвижение", 7: "Вопросы и отзывы", 9: "Чат с покупателями", 10: "Поставки",
                 11: "Возвраты покупателями", 12: "Документы", 13: "Финансы"}
READ_ONLY_BIT = 30

CONTENT, ANALYTICS, MARKETPLACE = "Контент", "Аналитика", "Маркетплейс"


class MissingCategory(PermissionError):
    """The token lacks a category a part of the sync needs; the message names it."""

    def __init__(self, category: str, part: str):
        self.category = category
        self.part = part
        super().__init__(f"Wildberries {part}: the WB token has no category {category}; add {category} to the "
                         "token in the seller's profile (Settings → API access) or create a new token with it")


@dataclass(frozen=True)
class WbTokenInfo:
    """The token's type and categories as its claims state them (None = unreadable)."""

    kind: str | None
    categories: frozenset[str] | None
    read_only: bool = False

    @property
    def is_basic(self) -> bool:
        return self.kind == "Basic"

    def lacks(self, category: str) -> bool:
        """True only when the claims are readable and do not list `category`."""
        return self.categories is not None and category not in self.categories

    def require(self, category: str, part: str) -> None:
        """Raise `MissingCategory` when the token is known to lack `category` for `part`."""
        if self.lacks(category):
            raise MissingCategory(category, part)

    def describe(self, plan: str) -> str:
        """One line for the sync record and `invsync status`: type, categories, the FBO plan."""
        kind = self.kind or "type unknown (claims unreadable)"
        if self.categories is None:
            cats = "categories unknown"
        else:
            cats = "categories " + (", ".join(sorted(self.categories)) or "none")
        return f"WB token: {kind}{' (read-only)' if self.read_only else ''}; {cats}; {plan}"


def _payload(token: str) -> dict[str, Any] | None:
    """The JWT's payload as a dict, or None when the token is not a readable JWT."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        return None
    segment = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(segment.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return None
    return claims if isinstance(claims, dict) else None


def read_token(token: str) -> WbTokenInfo:
    """Decode (never verify) the token's claims. Never raises; never includes the token."""
    claims = _payload(token or "")
    if claims is None:
        return WbTokenInfo(None, None)
    acc = claims.get("acc")
    kind = TOKEN_TYPES.get(acc) if isinstance(acc, int) and not isinstance(acc, bool) else None
    if claims.get("t") is True:
        kind = "Test"
    bits = claims.get("s")
    if not isinstance(bits, int) or isinstance(bits, bool):
        return WbTokenInfo(kind, None)
    categories = frozenset(name for bit, name in CATEGORY_BITS.items() if bits >> bit & 1)
    return WbTokenInfo(kind, categories, read_only=bool(bits >> READ_ONLY_BIT & 1))


def category_bits(categories: set[str] | frozenset[str], read_only: bool = False) -> int:
    """Claim `s` for the given categories (the sandbox issues tokens with it)."""
    by_name = {name: bit for bit, name in CATEGORY_BITS.items()}
    value = sum(1 << by_name[c] for c in categories)
    return value | (1 << READ_ONLY_BIT if read_only else 0)
