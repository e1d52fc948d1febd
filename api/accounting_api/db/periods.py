"""SQL for accounting periods: closing and reopening go through the database functions
that hold the rules (the app role cannot write the period tables itself)."""

from __future__ import annotations

import datetime

import asyncpg

from accounting_api.db.connection import Connection
from accounting_api.domain import errors
from accounting_api.domain.reports import ClosedPeriod

_REFUSALS: dict[str, type[errors.AccountingError]] = {
    "period_already_closed": errors.PeriodAlreadyClosed,
    "period_out_of_order": errors.PeriodOutOfOrder,
    "period_not_closed": errors.PeriodNotClosed,
    "period_not_latest": errors.PeriodNotLatest,
    "fiscal_year_closing_too_large": errors.FiscalYearClosingTooLarge,
}


_COLUMNS = """p.period, p.ends_on, p.closed_at, p.closed_by,
  (SELECT e.id FROM journal_entries e
    WHERE e.organization_id = p.organization_id AND e.entry_date = p.ends_on
      AND e.closes_fiscal_year IS NOT NULL AND e.reverses_entry_id IS NULL
      AND NOT EXISTS (SELECT 1 FROM journal_entries r
                       WHERE r.organization_id = e.organization_id AND r.reverses_entry_id = e.id)
    ORDER BY e.created_at DESC LIMIT 1) AS closing_entry_id"""
"""A closed month, with the fiscal year's closing entry dated on its last day, if any."""


def _period(row: asyncpg.Record) -> ClosedPeriod:
    return ClosedPeriod(
        row["period"], row["ends_on"], row["closed_at"], row["closed_by"], row["closing_entry_id"]
    )


def _refusal(exc: asyncpg.ObjectNotInPrerequisiteStateError) -> errors.AccountingError:
    error = _REFUSALS.get(exc.constraint_name or "")
    if error is None:
        raise exc
    return error(str(exc.message), param="period")


async def close(
    conn: Connection,
    period: datetime.date,
    *,
    user_id: str,
    request_id: str | None,
    closing_entry_id: str,
) -> ClosedPeriod:
    """Close the month; closing the last month of a fiscal year first posts that year's
    closing entry with id closing_entry_id (0019_fiscal_year_end.sql)."""
    try:
        await conn.execute(
            "SELECT FROM close_accounting_period($1, $2, $3, $4)",
            period,
            user_id,
            request_id,
            closing_entry_id,
        )
    except asyncpg.ObjectNotInPrerequisiteStateError as exc:
        raise _refusal(exc) from None
    # A statement of its own: the function's closing entry is not in its own snapshot.
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM accounting_periods p"
        " WHERE p.organization_id = app_current_org() AND p.period = $1",
        period,
    )
    assert row is not None
    return _period(row)


async def reopen(
    conn: Connection,
    period: datetime.date,
    *,
    user_id: str,
    request_id: str | None,
    reversal_entry_id: str,
) -> None:
    """Reopen the month; a closing entry dated in it is reversed by reversal_entry_id."""
    try:
        await conn.execute(
            "SELECT reopen_accounting_period($1, $2, $3, $4)",
            period,
            user_id,
            request_id,
            reversal_entry_id,
        )
    except asyncpg.ObjectNotInPrerequisiteStateError as exc:
        raise _refusal(exc) from None


async def list_closed(conn: Connection) -> list[ClosedPeriod]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM accounting_periods p"
        " WHERE p.organization_id = app_current_org() ORDER BY p.period DESC"
    )
    return [_period(row) for row in rows]
