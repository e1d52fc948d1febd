"""Payments and refunds through the API against real PostgreSQL: partial and full
payments, overpayment as credit, refunds in parts, recoveries of written-off invoices,
racing payments; after each step the books balance, receivable is what open invoices
still owe and customer credits are the payments' unapplied parts."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
from prometheus_client import REGISTRY

from tests.integration.billing import act, assert_problem, customer, finalized, line
from tests.integration.helpers import Tenant, sign_up
from tests.integration.payments import assert_books_agree, invoice, paid, pay, posted, refund


async def setup(client: httpx.AsyncClient, **fields: Any) -> tuple[Tenant, str, dict[str, Any]]:
    t = await sign_up(client)
    cus = (await customer(client, t, **fields))["id"]
    return t, cus, await finalized(client, t, cus)


async def test_a_partial_then_a_full_payment_pays_the_invoice(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t, cus, inv = await setup(client)
    first = await paid(client, t, cus, 4_000, applied_to=[{"invoice": inv["id"], "amount": 4_000}])
    assert first["id"].startswith("pay_")
    assert (first["status"], first["amount_applied"], first["amount_unapplied"]) == (
        "succeeded",
        4_000,
        0,
    )
    assert await posted(client, t, first["journal_entry_id"]) == [
        ("1000", "debit", 4_000),
        ("1200", "credit", 4_000),
    ]
    now = await invoice(client, t, inv["id"])
    assert (now["status"], now["amount_paid"], now["amount_remaining"]) == ("open", 4_000, 6_000)
    await assert_books_agree(owner_conn, t.org_id)

    second = await paid(client, t, cus, 6_000, method="bank_transfer")
    assert second["applied_to"] == [{"invoice": inv["id"], "amount": 6_000, "amount_refunded": 0}]
    now = await invoice(client, t, inv["id"])
    assert (now["status"], now["amount_remaining"]) == ("paid", 0)
    assert now["paid_at"] is not None
    await assert_books_agree(owner_conn, t.org_id)
    listed = await client.get("/v1/payments", params={"customer": cus}, headers=t.auth)
    assert [p["id"] for p in listed.json()["data"]] == [second["id"], first["id"]]
    got = await client.get(f"/v1/payments/{first['id']}", headers=t.auth)
    assert got.json() == first


async def test_without_applied_to_the_oldest_invoices_are_paid_first(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t, cus, later = await setup(client, name="Initech")
    older = await finalized(client, t, cus, line(5_000), due_date="2026-01-20")
    payment = await paid(client, t, cus, 7_000)
    assert [(a["invoice"], a["amount"]) for a in payment["applied_to"]] == [
        (older["id"], 5_000),
        (later["id"], 2_000),
    ]
    assert (await invoice(client, t, older["id"]))["status"] == "paid"
    assert (await invoice(client, t, later["id"]))["amount_remaining"] == 8_000
    await assert_books_agree(owner_conn, t.org_id)


async def test_an_overpayment_becomes_customer_credit_and_refunds_come_from_it_first(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t, cus, inv = await setup(client)
    payment = await paid(client, t, cus, 15_000)
    assert (payment["amount_applied"], payment["amount_unapplied"]) == (10_000, 5_000)
    assert await posted(client, t, payment["journal_entry_id"]) == [
        ("1000", "debit", 15_000),
        ("1200", "credit", 10_000),
        ("2300", "credit", 5_000),
    ]
    assert (await invoice(client, t, inv["id"]))["status"] == "paid"
    await assert_books_agree(owner_conn, t.org_id)

    steps = [(3_000, 3_000, "paid", 0), (4_000, 2_000, "open", 2_000), (8_000, 0, "open", 10_000)]
    for amount, from_credit, status, remaining in steps:
        response = await refund(client, t, payment["id"], amount, reason="customer asked")
        assert response.status_code == 201, response.text
        made = response.json()
        assert made["id"].startswith("re_")
        assert (made["from_credit"], made["from_invoices"]) == (from_credit, amount - from_credit)
        now = await invoice(client, t, inv["id"])
        assert (now["status"], now["amount_remaining"]) == (status, remaining)
        await assert_books_agree(owner_conn, t.org_id)
    last = made
    assert await posted(client, t, last["journal_entry_id"]) == [
        ("1000", "credit", 8_000),
        ("1200", "debit", 8_000),
    ]
    after = (await client.get(f"/v1/payments/{payment['id']}", headers=t.auth)).json()
    assert (after["status"], after["amount_refunded"], after["amount_applied"]) == (
        "refunded",
        15_000,
        0,
    )
    too_much = await refund(client, t, payment["id"], 1)
    assert_problem(too_much, 409, "refund_exceeds_payment", "amount")
    listed = await client.get("/v1/refunds", params={"payment": payment["id"]}, headers=t.auth)
    assert [r["amount"] for r in listed.json()["data"]] == [8_000, 4_000, 3_000]
    # The reopened invoice can be paid again.
    await paid(client, t, cus, 10_000)
    assert (await invoice(client, t, inv["id"]))["status"] == "paid"
    await assert_books_agree(owner_conn, t.org_id)


async def test_paying_a_written_off_invoice_is_a_recovery_of_bad_debt(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t, cus, inv = await setup(client)
    await paid(client, t, cus, 3_000)
    written_off = await act(client, t, inv["id"], "mark-uncollectible", date="2026-02-02")
    assert written_off.status_code == 200, written_off.text
    await assert_books_agree(owner_conn, t.org_id)
    target = [{"invoice": inv["id"], "amount": 7_000}]
    recovery = await paid(client, t, cus, 7_000, applied_to=target, date="2026-03-01")
    assert await posted(client, t, recovery["journal_entry_id"]) == [
        ("1000", "debit", 7_000),
        ("6900", "credit", 7_000),
    ]
    now = await invoice(client, t, inv["id"])
    assert (now["status"], now["amount_paid"]) == ("paid", 10_000)
    await assert_books_agree(owner_conn, t.org_id)

    back = await refund(client, t, recovery["id"], 2_000, date="2026-03-02")
    assert back.status_code == 201, back.text
    assert await posted(client, t, back.json()["journal_entry_id"]) == [
        ("1000", "credit", 2_000),
        ("6900", "debit", 2_000),
    ]
    now = await invoice(client, t, inv["id"])
    assert (now["status"], now["amount_remaining"]) == ("uncollectible", 2_000)
    await assert_books_agree(owner_conn, t.org_id)


async def test_an_invoice_with_payments_is_not_voided_until_they_are_refunded(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t, cus, inv = await setup(client)
    payment = await paid(client, t, cus, 1_000)
    assert_problem(await act(client, t, inv["id"], "void"), 409, "conflict", None)
    assert (await invoice(client, t, inv["id"]))["status"] == "open"
    assert (await refund(client, t, payment["id"], 1_000)).status_code == 201
    assert (await act(client, t, inv["id"], "void")).status_code == 200
    await assert_books_agree(owner_conn, t.org_id)


async def test_a_payment_in_another_currency_uses_that_currencys_accounts(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t, cus, inv = await setup(client, currency="EUR")
    payment = await paid(client, t, cus, 12_000, currency="EUR")
    assert payment["currency"] == "EUR"
    assert await posted(client, t, payment["journal_entry_id"]) == [
        ("1000.EUR", "debit", 12_000),
        ("1200.EUR", "credit", 10_000),
        ("2300", "credit", 2_000),
    ]
    assert (await invoice(client, t, inv["id"]))["status"] == "paid"
    books = await assert_books_agree(owner_conn, t.org_id)
    assert books.credits == {"EUR": 2_000}


def _processed(method: str, status: str) -> float:
    labels = {"method": method, "status": status}
    return REGISTRY.get_sample_value("payments_processed_total", labels) or 0.0


async def test_payments_are_counted_by_method_and_outcome(client: httpx.AsyncClient) -> None:
    t, cus, _ = await setup(client)
    ok, refused = _processed("check", "succeeded"), _processed("check", "refused")
    await paid(client, t, cus, 100, method="check")
    assert (await pay(client, t, cus, 100, method="check", currency="EUR")).status_code == 422
    assert _processed("check", "succeeded") == ok + 1
    assert _processed("check", "refused") == refused + 1


async def test_racing_payments_left_to_allocate_never_overpay_and_keep_the_rest_as_credit(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t, cus, inv = await setup(client)
    responses = await asyncio.gather(*(pay(client, t, cus, 700) for _ in range(20)))
    assert [r.status_code for r in responses] == [201] * 20
    made = [r.json() for r in responses]
    assert sum(p["amount_applied"] for p in made) == 10_000
    assert sum(p["amount_unapplied"] for p in made) == 4_000
    now = await invoice(client, t, inv["id"])
    assert (now["status"], now["amount_paid"]) == ("paid", 10_000)
    books = await assert_books_agree(owner_conn, t.org_id)
    assert books.credits == {"USD": 4_000}


async def test_racing_payments_naming_an_invoice_are_refused_once_it_is_covered(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t, cus, inv = await setup(client)
    target = [{"invoice": inv["id"], "amount": 700}]
    responses = await asyncio.gather(
        *(pay(client, t, cus, 700, applied_to=target) for _ in range(20))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * 14 + [409] * 6
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "amount_exceeds_amount_due"
    now = await invoice(client, t, inv["id"])
    assert (now["status"], now["amount_paid"]) == ("open", 9_800)
    count = await owner_conn.fetchval(
        "SELECT count(*) FROM payments WHERE organization_id = $1", t.org_id
    )
    assert count == 14
    await assert_books_agree(owner_conn, t.org_id)
