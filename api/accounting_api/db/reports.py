"""SQL for reports: balances and invoices owed as of a date, from the closings of the latest
closed period and the rows after it."""

from __future__ import annotations

import datetime

import asyncpg

from accounting_api.db.connection import Connection
from accounting_api.domain import ledger, reports

# The latest closing on or before as_of is read first, so that the tail (what moved after
# it up to as_of) is planned with real dates: an index range on daily_balances (0028)
# whose cost is a row per account and day of the open period, not its postings.
_LATEST_CLOSING = """
SELECT period, ends_on FROM accounting_periods
 WHERE organization_id = app_current_org() AND ends_on <= $1
 ORDER BY period DESC LIMIT 1
"""


def _as_of(key: str, closings: str, balance: str, rows: str) -> str:
    """Per key, signed (column `total`, numeric: a sum of any number of amounts never
    overflows, docs/api.md "Amounts"): the closing of period $2 plus the rows dated after $3
    up to $1, as_of (column `entry_date`). Constant table and column names only."""
    return f"""
  SELECT {key}, sum(amount) AS total FROM (
    SELECT {key}, {balance} AS amount FROM {closings}
     WHERE organization_id = app_current_org() AND period = $2
    UNION ALL
    SELECT {key}, amount FROM {rows}
     WHERE organization_id = app_current_org() AND entry_date > $3 AND entry_date <= $1
  ) moves GROUP BY {key}"""


_BALANCES = f"""
WITH totals AS (
  {_as_of("account_id", "closing_balances", "balance_exact", "daily_balances")})
SELECT a.id, a.code, a.name, a.type, a.currency, a.normal_balance, a.created_at,
       coalesce(t.total, 0) AS signed
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


_ACCOUNT = f"""
SELECT coalesce(sum(total), 0) FROM (
  {_as_of("account_id", "closing_balances", "balance_exact", "daily_balances")}
) t WHERE account_id = $4
"""


async def account_balance(conn: Connection, account_id: str, as_of: datetime.date) -> int:
    """The account's signed (debit-positive) balance at the end of as_of."""
    period, after = await _latest_closing(conn, as_of)
    return int(await conn.fetchval(_ACCOUNT, as_of, period, after, account_id))


async def fold_daily_balances(conn: Connection, limit: int) -> int:
    """Fold at most `limit` writers' rows of daily_balances (every organization) into one
    row per account and day; returns how many (0028: skips rows a writer holds)."""
    return int(await conn.fetchval("SELECT fold_daily_balances($1)", limit))


async def _latest_closing(
    conn: Connection, as_of: datetime.date
) -> tuple[datetime.date | None, datetime.date]:
    """The latest closed period ending on or before as_of (None if none), and the day
    after which the rows not in its closing start."""
    closing = await conn.fetchrow(_LATEST_CLOSING, as_of)
    return (closing["period"], closing["ends_on"]) if closing else (None, datetime.date.min)


async def balances(conn: Connection, as_of: datetime.date) -> list[reports.AccountBalance]:
    """Every account's signed balance at the end of as_of, by currency then code."""
    period, after = await _latest_closing(conn, as_of)
    return [_balance(row) for row in await conn.fetch(_BALANCES, as_of, period, after)]


# As for balances: the receivable closings of the latest closed period on or before as_of
# (0015_receivable_closings.sql) plus the sub-ledger rows after it, an index range on
# receivable_entries_by_date; summed per invoice before the invoices are joined.
_OWED = f"""
WITH owed AS ({_as_of("invoice_id", "receivable_closings", "balance", "receivable_entries")}
  HAVING sum(amount) <> 0)
SELECT i.customer_id, c.name, i.currency, i.due_date, o.total AS due
  FROM owed o
  JOIN invoices i ON i.id = o.invoice_id
  JOIN customers c ON c.id = i.customer_id
"""


async def open_invoices(conn: Connection, as_of: datetime.date) -> list[reports.OpenInvoice]:
    """Invoices with a receivable at the end of as_of, with what they owed then.

    Exact as of the date: the sum of each invoice's receivables sub-ledger rows
    (0011_receivables.sql) dated on or before as_of (read as the latest receivable
    closing on or before as_of plus the rows after it), so a payment, refund, credit note,
    credit application, void or write-off dated later does not count yet, and one dated
    by then does whatever its status is today. The amounts add up, per currency, to the
    receivable accounts' balance on as_of. A written-off invoice owes nothing receivable
    from its write-off date on (its amount due moved to bad-debt expense), so it is not
    listed from then, even if it is still unpaid.
    """
    return [
        reports.OpenInvoice(
            r["customer_id"], r["name"], r["currency"], r["due_date"], int(r["due"])
        )
        for r in await conn.fetch(_OWED, as_of, *await _latest_closing(conn, as_of))
    ]


_CLOSING_MOVES = """
SELECT p.account_id, sum(p.amount) AS total
  FROM journal_entries e
  JOIN postings p ON p.journal_entry_id = e.id AND p.organization_id = app_current_org()
 WHERE e.organization_id = app_current_org() AND e.closes_fiscal_year IS NOT NULL
   AND e.entry_date BETWEEN $1 AND $2
 GROUP BY p.account_id
"""


async def closing_moves(
    conn: Connection, start: datetime.date, end: datetime.date
) -> dict[str, int]:
    """Per account, what the fiscal-year closing entries (and their reversals at a reopen)
    dated from start to end moved, signed."""
    return {r["account_id"]: int(r["total"]) for r in await conn.fetch(_CLOSING_MOVES, start, end)}


async def ledger_version(conn: Connection) -> int:
    """The organization's ledger version: it changes with every committed posting,
    account, issued-invoice change and period close or reopen (0009_report_cache.sql)."""
    version = await conn.fetchval(
        "SELECT coalesce(sum(version), 0)::bigint FROM ledger_versions"
        " WHERE organization_id = app_current_org()"
    )
    return int(version)
