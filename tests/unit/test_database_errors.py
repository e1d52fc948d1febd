"""What the API answers when PostgreSQL rolls a request back for a collision with a
concurrent one (deadlock, serialization failure): a 503 the client may retry, with a
Retry-After, never a 500."""

from __future__ import annotations

import asyncpg
import pytest

from accounting_api.db.connection import translated_errors
from accounting_api.domain import errors
from accounting_api.http import problems


@pytest.mark.parametrize("collision", [asyncpg.DeadlockDetectedError, asyncpg.SerializationError])
def test_a_collision_is_a_retryable_503(collision: type[asyncpg.PostgresError]) -> None:
    with pytest.raises(errors.ServiceUnavailable) as raised, translated_errors():
        raise collision("deadlock detected")
    response = problems.response({"type": "http"}, raised.value)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "retry" in raised.value.detail


def test_an_unreachable_database_is_a_503_without_a_promise_of_when() -> None:
    with pytest.raises(errors.ServiceUnavailable) as raised, translated_errors():
        raise ConnectionRefusedError("no server")
    assert "retry-after" not in problems.response({"type": "http"}, raised.value).headers


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
