"""Customer credit (overpayments and credit notes on paid invoices) shown on the
customer and applied to open invoices: what it posts, which credit goes first, and
racing applications that never spend the same credit twice."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from tests.integration.billing import act, assert_problem, customer, finalized
from tests.integration.helpers import Tenant, sign_up
from tests.integration.payments import (
    apply_credit,
    assert_books_agree,
    credited,
    invoice,
    paid,
    posted,
)


async def balance(client: httpx.AsyncClient, t: Tenant, customer_id: str) -> int:
    got = await client.get(f"/v1/customers/{customer_id}", headers=t.auth)
    return int(got.json()["credit_balance"])


async def test_an_overpayment_is_spent_on_a_later_invoice_growing_its_application(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    cus = (await customer(client, t))["id"]
    first = await finalized(client, t, cus)
    payment = await paid(client, t, cus, 12_000)
    assert await balance(client, t, cus) == 2_000
    later = await finalized(client, t, cus)
    # Part of the credit, then the rest: the payment's one application to it grows.
    for amount, remaining in ((500, 9_500), (1_500, 8_000)):
        applied = await apply_credit(client, t, later["id"], amount)
        assert applied.status_code == 200, applied.text
        assert (applied.json()["amount_paid"], applied.json()["amount_remaining"]) == (
            10_000 - remaining,
            remaining,
        )
    now = (await client.get(f"/v1/payments/{payment['id']}", headers=t.auth)).json()
    assert (now["amount_unapplied"], now["applied_to"]) == (
        0,
        [
            {"invoice": first["id"], "amount": 10_000, "amount_refunded": 0},
            {"invoice": later["id"], "amount": 2_000, "amount_refunded": 0},
        ],
    )
    assert await balance(client, t, cus) == 0
    assert_problem(
        await apply_credit(client, t, later["id"], 1), 409, "insufficient_credit", "amount"
    )
    listed = await client.get("/v1/customers", headers=t.auth)
    assert [c["credit_balance"] for c in listed.json()["data"]] == [0]
    await assert_books_agree(owner_conn, t.org_id)


async def test_the_oldest_credit_goes_first_and_a_written_off_invoice_recovers_bad_debt(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    cus = (await customer(client, t))["id"]
    settled = await finalized(client, t, cus)
    await paid(client, t, cus, 10_000)
    note = await credited(client, t, settled["id"], amount=3_000)
    payment = await paid(client, t, cus, 1_000)
    assert await balance(client, t, cus) == 4_000
    bad = await finalized(client, t, cus)
    assert (await act(client, t, bad["id"], "mark-uncollectible")).status_code == 200
    applied = await apply_credit(client, t, bad["id"], 3_500, date="2026-12-31")
    assert applied.status_code == 200, applied.text
    assert (applied.json()["status"], applied.json()["amount_credit_applied"]) == (
        "uncollectible",
        3_000,
    )
    left = (await client.get(f"/v1/payments/{payment['id']}", headers=t.auth)).json()
    assert left["amount_unapplied"] == 500
    got = (await client.get(f"/v1/credit-notes/{note['id']}", headers=t.auth)).json()
    assert got["amount_unapplied"] == 0
    entry = await owner_conn.fetchval(
        "SELECT id FROM journal_entries WHERE organization_id = $1"
        " AND description LIKE 'Customer credit applied%'",
        t.org_id,
    )
    assert await posted(client, t, entry) == [("2300", "debit", 3_500), ("6900", "credit", 3_500)]
    await assert_books_agree(owner_conn, t.org_id)


async def test_racing_applications_never_spend_more_credit_than_there_is(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    cus = (await customer(client, t))["id"]
    await paid(client, t, cus, 5_000)
    targets = [(await finalized(client, t, cus))["id"] for _ in range(2)]
    responses = await asyncio.gather(
        *(apply_credit(client, t, targets[i % 2], 2_000) for i in range(6))
    )
    assert sorted(r.status_code for r in responses) == [200] * 2 + [409] * 4
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "insufficient_credit", "amount")
    assert await balance(client, t, cus) == 1_000
    owed = [(await invoice(client, t, i))["amount_remaining"] for i in targets]
    assert sum(owed) == 16_000
    books = await assert_books_agree(owner_conn, t.org_id)
    assert books.credits == {"USD": 1_000}
