"""Credit note rules: what may be credited, how an amount spreads over an invoice's
lines, what comes off deferred revenue, and what a credit note and applied credit post.

A credit note takes part of an invoice back, line by line: each credited line gives
back part of its amount (net of discount) and of its tax, never more than what earlier
credit notes left of them, so the invoice is never credited beyond its total. A share
of a line's total is split into amount and tax in the proportion still left of them,
so crediting a line in parts ends exactly at its amounts.

A credit by quantity shares what is left of a line among the units that no credit by
quantity has taken yet: q of the R units still uncredited by quantity take q/R of the
amount left and q/R of the tax left, each rounded half up. So the first units go at
their price (rounded), crediting the last remaining quantity takes exactly what is left
of the amount and of the tax, and any credits that together cover the line's quantity
cover its whole total. A credit by amount (on the line, or spread over the invoice)
gives value back without taking units: it lowers, equally, what each unit not yet
credited by quantity is worth (an allowance, not a return). Asking for more units than
are left uncredited is a 409; a share that rounds to nothing (one of 20 units of a 0.05
line) is refused and takes no units. Example (tests/unit/test_credit_by_quantity.py
checks it): 3 x 10.00 at 8.25% (amount 30.00, tax 2.48) credited one unit at a time
takes 10.00 + 0.83, 10.00 + 0.83 (0.825 rounds up), then 10.00 + 0.82, what is left;
credited 10.00 by amount first (9.24 + 0.76), the three units then share the 22.48
left: one takes 6.92 + 0.57, the last two 13.84 + 1.15.

What a credit note takes off the amount due (its pre-payment part) credits receivable
(bad-debt expense for a written-off invoice, as a recovery does); the rest, for an
invoice already paid, becomes the customer's credit (2300 Customer Credits), never
lost: applied to other invoices later, or refunded as money (2300 debit, cash credit).
Revenue comes back by the credit note's date (this replaced "deferred first, the latest
first", which took the pieces the worker had not posted yet whatever the date): of a line
still being recognized, what its pieces due after that date hold comes from deferred
revenue (they shrink, the latest first; a piece already posted has the part taken
reversed at its own date), the rest from revenue (see `recognition.take_back`).
"""

from __future__ import annotations

import datetime
import enum
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from accounting_api.domain import billing, errors, ledger, recognition
from accounting_api.domain.billing import Invoice, InvoiceStatus
from accounting_api.domain.ledger import Posting, Side


class Reason(enum.StrEnum):
    DUPLICATE = "duplicate"
    FRAUDULENT = "fraudulent"
    ORDER_CHANGE = "order_change"
    PRODUCT_UNSATISFACTORY = "product_unsatisfactory"


@dataclass(frozen=True, slots=True)
class CreditLine:
    """What a credit note takes off one invoice line."""

    line_id: str
    quantity_milli: int | None
    amount: int
    """Net of discount, without tax."""
    tax: int
    deferred: int = 0
    """The part of amount taken from deferred revenue."""

    @property
    def total(self) -> int:
        return self.amount + self.tax


@dataclass(frozen=True, slots=True)
class CreditNote:
    id: str
    number: int
    invoice_id: str
    customer_id: str
    currency: str
    reason: Reason | None
    memo: str
    amount: int
    tax: int
    pre_payment_amount: int
    amount_applied: int
    amount_refunded: int
    """Of its credit, given back to the customer by refunds."""
    credited_on: datetime.date
    lines: tuple[CreditLine, ...]
    journal_entry_id: str
    created_at: datetime.datetime
    recognition_entry_ids: tuple[str, ...] = ()
    """The entries that took back revenue already recognized for the lines it credits."""

    @property
    def post_payment_amount(self) -> int:
        """The part that became the customer's credit."""
        return self.amount - self.pre_payment_amount

    @property
    def unapplied(self) -> int:
        """The customer's credit this credit note still holds."""
        return self.amount - self.amount_applied - self.amount_refunded


@dataclass(frozen=True, slots=True)
class LineRequest:
    line_id: str
    quantity_milli: int | None = None
    amount: int | None = None
    """The line's total (tax included) to credit."""


@dataclass(frozen=True, slots=True)
class Credited:
    """What the credit notes of one line took so far."""

    amount: int = 0
    tax: int = 0
    quantity_milli: int = 0
    """Of the line's quantity, what credits by quantity took."""


@dataclass(frozen=True, slots=True)
class Left:
    """What credit notes have left of one line."""

    line: billing.Line
    amount: int
    tax: int
    quantity_milli: int
    """Of the line's quantity, what no credit by quantity took yet."""

    @property
    def total(self) -> int:
        return self.amount + self.tax


# --- what may be credited --------------------------------------------------------------

_NOT_CREDITABLE: dict[InvoiceStatus, type[errors.Conflict]] = {
    InvoiceStatus.DRAFT: errors.InvoiceNotFinalized,
    InvoiceStatus.VOID: errors.InvoiceAlreadyVoid,
}


def check_creditable(invoice: Invoice, date: datetime.date) -> None:
    """Only a finalized invoice that is not void, on or after its issue date."""
    refusal = _NOT_CREDITABLE.get(invoice.status)
    if refusal is not None:
        raise refusal(
            f"invoice {invoice.id} is {invoice.status}: it cannot be credited", param="invoice"
        )
    if invoice.issue_date is not None and date < invoice.issue_date:
        raise errors.ValidationFailed(
            f"the date {date} is before the invoice's issue date {invoice.issue_date}",
            param="date",
        )


def left_by_line(invoice: Invoice, credited: Mapping[str, Credited]) -> dict[str, Left]:
    """Line id -> what is left of it, given what was credited so far per line."""
    left = {}
    for line in invoice.lines:
        took = credited.get(line.id, Credited())
        left[line.id] = Left(
            line,
            line.amounts.net - took.amount,
            line.amounts.tax - took.tax,
            line.quantity_milli - took.quantity_milli,
        )
    return left


def _share(left: Left, total: int) -> CreditLine:
    """`total` of a line split into amount and tax in the proportion left of them."""
    tax = billing.round_half_up(total * left.tax, left.total) if left.total else 0
    return CreditLine(left.line.id, None, total - tax, tax)


def _by_quantity(left: Left, quantity_milli: int) -> CreditLine:
    """`quantity_milli` of the line's units not credited by quantity yet: that share of
    the amount left and of the tax left, each rounded half up (all of them when it is
    all of the quantity left)."""
    units = left.quantity_milli
    amount = billing.round_half_up(left.amount * quantity_milli, units)
    tax = billing.round_half_up(left.tax * quantity_milli, units)
    return CreditLine(left.line.id, quantity_milli, amount, tax)


def _requested(left: Left, request: LineRequest, param: str) -> CreditLine:
    line, by_amount = left.line, request.quantity_milli is None
    if request.quantity_milli is None:
        assert request.amount is not None
        param, asked, has = f"{param}.amount", request.amount, left.total
        over = f"{asked} exceeds the {has} of line {line.id} not credited yet"
    else:
        param, asked, has = f"{param}.quantity", request.quantity_milli, left.quantity_milli
        over = (
            f"line {line.id} has {billing.format_quantity(has)} of its quantity of"
            f" {billing.format_quantity(line.quantity_milli)} not credited by quantity yet"
        )
    if asked > has:
        raise errors.AmountExceedsCreditable(over, param=param)
    credit = _share(left, asked) if by_amount else _by_quantity(left, asked)
    if credit.total == 0:
        raise errors.ValidationFailed(f"line {line.id} has nothing to credit", param=param)
    return credit


def plan_lines(left: Mapping[str, Left], requests: Sequence[LineRequest]) -> list[CreditLine]:
    """The credit lines asked for, each checked against what is left of its line."""
    planned, seen = [], set()
    for i, request in enumerate(requests):
        param = f"lines[{i}]"
        found = left.get(request.line_id)
        if found is None:
            raise errors.ResourceMissing(
                f"the invoice has no line {request.line_id}", param=f"{param}.line"
            )
        if request.line_id in seen:
            raise errors.ValidationFailed(
                f"line {request.line_id} is named twice", param=f"{param}.line"
            )
        seen.add(request.line_id)
        planned.append(_requested(found, request, param))
    return planned


def plan_amount(left: Mapping[str, Left], amount: int) -> list[CreditLine]:
    """`amount` spread over the lines in proportion to what is left of each."""
    available = [entry for entry in left.values() if entry.total > 0]
    creditable = sum(entry.total for entry in available)
    if amount > creditable:
        raise errors.AmountExceedsCreditable(
            f"{amount} exceeds the {creditable} of the invoice not credited yet", param="amount"
        )
    shares = recognition.allocate(amount, [entry.total for entry in available])
    return [_share(entry, share) for entry, share in zip(available, shares, strict=True) if share]


# --- deferred revenue ------------------------------------------------------------------


def take_deferred(
    lines: Sequence[CreditLine], pieces: Sequence[recognition.Scheduled], on: datetime.date
) -> tuple[list[CreditLine], list[tuple[recognition.Scheduled, int]]]:
    """The lines with their deferred part, credited on `on`, and (piece, amount taken)
    pairs: what the pieces due after `on` hold, the latest first."""
    taken = recognition.take_back({line.line_id: line.amount for line in lines}, pieces, on)
    deferred: defaultdict[str, int] = defaultdict(int)
    for piece, part in taken:
        deferred[piece.due.line_id] += part
    return [replace(line, deferred=deferred[line.line_id]) for line in lines], taken


# --- postings --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostingAccounts:
    """Account ids, all in the invoice's currency."""

    receivable: str
    tax_payable: str
    deferred_revenue: str
    bad_debt: str
    customer_credits: str


def settled_account(accounts: PostingAccounts, written_off: bool) -> str:
    """What credit taken off an amount due credits: receivable, or bad-debt expense
    for an invoice whose receivable was written off."""
    return accounts.bad_debt if written_off else accounts.receivable


def credit_note_postings(
    lines: Sequence[CreditLine],
    revenue_accounts: Mapping[str, str],
    accounts: PostingAccounts,
    *,
    pre_payment: int,
    written_off: bool,
    currency: str,
) -> list[Posting]:
    """Revenue (deferred first) and tax payable debits; receivable credit of the part
    off the amount due, customer credits credit of the rest."""
    debits: defaultdict[str, int] = defaultdict(int)
    for line in lines:
        debits[accounts.deferred_revenue] += line.deferred
        debits[revenue_accounts[line.line_id]] += line.amount - line.deferred
        debits[accounts.tax_payable] += line.tax
    total = sum(line.total for line in lines)
    credits = {
        settled_account(accounts, written_off): pre_payment,
        accounts.customer_credits: total - pre_payment,
    }
    postings = [Posting(a, Side.DEBIT, amount, currency) for a, amount in debits.items() if amount]
    postings += [
        Posting(a, Side.CREDIT, amount, currency) for a, amount in credits.items() if amount
    ]
    ledger.check_balanced(postings)
    return postings


def credit_application_postings(
    amount: int, accounts: PostingAccounts, written_off: bool, currency: str
) -> list[Posting]:
    """Customer credit applied to an invoice: customer credits debit, receivable (or
    bad-debt expense) credit."""
    postings = [
        Posting(accounts.customer_credits, Side.DEBIT, amount, currency),
        Posting(settled_account(accounts, written_off), Side.CREDIT, amount, currency),
    ]
    ledger.check_balanced(postings)
    return postings


def credit_refund_postings(
    amount: int, accounts: PostingAccounts, cash: str, currency: str
) -> list[Posting]:
    """Customer credit given back as money: customer credits debit, cash credit."""
    postings = [
        Posting(accounts.customer_credits, Side.DEBIT, amount, currency),
        Posting(cash, Side.CREDIT, amount, currency),
    ]
    ledger.check_balanced(postings)
    return postings


def check_refund_at_creation(note: CreditNote, refund_amount: int) -> None:
    """A credit note may give back as money only what becomes the customer's credit: the
    part of it the invoice had already been paid."""
    credit = note.amount - note.pre_payment_amount
    if refund_amount > credit:
        raise errors.RefundExceedsCredit(
            f"refund_amount {refund_amount} exceeds the {credit} of this credit note that"
            " becomes customer credit (the rest lowers what the invoice still owes)",
            param="refund_amount",
        )


def check_refundable(note: CreditNote, amount: int, date: datetime.date) -> None:
    """A credit note's refund gives back at most the credit it still holds, on or
    after its date."""
    if amount > note.unapplied:
        raise errors.RefundExceedsCredit(
            f"{amount} exceeds the {note.unapplied} of customer credit credit note {note.id}"
            " still holds (the rest was applied to invoices or refunded)",
            param="amount",
        )
    if date < note.credited_on:
        raise errors.ValidationFailed(
            f"the refund date {date} is before the credit note's date {note.credited_on}",
            param="date",
        )


# --- applying customer credit ----------------------------------------------------------


class SourceKind(enum.StrEnum):
    PAYMENT = "payment"
    CREDIT_NOTE = "credit_note"


@dataclass(frozen=True, slots=True)
class Source:
    """Customer credit held by a payment or a credit note, as locked by the service."""

    kind: SourceKind
    id: str
    available: int
    created_at: datetime.datetime


def draw_credit(sources: Sequence[Source], amount: int) -> list[tuple[Source, int]]:
    """(source, amount drawn) pairs, the oldest credit first."""
    available = sum(source.available for source in sources)
    if amount > available:
        raise errors.InsufficientCredit(
            f"{amount} exceeds the customer's available credit of {available}", param="amount"
        )
    drawn, left = [], amount
    for source in sorted(sources, key=lambda s: (s.created_at, s.id)):
        part = min(left, source.available)
        if part > 0:
            drawn.append((source, part))
            left -= part
    return drawn
