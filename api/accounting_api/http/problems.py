"""RFC 9457 problem+json: the one place errors become responses."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from accounting_api.domain import errors

TYPE_BASE = "https://docs.universalaccounting.com/errors/"
MEDIA_TYPE = "application/problem+json"

_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}

# Errors about the request's shape rather than its effect: a client fixes the request
# and may retry with the same Idempotency-Key, so these responses are not stored.
SHAPE_CODES = frozenset(
    {
        "validation_error",
        "password_too_common",
        "password_too_personal",
        "invalid_json",
        "invalid_request",
        "payload_too_large",
        "unsupported_media_type",
        "method_not_allowed",
        "unauthenticated",
        "forbidden",
        "rate_limited",
        "organization_rate_limited",
        "reauthentication_required",
        "not_found",
    }
)


def body(scope: Scope, status: int, code: str, detail: str, param: str | None) -> dict[str, Any]:
    problem: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if param is not None:
        problem["param"] = param
    state = scope.setdefault("state", {})
    if "request_id" in state:
        problem["request_id"] = state["request_id"]
    state["error_code"] = code
    return problem


def response(scope: Scope, exc: errors.AccountingError, **extra: Any) -> Response:
    problem = body(scope, exc.status, exc.code, exc.detail, exc.param) | extra
    headers = {}
    if isinstance(exc, errors.RateLimited | errors.ServiceUnavailable) and exc.retry_after:
        headers["Retry-After"] = str(exc.retry_after)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="accounting-api"'
    return JSONResponse(problem, status_code=exc.status, headers=headers, media_type=MEDIA_TYPE)


async def on_accounting_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.AccountingError)
    return response(request.scope, exc, **exc.extra)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    problem = body(request.scope, exc.status_code, code, str(exc.detail), None)
    return JSONResponse(
        problem, status_code=exc.status_code, headers=exc.headers, media_type=MEDIA_TYPE
    )


HANDLERS = {
    errors.AccountingError: on_accounting_error,
    HTTPException: on_http_exception,
}
"""Unexpected exceptions become a 500 problem in http.context, which owns the request id."""
