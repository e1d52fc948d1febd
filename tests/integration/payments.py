"""Client-side helpers for payment tests: pay, refund, and the books they leave."""

from __future__ import annotations

import dataclasses
from typing import Any

import asyncpg
import httpx

from tests.integration.helpers import Tenant

PAID_ON = "2026-02-01"

Posted = list[tuple[str, str, int]]


async def posted(client: httpx.AsyncClient, t: Tenant, entry_id: str) -> Posted:
    """The entry's postings as (account code, side, amount), sorted."""
    listing = await client.get("/v1/accounts", params={"limit": 100}, headers=t.auth)
    by_id = {a["id"]: a["code"] for a in listing.json()["data"]}
    entry = (await client.get(f"/v1/journal-entries/{entry_id}", headers=t.auth)).json()
    return sorted((by_id[p["account_id"]], p["side"], p["amount"]) for p in entry["postings"])


async def pay(
    client: httpx.AsyncClient, t: Tenant, customer_id: str, amount: int, **fields: Any
) -> httpx.Response:
    body = {"customer": customer_id, "amount": amount, "method": "card", "date": PAID_ON}
    return await client.post("/v1/payments", json=body | fields, headers=t.auth)


async def paid(
    client: httpx.AsyncClient, t: Tenant, customer_id: str, amount: int, **fields: Any
) -> dict[str, Any]:
    response = await pay(client, t, customer_id, amount, **fields)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def refund(
    client: httpx.AsyncClient, t: Tenant, payment_id: str, amount: int, **fields: Any
) -> httpx.Response:
    body = {"payment": payment_id, "amount": amount, "date": PAID_ON} | fields
    return await client.post("/v1/refunds", json=body, headers=t.auth)


async def credit(
    client: httpx.AsyncClient, t: Tenant, invoice_id: str, **fields: Any
) -> httpx.Response:
    """A credit note of the invoice (by default its whole remainder, as an amount)."""
    body = {"invoice": invoice_id, "date": PAID_ON, "reason": "order_change"} | fields
    return await client.post("/v1/credit-notes", json=body, headers=t.auth)


async def credited(
    client: httpx.AsyncClient, t: Tenant, invoice_id: str, **fields: Any
) -> dict[str, Any]:
    response = await credit(client, t, invoice_id, **fields)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def apply_credit(
    client: httpx.AsyncClient, t: Tenant, invoice_id: str, amount: int, **fields: Any
) -> httpx.Response:
    body = {"amount": amount, "date": PAID_ON} | fields
    return await client.post(f"/v1/invoices/{invoice_id}/apply-credit", json=body, headers=t.auth)


async def invoice(client: httpx.AsyncClient, t: Tenant, invoice_id: str) -> dict[str, Any]:
    result: dict[str, Any] = (await client.get(f"/v1/invoices/{invoice_id}", headers=t.auth)).json()
    return result


@dataclasses.dataclass(frozen=True)
class Books:
    sums: dict[str, int]
    """Currency -> sum of signed postings (zero when balanced)."""
    receivable: dict[str, int]
    """Currency -> debit balance of 1200 and its twins."""
    open_due: dict[str, int]
    """Currency -> what open invoices still owe."""
    credits: dict[str, int]
    """Currency -> credit balance of 2300 and its twins."""
    unapplied: dict[str, int]
    """Currency -> the payments' unapplied, unrefunded parts and the credit notes'
    unapplied parts."""


async def _by_currency(conn: asyncpg.Connection, sql: str, org_id: str) -> dict[str, int]:
    return {r["currency"]: int(r["total"]) for r in await conn.fetch(sql, org_id) if r["total"]}


async def books(conn: asyncpg.Connection, org_id: str) -> Books:
    def balance(code: str, sign: str) -> str:
        return (
            f"SELECT a.currency, {sign}coalesce(sum(p.amount), 0) AS total FROM accounts a"
            " LEFT JOIN postings p ON p.account_id = a.id WHERE a.organization_id = $1"
            f" AND (a.code = '{code}' OR a.code LIKE '{code}.%') GROUP BY a.currency"
        )

    return Books(
        await _by_currency(
            conn,
            "SELECT currency, sum(amount) AS total FROM postings WHERE organization_id = $1"
            " GROUP BY currency",
            org_id,
        ),
        await _by_currency(conn, balance("1200", ""), org_id),
        await _by_currency(
            conn,
            "SELECT currency, sum(total - amount_paid - amount_credit_applied) AS total"
            " FROM invoices"
            " WHERE organization_id = $1 AND status = 'open' GROUP BY currency",
            org_id,
        ),
        await _by_currency(conn, balance("2300", "-"), org_id),
        await _by_currency(
            conn,
            "SELECT currency, sum(total) AS total FROM ("
            " SELECT currency, amount - amount_applied - amount_refunded AS total FROM payments"
            " WHERE organization_id = $1 UNION ALL SELECT currency,"
            " amount - amount_applied - amount_refunded"
            " FROM credit_notes WHERE organization_id = $1) held GROUP BY currency",
            org_id,
        ),
    )


async def assert_books_agree(conn: asyncpg.Connection, org_id: str) -> Books:
    """Every currency balances; receivable is what open invoices still owe; customer
    credits are the payments' and credit notes' unapplied parts."""
    found = await books(conn, org_id)
    assert not any(found.sums.values()), found
    assert found.receivable == found.open_due, found
    assert found.credits == found.unapplied, found
    return found


async def counts(conn: asyncpg.Connection, org_id: str) -> dict[str, int]:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM payments WHERE organization_id = $1) AS payments,"
        " (SELECT count(*) FROM payment_applications WHERE organization_id = $1) AS applications,"
        " (SELECT count(*) FROM refunds WHERE organization_id = $1) AS refunds,"
        " (SELECT count(*) FROM credit_notes WHERE organization_id = $1) AS credit_notes,"
        " (SELECT count(*) FROM credit_note_lines WHERE organization_id = $1) AS credit_lines,"
        " (SELECT count(*) FROM credit_note_applications WHERE organization_id = $1)"
        "   AS credit_applications,"
        " (SELECT coalesce(max(last_number), 0) FROM credit_note_number_counters"
        "   WHERE organization_id = $1) AS last_credit_note_number,"
        " (SELECT coalesce(sum(amount), 0) FROM payment_applications WHERE organization_id = $1)"
        "   AS applied,"
        " (SELECT coalesce(sum(amount_credited + amount_credit_applied), 0) FROM invoices"
        "   WHERE organization_id = $1) AS credited,"
        " (SELECT coalesce(sum(amount_credited), 0) FROM revenue_recognitions"
        "   WHERE organization_id = $1) AS recognition_credited,"
        " (SELECT count(*) FROM journal_entries WHERE organization_id = $1) AS entries,"
        " (SELECT count(*) FROM accounts WHERE organization_id = $1) AS accounts,"
        " (SELECT coalesce(sum(amount_paid), 0) FROM invoices WHERE organization_id = $1)"
        "   AS amount_paid,"
        " (SELECT string_agg(status, ',' ORDER BY id) FROM invoices WHERE organization_id = $1)"
        "   AS statuses",
        org_id,
    )
    assert row is not None
    return dict(row)
