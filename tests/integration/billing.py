"""Client-side helpers for billing tests: customers, invoices and the books they post."""

from __future__ import annotations

import dataclasses
from typing import Any

import asyncpg
import httpx

from tests.integration.helpers import PASSWORD, Tenant, token

PROBLEM = "application/problem+json"


async def add_user(client: httpx.AsyncClient, tenant: Tenant, role: str) -> dict[str, str]:
    """A user of `role` in the tenant; returns its Authorization header."""
    email = f"{role}-{tenant.org_id.lower()}@example.com"
    body = {"email": email, "password": PASSWORD, "name": role, "role": role}
    made = await client.post("/v1/users", json=body, headers=tenant.auth)
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {await token(client, email)}"}


async def customer(client: httpx.AsyncClient, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    body = {"name": "Globex", "email": "ap@globex.example.com"} | fields
    response = await client.post("/v1/customers", json=body, headers=tenant.auth)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def line(unit_amount: int = 10_000, **fields: Any) -> dict[str, Any]:
    return {"description": "Consulting", "unit_amount": unit_amount} | fields


async def draft(
    client: httpx.AsyncClient,
    tenant: Tenant,
    customer_id: str,
    *lines: dict[str, Any],
    **fields: Any,
) -> dict[str, Any]:
    body = {"customer": customer_id, "lines": list(lines or [line()])} | fields
    response = await client.post("/v1/invoices", json=body, headers=tenant.auth)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def act(
    client: httpx.AsyncClient, tenant: Tenant, invoice_id: str, action: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/invoices/{invoice_id}/{action}", json=body or None, headers=tenant.auth
    )


async def finalized(
    client: httpx.AsyncClient,
    tenant: Tenant,
    customer_id: str,
    *lines: dict[str, Any],
    **fields: Any,
) -> dict[str, Any]:
    invoice = await draft(client, tenant, customer_id, *lines, **fields)
    response = await act(client, tenant, invoice["id"], "finalize", issue_date="2026-01-15")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def issued(client: httpx.AsyncClient, t: Tenant, who: str, amount: int, on: str) -> str:
    """A one-line invoice of amount finalized on the date, due 30 days later; its id."""
    invoice = await draft(
        client, t, who, {"description": "Work", "unit_amount": amount}, days_until_due=30
    )
    done = await act(client, t, invoice["id"], "finalize", issue_date=on)
    assert done.status_code == 200, done.text
    return str(invoice["id"])


def assert_problem(response: httpx.Response, status: int, code: str, param: str | None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert (problem["code"], problem.get("param")) == (code, param), problem
    assert problem["detail"]


@dataclasses.dataclass(frozen=True)
class Books:
    """The organization's postings, seen behind the API's back."""

    sums: dict[str, int]
    """Currency -> sum of signed postings (zero when the books balance)."""
    receivable: dict[str, int]
    """Currency -> debit balance of the receivable accounts (1200 and its twins)."""
    open_totals: dict[str, int]
    """Currency -> what open invoices still owe (their totals, unless paid or credited)."""

    def balanced(self) -> bool:
        return all(total == 0 for total in self.sums.values())


async def books(conn: asyncpg.Connection, org_id: str) -> Books:
    sums = await conn.fetch(
        "SELECT currency, sum(amount) AS total FROM postings WHERE organization_id = $1"
        " GROUP BY currency",
        org_id,
    )
    receivable = await conn.fetch(
        "SELECT a.currency, coalesce(sum(p.amount), 0) AS total FROM accounts a"
        " LEFT JOIN postings p ON p.account_id = a.id"
        " WHERE a.organization_id = $1 AND (a.code = '1200' OR a.code LIKE '1200.%')"
        " GROUP BY a.currency",
        org_id,
    )
    open_totals = await conn.fetch(
        "SELECT currency, sum(total - amount_paid - amount_credit_applied) AS total"
        " FROM invoices WHERE organization_id = $1 AND status = 'open' GROUP BY currency",
        org_id,
    )
    return Books(
        {r["currency"]: int(r["total"]) for r in sums},
        {r["currency"]: int(r["total"]) for r in receivable if r["total"]},
        {r["currency"]: int(r["total"]) for r in open_totals},
    )


async def assert_books_agree(conn: asyncpg.Connection, org_id: str) -> Books:
    """Every currency balances, and receivable is exactly what open invoices are owed."""
    found = await books(conn, org_id)
    assert found.balanced(), found
    assert found.receivable == found.open_totals, found
    return found


async def counts(conn: asyncpg.Connection, org_id: str) -> dict[str, int]:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM customers WHERE organization_id = $1) AS customers,"
        " (SELECT count(*) FROM invoices WHERE organization_id = $1) AS invoices,"
        " (SELECT count(*) FROM invoice_lines WHERE organization_id = $1) AS lines,"
        " (SELECT count(*) FROM invoice_entries WHERE organization_id = $1) AS invoice_entries,"
        " (SELECT count(*) FROM journal_entries WHERE organization_id = $1) AS entries,"
        " (SELECT count(*) FROM postings WHERE organization_id = $1) AS postings,"
        " (SELECT count(*) FROM accounts WHERE organization_id = $1) AS accounts,"
        " (SELECT coalesce(max(last_number), 0) FROM invoice_number_counters"
        "   WHERE organization_id = $1) AS last_number,"
        " (SELECT count(*) FROM invoices WHERE organization_id = $1 AND status <> 'draft')"
        "   AS finalized,"
        " (SELECT count(*) FROM customers WHERE organization_id = $1 AND archived_at IS NOT NULL)"
        "   AS archived,"
        " (SELECT coalesce(sum(total), 0) FROM invoices WHERE organization_id = $1) AS totals",
        org_id,
    )
    assert row is not None
    return dict(row)
