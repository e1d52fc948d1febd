"""Bearer-token authentication: a verified Principal in the request state, or 401."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from accounting_api.domain import errors
from accounting_api.domain.roles import Principal, Session
from accounting_api.http import problems
from accounting_api.http.context import state
from accounting_api.services.auth import TokenCodec

SESSION = "session"
"""Where the request's `Session` is in the request state: the database checks it in the
request's first transaction (routes: support.db, support.reads, routes/work.py)."""


class AuthenticationMiddleware:
    """Verifies any bearer token; routes decide whether a principal is required."""

    def __init__(self, app: ASGIApp, *, codec: TokenCodec) -> None:
        self.app = app
        self.codec = codec

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            header = Headers(scope=scope).get("authorization")
            if header is not None:
                try:
                    principal = self._verify(header)
                    state(scope)["principal"] = principal
                    state(scope)[SESSION] = Session.of(principal)
                except errors.AccountingError as exc:
                    await problems.response(scope, exc)(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def _verify(self, header: str) -> Principal:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise errors.Unauthenticated("the Authorization header must be 'Bearer <token>'")
        return self.codec.verify(token.strip())
