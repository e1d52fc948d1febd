"""Accounting periods: close a month (admin or owner), reopen the latest (owner), list.

Closing month M needs every earlier month with entries closed first; the database
checks that under a per-organization lock and stores M's closing balances. It first
recognizes the revenue still pending that is due in M (or earlier), in the same
transaction, so M's books hold what M earned. Closing the last month of a fiscal year
also posts the year's closing entry (revenue and expense into retained earnings, dated
the year's last day), after that recognition; reopening that month reverses it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from accounting_api.db import ledger as ledger_db
from accounting_api.db import periods as periods_db
from accounting_api.domain import ids, ledger, reports
from accounting_api.domain.roles import Principal, Role
from accounting_api.services import recognition
from accounting_api.services.ports import Transactions


@dataclass(frozen=True, slots=True)
class Closed:
    period: reports.ClosedPeriod
    closing_entry: ledger.JournalEntry | None
    """The fiscal year's closing entry, when the month ends a fiscal year."""


async def close_period(
    db: Transactions,
    principal: Principal,
    period: datetime.date,
    *,
    today: datetime.date,
    request_id: str | None,
) -> Closed:
    principal.require(Role.ADMIN)
    reports.check_period_ended(period, today)
    async with db.transaction(principal.organization_id) as conn:
        await recognition.recognize_through(
            conn, principal.organization_id, reports.period_end(period), today
        )
        closed = await periods_db.close(
            conn,
            period,
            user_id=principal.user_id,
            request_id=request_id,
            closing_entry_id=ids.new_id("je"),
        )
        entry_id = closed.closing_entry_id
        return Closed(closed, await ledger_db.get_entry(conn, entry_id) if entry_id else None)


async def reopen_period(
    db: Transactions, principal: Principal, period: datetime.date, *, request_id: str | None
) -> ledger.JournalEntry | None:
    """Reopen the latest closed month; recorded in accounting_period_events. Returns the
    reversal of the fiscal year's closing entry, when the month ends a closed fiscal year."""
    principal.require(Role.OWNER)
    reversal_id = ids.new_id("je")
    async with db.transaction(principal.organization_id) as conn:
        await periods_db.reopen(
            conn,
            period,
            user_id=principal.user_id,
            request_id=request_id,
            reversal_entry_id=reversal_id,
        )
        return await ledger_db.get_entry(conn, reversal_id)


async def list_periods(db: Transactions, principal: Principal) -> list[reports.ClosedPeriod]:
    async with db.transaction(principal.organization_id) as conn:
        return await periods_db.list_closed(conn)
