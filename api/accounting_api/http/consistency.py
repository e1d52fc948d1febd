"""Read-your-writes across read replicas: the `Consistency-Token` header.

With replicas configured (DATABASE_REPLICAS), the answer to every POST, PUT, PATCH or
DELETE carries `Consistency-Token`: the primary's WAL position read after the request
committed, so at or past its commit. A GET that sends the token back reads from a replica
that has replayed that position, or from the primary (db/replicas.py); a GET without one
reads from any healthy replica within the lag limit. Every GET gets its `Reader` here; a
read that a replica fails mid-way (stopped, restarted, a conflict with recovery) is
answered again from the primary before anything was sent, so a client never sees it.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accounting_api import metrics
from accounting_api.db import replicas
from accounting_api.domain import errors
from accounting_api.http import problems
from accounting_api.http.auth import SESSION
from accounting_api.http.context import state

HEADER = "Consistency-Token"
READER = "reader"
"""Where a GET's `replicas.Reader` is in the request state (routes: support.reads)."""
_READS = frozenset({"GET", "HEAD"})


def position(scope: Scope) -> int | None:
    """The request's Consistency-Token as a WAL position (None without one)."""
    token = Headers(scope=scope).get(HEADER)
    if token is None:
        return None
    try:
        return replicas.parse_position(token.strip())
    except ValueError:
        raise errors.InvalidRequest(
            f"{HEADER} must be a token from a response of this API (e.g. 0/3000148)",
            param=HEADER,
        ) from None


class ConsistencyMiddleware:
    def __init__(self, app: ASGIApp, *, router: replicas.ReadRouter) -> None:
        self.app = app
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif scope["method"] in _READS:
            await self._read(scope, receive, send)
        elif self.router.has_replicas:
            await self.app(scope, receive, self._stamped(send))
        else:
            await self.app(scope, receive, send)

    def _stamped(self, send: Send) -> Send:
        """`send` that adds the token to the response: the write committed before its
        first message (the unit of work closes before the response starts)."""

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                found = await self.router.primary_position()
                if found is not None:
                    MutableHeaders(scope=message).append(HEADER, replicas.format_position(found))
            await send(message)

        return stamped

    async def _read(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            wanted = position(scope)
        except errors.InvalidRequest as exc:
            await problems.response(scope, exc)(scope, receive, send)
            return
        session = state(scope).get(SESSION)
        reader = self.router.reader(wanted, session=session)
        state(scope)[READER] = reader
        started = False

        async def guarded(message: Message) -> None:
            nonlocal started
            if reader.replica_failed and not started:
                return  # this attempt's answer is replaced by the primary's
            started = True
            await send(message)

        try:
            await self.app(scope, receive, guarded)
        except Exception:
            if started or not reader.replica_failed:
                raise
        if reader.replica_failed and not started:
            metrics.DB_READ_FALLBACKS.labels("replica_failed").inc()
            state(scope)[READER] = self.router.reader(wanted, primary_only=True, session=session)
            await self.app(scope, receive, send)
