"""The connection pool and the tenant-scoped transaction every use case runs in."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from accounting_api import metrics
from accounting_api.db import availability, own_transactions, servers
from accounting_api.domain import audit, errors, ids
from accounting_api.domain.roles import Session

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
else:
    Connection = asyncpg.Connection

log = logging.getLogger(__name__)

UNAVAILABLE = (
    # Refused, reset or unreachable; TimeoutError (a connect or pool timeout) is one too.
    OSError,
    # SQLSTATE class 08, and ConnectionDoesNotExistError: the connection was lost mid-query.
    asyncpg.PostgresConnectionError,
    # 57P01: the server is shutting down (pg_ctl stop or restart), or a fence or an admin
    # terminated the backend; 57P02: another backend crashed and the server restarts;
    # 57P03: the server is starting up or recovering.
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    # 53300: every connection slot is taken; one frees up soon.
    asyncpg.TooManyConnectionsError,
    # A pooled connection whose server just died (kill -9, a fence's pg_terminate_backend)
    # may have read the backend's last FATAL message but not yet the end of the stream:
    # the next query fails with "another operation is in progress". It is the same loss.
    asyncpg.InternalClientError,
)
"""What asyncpg raises when PostgreSQL cannot be reached or drops the connection (and
`unavailable` adds the InterfaceError of a connection or pool already closed)."""

_CLOSED = (
    "connection is closed",
    # A pool detaches a connection the server closed from the proxy its holder uses; this
    # code never keeps a proxy past its `acquire()` block, so here it is that loss.
    "connection has been released back to the pool",
    "pool is closing",
    "pool is closed",
)
"""asyncpg's InterfaceError texts for a connection (or pool) that is gone; its other
InterfaceErrors are the caller's mistakes (bad arguments, concurrent use)."""

UNAVAILABLE_DETAIL = "the database is unavailable; retry later"
BUSY_DETAIL = (
    "no database connection became free in time (the database is slow or overloaded); retry later"
)
OUTCOME_UNKNOWN_DETAIL = (
    "the connection to the database was lost while the request committed: it may or may"
    " not have taken effect; retry it with the same Idempotency-Key to get its one answer"
)


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` says PostgreSQL cannot be reached or dropped the connection (rather
    than refused the request, or a bug)."""
    if isinstance(exc, UNAVAILABLE):
        return True
    return type(exc) is asyncpg.InterfaceError and any(text in str(exc) for text in _CLOSED)


_SERVER_FAILURES = frozenset({"53", "57", "58", "XX"})
"""SQLSTATE classes of a server that failed the query whatever it was: insufficient
resources, operator intervention (57014: the statement timeout), system and internal
errors. Other errors (a constraint, a serialization retry, a trigger's refusal) are
answers about the request."""


def server_failed(exc: BaseException) -> bool:
    """Whether a query failed because of PostgreSQL rather than because of the query."""
    state = str(getattr(exc, "sqlstate", "") or "")
    return unavailable(exc) or state[:2] in _SERVER_FAILURES


def _log_query(record: Any) -> None:
    words = record.query.lstrip().split(None, 1)
    operation = words[0].lower() if words else "unknown"
    if operation not in {"select", "insert", "update", "delete", "with", "set"}:
        operation = "other"
    metrics.DB_QUERY_DURATION.labels(operation).observe(record.elapsed)
    if record.exception is not None and server_failed(record.exception):
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
        except UNAVAILABLE as exc:
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
        with translated_errors(self.availability):
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
        unit: UnitOfWork | None = None,
    ) -> AsyncIterator[None]:
        """A transaction on `conn`, committed unless what runs inside raises (with the
        unit's last statements, UnitOfWork.at_commit, in COMMIT's round trip)."""
        # BEGIN, the tenant and the session check in one round trip; the ids are
        # checked to be well formed before they are written into SQL text.
        await conn.execute(begin_sql("BEGIN", organization_id, session))
        began(organization_id, session)
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
                BUSY_DETAIL, retry_after=availability.RETRY_AFTER_SECONDS
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
        if _closed(conn):  # COMMIT cannot be sent: nothing was committed
            lost = asyncpg.InterfaceError("connection is closed")
            raise _unavailable(lost, self.availability, UNAVAILABLE_DETAIL)
        try:
            await conn.execute("; ".join([*last, "COMMIT"]))
        except Exception as exc:
            if not unavailable(exc):
                if conn.is_in_transaction():  # one of `last` failed: COMMIT never ran
                    with suppress(Exception):
                        await conn.execute("ROLLBACK")
                raise
            raise _unavailable(exc, self.availability, OUTCOME_UNKNOWN_DETAIL) from None
        self.availability.answered()

    def own_transactions(self) -> AbstractAsyncContextManager[own_transactions.OwnTransactions]:
        """For a request that must hold no connection while it waits (the token endpoint):
        short transactions of their own, kept records written at the end."""
        return own_transactions.own_transactions(self)

    @asynccontextmanager
    async def unit_of_work(
        self, organization_id: str | None = None, *, session: Session | None = None
    ) -> AsyncIterator[UnitOfWork]:
        """One transaction for a whole request: the use cases it runs join it through
        UnitOfWork.transaction. Commits unless something inside raised or called
        UnitOfWork.fail(). Then, committed or rolled back, what the use cases kept
        (UnitOfWork.keep) is written in a transaction of its own on the same connection,
        before the connection goes back to the pool."""
        with suppress(_RollBack), translated_errors(self.availability):
            async with self._acquired() as conn:
                unit = UnitOfWork(conn, organization_id, seen_by=self.availability)
                try:
                    async with self._began(conn, organization_id, session, unit):
                        yield unit
                        if unit.failed:
                            raise _RollBack
                except Exception:
                    await self._write_kept(unit)
                    raise
                await self._write_kept(unit)

    async def _write_kept(self, unit: UnitOfWork) -> None:
        """The unit's kept records, in a transaction of their own on its connection. If
        they cannot be written (the connection was lost), the request's answer stands and
        the loss is logged; a cancelled request (not an Exception) writes none of them."""
        if not unit.kept:
            return
        if unit.conn.is_in_transaction():  # the request's ROLLBACK failed: commit none of it
            log.error("a request's %d kept records were lost: its rollback failed", len(unit.kept))
            return
        records = UnitOfWork(unit.conn, None, actor=unit.actor, seen_by=self.availability)
        try:
            async with self._began(unit.conn, None, unit=records):
                for record in unit.kept:
                    await record(records)
        except Exception:
            log.exception("a request's %d kept records were lost", len(unit.kept))


@dataclass(frozen=True, slots=True)
class Checked:
    """A pool's transactions for one request, each checking the request's session."""

    db: Database
    session: Session

    def transaction(self, organization_id: str | None) -> AbstractAsyncContextManager[Connection]:
        return self.db.transaction(organization_id, session=self.session)


Kept: TypeAlias = "Callable[[UnitOfWork], Awaitable[None]]"
"""A record kept whatever the request answers (UnitOfWork.keep)."""


class _RollBack(Exception):
    """Leaves a unit of work through its rollback path without an error to report."""


@dataclass
class UnitOfWork:
    """A request's one transaction, handed explicitly to the use cases it runs."""

    conn: Connection
    tenant: str | None
    """The tenant the connection is set to now."""
    actor: str | None = None
    """The user the request acts as (its principal; sign-up: the owner it creates)."""
    failed: bool = False
    changes: list[audit.Change] = field(default_factory=list)
    """What the use cases say they changed, recorded as audit events at the end."""
    seen_by: availability.Availability | None = None
    """Told when the unit finds the database unavailable (its Database's)."""
    kept: list[Kept] = field(default_factory=list)
    """Records that outlive the unit's rollback (see `keep`)."""
    last: list[str] = field(default_factory=list)
    """Statements sent in COMMIT's round trip (see `at_commit`)."""

    def keep(self, record: Kept) -> None:
        """Write `record` whatever the request answers: after the unit's transaction ends
        (committed, or rolled back by a refusal), in a transaction of its own on the same
        connection, before the connection goes back to the pool. For the trace a refusal
        leaves (a failed attempt's security event): no second connection is waited for
        while the request holds one. `record` gets that transaction as a unit of work
        whose tenant is not set yet (its own `transaction(org)` sets it)."""
        self.kept.append(record)

    def changed(self, *changes: audit.Change) -> None:
        self.changes.extend(changes)

    def at_commit(self, statement: str) -> None:
        """Run `statement` (SQL text, no parameters: every value in it checked to need
        no quoting) last in the unit's transaction, in the same round trip as its COMMIT;
        should it fail, nothing of the unit is committed. Sent only if the unit commits."""
        self.last.append(statement)

    def fail(self) -> None:
        """Roll the whole unit of work back when it ends."""
        self.failed = True

    async def use_tenant(self, organization_id: str | None) -> None:
        """Set the connection's tenant (a round trip only when it changes)."""
        if self.tenant != organization_id:
            await set_tenant(self.conn, organization_id)
            self.tenant = organization_id

    @asynccontextmanager
    async def transaction(self, organization_id: str | None) -> AsyncIterator[Connection]:
        """A use case's part of the unit of work: the same transaction, its tenant set.
        A failure inside fails the whole unit (unless a savepoint around it undoes it)."""
        await self.use_tenant(organization_id)
        with translated_errors(self.seen_by):
            try:
                yield self.conn
            except BaseException:
                self.fail()
                raise

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """What runs inside is undone alone if it raises, and the unit goes on (the
        Idempotency-Key path then stores the error answer in the same transaction)."""
        previous, failed = self.tenant, self.failed
        await self.conn.execute("SAVEPOINT use_case")
        try:
            yield
            # Deferred constraints are checked now, inside the savepoint, so that a
            # violation undoes just what ran in it.
            with translated_errors(self.seen_by):
                await self.conn.execute(
                    "SET CONSTRAINTS ALL IMMEDIATE; SET CONSTRAINTS ALL DEFERRED;"
                    " RELEASE SAVEPOINT use_case"
                )
        except BaseException:
            with suppress(Exception):
                await self.conn.execute(
                    "ROLLBACK TO SAVEPOINT use_case; RELEASE SAVEPOINT use_case"
                )
            self.tenant, self.failed = previous, failed  # set_config is undone with it
            raise


@contextmanager
def translated_errors(seen_by: availability.Availability | None = None) -> Iterator[None]:
    """Database-enforced ledger rules surface as the same errors the code raises; an
    unavailable database as a 503 with Retry-After (reported to `seen_by`)."""
    try:
        yield
    except asyncpg.CheckViolationError as exc:
        if exc.constraint_name == "journal_entry_balanced":
            raise errors.Unbalanced(str(exc.message), param="postings") from None
        # A rule of the books the code checks first, refused here by the database
        # (a race, or a path the code missed): a conflict, with nothing written.
        raise errors.Conflict(f"refused by the rule {exc.constraint_name}: {exc.message}") from None
    except asyncpg.ObjectNotInPrerequisiteStateError as exc:
        if exc.constraint_name == "period_closed":
            raise errors.PeriodClosed(str(exc.message), param="date") from None
        raise errors.Conflict(str(exc.message)) from None
    except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
        # Nothing was written (the transaction rolled back): the request may be retried.
        raise errors.ServiceUnavailable(
            "the request collided with a concurrent one and was rolled back; retry it",
            retry_after=1,
        ) from None
    except asyncpg.RaiseError as exc:
        if exc.constraint_name != "session_ended":
            raise
        raise errors.SessionEnded(
            "the access token has ended (signed out, or the user's role, password or"
            " membership changed): sign in again"
        ) from None
    except (*UNAVAILABLE, asyncpg.InterfaceError) as exc:
        if not unavailable(exc):
            raise
        raise _unavailable(exc, seen_by, UNAVAILABLE_DETAIL) from None


def _closed(conn: Connection) -> bool:
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:  # the pool detached it from its proxy: closed
        return True


def _unavailable(
    exc: BaseException, seen_by: availability.Availability | None, detail: str
) -> errors.ServiceUnavailable:
    if seen_by is not None:
        seen_by.lost(exc)
    return errors.ServiceUnavailable(detail, retry_after=availability.RETRY_AFTER_SECONDS)


def begin_sql(begin: str, organization_id: str | None, session: Session | None) -> str:
    """`begin` (BEGIN, BEGIN READ ONLY), the tenant, and the caller's session check when
    this is the request's first transaction in its organization: one round trip."""
    sql = f"{begin}; {tenant_sql(organization_id)}"
    if session is None or session.checked or organization_id != session.organization_id:
        return sql
    if not ids.has_prefix(session.user_id, "user"):
        raise ValueError(f"not a user id: {session.user_id!r}")
    return f"{sql}; SELECT app_check_session('{session.user_id}', {int(session.token_version)})"


def began(organization_id: str | None, session: Session | None) -> None:
    """After begin_sql's statement succeeded: the session is checked for the request."""
    if session is not None and organization_id == session.organization_id:
        session.checked = True


def tenant_sql(organization_id: str | None) -> str:
    if organization_id is not None and not ids.has_prefix(organization_id, "org"):
        raise ValueError(f"not an organization id: {organization_id!r}")
    return f"SELECT set_config('app.organization_id', '{organization_id or ''}', true)"


async def set_tenant(conn: Connection, organization_id: str | None) -> None:
    await conn.execute("SELECT set_config('app.organization_id', $1, true)", organization_id or "")


Record: TypeAlias = asyncpg.Record
"""A row as the db layer returns it."""

FAILURES = (asyncpg.PostgresError, asyncpg.InterfaceError)
"""What a direct connection's work raises when the database refuses or fails it."""


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
