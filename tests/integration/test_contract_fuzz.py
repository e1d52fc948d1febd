"""Every operation of /openapi.json, fuzzed by Schemathesis against the API served by
uvicorn on a loopback port (bench/contract_fuzz.py): 20 positive and 20 negative cases per
operation under a fixed seed, as the owner of a fresh organization with real objects, every
check on. No answer may be a 5xx, or disagree with the document."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from bench import contract_fuzz

from accounting_api import routes
from accounting_api.app import create_app
from accounting_api.settings import Settings
from tests.integration import conftest

EXAMPLES = 20
SECONDS_PER_OPERATION = 6.0
"""A cap, so that the run stays within a few minutes on a busy 2-core machine."""


@pytest.fixture
async def scratch(settings: Settings) -> AsyncIterator[Settings]:
    """A database of its own: the fuzzer leaves webhook deliveries and closed months that
    the session's other tests (the worker's) must not find."""
    database = await conftest.create_database()
    yield dataclasses.replace(
        settings, database_url=database.app_url, migration_database_url=database.owner_url
    )
    await conftest.drop_database(database.name)


def test_no_request_the_contract_allows_fails_and_every_answer_is_as_documented(
    scratch: Settings,
) -> None:
    with contract_fuzz.serve(create_app(scratch)) as base_url:
        summary = contract_fuzz.run(
            base_url, examples=EXAMPLES, seconds_per_operation=SECONDS_PER_OPERATION
        )
    report = "\n\n".join(summary.examples)
    assert summary.operations == len(routes.ENDPOINTS)
    assert summary.requests >= summary.operations * EXAMPLES
    assert (summary.server_errors, summary.schema_violations) == (0, 0), report
    assert dict(summary.failures) == {}, report
