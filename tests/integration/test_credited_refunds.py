"""Refunds of payments whose invoice was credited since: what a credit note gave the
customer as credit is never refunded a second time through the payment, and the invoice
never becomes owed again for what it no longer bills."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from tests.integration.billing import assert_problem, customer, finalized, line
from tests.integration.helpers import Tenant, sign_up
from tests.integration.payments import (
    assert_books_agree,
    counts,
    credited,
    invoice,
    paid,
    refund,
)


async def _credited_after_payment(
    client: httpx.AsyncClient, total: int, payment: int, credit: int
) -> tuple[Tenant, str, str, str]:
    """(tenant, customer, invoice, payment): the invoice paid `payment`, then credited
    `credit`."""
    t = await sign_up(client)
    who = (await customer(client, t))["id"]
    inv = (await finalized(client, t, who, line(total)))["id"]
    applied = [{"invoice": inv, "amount": payment}]
    pay = (await paid(client, t, who, payment, applied_to=applied))["id"]
    await credited(client, t, inv, amount=credit)
    return t, who, inv, pay


async def _credit_balance(client: httpx.AsyncClient, t: Tenant, who: str) -> int:
    found = await client.get(f"/v1/customers/{who}", headers=t.auth)
    balance: int = found.json()["credit_balance"]
    return balance


@pytest.mark.parametrize(
    ("total", "payment", "credit", "status"),
    [(10_000, 10_000, 10_000, "paid"), (100, 60, 100, "paid"), (10_000, 10_000, 4_000, "paid")],
    ids=["paid-in-full", "partly-paid", "partly-credited"],
)
async def test_refunding_what_a_credit_note_gave_back_is_refused_and_writes_nothing(
    client: httpx.AsyncClient,
    owner_conn: asyncpg.Connection,
    total: int,
    payment: int,
    credit: int,
    status: str,
) -> None:
    t, who, inv, pay = await _credited_after_payment(client, total, payment, credit)
    before = await counts(owner_conn, t.org_id), await _credit_balance(client, t, who)
    response = await refund(client, t, pay, payment)
    assert_problem(response, 409, "refund_reopens_credited_invoice", "amount")
    assert "refund that credit instead" in response.json()["detail"]
    assert (await counts(owner_conn, t.org_id), await _credit_balance(client, t, who)) == before
    found = await invoice(client, t, inv)
    assert (found["status"], found["amount_remaining"]) == (status, 0)
    await assert_books_agree(owner_conn, t.org_id)


async def test_what_no_credit_note_took_is_still_refunded(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t, who, inv, pay = await _credited_after_payment(client, 10_000, 10_000, 4_000)
    response = await refund(client, t, pay, 6_000)
    assert response.status_code == 201, response.text
    found = await invoice(client, t, inv)
    assert (found["status"], found["amount_remaining"], found["amount_credited"]) == (
        "open",
        6_000,
        4_000,
    )
    assert await _credit_balance(client, t, who) == 4_000
    assert_problem(
        await refund(client, t, pay, 1), 409, "refund_reopens_credited_invoice", "amount"
    )
    await assert_books_agree(owner_conn, t.org_id)


async def test_the_database_refuses_uncovering_a_credited_invoice_whatever_sql_is_sent(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t, _, inv, pay = await _credited_after_payment(client, 10_000, 10_000, 10_000)
    transaction = owner_conn.transaction()
    await transaction.start()
    try:
        await owner_conn.execute("SELECT set_config('app.organization_id', $1, true)", t.org_id)
        updated = await owner_conn.execute(
            "UPDATE payment_applications SET amount_refunded = 1"
            " WHERE payment_id = $1 AND invoice_id = $2",
            pay,
            inv,
        )
        assert updated == "UPDATE 1"
        # Checked at commit, or when the deferred checks are asked for.
        with pytest.raises(asyncpg.CheckViolationError) as refused:
            await owner_conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
    finally:
        await transaction.rollback()
    assert refused.value.constraint_name == "invoice_credit_covered"
