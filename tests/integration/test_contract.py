"""The HTTP contract around the routes: what a 405 allows, which bodies are JSON, and
answers that agree with the schemas /openapi.json gives for them."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import jsonschema
import pytest

from tests.integration.billing import assert_problem, counts, customer, draft
from tests.integration.helpers import Tenant, entry, post_entry, sign_up


@pytest.fixture(scope="module")
async def tenant(client: httpx.AsyncClient) -> Tenant:
    return await sign_up(client)


def assert_documented(document: dict[str, Any], path: str, method: str, answer: Any) -> None:
    """The answer validates against the schema the document gives for this operation."""
    operation = document["paths"][path][method]
    (documented,) = [r for status, r in operation["responses"].items() if status != "default"]
    schema = documented["content"]["application/json"]["schema"]
    jsonschema.validate(answer, schema | {"components": document["components"]})


# --- 405: every method served at the path ---------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/v1/accounts", "GET, HEAD, POST"),
        ("PUT", "/v1/accounts", "GET, HEAD, POST"),
        ("PATCH", "/v1/invoices/inv_x", "GET, HEAD"),
        ("PUT", "/v1/organization", "GET, HEAD, PATCH"),
        ("POST", "/v1/webhook-endpoints/we_x", "DELETE, GET, HEAD"),
        ("GET", "/v1/invoices/inv_x/finalize", "POST"),
    ],
)
async def test_a_405_allows_every_method_served_at_the_path(
    client: httpx.AsyncClient, tenant: Tenant, method: str, path: str, allow: str
) -> None:
    response = await client.request(method, path, headers=tenant.auth)
    assert_problem(response, 405, "method_not_allowed", None)
    assert response.headers["allow"] == allow


# --- 415: a body is JSON only when it says so -------------------------------------------


async def test_a_body_without_content_type_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, tenant: Tenant
) -> None:
    before = await counts(owner_conn, tenant.org_id)
    name = (await client.get("/v1/organization", headers=tenant.auth)).json()["name"]
    body = b'{"name": "Untyped Ltd", "email": "untyped@example.com"}'
    created = await client.post("/v1/customers", content=body, headers=tenant.auth)
    renamed = await client.patch("/v1/organization", content=b'{"name": "X"}', headers=tenant.auth)
    assert_problem(created, 415, "unsupported_media_type", None)
    assert_problem(renamed, 415, "unsupported_media_type", None)
    assert await counts(owner_conn, tenant.org_id) == before
    assert (await client.get("/v1/organization", headers=tenant.auth)).json()["name"] == name


async def test_a_bodiless_post_needs_no_content_type(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    invoice = await draft(client, tenant, (await customer(client, tenant))["id"])
    finalized = await client.post(f"/v1/invoices/{invoice['id']}/finalize", headers=tenant.auth)
    assert finalized.status_code == 200, finalized.text
    assert finalized.json()["status"] == "open"


# --- answers agree with the document ----------------------------------------------------


async def test_periods_answer_what_the_document_says(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    document = (await client.get("/openapi.json")).json()
    cash, equity = tenant.accounts["1000"], tenant.accounts["3000"]
    posted = await post_entry(client, tenant, entry(cash, equity, 1, "2025-03-03"))
    assert posted.status_code == 201, posted.text
    closed = await client.post("/v1/periods/2025-03/close", headers=tenant.auth)
    listed = await client.get("/v1/periods", headers=tenant.auth)
    reopened = await client.post("/v1/periods/2025-03/reopen", headers=tenant.auth)
    assert [r.status_code for r in (closed, listed, reopened)] == [200, 200, 200]
    assert_documented(document, "/v1/periods/{period}/close", "post", closed.json())
    assert_documented(document, "/v1/periods", "get", listed.json())
    assert_documented(document, "/v1/periods/{period}/reopen", "post", reopened.json())
    properties = document["components"]["schemas"]["PeriodOut"]["properties"]
    assert {"period", "starts_on", "ends_on", "status", "closed_at", "closed_by"} <= set(properties)


@pytest.mark.parametrize(
    ("month", "status", "code"),
    [("0000-01", 422, "validation_error"), ("9999-12", 422, "period_not_ended")],
)
async def test_a_month_at_the_ends_of_the_calendar_is_refused_not_failed(
    client: httpx.AsyncClient, tenant: Tenant, month: str, status: int, code: str
) -> None:
    for action in ("close", "reopen"):
        response = await client.post(f"/v1/periods/{month}/{action}", headers=tenant.auth)
        assert response.status_code < 500, response.text
    closed = await client.post(f"/v1/periods/{month}/close", headers=tenant.auth)
    assert_problem(closed, status, code, "period")


@pytest.mark.parametrize(
    "query",
    [
        {"from": "0001-01-01", "to": "0001-01-01"},
        {"from": "9999-12-31", "to": "9999-12-31"},
    ],
)
async def test_an_income_statement_at_the_ends_of_the_calendar_is_answered(
    client: httpx.AsyncClient, tenant: Tenant, query: dict[str, str]
) -> None:
    response = await client.get("/v1/reports/income-statement", params=query, headers=tenant.auth)
    assert response.status_code == 200, response.text
    assert response.json()["from"] == query["from"]


@pytest.mark.parametrize("end_month", [1, 12])
@pytest.mark.parametrize("as_of", ["0001-01-01", "9999-12-31"])
async def test_a_balance_sheet_at_the_ends_of_the_calendar_is_answered(
    client: httpx.AsyncClient, as_of: str, end_month: int
) -> None:
    t = await sign_up(client)
    moved = await client.patch(
        "/v1/organization", json={"fiscal_year_end_month": end_month}, headers=t.auth
    )
    assert moved.status_code == 200, moved.text
    response = await client.get(
        "/v1/reports/balance-sheet", params={"as_of": as_of}, headers=t.auth
    )
    assert response.status_code == 200, response.text
    assert response.json()["as_of"] == as_of
