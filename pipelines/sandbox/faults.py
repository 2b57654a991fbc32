"""Injected faults: the ways real marketplace APIs misbehave, on demand and countable.

Why: retries, back-off, schema drift, rejection of bad rows and "never zero on a partial
sync" can only be tested if the API can be made to fail in exactly those ways. A `Fault`
names its kind, the path it hits (None = every API path, "/prefix*" = a prefix, or the route
template such as "/api/v3/stocks/{warehouseId}") and how many requests it affects (None =
until cleared). Each request that a fault acts on uses up one of its count. `after` lets that
many matching requests through first (e.g. a method retired in the middle of a sync).
`account` limits a fault to the requests whose credentials name that seller account (None =
every request, whoever it is from).

Kinds, and when they act:
- before the handler (the first matching one of these answers instead of the handler):
  `retired` (404, or `status` e.g. 410, with the body a switched-off method gets: Ozon
  `{"code": 5, "message": "Obsolete method cannot be used"}`, WB "path not found"),
  `drop` (connection closed, no answer),
  `server_error` (`status` 500/502/503 with a body), `rate_limit` (429 with the real headers
  and body; `retry_after` seconds), `redirect` (`status` 301/302/303/307/308, default 307, with
  `Location: <location>`, an absolute URL or a path; e.g. a host move, or a hostile proxy
  pointing the client at another host to harvest its credentials).
  `slow` sleeps `delay` seconds, then the request goes on.
- after a successful handler (all matching ones act): `empty_account` (no items/rows, totals
  0; the WB stocks-report methods and the remains download answer 204 instead),
  `extra_field` (field `field` = `value` added to every item), `missing_field` (field
  `field` removed from every item and from the dicts nested in it), `negative_stock` (one row
  gets a negative quantity, e.g. Ozon present=-5, WB quantity=-3 with quantityFull adjusted),
  `truncate` (status 200 and the JSON cut in half, Content-Length matching the bytes sent),
  `duplicate_item` (the answer's first item appears twice, right after itself: a page that
  repeats an item), `bad_value` (the first item carrying `field`, directly or in a dict of
  its nested lists such as Ozon v4 `stocks`, gets `value` instead: `"12 pcs"`, `""`, `3.7`,
  `2**65`, None for null; on YM getStocks `field="count"` reaches `offers[].stocks[]`),
  `missing_value` (`field` removed from that one item only).
  `nth` moves a one-item fault past that many fitting items (several bad values in one answer,
  each on its own row).
"""

from __future__ import annotations

import copy
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any, Callable

from .jsonio import Rows

PRE_KINDS = ("retired", "drop", "server_error", "rate_limit", "redirect")
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
POST_KINDS = ("empty_account", "extra_field", "missing_field", "negative_stock", "truncate",
              "duplicate_item", "bad_value", "missing_value")
ONE_ITEM_KINDS = ("duplicate_item", "bad_value", "missing_value")
FAULT_KINDS = PRE_KINDS + ("slow",) + POST_KINDS


@dataclass
class Fault:
    """One injected misbehaviour (see the module docstring for the kinds)."""

    kind: str
    path: str | None = None
    count: int | None = 1
    retry_after: float = 1.0
    status: int | None = None
    delay: float = 1.0
    field: str | None = None
    value: Any = "sandbox"
    method: str | None = None
    after: int = 0
    nth: int = 0
    location: str | None = None
    account: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind '{self.kind}'; one of {', '.join(FAULT_KINDS)}")
        if self.count is not None and self.count < 0:
            raise ValueError("fault count must be >= 0 or None")
        if self.after < 0:
            raise ValueError("fault `after` must be >= 0")
        if self.nth < 0:
            raise ValueError("fault `nth` must be >= 0")
        if self.kind == "extra_field" and not self.field:
            self.field = "new_field_2026"
        if self.kind in ("missing_field", "bad_value", "missing_value") and not self.field:
            raise ValueError(f"a {self.kind} fault needs `field`")
        if self.kind == "server_error":
            self.status = self.status or 500
            if not 500 <= self.status <= 599:
                raise ValueError("server_error status must be 5xx")
        if self.kind == "retired":
            self.status = self.status or 404
        if self.kind == "redirect":
            if not self.location:
                raise ValueError("a redirect fault needs `location` (a URL or a path)")
            self.status = self.status or 307
            if self.status not in REDIRECT_STATUSES:
                raise ValueError(f"redirect status must be one of {', '.join(map(str, REDIRECT_STATUSES))}")
        if self.method:
            self.method = self.method.upper()

    def matches(self, method: str, path: str, template: str, account: str | None = None) -> bool:
        """Whether the fault acts on this request (`account`: whose credentials it carries)."""
        if self.method and self.method != method:
            return False
        if self.account is not None and self.account != account:
            return False
        if self.path is None:
            return not path.startswith("/sandbox/")
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return self.path in (path, template)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Fault":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        return cls(**data)


class FaultSet:
    """The active faults, in the order they were added; thread-safe."""

    def __init__(self, faults: list[Fault] | tuple[Fault, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = list(faults)

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, method: str, path: str, template: str, kinds: tuple[str, ...],
             first_only: bool, account: str | None = None) -> list[Fault]:
        """Matching faults of `kinds`, each using up one of its count."""
        taken: list[Fault] = []
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.count != 0 and fault.matches(method, path, template, account):
                    if fault.after:
                        fault.after -= 1  # still letting requests through
                        continue
                    if fault.count is not None:
                        fault.count -= 1
                    taken.append(fault)
                    if first_only:
                        break
            self._faults = [f for f in self._faults if f.count != 0]
        return taken


# ---------------------------------------------------------------------- answer mutations
ItemsOf = Callable[[Any], list[dict[str, Any]]]
Negate = Callable[[dict[str, Any]], bool]


def drop_field(item: dict[str, Any], name: str) -> None:
    """Remove `name` from the item and from dicts in its nested lists, at any depth (Ozon v4
    `stocks`, YM getStocks `offers[].stocks[]`)."""
    item.pop(name, None)
    for value in item.values():
        if isinstance(value, list):
            for inner in value:
                if isinstance(inner, dict):
                    drop_field(inner, name)


def empty_totals(obj: Any) -> None:
    """After emptying the items: totals say zero and there is no next page."""
    if isinstance(obj, dict):
        for key in ("total_items", "total"):
            if key in obj:
                obj[key] = 0
        if "has_next" in obj:
            obj["has_next"] = False
        obj.pop("nextPageToken", None)  # YM: no page follows an empty one
        for value in obj.values():
            if isinstance(value, dict):
                empty_totals(value)


def apply_post(payload: Any, faults: list[Fault], items_of: ItemsOf | None, negate: Negate | None) -> Any:
    """Apply the item-level faults to an answer (a dict/list, or lazy `Rows`)."""
    item_faults = [f for f in faults if f.kind in ("extra_field", "missing_field")]
    one_item = [f for f in faults if f.kind in ONE_ITEM_KINDS]
    negative = any(f.kind == "negative_stock" for f in faults)
    empty = any(f.kind == "empty_account" for f in faults)
    if isinstance(payload, Rows):
        if empty:
            return payload.emptied()
        state = {"negated": not negative or negate is None}
        pending = list(one_item)  # each acts on one item of the whole answer

        def mutate(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
            _mutate_items(batch, item_faults)
            if not state["negated"]:
                state["negated"] = _negate_one(batch, negate)
            pending[:] = [f for f in pending if not _mutate_one(batch, f)]
            return batch

        return payload.map_batches(mutate)
    if items_of is None:
        return payload
    items = items_of(payload)
    if empty:
        items.clear()
        empty_totals(payload)
    _mutate_items(items, item_faults)
    if negative and negate is not None:
        _negate_one(items, negate)
    for fault in one_item:
        _mutate_one(items, fault)
    return payload


def _holder(item: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The dict that carries `name`: the item itself, else the first dict of its nested lists
    that does, one level at a time (a YM warehouse -> `offers[]` -> `stocks[]` for `count`)."""
    if name in item:
        return item
    nested = [inner for value in item.values() if isinstance(value, list)
              for inner in value if isinstance(inner, dict)]
    for inner in nested:
        if name in inner:
            return inner
    for inner in nested:
        found = _holder(inner, name)
        if found is not None:
            return found
    return None


def _mutate_one(items: list[dict[str, Any]], fault: Fault) -> bool:
    """Apply a one-item fault to the first item it fits; False when none of `items` fits."""
    if fault.kind == "duplicate_item":
        if not items:
            return False
        items.insert(1, copy.deepcopy(items[0]))
        return True
    for item in items:
        holder = _holder(item, fault.field)  # type: ignore[arg-type]
        if holder is None:
            continue
        if fault.nth:  # not this one yet (the count carries over to the next batch of the answer)
            fault.nth -= 1
            continue
        if fault.kind == "bad_value":
            holder[fault.field] = fault.value  # type: ignore[index]
        else:
            holder.pop(fault.field, None)  # type: ignore[arg-type]
        return True
    return False


def _mutate_items(items: list[dict[str, Any]], item_faults: list[Fault]) -> None:
    for fault in item_faults:
        for item in items:
            if fault.kind == "extra_field":
                item[fault.field] = fault.value  # type: ignore[index]
            else:
                drop_field(item, fault.field)  # type: ignore[arg-type]


def _negate_one(items: list[dict[str, Any]], negate: Negate | None) -> bool:
    if negate is None:
        return True
    return any(negate(item) for item in items)
