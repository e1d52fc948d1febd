"""Credit note use cases, and customer credit applied to open invoices.

A credit note runs in one transaction that holds its invoice FOR UPDATE (so racing
credit notes of one invoice check what is left one after the other), locks the
invoice's recognition pieces due after its date (waiting for a worker posting one),
posts its entry, writes it with its lines and takes the credited revenue off the
schedule (reversing, at their own dates, what it takes of pieces already posted).

A refund of a credit note's credit locks that credit note alone (never its invoice,
which it leaves as it is) and posts customer credits against cash.

Applying credit locks the customer's payments and credit notes that hold credit
before the invoice, the order refunds lock a payment and its invoices in, so racing
applications queue instead of deadlocking and never draw the same credit twice.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from accounting_api.db import billing as billing_db
from accounting_api.db import credit_notes as credit_notes_db
from accounting_api.db import payments as payments_db
from accounting_api.db import recognition as recognition_db
from accounting_api.db.connection import Connection
from accounting_api.domain import audit, credit_notes, errors, ids, receivables, recognition
from accounting_api.domain.billing import Invoice
from accounting_api.domain.credit_notes import CreditLine, CreditNote, LineRequest, Reason
from accounting_api.domain.payments import Due, Refund
from accounting_api.domain.roles import Principal, Role
from accounting_api.services import billing_accounts, payment_accounts, payments
from accounting_api.services import recognition as recognition_service
from accounting_api.services.audit import records
from accounting_api.services.ports import Transactions, Unit


@dataclass(frozen=True, slots=True)
class CreditNoteInput:
    invoice_id: str
    amount: int | None
    """Spread over the lines; None when lines are given."""
    lines: Sequence[LineRequest] | None
    reason: Reason | None
    memo: str
    currency: str | None
    date: datetime.date | None
    refund_amount: int = 0
    """Of what becomes the customer's credit, the part given back as money at once."""


def _today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


async def _accounts(
    conn: Connection, organization_id: str, currency: str
) -> credit_notes.PostingAccounts:
    billed = await billing_accounts.posting_accounts(conn, organization_id, currency)
    credits = await payment_accounts.account_for(
        conn, organization_id, payment_accounts.CUSTOMER_CREDITS, currency
    )
    return credit_notes.PostingAccounts(
        billed.receivable, billed.tax_payable, billed.deferred_revenue, billed.bad_debt, credits
    )


async def _creditable(conn: Connection, data: CreditNoteInput, when: datetime.date) -> Invoice:
    invoice = await billing_db.get_invoice(conn, data.invoice_id, lock=True)
    if invoice is None:
        raise errors.ResourceMissing(f"no invoice {data.invoice_id}", param="invoice")
    if data.currency is not None and data.currency != invoice.currency:
        raise errors.CurrencyMismatch(
            f"invoice {invoice.id} is in {invoice.currency}, not {data.currency}: a credit"
            " note is in its invoice's currency",
            param="currency",
        )
    credit_notes.check_creditable(invoice, when)
    return invoice


async def _planned(
    conn: Connection, invoice: Invoice, data: CreditNoteInput, when: datetime.date
) -> tuple[list[CreditLine], list[tuple[recognition.Scheduled, int]]]:
    """The credit lines, with their deferred parts (what the pieces due after the credit
    note's date hold), and the pieces they shrink."""
    left = credit_notes.left_by_line(
        invoice, await credit_notes_db.credited_by_line(conn, invoice.id)
    )
    if data.lines is None:
        assert data.amount is not None
        lines = credit_notes.plan_amount(left, data.amount)
    else:
        lines = credit_notes.plan_lines(left, data.lines)
    pieces = await recognition_db.lock_due_after(conn, invoice.id, when)
    return credit_notes.take_deferred(lines, pieces, when)


def _description(note: CreditNote, invoice: Invoice) -> str:
    return f"Credit note #{note.number} ({note.id}) of invoice #{invoice.number} ({invoice.id})"


def _note(
    invoice: Invoice, data: CreditNoteInput, lines: Sequence[CreditLine], number: int
) -> CreditNote:
    amount = sum(line.total for line in lines)
    return CreditNote(
        id=ids.new_id("cn"),
        number=number,
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        currency=invoice.currency,
        reason=data.reason,
        memo=data.memo,
        amount=amount,
        tax=sum(line.tax for line in lines),
        pre_payment_amount=min(amount, invoice.amount_remaining),
        amount_applied=0,
        amount_refunded=0,
        credited_on=data.date or _today(),
        lines=tuple(lines),
        journal_entry_id=ids.new_id("je"),
        created_at=datetime.datetime.now(datetime.UTC),
    )


async def create_credit_note(
    db: Unit, principal: Principal, data: CreditNoteInput, *, request_id: str | None
) -> CreditNote:
    """Credit part or all of a finalized invoice: what it still owes first, the rest
    (what was paid) as the customer's credit."""
    principal.require(Role.ACCOUNTANT)
    org = principal.organization_id
    async with db.transaction(org) as conn:
        when = data.date or _today()
        invoice = await _creditable(conn, data, when)
        lines, taken = await _planned(conn, invoice, data, when)
        accounts = await _accounts(conn, org, invoice.currency)
        # The counter is locked from here to commit: take it as late as possible.
        note = _note(invoice, data, lines, await credit_notes_db.next_number(conn, org))
        credit_notes.check_refund_at_creation(note, data.refund_amount)
        postings = credit_notes.credit_note_postings(
            lines,
            {line.id: line.revenue_account_id for line in invoice.lines},
            accounts,
            pre_payment=note.pre_payment_amount,
            written_off=invoice.uncollectible_at is not None,
            currency=invoice.currency,
        )
        description = _description(note, invoice)
        await payments.post_entry(
            conn,
            principal,
            note.credited_on,
            description,
            postings,
            request_id=request_id,
            entry_id=note.journal_entry_id,
        )
        await credit_notes_db.insert_credit_note(conn, org, note)
        written_off = {invoice.id: invoice.uncollectible_at is not None}
        moves = receivables.settled([(invoice.id, note.pre_payment_amount)], written_off, sign=-1)
        receivable = (accounts.receivable, invoice.currency)
        await payments.record_moves(
            conn, principal, (note.journal_entry_id, note.credited_on), receivable, moves
        )
        reversals = await recognition_service.take_back(
            conn,
            org,
            taken,
            _description(note, invoice),
            created_by=principal.user_id,
            request_id=request_id,
        )
        await credit_notes_db.insert_recognition_entries(conn, org, note.id, reversals)
        await payments.settle(conn, [invoice.id])
        refunded = None
        if data.refund_amount:
            refund = (data.refund_amount, note.credited_on, data.reason or "")
            refund_id = await _refund(
                conn, principal, await _refundable(conn, note.id), refund, request_id
            )
            refunded = await payments_db.get_refund(conn, refund_id)
        created = await credit_notes_db.get_credit_note(conn, note.id)
    assert created is not None
    db.changed(audit.changed("credit_note", "created", created))
    if refunded is not None:  # refund_amount: the money given back at once
        db.changed(audit.changed("refund", "created", refunded))
    return created


async def get_credit_note(db: Transactions, principal: Principal, note_id: str) -> CreditNote:
    async with db.transaction(principal.organization_id) as conn:
        note = await credit_notes_db.get_credit_note(conn, note_id)
    if note is None:
        raise errors.NotFound(f"no credit note {note_id}", param="id")
    return note


async def list_credit_notes(
    db: Transactions,
    principal: Principal,
    *,
    limit: int,
    starting_after: str | None,
    invoice_id: str | None,
    customer_id: str | None,
) -> list[CreditNote]:
    async with db.transaction(principal.organization_id) as conn:
        return await credit_notes_db.list_credit_notes(
            conn,
            limit=limit,
            before=starting_after,
            invoice_id=invoice_id,
            customer_id=customer_id,
        )


# --- refunds of credit -----------------------------------------------------------------


async def _refundable(conn: Connection, note_id: str) -> CreditNote:
    note = await credit_notes_db.get_credit_note(conn, note_id, lock=True)
    if note is None:
        raise errors.ResourceMissing(f"no credit note {note_id}", param="credit_note")
    return note


async def _refund(
    conn: Connection,
    principal: Principal,
    note: CreditNote,
    refund: tuple[int, datetime.date, str],
    request_id: str | None,
) -> str:
    """Post and record the refund (amount, date, reason) of a locked credit note's credit."""
    amount, when, reason = refund
    credit_notes.check_refundable(note, amount, when)
    org = principal.organization_id
    accounts = await _accounts(conn, org, note.currency)
    cash = (await payment_accounts.posting_accounts(conn, org, note.currency)).cash
    postings = credit_notes.credit_refund_postings(amount, accounts, cash, note.currency)
    refund_id = ids.new_id("re")
    description = f"Refund {refund_id} of credit note #{note.number} ({note.id})"
    entry_id = await payments.post_entry(
        conn, principal, when, description, postings, request_id=request_id
    )
    made = Refund(
        id=refund_id,
        payment_id=None,
        credit_note_id=note.id,
        currency=note.currency,
        amount=amount,
        from_credit=amount,
        refunded_on=when,
        reason=reason,
        journal_entry_id=entry_id,
        created_at=datetime.datetime.now(datetime.UTC),
    )
    await payments_db.insert_refund(conn, org, made, ())
    return refund_id


@records("refund", "created")
async def refund_credit(
    db: Unit,
    principal: Principal,
    *,
    note_id: str,
    amount: int,
    date: datetime.date | None,
    reason: str,
    request_id: str | None,
) -> Refund:
    """Give back as money part or all of the customer credit a credit note holds (goods
    returned, credit note, money back): its invoice stays as it is."""
    principal.require(Role.ACCOUNTANT)
    async with db.transaction(principal.organization_id) as conn:
        note = await _refundable(conn, note_id)
        refund = (amount, date or _today(), reason)
        refund_id = await _refund(conn, principal, note, refund, request_id)
        created = await payments_db.get_refund(conn, refund_id)
    assert created is not None
    return created


# --- customer credit -------------------------------------------------------------------


async def _target(conn: Connection, invoice: Invoice, when: datetime.date) -> Due:
    """The invoice credit goes to, locked and checked as a payment's invoice is."""
    row = (await payments_db.lock_invoices(conn, [invoice.id]))[invoice.id]
    return payments.payable(row, invoice.customer_id, when, param="id")


@records("invoice", "credit_applied")
async def apply_credit(
    db: Unit,
    principal: Principal,
    invoice_id: str,
    *,
    amount: int,
    date: datetime.date | None,
    request_id: str | None,
) -> Invoice:
    """Settle part or all of an open (or written-off) invoice from its customer's
    credit: unapplied payments and credit notes, the oldest first."""
    principal.require(Role.ACCOUNTANT)
    org = principal.organization_id
    when = date or _today()
    async with db.transaction(org) as conn:
        invoice = await billing_db.get_invoice(conn, invoice_id)
        if invoice is None:
            raise errors.NotFound(f"no invoice {invoice_id}", param="id")
        sources = await credit_notes_db.lock_credit_sources(conn, invoice.customer_id, when)
        due = await _target(conn, invoice, when)
        if amount > due.amount_due:
            raise errors.AmountExceedsAmountDue(
                f"{amount} exceeds the {due.amount_due} still due on invoice {invoice.id}",
                param="amount",
            )
        drawn = credit_notes.draw_credit(sources, amount)
        accounts = await _accounts(conn, org, invoice.currency)
        postings = credit_notes.credit_application_postings(
            amount, accounts, due.written_off, invoice.currency
        )
        description = f"Customer credit applied to invoice #{invoice.number} ({invoice.id})"
        entry_id = await payments.post_entry(
            conn, principal, when, description, postings, request_id=request_id
        )
        moves = receivables.settled([(invoice.id, amount)], {invoice.id: due.written_off}, sign=-1)
        receivable = (accounts.receivable, invoice.currency)
        await payments.record_moves(conn, principal, (entry_id, when), receivable, moves)
        target = (invoice.id, invoice.customer_id, invoice.currency)
        await credit_notes_db.apply_credit(conn, org, target, drawn)
        await payments.settle(conn, [invoice.id])
        applied = await billing_db.get_invoice(conn, invoice.id)
    assert applied is not None
    return applied
