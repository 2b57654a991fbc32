"""JSON encoding of answers, including bare arrays built and encoded batch by batch.

Why: a WB statistics answer can hold 60,000 rows and the remains report one entry per
barcode. Building all rows as dicts first would hold hundreds of megabytes; `Rows` lets a
handler yield batches of dicts that are encoded and dropped one batch at a time. orjson is
used when present (it ships with dlt) and gives the same compact UTF-8 bytes as the standard
library fallback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable

try:  # pragma: no cover - depends on the environment
    import orjson

    _fallback = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

    def dumps(obj: Any) -> bytes:
        """Compact UTF-8 JSON (no ASCII escaping, like the real APIs)."""
        try:
            return orjson.dumps(obj)
        except TypeError:  # integers beyond 64 bits (a `bad_value` fault): the standard library
            return _fallback.encode(obj).encode("utf-8")

except ImportError:  # pragma: no cover
    _encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

    def dumps(obj: Any) -> bytes:
        """Compact UTF-8 JSON (no ASCII escaping, like the real APIs)."""
        return _encoder.encode(obj).encode("utf-8")


@dataclass
class Rows:
    """A JSON array produced lazily as batches of row dicts.

    Bare by default; `prefix`/`suffix` wrap it (e.g. `{"data":{"items":[` ... `]}}`).
    """

    batches: Iterable[list[dict[str, Any]]]
    prefix: bytes = b"["
    suffix: bytes = b"]"

    def map_batches(self, fn: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> "Rows":
        return Rows((fn(batch) for batch in self.batches), self.prefix, self.suffix)

    def emptied(self) -> "Rows":
        return Rows(iter(()), self.prefix, self.suffix)


class NoContent:
    """A handler's "204 No Content" answer (no body at all)."""


NO_CONTENT = NoContent()


def encode(payload: Any) -> list[bytes]:
    """Encode a JSON-able object or `Rows` into body chunks."""
    if not isinstance(payload, Rows):
        return [dumps(payload)]
    chunks: list[bytes] = [payload.prefix]
    first = True
    for batch in payload.batches:
        if not batch:
            continue
        body = dumps(batch)[1:-1]
        chunks.append(body if first else b"," + body)
        first = False
    chunks.append(payload.suffix)
    return chunks
