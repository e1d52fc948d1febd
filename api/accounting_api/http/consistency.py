"""Read-your-writes across read replicas: the `Consistency-Token` header.

With replicas configured (DATABASE_REPLICAS), the answer to every POST, PUT, PATCH or
DELETE carries `Consistency-Token`: the primary's WAL position read after the request
committed, so at or past its commit. A GET that sends the token back reads from a replica
that has replayed that position, or from the primary (db/replicas.py). A GET without one
reads at or past its organization's read floor: the position after the organization's
last write committed (ReadFloors, kept in Redis), so that a client that does not carry the
token, or another member of the organization, never sees less than a write already
answered. Every GET gets its `Reader` here; a read that a replica fails mid-way (stopped,
restarted, a conflict with recovery) is answered again from the primary before anything
was sent, so a client never sees it.
"""

from __future__ import annotations

import logging

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accounting_api import metrics, redis_connection
from accounting_api.db import replicas
from accounting_api.domain import errors
from accounting_api.http import problems
from accounting_api.http.auth import SESSION
from accounting_api.http.context import state

log = logging.getLogger(__name__)

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


_RAISE_FLOOR = """
local found = redis.call('GET', KEYS[1])
if not found or found < ARGV[1] then redis.call('SET', KEYS[1], ARGV[1]) end
return 0
"""


class ReadFloors:
    """Each organization's read floor in Redis: the primary's WAL position after its last
    write committed, raised (never lowered) by each write, as 16 hex digits so that
    Redis compares them as text. A read without a Consistency-Token waits for a replica at
    or past it, or reads from the primary. If Redis fails, such a read goes to the primary;
    if Redis loses a floor (flushed, evicted), reads fall back to the replicas' lag limit."""

    def __init__(self, client: redis_connection.Client) -> None:
        self.client = client
        self._raise = client.register_script(_RAISE_FLOOR)

    @staticmethod
    def key(organization_id: str) -> str:
        return f"ua:read-floor:{organization_id}"

    async def raise_to(self, organization_id: str, position: int) -> None:
        await self._raise(keys=[self.key(organization_id)], args=[f"{position:016x}"])

    async def of(self, organization_id: str) -> int | None:
        found = await self.client.get(self.key(organization_id))
        return int(found, 16) if found is not None else None


def _organization(scope: Scope) -> str | None:
    principal = state(scope).get("principal")
    return getattr(principal, "organization_id", None)


def _redis_failed(exc: Exception, doing: str) -> None:
    metrics.error(metrics.ErrorType.REDIS, metrics.Severity.WARNING)
    log.warning("read floor %s failed: %s", doing, type(exc).__name__)


class ConsistencyMiddleware:
    def __init__(
        self, app: ASGIApp, *, router: replicas.ReadRouter, floors: ReadFloors | None = None
    ) -> None:
        self.app = app
        self.router = router
        self.floors = floors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif scope["method"] in _READS:
            await self._read(scope, receive, send)
        elif self.router.has_replicas:
            await self.app(scope, receive, self._stamped(scope, send))
        else:
            await self.app(scope, receive, send)

    def _stamped(self, scope: Scope, send: Send) -> Send:
        """`send` that adds the token to the response and raises the organization's read
        floor to it: the write committed before its first message (the unit of work
        closes before the response starts)."""

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                found = await self.router.primary_position()
                if found is not None:
                    MutableHeaders(scope=message).append(HEADER, replicas.format_position(found))
                    await self._raise_floor(_organization(scope), found, message["status"])
            await send(message)

        return stamped

    async def _raise_floor(self, organization_id: str | None, position: int, status: int) -> None:
        if self.floors is None or organization_id is None or status >= 400:
            return
        try:
            await self.floors.raise_to(organization_id, position)
        except redis_connection.FAILURES as exc:
            _redis_failed(exc, "raise")

    async def _floor(self, scope: Scope) -> tuple[int | None, bool]:
        """The organization's read floor, and whether the read must go to the primary
        (Redis did not answer: the floor is unknown)."""
        organization_id = _organization(scope)
        if self.floors is None or organization_id is None or not self.router.has_replicas:
            return None, False
        try:
            return await self.floors.of(organization_id), False
        except redis_connection.FAILURES as exc:
            _redis_failed(exc, "read")
            return None, True

    async def _read(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            wanted = position(scope)
        except errors.InvalidRequest as exc:
            await problems.response(scope, exc)(scope, receive, send)
            return
        primary_only = False
        if wanted is None:
            wanted, primary_only = await self._floor(scope)
        session = state(scope).get(SESSION)
        reader = self.router.reader(wanted, primary_only=primary_only, session=session)
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
