"""What the API answers when PostgreSQL rolls a request back for a collision with a
concurrent one (deadlock, serialization failure), or cannot be reached or drops the
connection (stopped, crashed, restarting, starting up, full): a 503 the client may retry,
with a Retry-After, never a 500; and what it answers for rules of the books the database
enforces."""

from __future__ import annotations

import asyncpg
import pytest

from accounting_api.db import failures, servers
from accounting_api.db.failures import translated_errors
from accounting_api.domain import errors
from accounting_api.http import problems


def postgres(kind: type[asyncpg.PostgresError], sqlstate: str, message: str) -> BaseException:
    return kind.new({"C": sqlstate, "S": "FATAL", "M": message})


UNAVAILABLE = {
    "refused": ConnectionRefusedError("connection refused"),
    "reset": ConnectionResetError("connection reset by peer"),
    "a pool or connect timeout": TimeoutError(),
    "no usable server of several": servers.NoUsableServer("no usable database server"),
    "lost mid-query": asyncpg.ConnectionDoesNotExistError("connection was closed"),
    "08001": postgres(asyncpg.ClientCannotConnectError, "08001", "cannot connect"),
    "08006": postgres(asyncpg.ConnectionFailureError, "08006", "connection failure"),
    "57P01 admin shutdown": postgres(
        asyncpg.AdminShutdownError, "57P01", "terminating connection due to administrator command"
    ),
    "57P02 crash shutdown": postgres(
        asyncpg.CrashShutdownError, "57P02", "terminating connection because of crash"
    ),
    "57P03 starting up": postgres(
        asyncpg.CannotConnectNowError, "57P03", "the database system is starting up"
    ),
    "53300 too many connections": postgres(
        asyncpg.TooManyConnectionsError, "53300", "sorry, too many clients already"
    ),
    "a closed connection": asyncpg.InterfaceError("cannot call execute(): connection is closed"),
    "a connection the pool detached": asyncpg.InterfaceError(
        "cannot call Connection.execute(): connection has been released back to the pool"
    ),
    "a closing pool": asyncpg.InterfaceError("pool is closing"),
    "a half-read FATAL": asyncpg.InternalClientError("another operation is in progress"),
}


@pytest.mark.parametrize("collision", [asyncpg.DeadlockDetectedError, asyncpg.SerializationError])
def test_a_collision_is_a_retryable_503(collision: type[asyncpg.PostgresError]) -> None:
    with pytest.raises(errors.ServiceUnavailable) as raised, translated_errors():
        raise collision("deadlock detected")
    response = problems.response({"type": "http"}, raised.value)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "retry" in raised.value.detail


@pytest.mark.parametrize("failure", UNAVAILABLE.values(), ids=UNAVAILABLE.keys())
def test_an_unavailable_database_is_a_503_to_retry_after_a_second(failure: BaseException) -> None:
    with pytest.raises(errors.ServiceUnavailable) as raised, translated_errors():
        raise failure
    response = problems.response({"type": "http"}, raised.value)
    assert (response.status_code, raised.value.code) == (503, "service_unavailable")
    assert response.headers["retry-after"] == "1"
    assert raised.value.detail == "the database is unavailable; retry later"


@pytest.mark.parametrize(
    "mistake",
    [
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        asyncpg.InterfaceError("the server expects 2 arguments for this query, 1 was passed"),
        asyncpg.DataError("invalid input for query argument $1"),
    ],
    ids=["concurrent use", "wrong arguments", "bad argument"],
)
def test_a_mistake_of_the_code_is_not_passed_off_as_an_outage(mistake: BaseException) -> None:
    with pytest.raises(type(mistake)), translated_errors():
        raise mistake


def test_a_rule_of_the_books_the_database_refuses_is_a_409_naming_it() -> None:
    refused = asyncpg.CheckViolationError.new(
        {
            "C": "23514",
            "S": "ERROR",
            "M": "invoice inv_1 would owe again",
            "n": "invoice_credit_covered",
        }
    )
    with pytest.raises(errors.Conflict) as raised, translated_errors():
        raise refused
    assert problems.response({"type": "http"}, raised.value).status_code == 409
    assert "invoice_credit_covered" in raised.value.detail


def test_an_unbalanced_entry_refused_by_the_database_is_the_codes_own_422() -> None:
    refused = asyncpg.CheckViolationError.new(
        {"C": "23514", "S": "ERROR", "M": "unbalanced", "n": "journal_entry_balanced"}
    )
    with pytest.raises(errors.Unbalanced) as raised, translated_errors():
        raise refused
    assert (raised.value.status, raised.value.param) == (422, "postings")


@pytest.mark.parametrize(
    ("failure", "counted"),
    [
        (asyncpg.ConnectionDoesNotExistError("connection was closed"), True),
        (postgres(asyncpg.QueryCanceledError, "57014", "statement timeout"), True),
        (postgres(asyncpg.DiskFullError, "53100", "no space left"), True),
        (postgres(asyncpg.InternalServerError, "XX000", "internal error"), True),
        (postgres(asyncpg.UniqueViolationError, "23505", "duplicate key"), False),
        (postgres(asyncpg.SerializationError, "40001", "could not serialize"), False),
        (postgres(asyncpg.RaiseError, "P0001", "unbalanced entry"), False),
    ],
    ids=["lost", "timeout", "disk-full", "internal", "unique", "serialization", "trigger"],
)
def test_only_failures_of_the_server_count_as_database_errors(
    failure: BaseException, counted: bool
) -> None:
    """errors_total{type="database"} counts what PostgreSQL failed, not answers about the
    request (a constraint, a retry, a rule of the books)."""
    assert failures.server_failed(failure) is counted
