"""Revenue recognition: schedules made at finalize, posted by the worker, undone by void.

Exactly once: the worker claims due pieces with FOR UPDATE SKIP LOCKED and posts their
entries and marks them recognized in the same transaction, so a second worker (or a
second run) either skips a piece another holds or sees it already recognized.

Closed periods: a piece due in a closed month is recognized on the first open day
instead (the day after the books are closed through), never dated into the closed
month. If that day is still in the future (the current month was closed early), the
piece stays pending, with a logged reason, until that day comes.

Closing a month first recognizes every piece still pending that is due in it (or
earlier), in the closing transaction, so its revenue is booked in the month it was
earned, never in the next one.

Credit notes: what a credit note takes of a piece the worker already posted is reversed
(revenue debit, deferred revenue credit) at the piece's own date, or on the first open
day when its month is closed, in the credit note's transaction.

Void: voiding an invoice cancels its pending pieces and reverses the entries of the
recognized ones (dated on the void's date), alongside the reversal of the finalize
entry, so deferred revenue and revenue both end where they were before the invoice.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence

from accounting_api import metrics
from accounting_api.db import ledger as ledger_db
from accounting_api.db import recognition as recognition_db
from accounting_api.db.connection import Connection
from accounting_api.domain import errors, ids, ledger, recognition
from accounting_api.domain.billing import Invoice
from accounting_api.services.ports import Transactions

log = logging.getLogger("accounting_api.worker")

BATCH_SIZE = 200
"""Pieces claimed (and posted) per transaction."""


async def create_schedule(
    conn: Connection,
    organization_id: str,
    invoice: Invoice,
    issue_date: datetime.date,
    deferred_account_id: str,
) -> None:
    """Store the recognition pieces of an invoice in the finalize transaction."""
    pieces = recognition.schedule(invoice, issue_date)
    await recognition_db.insert_schedule(
        conn,
        organization_id,
        invoice.id,
        pieces,
        currency=invoice.currency,
        deferred_account_id=deferred_account_id,
    )


async def void_schedule(
    conn: Connection,
    organization_id: str,
    invoice: Invoice,
    date: datetime.date,
    *,
    created_by: str | None,
    request_id: str | None,
) -> None:
    """Stop recognition of a voided invoice and reverse what was recognized."""
    pieces = await recognition_db.lock_invoice_schedule(conn, invoice.id)
    pending = [row["id"] for row in pieces if row["status"] == "pending"]
    await recognition_db.cancel_pending(conn, pending)
    reversals: list[tuple[int, ledger.NewEntry]] = []
    for row in pieces:
        if row["status"] != "recognized":
            continue
        original = await ledger_db.get_entry(conn, row["journal_entry_id"])
        assert original is not None
        description = (
            f"Void of invoice #{invoice.number} ({invoice.id}): reverses recognition {original.id}"
        )
        entry = ledger.NewEntry(
            ids.new_id("je"),
            date,
            description,
            tuple(ledger.reversal(original.postings)),
            original.id,
        )
        reversals.append((row["id"], entry))
    if reversals:
        entries = [entry for _, entry in reversals]
        await ledger_db.insert_entries(
            conn, organization_id, entries, created_by=created_by, request_id=request_id
        )
        await recognition_db.mark_reversed(conn, [(pid, e.id) for pid, e in reversals])


def _entry(due: recognition.Due, date: datetime.date) -> ledger.NewEntry:
    description = (
        f"Revenue recognition: invoice #{due.invoice_number} ({due.invoice_id}),"
        f" line {due.line_id}, due {due.recognize_on}"
    )
    return ledger.NewEntry(ids.new_id("je"), date, description, tuple(recognition.postings(due)))


def _postable(
    claimed: Sequence[recognition.Due], closed: datetime.date | None, today: datetime.date
) -> list[tuple[recognition.Due, ledger.NewEntry]]:
    ready = []
    for due in claimed:
        date = recognition.posting_date(due.recognize_on, closed)
        if date > today:
            log.warning(
                "revenue recognition deferred: the books are closed through %s",
                closed,
                extra={"recognition_id": due.id, "invoice_id": due.invoice_id},
            )
            continue
        ready.append((due, _entry(due, date)))
    return ready


async def _post(
    conn: Connection, organization_id: str, ready: Sequence[tuple[recognition.Due, ledger.NewEntry]]
) -> None:
    if not ready:
        return
    entries = [entry for _, entry in ready]
    await ledger_db.insert_entries(conn, organization_id, entries, created_by=None, request_id=None)
    await recognition_db.mark_recognized(conn, [(d.id, e.id) for d, e in ready])


async def _recognize_batch(
    db: Transactions, organization_id: str, today: datetime.date, limit: int
) -> int:
    """Claim, post and mark one batch; returns how many pieces it posted."""
    async with db.transaction(organization_id) as conn:
        claimed = await recognition_db.claim_due(conn, today, limit)
        ready = _postable(claimed, await recognition_db.closed_through(conn), today)
        await _post(conn, organization_id, ready)
    for due, _ in ready:
        metrics.REVENUE_RECOGNIZED.labels(due.currency).inc(due.amount)
    return len(ready)


async def recognize_through(
    conn: Connection, organization_id: str, through: datetime.date, today: datetime.date
) -> None:
    """Post, in the caller's transaction, every piece still pending that is due by
    `through` (a month about to be closed), waiting for a worker posting one of them."""
    ready = _postable(
        await recognition_db.lock_due(conn, through),
        await recognition_db.closed_through(conn),
        today,
    )
    await _post(conn, organization_id, ready)
    for due, _ in ready:
        metrics.REVENUE_RECOGNIZED.labels(due.currency).inc(due.amount)


async def take_back(
    conn: Connection,
    organization_id: str,
    taken: Sequence[tuple[recognition.Scheduled, int]],
    why: str,
    *,
    created_by: str | None,
    request_id: str | None,
) -> list[str]:
    """Record what a credit note takes of each piece, and reverse the part taken of the
    pieces already posted at their own dates (the first open day in a closed month);
    returns the reversals' entry ids."""
    await recognition_db.credit_pieces(conn, [(piece.due.id, part) for piece, part in taken])
    closed = await recognition_db.closed_through(conn)
    entries = [
        ledger.NewEntry(
            ids.new_id("je"),
            recognition.posting_date(piece.due.recognize_on, closed),
            f"{why}: takes back {part} of the revenue recognized for invoice"
            f" #{piece.due.invoice_number} ({piece.due.invoice_id}), line {piece.due.line_id},"
            f" due {piece.due.recognize_on}",
            tuple(recognition.taken_back_postings(piece.due, part)),
        )
        for piece, part in taken
        if piece.posted
    ]
    if entries:
        await ledger_db.insert_entries(
            conn, organization_id, entries, created_by=created_by, request_id=request_id
        )
    return [entry.id for entry in entries]


async def recognize_organization(
    db: Transactions, organization_id: str, today: datetime.date, batch_size: int = BATCH_SIZE
) -> int:
    """Post every due piece of one organization; returns how many were posted.

    Stops at the first batch not posted in full: what is left is held by another
    worker or waits for an open day.
    """
    posted = 0
    while True:
        batch = await _recognize_batch(db, organization_id, today, batch_size)
        posted += batch
        if batch < batch_size:
            return posted


async def recognize_due(db: Transactions, today: datetime.date) -> int:
    """Post the due pieces of every organization, each in its own transactions."""
    async with db.transaction(None) as conn:
        organizations = await recognition_db.organizations_with_due(conn, today)
    posted = 0
    for organization_id in organizations:
        try:
            posted += await recognize_organization(db, organization_id, today)
        except errors.AccountingError as exc:
            # A period closed under us, or a rule the books refuse: retried next pass.
            log.warning(
                "revenue recognition skipped: %s", exc, extra={"organization_id": organization_id}
            )
    return posted
