"""Refunds of payments whose invoice was credited since: what a credit note gave the
customer as credit is never refunded a second time through the payment, and the invoice
never becomes owed again for what it no longer bills."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.billing import assert_problem, customer, finalized, line
from tests.integration.helpers import Tenant, sign_up
from tests.integration.payments import (
    PAID_ON,
    apply_credit,
    assert_books_agree,
    counts,
    credit,
    credited,
    invoice,
    paid,
    posted,
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


async def test_an_invoice_uncovered_before_the_rule_existed_still_takes_payments(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    # A refund made before 0012 left the invoice owing 4,000 of what a credit note took.
    t, who, inv, pay = await _credited_after_payment(client, 10_000, 10_000, 10_000)
    async with owner_conn.transaction():
        await owner_conn.execute("SELECT set_config('app.organization_id', $1, true)", t.org_id)
        await owner_conn.execute("ALTER TABLE invoices DISABLE TRIGGER invoices_credit_covered")
        await owner_conn.execute(
            "UPDATE payment_applications SET amount_refunded = 4000"
            " WHERE payment_id = $1 AND invoice_id = $2",
            pay,
            inv,
        )
        await owner_conn.execute(
            "UPDATE invoices SET status = 'open', paid_at = NULL WHERE id = $1", inv
        )
        await owner_conn.execute("SET CONSTRAINTS ALL IMMEDIATE")  # fire what is pending
        await owner_conn.execute("ALTER TABLE invoices ENABLE TRIGGER invoices_credit_covered")
    assert (await invoice(client, t, inv))["amount_remaining"] == 4_000
    # Paying it in part only brings it closer to covered: accepted (0016).
    partial = await client.post(
        "/v1/payments",
        json={
            "customer": who,
            "amount": 1_000,
            "method": "card",
            "date": PAID_ON,
            "applied_to": [{"invoice": inv, "amount": 1_000}],
        },
        headers=t.auth,
    )
    assert partial.status_code == 201, partial.text
    assert (await invoice(client, t, inv))["amount_remaining"] == 3_000


# --- goods returned, credit note, money back ---------------------------------------------


async def refund_credit(
    client: httpx.AsyncClient, t: Tenant, note_id: str, amount: int, **fields: Any
) -> httpx.Response:
    body = {"credit_note": note_id, "amount": amount, "date": PAID_ON} | fields
    return await client.post("/v1/refunds", json=body, headers=t.auth)


@pytest.mark.parametrize(
    ("total", "payment", "credit", "back"),
    [(10_000, 10_000, 10_000, 10_000), (100, 60, 100, 60), (10_000, 10_000, 4_000, 1_500)],
    ids=["paid-in-full", "partly-paid", "in-parts"],
)
async def test_a_credit_notes_credit_is_refunded_as_money_and_the_invoice_stays_settled(
    client: httpx.AsyncClient,
    owner_conn: asyncpg.Connection,
    total: int,
    payment: int,
    credit: int,
    back: int,
) -> None:
    t, who, inv, _ = await _credited_after_payment(client, total, payment, credit)
    (note,) = (await client.get(f"/v1/credit-notes?invoice={inv}", headers=t.auth)).json()["data"]
    response = await refund_credit(client, t, note["id"], back, reason="goods returned")
    assert response.status_code == 201, response.text
    made = response.json()
    assert (made["payment"], made["credit_note"], made["amount"]) == (None, note["id"], back)
    assert (made["from_credit"], made["from_invoices"]) == (back, 0)
    assert await posted(client, t, made["journal_entry_id"]) == [
        ("1000", "credit", back),
        ("2300", "debit", back),
    ]
    held = note["amount_unapplied"] - back
    assert await _credit_balance(client, t, who) == held
    found = await client.get(f"/v1/credit-notes/{note['id']}", headers=t.auth)
    assert (found.json()["amount_refunded"], found.json()["amount_unapplied"]) == (back, held)
    after = await invoice(client, t, inv)
    assert (after["status"], after["amount_remaining"]) == ("paid", 0)
    listed = await client.get(f"/v1/refunds?credit_note={note['id']}", headers=t.auth)
    assert [r["id"] for r in listed.json()["data"]] == [made["id"]]
    await assert_books_agree(owner_conn, t.org_id)
    over = await refund_credit(client, t, note["id"], held + 1)
    assert_problem(over, 409, "refund_exceeds_credit", "amount")


async def test_refunded_credit_is_no_longer_applied_to_other_invoices(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t, who, _, _ = await _credited_after_payment(client, 10_000, 10_000, 4_000)
    (note,) = (await client.get("/v1/credit-notes", headers=t.auth)).json()["data"]
    assert (await refund_credit(client, t, note["id"], 4_000)).status_code == 201
    other = (await finalized(client, t, who, line(5_000)))["id"]
    assert_problem(await apply_credit(client, t, other, 1), 409, "insufficient_credit", "amount")
    await assert_books_agree(owner_conn, t.org_id)


@pytest.mark.parametrize(
    ("total", "payment", "credit", "back"),
    [(10_000, 10_000, 10_000, 10_000), (100, 60, 100, 60), (10_000, 10_000, 4_000, 1_500)],
    ids=["paid-in-full", "partly-paid", "in-part"],
)
async def test_a_credit_note_gives_money_back_at_once_with_refund_amount(
    client: httpx.AsyncClient,
    owner_conn: asyncpg.Connection,
    total: int,
    payment: int,
    credit: int,
    back: int,
) -> None:
    t = await sign_up(client)
    who = (await customer(client, t))["id"]
    inv = (await finalized(client, t, who, line(total)))["id"]
    await paid(client, t, who, payment, applied_to=[{"invoice": inv, "amount": payment}])
    note = await credited(client, t, inv, amount=credit, refund_amount=back)
    kept = note["post_payment_amount"] - back
    assert (note["amount_refunded"], note["amount_unapplied"]) == (back, kept)
    (made,) = (await client.get(f"/v1/refunds?credit_note={note['id']}", headers=t.auth)).json()[
        "data"
    ]
    assert (made["amount"], made["from_credit"], made["date"]) == (back, back, note["date"])
    assert await posted(client, t, made["journal_entry_id"]) == [
        ("1000", "credit", back),
        ("2300", "debit", back),
    ]
    assert await _credit_balance(client, t, who) == kept
    after = await invoice(client, t, inv)
    assert (after["status"], after["amount_remaining"]) == ("paid", 0)
    await assert_books_agree(owner_conn, t.org_id)
    # The audit trail has both: the credit note and the refund made with it.
    trail = (await client.get("/v1/audit-events", headers=t.auth)).json()["data"]
    made_now = {(e["action"], e["object_id"]) for e in trail}
    assert {("credit_note.created", note["id"]), ("refund.created", made["id"])} <= made_now


@pytest.mark.parametrize(
    ("payment", "back"), [(0, 1), (6_000, 6_001)], ids=["nothing-paid", "more-than-paid"]
)
async def test_refund_amount_beyond_what_was_paid_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, payment: int, back: int
) -> None:
    t = await sign_up(client)
    who = (await customer(client, t))["id"]
    inv = (await finalized(client, t, who, line(10_000)))["id"]
    if payment:
        await paid(client, t, who, payment, applied_to=[{"invoice": inv, "amount": payment}])
    before = await counts(owner_conn, t.org_id)
    response = await credit(client, t, inv, amount=10_000, refund_amount=back)
    assert_problem(response, 409, "refund_exceeds_credit", "refund_amount")
    assert await counts(owner_conn, t.org_id) == before
    await assert_books_agree(owner_conn, t.org_id)
