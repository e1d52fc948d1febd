"""SQL for exports: the chart of accounts, then the journal a page at a time, in date order."""

from __future__ import annotations

import datetime

from accounting_api.db.connection import Connection
from accounting_api.domain import journal_export

# Entries of the page first (by journal_entries_by_date), then their postings: the
# cost is the page's, not the book's.
_PAGE = """
WITH page AS (
  SELECT id, entry_date, description, reverses_entry_id, closes_fiscal_year
    FROM journal_entries
   WHERE organization_id = app_current_org()
     AND ($1::date IS NULL OR (entry_date, id) > ($1::date, $2::text))
   ORDER BY entry_date, id
   LIMIT $3
)
SELECT e.id, e.entry_date, e.description, e.reverses_entry_id, e.closes_fiscal_year,
       array_agg(a.type ORDER BY p.line) AS types,
       array_agg(a.code ORDER BY p.line) AS codes,
       array_agg(a.name ORDER BY p.line) AS names,
       array_agg(p.currency ORDER BY p.line) AS currencies,
       array_agg(p.amount ORDER BY p.line) AS amounts
  FROM page e
  JOIN postings p ON p.journal_entry_id = e.id AND p.organization_id = app_current_org()
  JOIN accounts a ON a.id = p.account_id AND a.organization_id = app_current_org()
 GROUP BY e.id, e.entry_date, e.description, e.reverses_entry_id, e.closes_fiscal_year
 ORDER BY e.entry_date, e.id
"""


async def accounts(conn: Connection) -> list[journal_export.Account]:
    """Every account of the organization, by code."""
    rows = await conn.fetch(
        "SELECT type, code, name, currency FROM accounts"
        " WHERE organization_id = app_current_org() ORDER BY code"
    )
    return [journal_export.Account(*row) for row in rows]


async def journal_page(
    conn: Connection, *, after: tuple[datetime.date, str] | None, limit: int
) -> list[journal_export.Transaction]:
    """Up to limit entries dated after `after` (date, id), oldest first."""
    date, entry_id = after if after else (None, None)
    rows = await conn.fetch(_PAGE, date, entry_id, limit)
    return [
        journal_export.Transaction(
            row["id"],
            row["entry_date"],
            row["description"],
            row["reverses_entry_id"],
            tuple(
                journal_export.Line(journal_export.Account(type_, code, name, currency), amount)
                for type_, code, name, currency, amount in zip(
                    row["types"],
                    row["codes"],
                    row["names"],
                    row["currencies"],
                    row["amounts"],
                    strict=True,
                )
            ),
            row["closes_fiscal_year"],
        )
        for row in rows
    ]
