"""Request/route types and the body-validation helpers the endpoint handlers share.

Why: both marketplaces reject malformed requests with 400, and the rules (limits in range,
filter ids as arrays, cursors decodable) must be checked the same way in every handler.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
import threading
from typing import Any, Callable, Mapping, Protocol

from .account import Account
from .cabinet import Cabinet
from .errors import ApiError
from .options import DEFAULT_ACCOUNT, SandboxOptions


class SandboxState(Protocol):
    """What a handler may read of the running sandbox (`server.Sandbox` is one). A protocol,
    so that routing, below the server, needs nothing of it."""

    account: Account
    options: SandboxOptions
    cabinets: Mapping[str, Cabinet]
    state_lock: threading.Lock
    counter: int


@dataclass
class Request:
    """One parsed HTTP request as the handlers see it."""

    method: str
    path: str
    query: dict[str, str]
    raw_body: bytes
    headers: Any
    base_url: str
    sandbox: SandboxState
    params: dict[str, str] = field(default_factory=dict)
    # The account the request's credentials name (API routes) or its `?account=` names (control
    # routes); None: no account's (unknown credentials, or a control route without one).
    resolved: Cabinet | None = None
    _json: Any = None

    @property
    def cabinet(self) -> Cabinet:
        """The account the request is for, with its limits, reports and tasks (the default one
        when nothing named another)."""
        return self.resolved if self.resolved is not None else self.sandbox.cabinets[DEFAULT_ACCOUNT]

    @property
    def account(self) -> Account:
        """The data the handler must read: that of the account the request is for."""
        return self.cabinet.account

    @property
    def account_id(self) -> str | None:
        """Whose request it is, for the request log and account-scoped faults."""
        return self.resolved.id if self.resolved is not None else None

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; an empty body counts as {}; anything else is a 400."""
        if self._json is None:
            if not self.raw_body.strip():
                self._json = {}
            else:
                try:
                    self._json = json.loads(self.raw_body)
                except (ValueError, UnicodeDecodeError):
                    raise ApiError(400, "request body is not valid JSON") from None
            if not isinstance(self._json, dict):
                raise ApiError(400, "request body must be a JSON object")
        return self._json


Handler = Callable[[Request], Any]


@dataclass
class Route:
    """A method + path template served by `handler`.

    api: "ozon", "wb-statistics", "wb-analytics", "wb-marketplace", "wb-content", "ym" or
    "control"; groups: the rate-limit groups it pays into; items: where the items/rows of the
    answer are (for item faults); negate: makes one item's stock negative; stock: whether
    `empty_account` applies; retired: answers 404 like a switched-off method; empty_204: an
    empty answer is 204 No Content; personal_only: a plain Basic WB token is refused;
    option: the SandboxOptions flag that must be true for the route to exist (else 404);
    cost: the limit units an answer costs when not one per request (YM getStocks counts the
    offers it returns, yandex_market.md §2.2.5).
    """

    method: str
    template: str
    api: str
    handler: Handler | None
    groups: tuple[str, ...] = ()
    items: Callable[[Any], list[dict[str, Any]]] | None = None
    negate: Callable[[dict[str, Any]], bool] | None = None
    stock: bool = False
    retired: str | None = None
    empty_204: bool = False
    personal_only: bool = False
    option: str | None = None
    cost: Callable[[Any], int] | None = None
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        pattern = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        self.regex = re.compile(f"^{pattern}$")

    @property
    def is_wb(self) -> bool:
        return self.api.startswith("wb-")


# ---------------------------------------------------------------------- validation helpers
def int_field(body: dict[str, Any], name: str, lo: int, hi: int, default: int | None = None) -> int:
    """An integer in [lo, hi]; missing -> default (or 400 when there is none)."""
    value = body.get(name)
    if value is None or value == "":
        if default is None:
            raise ApiError(400, f"{name} is required")
        return default
    if isinstance(value, bool):
        raise ApiError(400, f"{name} must be an integer")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"{name} must be an integer") from None
    if isinstance(value, float) and value != number:
        raise ApiError(400, f"{name} must be an integer")
    if not lo <= number <= hi:
        raise ApiError(400, f"{name} must be between {lo} and {hi}, got {number}")
    return number


def id_list(body: dict[str, Any], name: str, max_len: int | None = None) -> list[int]:
    """A JSON array of integer ids (numbers or digit strings, as protobuf JSON accepts)."""
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(400, f"{name} must be an array")
    out: list[int] = []
    for v in value:
        if isinstance(v, bool):
            raise ApiError(400, f"{name} must hold integer ids")
        if isinstance(v, int):
            out.append(v)
        elif isinstance(v, str) and v.strip().isdigit():
            out.append(int(v))
        else:
            raise ApiError(400, f"{name} must hold integer ids, got {v!r}")
    if max_len is not None and len(out) > max_len:
        raise ApiError(400, f"{name} holds {len(out)} values, at most {max_len} allowed")
    return out


def str_list(body: dict[str, Any], name: str, max_len: int | None = None) -> list[str]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        raise ApiError(400, f"{name} must be an array of strings")
    if max_len is not None and len(value) > max_len:
        raise ApiError(400, f"{name} holds {len(value)} values, at most {max_len} allowed")
    return [str(v) for v in value]


def sub_object(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, f"{name} must be an object")
    return value


def encode_cursor(values: list[int]) -> str:
    """An opaque cursor the way Ozon's look: base64 of a JSON array."""
    return base64.b64encode(json.dumps(values, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: Any, length: int, name: str = "cursor") -> list[int] | None:
    """The positions in a cursor; "" -> None (first page); anything unreadable -> 400."""
    if cursor in (None, ""):
        return None
    if not isinstance(cursor, str):
        raise ApiError(400, f"{name} must be a string")
    try:
        values = json.loads(base64.b64decode(cursor.encode(), validate=True))
    except (binascii.Error, ValueError):
        raise ApiError(400, f"invalid {name}") from None
    if not (isinstance(values, list) and len(values) == length and all(isinstance(v, int) for v in values)):
        raise ApiError(400, f"invalid {name}")
    return values
