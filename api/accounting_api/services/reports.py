"""Report use cases (any role may read them); balances come from db.reports.

`cached` serves a rendered report from services.report_cache, keyed by the
organization's ledger version.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Mapping

from accounting_api.db import reports as reports_db
from accounting_api.db import tenants
from accounting_api.db.connection import Connection
from accounting_api.domain import errors, fiscal, reports
from accounting_api.domain.roles import Principal
from accounting_api.services import report_cache
from accounting_api.services.ports import Transactions


async def cached(
    db: Transactions,
    cache: report_cache.ReportCache,
    principal: Principal,
    *,
    report: str,
    params: Mapping[str, str],
    render: Callable[[], Awaitable[bytes]],
) -> bytes:
    """The report's body as render() makes it, from the cache while the books are unchanged."""
    if not cache.enabled:
        return await render()
    # Read before render() reads the books: a body may be newer than its version (a
    # posting committed in between; the next request has the new version), never older.
    async with db.transaction(principal.organization_id) as conn:
        version = await reports_db.ledger_version(conn)
    key = report_cache.key(principal.organization_id, report, version, params)
    return await cache.get_or_render(report, key, render)


async def trial_balance(
    db: Transactions, principal: Principal, as_of: datetime.date
) -> list[reports.TrialBalance]:
    async with db.transaction(principal.organization_id) as conn:
        balances = await reports_db.balances(conn, as_of)
    return reports.trial_balance(balances)


async def _balances_before(conn: Connection, day: datetime.date) -> list[reports.AccountBalance]:
    """Balances at the end of the day before `day` (none before the calendar's first)."""
    if day == datetime.date.min:
        return []
    return await reports_db.balances(conn, day - datetime.timedelta(days=1))


async def balance_sheet(
    db: Transactions, principal: Principal, as_of: datetime.date
) -> tuple[fiscal.FiscalYear, list[reports.BalanceSheet]]:
    """The balance sheet as of a date, and the fiscal year that date lies in (its earnings
    are current; those of every earlier fiscal year are retained)."""
    async with db.transaction(principal.organization_id) as conn:
        profile = await tenants.profile(conn)
        year = fiscal.fiscal_year(as_of, profile.fiscal_year_end_month)
        balances = await reports_db.balances(conn, as_of)
        before = await _balances_before(conn, year.starts_on)
        # A closing entry of this fiscal year (on its last day) moved this year's earnings
        # into 3900: left out, they stay current earnings up to the year's last day.
        closing = await reports_db.closing_moves(conn, year.starts_on, as_of)
    return year, reports.balance_sheet(reports.without(balances, closing), before)


async def income_statement(
    db: Transactions, principal: Principal, start: datetime.date, end: datetime.date
) -> list[reports.IncomeStatement]:
    """Revenue and expenses dated from start to end, both included, without the closing
    entries of fiscal years (which move them into retained earnings, earning nothing)."""
    if end < start:
        raise errors.ValidationFailed("'to' must not be before 'from'", param="to")
    async with db.transaction(principal.organization_id) as conn:
        before = await _balances_before(conn, start)
        after = await reports_db.balances(conn, end)
        closing = await reports_db.closing_moves(conn, start, end)
    return reports.income_statement(reports.without(reports.movements(before, after), closing))


async def ar_aging(
    db: Transactions, principal: Principal, as_of: datetime.date
) -> list[reports.Aging]:
    async with db.transaction(principal.organization_id) as conn:
        invoices = await reports_db.open_invoices(conn, as_of)
    return reports.aging(invoices, as_of)
