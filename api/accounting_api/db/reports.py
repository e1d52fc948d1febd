"""SQL for reports: balances as of a date from closing balances, open invoices."""

from __future__ import annotations

import datetime

import asyncpg

from accounting_api.db.connection import Connection
from accounting_api.domain import ledger, reports

# The latest closing on or before as_of is read first, so that the tail (the postings
# after it up to as_of) is planned with real dates: an index range on postings_by_date
# whose cost is a month's postings, not the book's.
_LATEST_CLOSING = """
SELECT period, ends_on FROM accounting_periods
 WHERE organization_id = app_current_org() AND ends_on <= $1
 ORDER BY period DESC LIMIT 1
"""

_BALANCES = """
WITH totals AS (
  SELECT account_id, sum(amount)::bigint AS signed FROM (
    SELECT account_id, balance AS amount FROM closing_balances
     WHERE organization_id = app_current_org() AND period = $2
    UNION ALL
    SELECT account_id, amount FROM postings
     WHERE organization_id = app_current_org() AND entry_date > $3 AND entry_date <= $1
  ) moves GROUP BY account_id
)
SELECT a.id, a.code, a.name, a.type, a.currency, a.normal_balance, a.created_at,
       coalesce(t.signed, 0) AS signed
  FROM accounts a LEFT JOIN totals t ON t.account_id = a.id
 WHERE a.organization_id = app_current_org()
 ORDER BY a.currency, a.code
"""


def _balance(row: asyncpg.Record) -> reports.AccountBalance:
    account = ledger.Account(
        id=row["id"],
        code=row["code"],
        name=row["name"],
        type=ledger.AccountType(row["type"]),
        currency=row["currency"],
        normal_balance=ledger.Side(row["normal_balance"]),
        created_at=row["created_at"],
    )
    return reports.AccountBalance(account, int(row["signed"]))


async def balances(conn: Connection, as_of: datetime.date) -> list[reports.AccountBalance]:
    """Every account's signed balance at the end of as_of, by currency then code."""
    closing = await conn.fetchrow(_LATEST_CLOSING, as_of)
    period, after = (
        (closing["period"], closing["ends_on"]) if closing else (None, datetime.date.min)
    )
    return [_balance(row) for row in await conn.fetch(_BALANCES, as_of, period, after)]


async def open_invoices(conn: Connection, as_of: datetime.date) -> list[reports.OpenInvoice]:
    """Invoices issued by as_of that are still owed (open or uncollectible), with what is due.

    Status, amount paid and credit applied are today's: a payment, credit note or void
    recorded after as_of already counts (documents carry no history of their amount paid).
    """
    rows = await conn.fetch(
        "SELECT i.customer_id, c.name, i.currency, i.due_date,"
        " i.total - i.amount_paid - i.amount_credit_applied AS due"
        "  FROM invoices i JOIN customers c ON c.id = i.customer_id"
        " WHERE i.organization_id = app_current_org() AND i.status IN ('open', 'uncollectible')"
        "   AND i.issue_date <= $1 AND i.total > i.amount_paid + i.amount_credit_applied",
        as_of,
    )
    return [
        reports.OpenInvoice(r["customer_id"], r["name"], r["currency"], r["due_date"], r["due"])
        for r in rows
    ]


async def ledger_version(conn: Connection) -> int:
    """The organization's ledger version: it changes with every committed posting,
    account, issued-invoice change and period close or reopen (0009_report_cache.sql)."""
    version = await conn.fetchval(
        "SELECT coalesce(sum(version), 0)::bigint FROM ledger_versions"
        " WHERE organization_id = app_current_org()"
    )
    return int(version)
