"""The money range (docs/api.md, "Amounts"): every amount up to the documented maximum is
accepted, and no sum of accepted amounts makes a later read fail.

Two entries at the maximum to one account, or two payments at the maximum from one
customer, once made the reports and the customer answer 500 ("bigint out of range"); the
same books past the 64-bit range (9,500 postings at the maximum to one account, 9,224
payments at the maximum from one customer) now read, close and reopen to the exact sums;
so do books written before the range existed. Above the maximum, the database refuses an
amount whatever SQL is sent, and a fiscal year too large for one closing entry is refused
with nothing written. (The API's 422s at the maximum + 1 are in the bad-input corpora:
test_bad_input.py, test_invoice_bad_input.py, test_payment_bad_input.py,
test_credit_note_bad_input.py.)
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from accounting_api.db import migrations
from accounting_api.domain import ids, money
from accounting_api.services import organizations
from tests.integration import conftest
from tests.integration.billing import customer, draft, finalized, line
from tests.integration.helpers import (
    Tenant,
    entry,
    insert_legacy_owner,
    post_entry,
    sign_up,
    token,
)
from tests.integration.payments import paid

MAX = money.MAX_AMOUNT
BIGINT = 2**63 - 1


async def get(client: httpx.AsyncClient, t: Tenant, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params, headers=t.auth)
    assert response.status_code == 200, response.text
    return response.json()


async def reports(client: httpx.AsyncClient, t: Tenant, as_of: str) -> dict[str, Any]:
    """Per report, the one currency block of its answer (USD)."""
    found = {
        "trial": await get(client, t, "/v1/reports/trial-balance", as_of=as_of),
        "sheet": await get(client, t, "/v1/reports/balance-sheet", as_of=as_of),
        "income": await get(
            client, t, "/v1/reports/income-statement", **{"from": "2026-01-01", "to": as_of}
        ),
    }
    return {name: report["currencies"][0] for name, report in found.items()}


def trial_line(trial: dict[str, Any], code: str) -> tuple[int, int]:
    line = next(a for a in trial["accounts"] if a["code"] == code)
    return line["debit"], line["credit"]


async def balance(client: httpx.AsyncClient, t: Tenant, code: str, as_of: str) -> int:
    found = await get(client, t, f"/v1/accounts/{t.accounts[code]}/balance", as_of=as_of)
    return int(found["amount"])


async def assert_sales_read(client: httpx.AsyncClient, t: Tenant, sales: int) -> None:
    """`sales` of cash debited and revenue credited, seen by every report."""
    found = await reports(client, t, "2026-06-30")
    assert trial_line(found["trial"], "1000") == (sales, 0)
    assert trial_line(found["trial"], "4000") == (0, sales)
    assert found["trial"]["total_debit"] == found["trial"]["total_credit"] == sales
    assert found["sheet"]["total_assets"] == sales
    assert found["sheet"]["current_earnings"] == sales
    assert found["sheet"]["total_liabilities_and_equity"] == sales
    assert found["income"]["revenue"]["total"] == found["income"]["net_income"] == sales
    assert await balance(client, t, "1000", "2026-06-30") == sales
    assert await balance(client, t, "4000", "2026-06-30") == sales


async def test_the_api_and_the_database_hold_amounts_to_one_documented_maximum(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    assert await owner_conn.fetchval("SELECT money_max_amount()") == MAX == 999_999_999_999_999
    document = (await client.get("/openapi.json")).json()
    assert document["components"]["schemas"]["PostingIn"]["properties"]["amount"]["maximum"] == MAX


async def sql_entry(conn: asyncpg.Connection, t: Tenant, entry_id: str, amount: int) -> None:
    """Cash debit, revenue credit of `amount`, written by SQL behind the API's back."""
    async with conn.transaction():
        await conn.execute("SELECT set_config('app.organization_id', $1, true)", t.org_id)
        await conn.execute(
            "INSERT INTO journal_entries (id, organization_id, entry_date, description)"
            " VALUES ($2, $1, '2026-01-15', 'direct SQL')",
            t.org_id,
            entry_id,
        )
        await conn.execute(
            "INSERT INTO postings (organization_id, journal_entry_id, line, account_id,"
            " currency, amount, entry_date) SELECT $1, $2, line, account, 'USD', signed,"
            " '2026-01-15' FROM unnest($3::text[], $4::int8[]) WITH ORDINALITY"
            " AS l(account, signed, line)",
            t.org_id,
            entry_id,
            [t.accounts["1000"], t.accounts["4000"]],
            [amount, -amount],
        )


async def test_the_database_refuses_an_amount_above_the_maximum_whatever_sql_is_sent(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    with pytest.raises(asyncpg.CheckViolationError) as caught:
        await sql_entry(owner_conn, t, "je_over_max", MAX + 1)
    assert caught.value.constraint_name == "postings_amount_in_range"


async def test_two_entries_at_the_maximum_to_one_account_read_exactly(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    for _ in range(2):
        posted = await post_entry(client, t, entry(t.accounts["1000"], t.accounts["4000"], MAX))
        assert posted.status_code == 201, posted.text
    await assert_sales_read(client, t, 2 * MAX)


async def test_two_payments_at_the_maximum_leave_the_customer_usable(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    who = (await customer(client, t))["id"]
    for _ in range(2):
        await paid(client, t, who, MAX)
    assert (await get(client, t, f"/v1/customers/{who}"))["credit_balance"] == 2 * MAX
    listed = await get(client, t, "/v1/customers")
    assert [c["credit_balance"] for c in listed["data"]] == [2 * MAX]
    invoice = await finalized(client, t, who, line(MAX))
    assert invoice["total"] == MAX
    payment = await paid(client, t, who, MAX)
    assert payment["amount_applied"] == MAX  # to the new invoice, oldest open first
    assert (await get(client, t, f"/v1/customers/{who}"))["credit_balance"] == 2 * MAX


# --- past the 64-bit range ---------------------------------------------------------------

PER_SIDE = 250
"""Debits (and credits) of one entry: 500 postings, the most an entry may have."""
ENTRIES = 38
"""9,500 postings at the maximum to cash and to revenue: more than a bigint can sum."""


def big_sale(t: Tenant) -> dict[str, Any]:
    postings = [
        {"account_id": t.accounts[code], "side": side, "amount": MAX}
        for code, side in (("1000", "debit"), ("4000", "credit"))
        for _ in range(PER_SIDE)
    ]
    return {"date": "2026-01-15", "description": "Big sale", "postings": postings}


async def book_past_the_64_bit_range(client: httpx.AsyncClient, t: Tenant) -> int:
    """Cash debited and revenue credited beyond a bigint; what each holds."""
    for _ in range(2):
        body = {"entries": [big_sale(t)] * (ENTRIES // 2)}
        posted = await client.post("/v1/journal-entries/batch", json=body, headers=t.auth)
        assert posted.status_code == 201, posted.text
    sales = ENTRIES * PER_SIDE * MAX
    assert sales > BIGINT
    return sales


async def act_on(client: httpx.AsyncClient, t: Tenant, month: str, action: str) -> None:
    response = await client.post(f"/v1/periods/{month}/{action}", headers=t.auth)
    assert response.status_code == 200, response.text


async def test_an_account_past_the_64_bit_range_reports_closes_and_reopens_exactly(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    june = {"fiscal_year_end_month": 6}
    assert (await client.patch("/v1/organization", json=june, headers=t.auth)).is_success
    sales = await book_past_the_64_bit_range(client, t)
    await assert_sales_read(client, t, sales)
    # January's closing balances hold it; June closes the fiscal year: revenue goes to
    # retained earnings in postings of at most the maximum each.
    await act_on(client, t, "2026-01", "close")
    await assert_sales_read(client, t, sales)
    await act_on(client, t, "2026-06", "close")
    found = await reports(client, t, "2026-06-30")
    assert trial_line(found["trial"], "4000") == (0, 0)
    assert trial_line(found["trial"], "3900") == (0, sales)
    assert found["sheet"]["current_earnings"] == sales  # the year's, closed or not
    after = await get(client, t, "/v1/reports/balance-sheet", as_of="2026-07-31")
    assert after["currencies"][0]["retained_earnings"] == sales
    largest = await owner_conn.fetchval(
        "SELECT max(abs(amount)) FROM postings WHERE organization_id = $1", t.org_id
    )
    assert largest == MAX
    await act_on(client, t, "2026-06", "reopen")
    await assert_sales_read(client, t, sales)
    assert trial_line((await reports(client, t, "2026-06-30"))["trial"], "3900") == (0, 0)


async def test_a_fiscal_year_too_large_for_one_closing_entry_is_refused_and_nothing_written(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    """17,000 postings at the maximum to revenue: closing them takes 34,000 postings of at
    most the maximum (revenue and retained earnings), more than the 32,768 lines of one
    entry."""
    t = await sign_up(client)
    june = {"fiscal_year_end_month": 6}
    assert (await client.patch("/v1/organization", json=june, headers=t.auth)).is_success
    for _ in range(4):
        body = {"entries": [big_sale(t)] * 17}
        posted = await client.post("/v1/journal-entries/batch", json=body, headers=t.auth)
        assert posted.status_code == 201, posted.text
    entries = await owner_conn.fetchval(
        "SELECT count(*) FROM journal_entries WHERE organization_id = $1", t.org_id
    )
    refused = await client.post("/v1/periods/2026-06/close", headers=t.auth)
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert (problem["code"], problem["param"]) == ("fiscal_year_closing_too_large", "period")
    assert "34000 postings" in problem["detail"]
    assert (await get(client, t, "/v1/periods"))["data"] == []
    assert entries == await owner_conn.fetchval(
        "SELECT count(*) FROM journal_entries WHERE organization_id = $1", t.org_id
    )


async def test_a_customers_credit_past_the_64_bit_range_reads_exactly(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    """9,224 payments at the maximum, each the customer's credit. Written by SQL as the
    payments' statement writes them (one entry each: cash debit, customer credits credit)
    to keep the test fast; 9,224 API calls would make the same rows."""
    t = await sign_up(client)
    who = (await customer(client, t))["id"]
    await paid(client, t, who, MAX)  # and the billing accounts with it
    count = BIGINT // MAX + 1
    await record_payments(owner_conn, t, who, count - 1)
    credit = count * MAX
    assert credit > BIGINT
    assert (await get(client, t, f"/v1/customers/{who}"))["credit_balance"] == credit
    listed = await get(client, t, "/v1/customers")
    assert [c["credit_balance"] for c in listed["data"]] == [credit]
    invoice = await draft(client, t, who, line(MAX))
    assert invoice["customer"] == who
    await paid(client, t, who, MAX)
    assert (await get(client, t, f"/v1/customers/{who}"))["credit_balance"] == credit + MAX


async def record_payments(conn: asyncpg.Connection, t: Tenant, who: str, count: int) -> None:
    credits = await conn.fetchval(
        "SELECT id FROM accounts WHERE organization_id = $1 AND code = '2300'", t.org_id
    )
    async with conn.transaction():
        await conn.execute("SELECT set_config('app.organization_id', $1, true)", t.org_id)
        await conn.execute(
            """
            WITH n AS (SELECT g, 'je_big_' || g AS je FROM generate_series(1, $5::int) g),
            entries AS (
              INSERT INTO journal_entries (id, organization_id, entry_date, description)
              SELECT je, $1, '2026-02-01', 'Payment' FROM n
            ), lines AS (
              INSERT INTO postings (organization_id, journal_entry_id, line, account_id,
                                    currency, amount, entry_date)
              SELECT $1, je, side, CASE side WHEN 0 THEN $3 ELSE $4 END, 'USD',
                     CASE side WHEN 0 THEN $6::bigint ELSE -$6::bigint END, '2026-02-01'
                FROM n, (VALUES (0), (1)) s(side)
            )
            INSERT INTO payments (organization_id, id, customer_id, currency, amount, method,
                                  received_on, journal_entry_id)
            SELECT $1, 'pay_big_' || g, $2, 'USD', $6, 'bank_transfer', '2026-02-01', je FROM n
            """,
            t.org_id,
            who,
            t.accounts["1000"],
            credits,
            count,
            MAX,
        )


# --- books from before the range -----------------------------------------------------------


async def legacy_books(owner: asyncpg.Connection) -> Tenant:
    """Books as the version of 0022 wrote them, by SQL (this version's own writes need its
    later migrations): an organization, its owner, the default chart, an entry of 2^63 - 1,
    and January closed by 0019's function."""
    org_id, owner_id = ids.new_id("org"), ids.new_id("user")
    email = f"owner-{secrets.token_hex(6)}@example.com"
    chart = organizations.default_chart("USD")
    async with owner.transaction():
        await owner.execute("SELECT set_config('app.organization_id', $1, true)", org_id)
        await insert_legacy_owner(owner, org_id, owner_id, email)
        await owner.executemany(
            "INSERT INTO accounts (id, organization_id, code, name, type, currency,"
            " normal_balance) VALUES ($1, $2, $3, $4, $5, 'USD', $6)",
            [(a.id, org_id, a.code, a.name, a.type, a.normal_balance) for a in chart],
        )
    t = Tenant(org_id, email, "", {a.code: a.id for a in chart})
    await sql_entry(owner, t, "je_legacy", BIGINT)
    async with owner.transaction():
        await owner.execute("SELECT set_config('app.organization_id', $1, true)", org_id)
        await owner.execute(
            "SELECT FROM close_accounting_period('2026-01-01', $1, NULL, $2)",
            owner_id,
            ids.new_id("je"),
        )
    return t


async def test_books_from_before_the_range_read_exactly_after_migration_0023(
    make_app: Callable[..., Starlette],
) -> None:
    """An entry of 2^63 - 1 and January closed on it under 0022; after 0023 an entry at
    the maximum on top reads, and closes, to the exact sum beyond a bigint."""
    db = await conftest.create_empty_database("ua_money")
    owner = await asyncpg.connect(db.owner_url)
    app = make_app(database_url=db.app_url, migration_database_url=db.owner_url)
    try:
        await migrations.apply(owner, through=22)
        t = await legacy_books(owner)
        await migrations.apply(owner)
        async with conftest.serve(app) as client:
            t.token = await token(client, t.email)
            later = entry(t.accounts["1000"], t.accounts["4000"], MAX, "2026-02-10")
            assert (await post_entry(client, t, later)).status_code == 201
            await assert_sales_read(client, t, BIGINT + MAX)
            await act_on(client, t, "2026-02", "close")
            await assert_sales_read(client, t, BIGINT + MAX)
    finally:
        await owner.close()
        await conftest.drop_database(db.name)
