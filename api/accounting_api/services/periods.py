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

from accounting_api.db import ledger as ledger_db
from accounting_api.db import periods as periods_db
from accounting_api.domain import audit, ids, reports
from accounting_api.domain.roles import Principal, Role
from accounting_api.services import recognition
from accounting_api.services.ports import Transactions, Unit


async def close_period(
    db: Unit,
    principal: Principal,
    period: datetime.date,
    *,
    today: datetime.date,
    request_id: str | None,
) -> reports.ClosedPeriod:
    """Close the month; its audit events: the period closed, and the fiscal year's
    closing entry when the month ends a fiscal year."""
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
        closing = await ledger_db.get_entry(conn, entry_id) if entry_id else None
    label = reports.period_label(period)
    db.changed(audit.changed("accounting_period", "closed", closed, object_id=label))
    if closing is not None:
        db.changed(audit.changed("journal_entry", "created", closing))
    return closed


async def reopen_period(
    db: Unit, principal: Principal, period: datetime.date, *, request_id: str | None
) -> None:
    """Reopen the latest closed month; recorded in accounting_period_events, and in the
    audit trail with the reversal of the fiscal year's closing entry, if it had one."""
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
        reversal = await ledger_db.get_entry(conn, reversal_id)
    label = reports.period_label(period)
    reopened = {"period": label, "status": "open"}
    db.changed(audit.changed("accounting_period", "reopened", reopened, object_id=label))
    if reversal is not None:
        target = reversal.reverses_entry_id
        db.changed(audit.changed("journal_entry", "reversal_posted", reversal, target_id=target))


async def list_periods(db: Transactions, principal: Principal) -> list[reports.ClosedPeriod]:
    async with db.transaction(principal.organization_id) as conn:
        return await periods_db.list_closed(conn)
