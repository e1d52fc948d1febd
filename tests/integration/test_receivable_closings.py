"""The AR aging read from receivable closings (0015) is the full re-sum of the sub-ledger.

Closing a month stores what each invoice owed at its end; the aging as of a date adds the
rows after the latest closing. Whatever was closed, reopened and closed again, the report
must say exactly what summing every sub-ledger row up to the date says.
"""

from __future__ import annotations

import datetime
from importlib import resources
from typing import Any

import asyncpg
import httpx
import pytest

from accounting_api.domain import reports
from tests.integration.billing import act, customer, issued
from tests.integration.helpers import Tenant, sign_up
from tests.integration.payments import credited, paid

DATES = ["2025-12-31", "2026-01-10", "2026-01-20", "2026-01-31", "2026-02-01",
         "2026-02-15", "2026-02-28", "2026-03-01", "2026-03-10", "2026-03-31",
         "2026-04-15", "2026-12-31"]  # fmt: skip
"""Before any close, inside, at the end of and after the closed months."""

# The plain query: every sub-ledger row up to the date, summed per invoice.
PLAIN = """
SELECT i.customer_id, c.name, i.currency, i.due_date, o.due
  FROM (SELECT invoice_id, sum(amount)::bigint AS due FROM receivable_entries
         WHERE organization_id = $1 AND entry_date <= $2
         GROUP BY invoice_id HAVING sum(amount) <> 0) o
  JOIN invoices i ON i.id = o.invoice_id
  JOIN customers c ON c.id = i.customer_id
"""

Aged = dict[str, dict[str | None, dict[str, int]]]
"""currency -> customer id -> buckets and total."""


async def api_aging(client: httpx.AsyncClient, t: Tenant, as_of: str) -> Aged:
    response = await client.get("/v1/reports/ar-aging", params={"as_of": as_of}, headers=t.auth)
    assert response.status_code == 200, response.text
    return {
        block["currency"]: {
            row["customer_id"]: {k: row[k] for k in (*reports.BUCKETS, "total")}
            for row in block["customers"]
        }
        for block in response.json()["currencies"]
    }


async def plain_aging(conn: asyncpg.Connection, t: Tenant, as_of: str) -> Aged:
    date = datetime.date.fromisoformat(as_of)
    owed = [reports.OpenInvoice(*row) for row in await conn.fetch(PLAIN, t.org_id, date)]
    return {
        block.currency: {
            row.customer_id: row.buckets | {"total": row.total} for row in block.customers
        }
        for block in reports.aging(owed, date)
    }


async def assert_exact(client: httpx.AsyncClient, conn: asyncpg.Connection, t: Tenant) -> None:
    for as_of in DATES:
        assert await api_aging(client, t, as_of) == await plain_aging(conn, t, as_of), as_of


async def period(client: httpx.AsyncClient, t: Tenant, month: str, action: str) -> None:
    response = await client.post(f"/v1/periods/{month}/{action}", headers=t.auth)
    assert response.status_code in {200, 204}, response.text


async def pay(client: httpx.AsyncClient, t: Tenant, who: str, inv: str, n: int, on: str) -> None:
    await paid(client, t, who, n, date=on, applied_to=[{"invoice": inv, "amount": n}])


async def closings(conn: asyncpg.Connection, t: Tenant) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT to_char(period, 'YYYY-MM') AS month, count(*) FROM receivable_closings"
        " WHERE organization_id = $1 GROUP BY 1 ORDER BY 1",
        t.org_id,
    )
    return {row["month"]: row["count"] for row in rows}


async def _january_february(client: httpx.AsyncClient, t: Tenant) -> dict[str, Any]:
    who = {n: (await customer(client, t, name=n))["id"] for n in ("Ann", "Bob", "Cid")}
    first = await issued(client, t, who["Ann"], 10_000, "2026-01-10")
    await pay(client, t, who["Ann"], first, 4_000, "2026-01-31")  # on a month's end
    second = await issued(client, t, who["Bob"], 5_000, "2026-01-25")
    await credited(client, t, second, amount=2_000, date="2026-02-10")
    third = await issued(client, t, who["Cid"], 7_000, "2026-02-14")
    return {"who": who, "first": first, "second": second, "third": third}


async def test_the_aging_equals_the_full_re_sum_through_closes_and_reopens(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    story = await _january_february(client, t)
    who = story["who"]
    await assert_exact(client, owner_conn, t)
    await period(client, t, "2026-01", "close")
    await period(client, t, "2026-02", "close")
    assert await closings(owner_conn, t) == {"2026-01": 2, "2026-02": 3}
    await assert_exact(client, owner_conn, t)
    # Reopened, posted into, closed again: February's closing is rebuilt.
    await period(client, t, "2026-02", "reopen")
    assert await closings(owner_conn, t) == {"2026-01": 2}
    await pay(client, t, who["Bob"], story["second"], 3_000, "2026-02-20")
    await assert_exact(client, owner_conn, t)
    await period(client, t, "2026-02", "close")
    assert await closings(owner_conn, t) == {"2026-01": 2, "2026-02": 2}
    await assert_exact(client, owner_conn, t)
    # March: paid off, written off, a new invoice; closed; April after it.
    await pay(client, t, who["Ann"], story["first"], 6_000, "2026-03-05")
    written_off = await act(client, t, story["third"], "mark-uncollectible", date="2026-03-20")
    assert written_off.status_code == 200, written_off.text
    await issued(client, t, who["Ann"], 3_000, "2026-03-03")
    await period(client, t, "2026-03", "close")
    assert await closings(owner_conn, t) == {"2026-01": 2, "2026-02": 2, "2026-03": 1}
    await issued(client, t, who["Bob"], 1_500, "2026-04-02")
    await assert_exact(client, owner_conn, t)


async def test_a_sub_ledger_row_dated_in_a_closed_month_is_refused(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    story = await _january_february(client, t)
    await period(client, t, "2026-01", "close")
    # The first invoice's January payment entry, made to say it also moved the second's.
    row = await owner_conn.fetchrow(
        "SELECT * FROM receivable_entries WHERE invoice_id = $1 AND amount < 0", story["first"]
    )
    assert row is not None
    transaction = owner_conn.transaction()
    await transaction.start()
    try:
        with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError, match="closed through"):
            await owner_conn.execute(
                "INSERT INTO receivable_entries (organization_id, invoice_id, journal_entry_id,"
                " entry_date, account_id, currency, amount) VALUES ($1, $2, $3, $4, $5, $6, 1)",
                t.org_id, story["second"], row["journal_entry_id"], row["entry_date"],
                row["account_id"], row["currency"],
            )  # fmt: skip
    finally:
        await transaction.rollback()


def _backfill_sql() -> str:
    text = resources.files("accounting_api.migrations") / "0015_receivable_closings.sql"
    return text.read_text().split("-- backfill:begin\n")[1].split("-- backfill:end\n")[0]


async def test_the_migrations_backfill_rebuilds_the_closings_the_closes_wrote(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    await _january_february(client, t)
    await period(client, t, "2026-01", "close")
    await period(client, t, "2026-02", "close")
    sql = "SELECT * FROM receivable_closings WHERE organization_id = $1 ORDER BY period, invoice_id"
    written = await owner_conn.fetch(sql, t.org_id)
    assert len(written) == 5
    transaction = owner_conn.transaction()
    await transaction.start()
    try:
        await owner_conn.execute("DELETE FROM receivable_closings")
        await owner_conn.execute(_backfill_sql())
        rebuilt = await owner_conn.fetch(sql, t.org_id)
    finally:
        await transaction.rollback()
    assert rebuilt == written
