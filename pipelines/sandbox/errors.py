"""Error answers in each marketplace's own shape.

Why: clients must be tested against the real error bodies, which differ per marketplace and,
on WB, per host (wildberries.md §3, ozon.md §4). Handlers raise `ApiError`; the server renders
it in the shape of the API that answered:
- Ozon: `{"code": <gRPC int>, "message", "details": []}` (`code` is not the HTTP status).
- WB, any host, 401/402/429 and 5xx: the problem body `{title, detail, code, requestId, origin,
  status, statusText, timestamp}` (`application/problem+json` for 401/402/429); an unknown
  path: the same body with title "path not found".
- WB seller-analytics 400/403/404: `{title, detail, requestId, origin}`; a Basic token refused
  a method closed to it: the gateway's problem body (`Response403General` of the analytics spec:
  title "forbidden", detail "base token is not allowed", code "base token is not allowed for
  this path"), `problem=True`.
- WB marketplace 4xx: `{"code": "<string>", "message", "data"}`.
- WB content 4xx: `{data, error: true, errorText, additionalErrors}`.
- WB statistics 4xx: `{"errors": [...]}`.
- Yandex Market, every status: `{"errors": [{"code", "message"}], "status": "ERROR"}` (key
  order of the official 401 example, yandex_market.md §3.1). Codes other than UNAUTHORIZED
  are not published (§5.6); the sandbox's are in `YM_CODES`.
`ApiError.body` overrides all of this with an exact body (e.g. the SKUUploadDisabled sample).
"""

from __future__ import annotations

import hashlib
from http import HTTPStatus
from typing import Any

# gRPC-style codes Ozon puts in `code`.
OZON_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 409: 6, 429: 8, 500: 13, 502: 14, 503: 14}

# Marketplace-api's string codes per HTTP status (when a handler gives none).
WB_MARKETPLACE_CODES = {400: "IncorrectRequestBody", 403: "AccessDenied", 404: "NotFound", 409: "Conflict"}

# WB names the service that answered in `origin`.
WB_ORIGINS = {
    "wb-statistics": "s2s-api-auth-stat",
    "wb-analytics": "s2s-api-auth-seller-analytics",
    "wb-marketplace": "s2s-api-auth-marketplace",
    "wb-content": "s2s-api-auth-content",
}
PATH_NOT_FOUND = "path not found"
PROBLEM_JSON = "application/problem+json; charset=utf-8"


class ApiError(Exception):
    """A non-2xx answer.

    `message` is the Ozon message / WB detail; `code` the Ozon gRPC code or the WB
    marketplace string code (default by status); `title` the WB title; `body` an exact body;
    `legacy` is accepted for compatibility (WB statistics errors are always `{"errors": [...]}`).
    """

    def __init__(self, status: int, message: str, *, title: str | None = None, legacy: bool = False,
                 headers: dict[str, str] | None = None, code: Any = None, body: Any = None,
                 origin: str | None = None, problem: bool = False) -> None:
        super().__init__(message)
        self.problem = problem  # WB: answer with the gateway's problem body whatever the host
        self.status = status
        self.message = message
        self.title = title
        self.legacy = legacy
        self.headers = headers or {}
        self.code = code
        self.body = body
        self.origin = origin


def ozon_error_body(status: int, message: str, code: Any = None) -> dict[str, Any]:
    return {"code": OZON_CODES.get(status, 2) if code is None else code, "message": message, "details": []}


def _phrase(status: int) -> str:
    return HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"


def _request_id(api: str, counter: int) -> str:
    return hashlib.md5(f"{api}:{counter}".encode()).hexdigest()


def wb_error_body(status: int, detail: str, api: str, timestamp: str, counter: int,
                  title: str | None = None, code: str | None = None) -> dict[str, Any]:
    """WB's problem body. requestId/code are derived from a counter: deterministic."""
    digest = _request_id(api, counter)
    return {
        "title": title or _phrase(status).lower(),
        "detail": detail,
        "code": code or f"{digest[:8]}-{digest[8:12]}-{digest[12:24]}",
        "requestId": digest,
        "origin": WB_ORIGINS.get(api, "s2s-api-auth"),
        "status": status,
        "statusText": _phrase(status),
        "timestamp": timestamp,
    }


def wb_body(err: ApiError, api: str, timestamp: str, counter: int) -> tuple[Any, str | None]:
    """(body, content type or None for plain JSON) of a WB error answer."""
    status = err.status
    if err.body is not None:
        return err.body, None
    if status in (401, 402, 429) or status >= 500 or err.title == PATH_NOT_FOUND or err.problem:
        body = wb_error_body(status, err.message, api, timestamp, counter, err.title,
                             err.code if err.problem and isinstance(err.code, str) else None)
        return body, PROBLEM_JSON if status in (401, 402, 429) or err.problem else None
    if api == "wb-statistics":
        return {"errors": [err.message]}, None
    if api == "wb-analytics":
        return {"title": err.title or _phrase(status).lower(), "detail": err.message,
                "requestId": _request_id(api, counter), "origin": err.origin or "analytics-open-api"}, None
    if api == "wb-marketplace":
        return {"code": err.code or WB_MARKETPLACE_CODES.get(status, "Error"), "message": err.message,
                "data": None}, None
    if api == "wb-content":
        return {"data": None, "error": True, "errorText": err.message, "additionalErrors": None}, None
    return wb_error_body(status, err.message, api, timestamp, counter, err.title), None


# Yandex Market `errors[].code` per HTTP status. Only UNAUTHORIZED is published (§3.1); the
# others are the sandbox's readable guesses (yandex_market.md §5.6: parse any string).
YM_CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
            405: "METHOD_NOT_ALLOWED", 415: "UNSUPPORTED_MEDIA_TYPE", 420: "HIT_RATE_LIMIT",
            423: "LOCKED", 500: "INTERNAL_ERROR", 503: "SERVICE_UNAVAILABLE"}


def ym_error_body(status: int, message: str, code: Any = None) -> dict[str, Any]:
    """Yandex Market's error body, `errors` before `status` as in the official example."""
    return {"errors": [{"code": code if isinstance(code, str) else YM_CODES.get(status, "ERROR"),
                        "message": message}], "status": "ERROR"}
