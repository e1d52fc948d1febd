"""Credit notes through the API against real PostgreSQL: on open, partly paid, paid and
written-off invoices, by amount and by line; numbering; what they post; the outbox
event and audit trail. After each step the books balance, receivable is what open
invoices still owe and customer credits are what payments and credit notes hold."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import asyncpg
import httpx

from tests.integration import conftest
from tests.integration.billing import act, assert_problem, customer, finalized, line
from tests.integration.helpers import Tenant, sign_up
from tests.integration.payments import (
    assert_books_agree,
    credit,
    credited,
    invoice,
    paid,
    posted,
)
from tests.integration.test_recognition import SUPPORT, balances, run_worker, schedule

TAXED = line(5_000, quantity=2, tax_rate_bps=1_000)
"""Amount 10,000, tax 1,000, total 11,000."""


async def setup(client: httpx.AsyncClient, *lines: dict[str, Any]) -> tuple[Tenant, str, Any]:
    t = await sign_up(client)
    cus = (await customer(client, t))["id"]
    return t, cus, await finalized(client, t, cus, *lines)


async def test_credit_notes_lower_what_an_open_invoice_owes_until_it_is_paid(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t, _, inv = await setup(client, TAXED)
    first = await credited(client, t, inv["id"], amount=5_500, memo="Half was not delivered")
    assert first["id"].startswith("cn_")
    assert (first["number"], first["amount"], first["subtotal"], first["tax"]) == (
        1,
        5_500,
        5_000,
        500,
    )
    assert (first["pre_payment_amount"], first["post_payment_amount"]) == (5_500, 0)
    assert first["lines"] == [
        {
            "line": inv["lines"][0]["id"],
            "quantity": None,
            "amount": 5_000,
            "tax": 500,
            "total": 5_500,
            "deferred": 0,
        }
    ]
    assert await posted(client, t, first["journal_entry_id"]) == [
        ("1200", "credit", 5_500),
        ("2100", "debit", 500),
        ("4000", "debit", 5_000),
    ]
    now = await invoice(client, t, inv["id"])
    assert (now["status"], now["total"], now["amount_credited"], now["amount_remaining"]) == (
        "open",
        11_000,
        5_500,
        5_500,
    )
    await assert_books_agree(owner_conn, t.org_id)

    # Both units back: all of the quantity takes exactly what the credit by amount left.
    by_line = [{"line": inv["lines"][0]["id"], "quantity": 2}]
    second = await credited(client, t, inv["id"], lines=by_line, reason="product_unsatisfactory")
    assert (second["number"], second["amount"], second["lines"][0]["quantity"]) == (2, 5_500, "2")
    now = await invoice(client, t, inv["id"])
    assert (now["status"], now["amount_remaining"], now["amount_credit_applied"]) == (
        "paid",
        0,
        11_000,
    )
    await assert_books_agree(owner_conn, t.org_id)
    refused = await credit(client, t, inv["id"], amount=1)
    assert_problem(refused, 409, "amount_exceeds_creditable", "amount")

    listed = await client.get("/v1/credit-notes", params={"invoice": inv["id"]}, headers=t.auth)
    assert [n["id"] for n in listed.json()["data"]] == [second["id"], first["id"]]
    got = await client.get(f"/v1/credit-notes/{first['id']}", headers=t.auth)
    assert got.json() == first
    events = await owner_conn.fetch(
        "SELECT data->>'id' AS id FROM outbox_events WHERE organization_id = $1"
        " AND type = 'credit_note.created' ORDER BY created_at",
        t.org_id,
    )
    assert [e["id"] for e in events] == [first["id"], second["id"]]
    audited = await client.get(
        "/v1/audit-events", params={"object_id": first["id"]}, headers=t.auth
    )
    assert [e["action"] for e in audited.json()["data"]] == ["credit_note.created"]


async def test_a_paid_invoices_credit_becomes_customer_credit_spent_on_the_next_invoice(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t, cus, inv = await setup(client)
    await paid(client, t, cus, 10_000)
    note = await credited(client, t, inv["id"], amount=4_000)
    assert (note["pre_payment_amount"], note["post_payment_amount"]) == (0, 4_000)
    assert await posted(client, t, note["journal_entry_id"]) == [
        ("2300", "credit", 4_000),
        ("4000", "debit", 4_000),
    ]
    now = await invoice(client, t, inv["id"])
    assert (now["status"], now["amount_remaining"], now["amount_credited"]) == ("paid", 0, 4_000)
    got = (await client.get(f"/v1/customers/{cus}", headers=t.auth)).json()
    assert got["credit_balance"] == 4_000
    assert (await assert_books_agree(owner_conn, t.org_id)).credits == {"USD": 4_000}

    later = await finalized(client, t, cus)
    applied = await client.post(
        f"/v1/invoices/{later['id']}/apply-credit", json={"amount": 4_000}, headers=t.auth
    )
    assert applied.status_code == 200, applied.text
    assert (applied.json()["amount_credit_applied"], applied.json()["amount_remaining"]) == (
        4_000,
        6_000,
    )
    entry = await owner_conn.fetchval(
        "SELECT id FROM journal_entries WHERE organization_id = $1"
        " AND description LIKE 'Customer credit applied%'",
        t.org_id,
    )
    assert await posted(client, t, entry) == [("1200", "credit", 4_000), ("2300", "debit", 4_000)]
    got = (await client.get(f"/v1/customers/{cus}", headers=t.auth)).json()
    assert got["credit_balance"] == 0
    assert (await client.get(f"/v1/credit-notes/{note['id']}", headers=t.auth)).json()[
        "amount_unapplied"
    ] == 0
    await assert_books_agree(owner_conn, t.org_id)


async def test_crediting_a_partly_paid_invoice_in_full_gives_back_what_was_paid_as_credit(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t, cus, inv = await setup(client)
    await paid(client, t, cus, 4_000)
    note = await credited(client, t, inv["id"], amount=10_000, reason="duplicate")
    assert (note["pre_payment_amount"], note["post_payment_amount"]) == (6_000, 4_000)
    assert await posted(client, t, note["journal_entry_id"]) == [
        ("1200", "credit", 6_000),
        ("2300", "credit", 4_000),
        ("4000", "debit", 10_000),
    ]
    assert (await invoice(client, t, inv["id"]))["status"] == "paid"
    assert (await assert_books_agree(owner_conn, t.org_id)).credits == {"USD": 4_000}
    assert_problem(await act(client, t, inv["id"], "void"), 409, "invoice_paid", "id")


async def test_crediting_a_written_off_invoice_takes_back_the_bad_debt(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t, _, inv = await setup(client)
    written_off = await act(client, t, inv["id"], "mark-uncollectible", date="2026-01-20")
    assert written_off.status_code == 200, written_off.text
    note = await credited(client, t, inv["id"], amount=10_000, reason="fraudulent")
    assert await posted(client, t, note["journal_entry_id"]) == [
        ("4000", "debit", 10_000),
        ("6900", "credit", 10_000),
    ]
    assert (await invoice(client, t, inv["id"]))["status"] == "paid"
    await assert_books_agree(owner_conn, t.org_id)


async def test_an_invoice_with_credit_notes_is_never_voided(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t, _, inv = await setup(client)
    await credited(client, t, inv["id"], amount=1_000)
    assert_problem(await act(client, t, inv["id"], "void"), 409, "invoice_credited", "id")
    assert (await invoice(client, t, inv["id"]))["status"] == "open"
    await assert_books_agree(owner_conn, t.org_id)


async def test_racing_credit_notes_for_the_whole_invoice_credit_it_once(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t, _, inv = await setup(client, TAXED)
    responses = await asyncio.gather(
        *(credit(client, t, inv["id"], amount=11_000) for _ in range(6))
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 5
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "amount_exceeds_creditable", "amount")
    row = await owner_conn.fetchrow(
        "SELECT (SELECT count(*) FROM credit_notes WHERE organization_id = $1) AS notes,"
        " (SELECT last_number FROM credit_note_number_counters WHERE organization_id = $1)"
        "   AS last_number",
        t.org_id,
    )
    assert row is not None
    assert tuple(row) == (1, 1)
    assert (await invoice(client, t, inv["id"]))["amount_credited"] == 11_000
    await assert_books_agree(owner_conn, t.org_id)


async def test_credit_notes_page_newest_first_and_filter_by_customer(
    client: httpx.AsyncClient,
) -> None:
    t, cus, inv = await setup(client)
    other = (await customer(client, t, name="Initech"))["id"]
    theirs = await finalized(client, t, other)
    made = [(await credited(client, t, inv["id"], amount=1_000))["id"] for _ in range(3)]
    await credited(client, t, theirs["id"], amount=500)
    page = await client.get(
        "/v1/credit-notes", params={"customer": cus, "limit": 2}, headers=t.auth
    )
    assert [n["id"] for n in page.json()["data"]] == made[:0:-1]
    assert page.json()["has_more"] is True
    rest = await client.get(
        "/v1/credit-notes",
        params={"customer": cus, "starting_after": made[1]},
        headers=t.auth,
    )
    assert ([n["id"] for n in rest.json()["data"]], rest.json()["has_more"]) == ([made[0]], False)


async def test_the_database_refuses_over_crediting_whatever_sql_is_sent(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t, _, inv = await setup(client)
    note = await credited(client, t, inv["id"], amount=6_000)
    for sql in (
        "UPDATE invoices SET amount_credited = total + 1 WHERE id = $1",
        "UPDATE invoices SET amount_credit_applied = total - amount_paid + 1 WHERE id = $1",
        "UPDATE credit_note_applications SET amount = 6001 WHERE invoice_id = $1",
    ):
        try:
            await owner_conn.execute(sql, inv["id"])
        except asyncpg.CheckViolationError:
            continue
        raise AssertionError(f"not refused: {sql}")
    try:
        await owner_conn.execute("DELETE FROM credit_notes WHERE id = $1", note["id"])
    except asyncpg.ObjectNotInPrerequisiteStateError:
        pass
    else:
        raise AssertionError("a credit note was deleted")
    await assert_books_agree(owner_conn, t.org_id)


async def test_a_deferred_line_is_credited_from_what_is_not_yet_recognized_first(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, database: conftest.TestDatabase
) -> None:
    t, _, inv = await setup(client, SUPPORT)
    await run_worker(database, datetime.date(2026, 3, 31))
    recognized = (await balances(owner_conn, t.org_id))["4000"]
    assert recognized < 0

    first = await credited(client, t, inv["id"], amount=30_000, date="2026-04-01")
    assert first["lines"][0]["deferred"] == 30_000
    assert await posted(client, t, first["journal_entry_id"]) == [
        ("1200", "credit", 30_000),
        ("2400", "debit", 30_000),
    ]
    await run_worker(database, datetime.date(2027, 1, 1))
    after_year = await balances(owner_conn, t.org_id)
    assert (after_year["4000"], after_year["2400"]) == (-90_000, 0)
    pieces = await schedule(owner_conn, inv["id"])
    assert pieces[-1]["status"] == "cancelled"

    rest = await credited(client, t, inv["id"], amount=90_000, date="2027-01-02")
    assert rest["lines"][0]["deferred"] == 0
    assert await posted(client, t, rest["journal_entry_id"]) == [
        ("1200", "credit", 90_000),
        ("4000", "debit", 90_000),
    ]
    final = await balances(owner_conn, t.org_id)
    assert (final["4000"], final["2400"], final["1200"]) == (0, 0, 0)
    await assert_books_agree(owner_conn, t.org_id)


async def test_a_credit_note_taking_back_recognized_and_deferred_revenue_splits_them(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, database: conftest.TestDatabase
) -> None:
    t, _, inv = await setup(client, SUPPORT)
    await run_worker(database, datetime.date(2026, 6, 30))
    recognized = -(await balances(owner_conn, t.org_id))["4000"]
    note = await credited(client, t, inv["id"], amount=120_000, date="2026-07-01")
    assert note["lines"][0]["deferred"] == 120_000 - recognized
    assert await posted(client, t, note["journal_entry_id"]) == [
        ("1200", "credit", 120_000),
        ("2400", "debit", 120_000 - recognized),
        ("4000", "debit", recognized),
    ]
    assert {p["status"] for p in await schedule(owner_conn, inv["id"])} == {
        "recognized",
        "cancelled",
    }
    await run_worker(database, datetime.date(2027, 1, 1))
    final = await balances(owner_conn, t.org_id)
    assert (final["4000"], final["2400"]) == (0, 0)
