"""Error answers in each marketplace's own shape.

Why: clients must be tested against the real error bodies (Ozon's `{"code", "message",
"details"}`, WB's new-style body with `title`/`detail`/`requestId`/`status`, and the older WB
`{"errors": [...]}`), so handlers raise `ApiError` and the server renders it per marketplace.
"""

from __future__ import annotations

import hashlib
from http import HTTPStatus
from typing import Any

# gRPC-style codes Ozon puts in `code`.
OZON_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 409: 6, 429: 8, 500: 13, 502: 14, 503: 14}

# WB names the service that answered in `origin`.
WB_ORIGINS = {
    "wb-statistics": "s2s-api-auth-stat",
    "wb-analytics": "s2s-api-auth-seller-analytics",
    "wb-marketplace": "s2s-api-auth-marketplace",
    "wb-content": "s2s-api-auth-content",
}


class ApiError(Exception):
    """A non-2xx answer. `message` is the Ozon message / WB detail; `legacy` picks `{"errors": [...]}` on WB."""

    def __init__(self, status: int, message: str, *, title: str | None = None, legacy: bool = False,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.title = title
        self.legacy = legacy
        self.headers = headers or {}


def ozon_error_body(status: int, message: str) -> dict[str, Any]:
    return {"code": OZON_CODES.get(status, 2), "message": message, "details": []}


def wb_error_body(status: int, detail: str, api: str, timestamp: str, counter: int,
                  title: str | None = None) -> dict[str, Any]:
    """WB's new-style error body. requestId/code are derived from a counter: deterministic."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    digest = hashlib.md5(f"{api}:{counter}".encode()).hexdigest()
    return {
        "title": title or phrase.lower(),
        "detail": detail,
        "code": f"{digest[:8]}-{digest[8:12]}-{digest[12:24]}",
        "requestId": digest,
        "origin": WB_ORIGINS.get(api, "s2s-api-auth"),
        "status": status,
        "statusText": phrase,
        "timestamp": timestamp,
    }
