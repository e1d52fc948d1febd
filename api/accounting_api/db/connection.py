"""The connection pool and the tenant-scoped transaction every use case runs in."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from accounting_api import metrics
from accounting_api.domain import errors, ids

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
else:
    Connection = asyncpg.Connection

log = logging.getLogger(__name__)

UNAVAILABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
)
"""What asyncpg raises when PostgreSQL cannot be reached or drops the connection."""

# A connection an outer layer (the idempotency middleware) already holds in an open
# transaction; use cases then run inside it as a savepoint, so the stored response
# and the effect commit together.
_bound: contextvars.ContextVar[Connection | None] = contextvars.ContextVar("bound", default=None)


def _log_query(record: Any) -> None:
    words = record.query.lstrip().split(None, 1)
    operation = words[0].lower() if words else "unknown"
    if operation not in {"select", "insert", "update", "delete", "with", "set"}:
        operation = "other"
    metrics.DB_QUERY_DURATION.labels(operation).observe(record.elapsed)


async def _init_connection(conn: Connection) -> None:
    conn.add_query_logger(_log_query)


class Database:
    """The asyncpg pool plus the rule that every transaction names its tenant."""

    def __init__(
        self, dsn: str, *, min_size: int = 2, max_size: int = 20, statement_timeout_ms: int = 30_000
    ) -> None:
        self._dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._statement_timeout_ms = statement_timeout_ms
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None

    @property
    def pool(self) -> asyncpg.Pool[asyncpg.Record]:
        if self._pool is None:
            raise RuntimeError("Database.open() has not been awaited")
        return self._pool

    async def open(self) -> None:
        """Open the pool; if PostgreSQL is down, start empty and connect on demand.

        The process then stays up and says so in /health and /ready instead of
        crash-looping until the database is back.
        """
        try:
            self._pool = await self._create_pool(self._min_size)
        except UNAVAILABLE as exc:
            log.warning("database unavailable at startup (%s); connecting on demand", exc)
            self._pool = await self._create_pool(0)

    async def _create_pool(self, min_size: int) -> asyncpg.Pool[asyncpg.Record]:
        return await asyncpg.create_pool(
            self._dsn,
            min_size=min_size,
            max_size=self._max_size,
            init=_init_connection,
            server_settings={
                "statement_timeout": str(self._statement_timeout_ms),
                "application_name": "accounting-api",
            },
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @asynccontextmanager
    async def transaction(self, organization_id: str | None) -> AsyncIterator[Connection]:
        """A transaction (or savepoint in a bound one) with the tenant set inside it.

        With organization_id None, every row-level-security policy matches nothing
        but rows that belong to no tenant.
        """
        bound = _bound.get()
        with translated_errors():
            if bound is not None:
                async with bound.transaction():
                    await set_tenant(bound, organization_id)
                    yield bound
                    # Check deferred constraints now, inside the savepoint, so a
                    # violation undoes just this use case.
                    await bound.execute("SET CONSTRAINTS ALL IMMEDIATE")
                    await bound.execute("SET CONSTRAINTS ALL DEFERRED")
                return
            async with self.pool.acquire() as conn:
                # BEGIN and the tenant in one round trip; the id is checked to be a
                # well-formed org id before it is written into SQL text.
                await conn.execute(f"BEGIN; {_tenant_sql(organization_id)}")
                try:
                    yield conn
                except BaseException:
                    # If ROLLBACK cannot run (cancelled mid-query), the pool's reset on
                    # release rolls back or discards the connection instead.
                    with suppress(Exception):
                        await conn.execute("ROLLBACK")
                    raise
                await conn.execute("COMMIT")

    @asynccontextmanager
    async def bound_transaction(self) -> AsyncIterator[Connection]:
        """Hold one connection in a transaction for the rest of this task's work."""
        async with self.pool.acquire() as conn, conn.transaction():
            token = _bound.set(conn)
            try:
                yield conn
            finally:
                _bound.reset(token)

    async def execute_in_unit_of_work(self, query: str, *args: object) -> None:
        """One statement in the bound transaction as is (no savepoint, no tenant
        change: one round trip), or on its own when no transaction is bound."""
        bound = _bound.get()
        with translated_errors():
            if bound is not None:
                await bound.execute(query, *args)
                return
            async with self.pool.acquire() as conn:
                await conn.execute(query, *args)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[None]:
        """Bind a transaction for this task's work, or join the one already bound.

        What runs inside (use cases as savepoints, then the audit append) commits or
        rolls back together.
        """
        if _bound.get() is not None:
            yield
            return
        async with self.bound_transaction():
            yield


@contextmanager
def translated_errors() -> Iterator[None]:
    """Database-enforced ledger rules surface as the same errors the code raises."""
    try:
        yield
    except asyncpg.CheckViolationError as exc:
        if exc.constraint_name != "journal_entry_balanced":
            raise
        raise errors.Unbalanced(str(exc.message), param="postings") from None
    except asyncpg.ObjectNotInPrerequisiteStateError as exc:
        if exc.constraint_name == "period_closed":
            raise errors.PeriodClosed(str(exc.message), param="date") from None
        raise errors.Conflict(str(exc.message)) from None
    except UNAVAILABLE:
        raise errors.ServiceUnavailable("the database is unavailable; retry later") from None


def _tenant_sql(organization_id: str | None) -> str:
    if organization_id is not None and not ids.has_prefix(organization_id, "org"):
        raise ValueError(f"not an organization id: {organization_id!r}")
    return f"SELECT set_config('app.organization_id', '{organization_id or ''}', true)"


async def set_tenant(conn: Connection, organization_id: str | None) -> None:
    await conn.execute("SELECT set_config('app.organization_id', $1, true)", organization_id or "")
