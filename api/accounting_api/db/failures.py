"""What a failed database call means: unavailable (a 503 with Retry-After), a server
failure (counted), or a rule of the books the database refused (the domain's error)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import asyncpg

from accounting_api.db import availability
from accounting_api.domain import errors

if TYPE_CHECKING:
    from accounting_api.db.connection import Connection

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
CANCELLED_DETAIL = (
    "the database cancelled the request's statement: it ran past DB_STATEMENT_TIMEOUT_MS"
    " (or an administrator cancelled it); nothing was written; retry later"
)
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
    except asyncpg.QueryCanceledError:
        # 57014: the statement timeout, or an admin's pg_cancel_backend. The transaction
        # is rolled back, so nothing was written.
        raise errors.ServiceUnavailable(CANCELLED_DETAIL, retry_after=1) from None
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
        raise as_unavailable(exc, seen_by, UNAVAILABLE_DETAIL) from None


def closed(conn: Connection) -> bool:
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:  # the pool detached it from its proxy: closed
        return True


def as_unavailable(
    exc: BaseException, seen_by: availability.Availability | None, detail: str
) -> errors.ServiceUnavailable:
    if seen_by is not None:
        seen_by.lost(exc)
    return errors.ServiceUnavailable(detail, retry_after=availability.RETRY_AFTER_SECONDS)


FAILURES = (asyncpg.PostgresError, asyncpg.InterfaceError)
"""What a direct connection's work raises when the database refuses or fails it."""
