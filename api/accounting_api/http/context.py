"""Outermost middleware: request id, body buffering and limits, JSON access log, metrics."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accounting_api import metrics
from accounting_api.domain import errors
from accounting_api.http import problems

log = logging.getLogger("accounting_api.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def state(scope: Scope) -> dict[str, Any]:
    """The per-request state dict (also what Starlette's `request.state` reads)."""
    result: dict[str, Any] = scope.setdefault("state", {})
    return result


def client_ip(scope: Scope, *, trusted_proxies: int) -> str:
    """The peer's address, or behind `trusted_proxies` proxies the address the outermost
    of them saw: counted from the right of X-Forwarded-For (each proxy appends the address
    it was connected from), never the leftmost entries a client can write itself."""
    if trusted_proxies > 0:
        forwarded = [
            hop.strip()
            for header in Headers(scope=scope).getlist("x-forwarded-for")
            for hop in header.split(",")
            if hop.strip()
        ]
        if forwarded:
            return forwarded[-min(trusted_proxies, len(forwarded))]
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")


def secured(headers: list[tuple[bytes, bytes]], path: str) -> None:
    """Headers every answer carries: no content sniffing, and no cache keeps an API
    answer (account data, tokens) unless the handler chose its own Cache-Control."""
    headers.append(_NOSNIFF)
    if path.startswith("/v1/") and not any(k.lower() == b"cache-control" for k, _ in headers):
        headers.append(_NO_STORE)


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, or PayloadTooLarge as soon as it passes the limit."""
    declared = Headers(scope=scope).get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise errors.PayloadTooLarge(f"request bodies are limited to {limit} bytes")
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise errors.PayloadTooLarge(f"request bodies are limited to {limit} bytes")
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, trusted_proxies: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        st = self._begin(scope)
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.setdefault("headers", [])
                headers.append((b"x-request-id", st["request_id"].encode()))
                secured(headers, scope["path"])
            await send(message)

        try:
            await self._handle(scope, receive, send_with_id)
        except Exception as exc:
            # Answer here rather than in Starlette's outer error middleware so that a
            # 500 carries the request id too; re-raise if the response had started.
            if status:
                raise
            log.error("unhandled error", exc_info=exc, extra={"request_id": st["request_id"]})
            await _internal_error(scope)(scope, receive, send_with_id)
        finally:
            self._record(scope, status or 500, time.perf_counter() - started)

    def _begin(self, scope: Scope) -> dict[str, Any]:
        st = state(scope)
        given = Headers(scope=scope).get("x-request-id", "")
        st["request_id"] = given if _REQUEST_ID.match(given) else f"req_{uuid.uuid4().hex}"
        st["client_ip"] = client_ip(scope, trusted_proxies=self.trusted_proxies)
        return st

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Buffer a body (within the limit) so inner layers may read it more than once."""
        if scope["method"] in _BODY_METHODS:
            try:
                state(scope)["body"] = await read_body(scope, receive, self.max_body_bytes)
            except errors.AccountingError as exc:
                await problems.response(scope, exc)(scope, receive, send)
                return
            receive = replay(state(scope)["body"])
        await self.app(scope, receive, send)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        st = state(scope)
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        metrics.HTTP_DURATION.labels(scope["method"], template, str(status)).observe(elapsed)
        if status >= 400:
            metrics.PROBLEMS.labels(st.get("error_code", "http_error"), str(status)).inc()
        if status >= 500:
            metrics.error(metrics.ErrorType.SERVER)
        principal = st.get("principal")
        log.info(
            "request",
            extra={
                "request_id": st["request_id"],
                "method": scope["method"],
                "route": template,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "organization_id": getattr(principal, "organization_id", None),
                "client_ip": st["client_ip"],
                "error_code": st.get("error_code"),
            },
        )


def _internal_error(scope: Scope) -> JSONResponse:
    problem = problems.body(
        scope,
        500,
        "internal_error",
        "the server failed to handle this request; it has been logged",
        None,
    )
    return JSONResponse(problem, 500, media_type=problems.MEDIA_TYPE)
