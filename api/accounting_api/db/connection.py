"""The connection pool and the tenant-scoped transaction every use case runs in."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from accounting_api import metrics
from accounting_api.db import availability, failures, own_transactions, servers
from accounting_api.db import unit_of_work as units
from accounting_api.domain import errors
from accounting_api.domain.roles import Session

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
else:
    Connection = asyncpg.Connection

log = logging.getLogger(__name__)


def _log_query(record: Any) -> None:
    words = record.query.lstrip().split(None, 1)
    operation = words[0].lower() if words else "unknown"
    if operation not in {"select", "insert", "update", "delete", "with", "set"}:
        operation = "other"
    metrics.DB_QUERY_DURATION.labels(operation).observe(record.elapsed)
    if record.exception is not None and failures.server_failed(record.exception):
        metrics.error(metrics.ErrorType.DATABASE)


async def _init_connection(conn: Connection) -> None:
    conn.add_query_logger(_log_query)


async def _keep_session(conn: Connection) -> None:
    """What a connection needs before it goes back to the pool, beyond the rollback of an
    open transaction asyncpg always does: nothing. The tenant is transaction-local
    (set_config(..., true)), advisory locks and cursors are transaction-scoped, and nothing
    LISTENs; asyncpg's default reset (RESET ALL; CLOSE ALL; UNLISTEN *;
    pg_advisory_unlock_all()) would cost a round trip per request for nothing."""


async def create_pool(
    dsn: str,
    *,
    min_size: int,
    max_size: int,
    statement_timeout_ms: int,
    application_name: str = "accounting-api",
    **connect: Any,
) -> asyncpg.Pool[asyncpg.Record]:
    """A pool of the app's connections (its query timings in the metrics); `connect`:
    asyncpg's connection arguments (e.g. a `connect=` callback, or `host` and `port`)."""
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        server_settings={
            "statement_timeout": str(statement_timeout_ms),
            "application_name": application_name,
        },
        **connect,
    )


class Database:
    """The asyncpg pool plus the rule that every transaction names its tenant.

    `dsn` may list several servers; each new connection goes to the first read-write one
    whose timeline is at least `min_timeline` and the highest this pool has seen
    (db/servers.py).
    """

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 2,
        max_size: int = 20,
        statement_timeout_ms: int = 30_000,
        min_timeline: int = 0,
        acquire_timeout_s: float | None = None,
    ) -> None:
        self._dsn = dsn
        self._acquire_timeout_s = acquire_timeout_s
        self._min_size = min_size
        self._max_size = max_size
        self._statement_timeout_ms = statement_timeout_ms
        self.timeline = servers.TimelineFloor(min_timeline)
        """The highest timeline seen (or the floor given): older servers are refused."""
        self.availability = availability.Availability()
        """Whether the database answers: one log line when it goes away, one when back."""
        self._connector = servers.Connector(
            dsn, self.timeline, self._expire_connections, self.availability
        )
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
        except failures.UNAVAILABLE as exc:
            log.warning("database unavailable at startup (%s); connecting on demand", exc)
            self._pool = await self._create_pool(0)

    async def _create_pool(self, min_size: int) -> asyncpg.Pool[asyncpg.Record]:
        return await create_pool(
            self._dsn,
            min_size=min_size,
            max_size=self._max_size,
            statement_timeout_ms=self._statement_timeout_ms,
            connect=self._connector,
        )

    async def _expire_connections(self) -> None:
        """A newer timeline was seen: connections opened before may be on a former primary."""
        if self._pool is not None:
            await self._pool.expire_connections()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @asynccontextmanager
    async def transaction(
        self, organization_id: str | None, *, session: Session | None = None
    ) -> AsyncIterator[Connection]:
        """A transaction of its own, with the tenant set inside it (and the caller's
        session checked, if not yet: begin_sql).

        With organization_id None, every row-level-security policy matches nothing
        but rows that belong to no tenant.
        """
        with failures.translated_errors(self.availability):
            async with self._own_transaction(organization_id, session) as conn:
                yield conn

    def checking(self, session: Session | None) -> Database | Checked:
        """This pool's transactions as one request's: each checks its session first."""
        return self if session is None else Checked(self, session)

    async def check(self, session: Session) -> None:
        """Check the session on its own (a request that ran no transaction of its tenant)."""
        async with self.transaction(session.organization_id, session=session):
            pass

    @asynccontextmanager
    async def _own_transaction(
        self, organization_id: str | None, session: Session | None = None
    ) -> AsyncIterator[Connection]:
        async with self._acquired() as conn, self._began(conn, organization_id, session):
            yield conn

    @asynccontextmanager
    async def _began(
        self,
        conn: Connection,
        organization_id: str | None,
        session: Session | None = None,
        unit: units.UnitOfWork | None = None,
    ) -> AsyncIterator[None]:
        """A transaction on `conn`, committed unless what runs inside raises (with the
        unit's last statements, UnitOfWork.at_commit, in COMMIT's round trip)."""
        # BEGIN, the tenant and the session check in one round trip; the ids are
        # checked to be well formed before they are written into SQL text.
        await conn.execute(units.begin_sql("BEGIN", organization_id, session))
        units.began(organization_id, session)
        try:
            yield
        except BaseException:
            # If ROLLBACK cannot run (cancelled mid-query), the pool's reset on
            # release rolls back or discards the connection instead.
            with suppress(Exception):
                await conn.execute("ROLLBACK")
            raise
        await self._commit(conn, unit.last if unit is not None else ())

    @asynccontextmanager
    async def _acquired(self) -> AsyncIterator[Connection]:
        """A connection of the pool, waited for at most the acquire timeout: then every
        connection is busy (a slow or overloaded database), and the request answers 503
        with Retry-After instead of queueing for as long as its client waits."""
        try:
            conn = await self.pool.acquire(timeout=self._acquire_timeout_s)
        except TimeoutError:
            raise errors.ServiceUnavailable(
                failures.BUSY_DETAIL, retry_after=availability.RETRY_AFTER_SECONDS
            ) from None
        try:
            yield conn
        finally:
            await self.pool.release(conn)

    async def _commit(self, conn: Connection, last: Sequence[str] = ()) -> None:
        """COMMIT, after the `last` statements in the same round trip (a simple query:
        should one fail, the rest and COMMIT are skipped, and the transaction is rolled
        back here). A connection lost while it runs leaves the outcome unknown (the
        server may have committed before it went): the 503 says so. A retry with the
        same Idempotency-Key then replays the stored answer if it did, or runs once if
        not."""
        if failures.closed(conn):  # COMMIT cannot be sent: nothing was committed
            lost = asyncpg.InterfaceError("connection is closed")
            raise failures.as_unavailable(lost, self.availability, failures.UNAVAILABLE_DETAIL)
        try:
            await conn.execute("; ".join([*last, "COMMIT"]))
        except Exception as exc:
            if not failures.unavailable(exc):
                if conn.is_in_transaction():  # one of `last` failed: COMMIT never ran
                    with suppress(Exception):
                        await conn.execute("ROLLBACK")
                raise
            raise failures.as_unavailable(
                exc, self.availability, failures.OUTCOME_UNKNOWN_DETAIL
            ) from None
        self.availability.answered()

    def own_transactions(self) -> AbstractAsyncContextManager[own_transactions.OwnTransactions]:
        """For a request that must hold no connection while it waits (the token endpoint):
        short transactions of their own, kept records written at the end."""
        return own_transactions.own_transactions(self)

    @asynccontextmanager
    async def unit_of_work(
        self, organization_id: str | None = None, *, session: Session | None = None
    ) -> AsyncIterator[units.UnitOfWork]:
        """One transaction for a whole request: the use cases it runs join it through
        UnitOfWork.transaction. Commits unless something inside raised or called
        UnitOfWork.fail(). Then, committed or rolled back, what the use cases kept
        (UnitOfWork.keep) is written in a transaction of its own on the same connection,
        before the connection goes back to the pool."""
        with suppress(units.RollBack), failures.translated_errors(self.availability):
            async with self._acquired() as conn:
                unit = units.UnitOfWork(conn, organization_id, seen_by=self.availability)
                try:
                    async with self._began(conn, organization_id, session, unit):
                        yield unit
                        if unit.failed:
                            raise units.RollBack
                except Exception:
                    await self._write_kept(unit)
                    raise
                await self._write_kept(unit)

    async def _write_kept(self, unit: units.UnitOfWork) -> None:
        """The unit's kept records, in a transaction of their own on its connection. If
        they cannot be written (the connection was lost), the request's answer stands and
        the loss is logged; a cancelled request (not an Exception) writes none of them."""
        if not unit.kept:
            return
        if unit.conn.is_in_transaction():  # the request's ROLLBACK failed: commit none of it
            units.lost(unit.kept, "rollback_failed")
            return
        records = units.UnitOfWork(unit.conn, None, actor=unit.actor, seen_by=self.availability)
        try:
            async with self._began(unit.conn, None, unit=records):
                for record in unit.kept:
                    await record(records)
        except Exception as exc:
            units.lost(unit.kept, "write_failed", exc)


@dataclass(frozen=True, slots=True)
class Checked:
    """A pool's transactions for one request, each checking the request's session."""

    db: Database
    session: Session

    def transaction(self, organization_id: str | None) -> AbstractAsyncContextManager[Connection]:
        return self.db.transaction(organization_id, session=self.session)


Record: TypeAlias = asyncpg.Record
"""A row as the db layer returns it."""


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[Connection]:
    """One connection of its own, outside any pool (migrations, backups, restores)."""
    conn = await asyncpg.connect(url)
    try:
        yield conn
    finally:
        await conn.close()


@asynccontextmanager
async def pooled(url: str, max_size: int) -> AsyncIterator[asyncpg.Pool[asyncpg.Record]]:
    """A small pool of its own, for checks that run on several connections at once."""
    async with asyncpg.create_pool(url, min_size=1, max_size=max_size) as pool:
        yield pool
