"""SQL for reports: balances as of a date from closing balances, invoices owed as of a date."""

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


_OWED = """
SELECT i.customer_id, c.name, i.currency, i.due_date, sum(r.amount)::bigint AS due
  FROM receivable_entries r
  JOIN invoices i ON i.id = r.invoice_id
  JOIN customers c ON c.id = i.customer_id
 WHERE r.organization_id = app_current_org() AND r.entry_date <= $1
 GROUP BY i.id, c.name
HAVING sum(r.amount) <> 0
"""


async def open_invoices(conn: Connection, as_of: datetime.date) -> list[reports.OpenInvoice]:
    """Invoices with a receivable at the end of as_of, with what they owed then.

    Exact as of the date: the sum of each invoice's receivables sub-ledger rows
    (0011_receivables.sql) dated on or before as_of, so a payment, refund, credit note,
    credit application, void or write-off dated later does not count yet, and one dated
    by then does whatever its status is today. The amounts add up, per currency, to the
    receivable accounts' balance on as_of. A written-off invoice owes nothing receivable
    from its write-off date on (its amount due moved to bad-debt expense), so it is not
    listed from then, even if it is still unpaid.
    """
    return [
        reports.OpenInvoice(r["customer_id"], r["name"], r["currency"], r["due_date"], r["due"])
        for r in await conn.fetch(_OWED, as_of)
    ]


async def ledger_version(conn: Connection) -> int:
    """The organization's ledger version: it changes with every committed posting,
    account, issued-invoice change and period close or reopen (0009_report_cache.sql)."""
    version = await conn.fetchval(
        "SELECT coalesce(sum(version), 0)::bigint FROM ledger_versions"
        " WHERE organization_id = app_current_org()"
    )
    return int(version)
