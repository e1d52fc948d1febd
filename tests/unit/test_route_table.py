"""The route table: every write an authenticated user can make names the least role
allowed to make it, so that the role is checked before an Idempotency-Key's stored answer
could be replayed, and the OpenAPI document says it."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from accounting_api.routes import ENDPOINTS, openapi_document, work
from accounting_api.routes.openapi import Endpoint


def test_every_authenticated_write_declares_its_role() -> None:
    undeclared = [
        f"{e.method} {e.path}"
        for e in ENDPOINTS
        if e.auth and e.method in work.WRITES and e.role is None
    ]
    assert undeclared == []


def test_the_openapi_document_names_each_declared_role() -> None:
    paths = openapi_document()["paths"]
    for e in ENDPOINTS:
        operation = paths[e.path][e.method.lower()]
        assert operation.get("x-required-role") == (e.role.value if e.role else None), e.path


async def _nothing(request: Request) -> None:
    return None


@pytest.mark.parametrize(
    ("method", "own_transactions"), [("GET", False), ("POST", True)], ids=["read", "own"]
)
def test_a_prepare_step_without_a_unit_of_work_to_come_before_is_refused(
    method: str, own_transactions: bool
) -> None:
    endpoint = Endpoint(
        method,
        "/v1/things",
        ENDPOINTS[0].handler,
        "A thing",
        own_transactions=own_transactions,
        prepare=_nothing,
    )
    with pytest.raises(ValueError, match="runs before a unit of work"):
        work.handler(endpoint)
