"""Closing and reopening months, and the database refusing postings dated in them."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from tests.integration import conftest
from tests.integration.billing import act, add_user, assert_problem, customer, draft
from tests.integration.helpers import Tenant, entry, post_entry, sign_up

CASH, EQUITY = "1000", "3000"


async def _post(client: httpx.AsyncClient, t: Tenant, date: str) -> httpx.Response:
    return await post_entry(client, t, entry(t.accounts[CASH], t.accounts[EQUITY], 100, date))


async def _period(
    client: httpx.AsyncClient,
    t: Tenant,
    month: str,
    action: str,
    auth: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(f"/v1/periods/{month}/{action}", headers=auth or t.auth)


async def test_closing_a_month_refuses_entries_dated_in_it(client: httpx.AsyncClient) -> None:
    t = await sign_up(client)
    assert (await _post(client, t, "2026-01-10")).status_code == 201
    closed = await _period(client, t, "2026-01", "close")
    assert closed.status_code == 200, closed.text
    assert closed.json() | {"closed_at": None} == {
        "object": "accounting_period",
        "period": "2026-01",
        "starts_on": "2026-01-01",
        "ends_on": "2026-01-31",
        "status": "closed",
        "closed_at": None,
        "closed_by": closed.json()["closed_by"],
        "closing_entry_id": None,  # January ends no fiscal year
    }
    assert_problem(await _post(client, t, "2026-01-31"), 409, "period_closed", "date")
    assert (await _post(client, t, "2026-02-01")).status_code == 201
    listing = (await client.get("/v1/periods", headers=t.auth)).json()
    assert [p["period"] for p in listing["data"]] == ["2026-01"]
    assert listing["closed_through"] == "2026-01-31"


async def test_months_close_in_order(client: httpx.AsyncClient) -> None:
    t = await sign_up(client)
    for date in ("2026-01-10", "2026-03-10"):
        assert (await _post(client, t, date)).status_code == 201
    assert_problem(
        await _period(client, t, "2026-02", "close"), 409, "period_out_of_order", "period"
    )
    for month in ("2026-01", "2026-02", "2026-03"):  # February has no entries: still fine
        assert (await _period(client, t, month, "close")).status_code == 200
    assert_problem(
        await _period(client, t, "2026-01", "close"), 409, "period_already_closed", "period"
    )
    listing = (await client.get("/v1/periods", headers=t.auth)).json()
    assert [p["period"] for p in listing["data"]] == ["2026-03", "2026-02", "2026-01"]


async def test_an_empty_month_before_the_first_entries_closes_the_months_before_it(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    assert (await _period(client, t, "2026-02", "close")).status_code == 200
    assert_problem(await _post(client, t, "2025-12-31"), 409, "period_closed", "date")


async def test_only_the_owner_reopens_and_only_the_latest_month(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    admin = await add_user(client, t, "admin")
    for month in ("2026-01", "2026-02"):
        assert (await _period(client, t, month, "close", admin)).status_code == 200
    assert_problem(await _period(client, t, "2026-02", "reopen", admin), 403, "forbidden", None)
    assert_problem(
        await _period(client, t, "2026-01", "reopen"), 409, "period_not_latest", "period"
    )
    assert_problem(
        await _period(client, t, "2026-03", "reopen"), 409, "period_not_closed", "period"
    )
    reopened = await _period(client, t, "2026-02", "reopen")
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["status"] == "open"
    assert (await _post(client, t, "2026-02-15")).status_code == 201
    assert_problem(await _post(client, t, "2026-01-15"), 409, "period_closed", "date")
    events = await owner_conn.fetch(
        "SELECT to_char(period, 'YYYY-MM') AS month, action FROM accounting_period_events"
        " WHERE organization_id = $1 ORDER BY id",
        t.org_id,
    )
    assert [(e["month"], e["action"]) for e in events] == [
        ("2026-01", "close"),
        ("2026-02", "close"),
        ("2026-02", "reopen"),
    ]


@pytest.mark.parametrize("role", ["viewer", "accountant"])
async def test_below_admin_cannot_close_but_can_read(client: httpx.AsyncClient, role: str) -> None:
    t = await sign_up(client)
    auth = await add_user(client, t, role)
    assert_problem(await _period(client, t, "2026-01", "close", auth), 403, "forbidden", None)
    assert (await client.get("/v1/periods", headers=auth)).status_code == 200
    for path in ("trial-balance", "balance-sheet", "ar-aging"):
        assert (await client.get(f"/v1/reports/{path}", headers=auth)).status_code == 200
    statement = await client.get(
        "/v1/reports/income-statement",
        params={"from": "2026-01-01", "to": "2026-12-31"},
        headers=auth,
    )
    assert statement.status_code == 200, statement.text


@pytest.mark.parametrize(
    ("month", "code"),
    [
        ("2026-13", "validation_error"),
        ("26-01", "validation_error"),
        ("2999-01", "period_not_ended"),
    ],
)
async def test_bad_months_are_refused(client: httpx.AsyncClient, month: str, code: str) -> None:
    t = await sign_up(client)
    assert_problem(await _period(client, t, month, "close"), 422, code, "period")


async def test_the_database_refuses_a_posting_in_a_closed_month_from_the_app_role(
    client: httpx.AsyncClient, database: conftest.TestDatabase
) -> None:
    t = await sign_up(client)
    assert (await _period(client, t, "2026-01", "close")).status_code == 200
    conn = await asyncpg.connect(database.app_url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.organization_id', $1, true)", t.org_id)
            with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError) as refused:
                await conn.execute(
                    "INSERT INTO journal_entries (id, organization_id, entry_date, description)"
                    " VALUES ('je_direct', $1, '2026-01-15', 'behind the API')",
                    t.org_id,
                )
        assert refused.value.constraint_name == "period_closed"
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.organization_id', $1, true)", t.org_id)
            for sql in (
                "DELETE FROM accounting_periods",
                "DELETE FROM closing_balances",
                "INSERT INTO accounting_periods (organization_id, period)"
                " VALUES ($1, '2026-05-01')",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    async with conn.transaction():
                        await conn.execute(sql, *([t.org_id] if "$1" in sql else []))
    finally:
        await conn.close()


async def test_finalizing_an_invoice_into_a_closed_month_is_refused(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    assert (await _period(client, t, "2026-01", "close")).status_code == 200
    invoice = await draft(client, t, (await customer(client, t))["id"])
    refused = await act(client, t, invoice["id"], "finalize", issue_date="2026-01-20")
    assert_problem(refused, 409, "period_closed", "date")
    again = await client.get(f"/v1/invoices/{invoice['id']}", headers=t.auth)
    assert again.json()["status"] == "draft"


async def test_closing_is_per_organization(client: httpx.AsyncClient) -> None:
    a, b = await sign_up(client), await sign_up(client)
    assert (await _period(client, a, "2026-01", "close")).status_code == 200
    assert (await _post(client, b, "2026-01-15")).status_code == 201
    listing = (await client.get("/v1/periods", headers=b.auth)).json()
    assert (listing["data"], listing["closed_through"]) == ([], None)
