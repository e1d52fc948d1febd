"""Client-side helpers for payment tests: pay, refund, and the books they leave."""

from __future__ import annotations

import dataclasses
from typing import Any

import asyncpg
import httpx

from tests.integration.helpers import Tenant

PAID_ON = "2026-02-01"


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
    """Currency -> the payments' unapplied, unrefunded parts."""


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
            "SELECT currency, sum(total - amount_paid) AS total FROM invoices"
            " WHERE organization_id = $1 AND status = 'open' GROUP BY currency",
            org_id,
        ),
        await _by_currency(conn, balance("2300", "-"), org_id),
        await _by_currency(
            conn,
            "SELECT currency, sum(amount - amount_applied - amount_refunded) AS total"
            " FROM payments WHERE organization_id = $1 GROUP BY currency",
            org_id,
        ),
    )


async def assert_books_agree(conn: asyncpg.Connection, org_id: str) -> Books:
    """Every currency balances; receivable is what open invoices still owe; customer
    credits are the payments' unapplied parts."""
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
