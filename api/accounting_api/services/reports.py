"""Report use cases (any role may read them); balances come from db.reports."""

from __future__ import annotations

import datetime

from accounting_api.db import reports as reports_db
from accounting_api.db.connection import Database
from accounting_api.domain import errors, reports
from accounting_api.domain.roles import Principal


async def trial_balance(
    db: Database, principal: Principal, as_of: datetime.date
) -> list[reports.TrialBalance]:
    async with db.transaction(principal.organization_id) as conn:
        balances = await reports_db.balances(conn, as_of)
    return reports.trial_balance(balances)


async def balance_sheet(
    db: Database, principal: Principal, as_of: datetime.date
) -> list[reports.BalanceSheet]:
    async with db.transaction(principal.organization_id) as conn:
        balances = await reports_db.balances(conn, as_of)
    return reports.balance_sheet(balances)


async def income_statement(
    db: Database, principal: Principal, start: datetime.date, end: datetime.date
) -> list[reports.IncomeStatement]:
    """Revenue and expenses dated from start to end, both included."""
    if end < start:
        raise errors.ValidationFailed("'to' must not be before 'from'", param="to")
    async with db.transaction(principal.organization_id) as conn:
        before = await reports_db.balances(conn, start - datetime.timedelta(days=1))
        after = await reports_db.balances(conn, end)
    return reports.income_statement(reports.movements(before, after))


async def ar_aging(db: Database, principal: Principal, as_of: datetime.date) -> list[reports.Aging]:
    async with db.transaction(principal.organization_id) as conn:
        invoices = await reports_db.open_invoices(conn, as_of)
    return reports.aging(invoices, as_of)
