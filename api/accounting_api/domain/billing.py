"""Billing rules: line and invoice totals, the invoice state machine, what invoices post.

Amounts are integer minor units. Quantities are integers in thousandths of a unit
(1.5 hours is 1500) and tax rates integers in parts per million (8.875 % is 88750), so
no float ever touches a price.

The rounding rule. Rounding is commercial (half up, i.e. half away from zero, as every
amount here is non-negative) and happens twice per line, never on the invoice:

1. amount = quantity x unit amount, rounded once to the minor unit;
2. tax = (amount - discount) x rate, rounded once to the minor unit;
3. the invoice's subtotal, discount, tax and total are the sums of its lines', so the
   total a customer sees is always the sum of the lines they see.

Example (New York City, 8.875 %): 3 x 19.99 with a 5.00 discount is amount 59.97, net
54.97, tax 54.97 x 0.08875 = 4.8785875 -> 4.88, total 59.85; a second line of 1.5 x
3.33 = 4.995 -> 5.00, tax 0.44375 -> 0.44; the invoice: subtotal 64.97, discount 5.00,
tax 5.32, total 65.29 (tests/unit/test_tax_rates.py checks these figures).

A line whose quantity and unit amount are not zero but whose amount rounds to zero
(0.001 x 4.99) would bill nothing while looking like a sale: it is refused. A line of
unit amount 0 is a genuinely free line and stays allowed.
"""

from __future__ import annotations

import datetime
import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from accounting_api.domain import errors, ledger, money, tax_rates
from accounting_api.domain.ledger import Posting, Side

QUANTITY_SCALE = 1000
"""Quantities are stored in thousandths of a unit."""
MAX_QUANTITY = 1_000_000_000
"""Largest quantity of one line, in whole units."""
MAX_LINES = 250
DEFAULT_DAYS_UNTIL_DUE = 30

_QUANTITY_TEXT = re.compile(r"^(\d{1,10})(?:\.(\d{1,3}))?$")


# --- quantities and rounding -----------------------------------------------------------


def parse_quantity(value: int | str) -> int:
    """A positive quantity (an integer, or a decimal string with up to 3 decimals) in
    thousandths; raises ValueError with a message fit for a client."""
    if isinstance(value, int):
        milli = value * QUANTITY_SCALE
    else:
        match = _QUANTITY_TEXT.match(value)
        if match is None:
            raise ValueError("must be a decimal number with at most 3 decimals, e.g. '1.5'")
        whole, fraction = match[1], (match[2] or "").ljust(3, "0")
        milli = int(whole) * QUANTITY_SCALE + int(fraction)
    if milli <= 0:
        raise ValueError("must be greater than 0")
    if milli > MAX_QUANTITY * QUANTITY_SCALE:
        raise ValueError(f"must be at most {MAX_QUANTITY}")
    return milli


def format_quantity(milli: int) -> str:
    """Thousandths back to the shortest decimal text: 1500 -> '1.5', 2000 -> '2'."""
    whole, fraction = divmod(milli, QUANTITY_SCALE)
    return f"{whole}.{fraction:03d}".rstrip("0").rstrip(".")


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, halves up (both >= 0)."""
    return (2 * numerator + denominator) // (2 * denominator)


# --- lines and totals ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineAmounts:
    amount: int
    """Quantity x unit amount, rounded half up."""
    discount: int
    tax: int
    """Tax on (amount - discount) at the line's rate, rounded half up."""

    @property
    def net(self) -> int:
        return self.amount - self.discount

    @property
    def total(self) -> int:
        return self.net + self.tax


def price_line(
    quantity_milli: int, unit_amount: int, discount: int, tax_rate_ppm: int
) -> LineAmounts:
    """A line's amounts; the errors' params are relative to the line."""
    amount = round_half_up(quantity_milli * unit_amount, QUANTITY_SCALE)
    if amount == 0 and unit_amount:
        raise errors.LineRoundsToZero(
            f"{format_quantity(quantity_milli)} x {unit_amount} rounds to an amount of 0:"
            " the line would bill nothing; bill a larger quantity (or a unit amount of 0"
            " for a free line)",
            param="quantity",
        )
    if amount > money.MAX_AMOUNT:
        raise errors.AmountTooLarge(
            f"quantity x unit_amount exceeds the largest amount, {money.MAX_AMOUNT}",
            param="unit_amount",
        )
    if discount > amount:
        raise errors.DiscountExceedsAmount(
            f"the discount ({discount}) exceeds the line's amount ({amount})", param="discount"
        )
    tax = round_half_up((amount - discount) * tax_rate_ppm, tax_rates.SCALE)
    if amount - discount + tax > money.MAX_AMOUNT:
        raise errors.AmountTooLarge("the line's total exceeds the largest amount", param="tax_rate")
    return LineAmounts(amount, discount, tax)


@dataclass(frozen=True, slots=True)
class Totals:
    subtotal: int
    discount: int
    tax: int

    @property
    def total(self) -> int:
        return self.subtotal - self.discount + self.tax


def totals(lines: Iterable[LineAmounts]) -> Totals:
    """The invoice's amounts: sums of its lines'."""
    subtotal = discount = tax = 0
    for line in lines:
        subtotal, discount, tax = subtotal + line.amount, discount + line.discount, tax + line.tax
    result = Totals(subtotal, discount, tax)
    if max(subtotal, result.total) > money.MAX_AMOUNT:
        raise errors.AmountTooLarge("the invoice's total exceeds the largest amount", param="lines")
    return result


def check_service_period(start: datetime.date, end: datetime.date) -> None:
    """The end not before the start (the param is relative to the line)."""
    if end < start:
        raise errors.ValidationFailed(
            f"the service period ends ({end}) before it starts ({start})",
            param="service_period.end",
        )


def due_date(
    issue_date: datetime.date, fixed: datetime.date | None, days_until_due: int | None
) -> datetime.date:
    """The due date set at finalize: the draft's fixed date, or issue date + days."""
    if fixed is None:
        days = DEFAULT_DAYS_UNTIL_DUE if days_until_due is None else days_until_due
        return issue_date + datetime.timedelta(days=days)
    if fixed < issue_date:
        raise errors.ValidationFailed(
            f"the due date {fixed} is before the issue date {issue_date}", param="due_date"
        )
    return fixed


# --- customers and invoices ------------------------------------------------------------


class CustomerTier(enum.StrEnum):
    """A closed set, so metrics may be labelled by it."""

    FREE = "free"
    STANDARD = "standard"
    PREMIUM = "premium"
    ENTERPRISE = "enterprise"


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    name: str
    email: str | None
    currency: str
    tier: CustomerTier
    billing_address: dict[str, Any] | None
    archived_at: datetime.datetime | None
    created_at: datetime.datetime
    credit_balance: int = 0
    """Available credit in its currency: unapplied payments and credit notes."""


@dataclass(frozen=True, slots=True)
class Billed:
    """What invoices and payments read of their customer (not its credit balance, which
    takes sums over its payments and credit notes)."""

    id: str
    currency: str
    tier: CustomerTier
    archived_at: datetime.datetime | None


class InvoiceStatus(enum.StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


class EntryKind(enum.StrEnum):
    """Why an invoice posted a journal entry; at most one of each per invoice."""

    FINALIZE = "finalize"
    UNCOLLECTIBLE = "uncollectible"
    VOID = "void"
    """The reversal of the finalize entry."""
    VOID_UNCOLLECTIBLE = "void_uncollectible"
    """The reversal of the uncollectible entry, when an uncollectible invoice is voided."""


@dataclass(frozen=True, slots=True)
class Line:
    id: str
    description: str
    quantity_milli: int
    unit_amount: int
    tax_rate_ppm: int
    """Parts per million of (amount - discount); see tax_rates."""
    amounts: LineAmounts
    revenue_account_id: str
    service_start: datetime.date | None
    service_end: datetime.date | None


@dataclass(frozen=True, slots=True)
class PostedEntry:
    kind: EntryKind
    journal_entry_id: str


@dataclass(frozen=True, slots=True)
class Invoice:
    id: str
    customer_id: str
    currency: str
    status: InvoiceStatus
    number: int | None
    description: str
    days_until_due: int | None
    issue_date: datetime.date | None
    due_date: datetime.date | None
    totals: Totals
    amount_paid: int
    lines: tuple[Line, ...]
    entries: tuple[PostedEntry, ...]
    created_at: datetime.datetime
    finalized_at: datetime.datetime | None = None
    paid_at: datetime.datetime | None = None
    voided_at: datetime.datetime | None = None
    uncollectible_at: datetime.datetime | None = None
    amount_credited: int = 0
    """By the credit notes issued against it."""
    amount_credit_applied: int = 0
    """Credit-note credit that settled part of it (its own credit notes' or others')."""

    @property
    def amount_remaining(self) -> int:
        """What the customer still owes: nothing once the invoice is void."""
        if self.status is InvoiceStatus.VOID:
            return 0
        return self.totals.total - self.amount_paid - self.amount_credit_applied

    def entry(self, kind: EntryKind) -> str | None:
        return next((e.journal_entry_id for e in self.entries if e.kind is kind), None)


# --- the state machine -----------------------------------------------------------------


class Action(enum.StrEnum):
    EDIT = "edit"
    FINALIZE = "finalize"
    VOID = "void"
    MARK_UNCOLLECTIBLE = "mark_uncollectible"


_NEXT = {
    (InvoiceStatus.DRAFT, Action.EDIT): InvoiceStatus.DRAFT,
    (InvoiceStatus.DRAFT, Action.FINALIZE): InvoiceStatus.OPEN,
    (InvoiceStatus.OPEN, Action.VOID): InvoiceStatus.VOID,
    (InvoiceStatus.OPEN, Action.MARK_UNCOLLECTIBLE): InvoiceStatus.UNCOLLECTIBLE,
    (InvoiceStatus.UNCOLLECTIBLE, Action.VOID): InvoiceStatus.VOID,
}


def _refusal(status: InvoiceStatus, action: Action) -> type[errors.Conflict]:
    if action is Action.EDIT:
        return errors.InvoiceNotDraft
    if action is Action.FINALIZE:
        return errors.InvoiceAlreadyFinalized
    return {
        InvoiceStatus.DRAFT: errors.InvoiceNotFinalized,
        InvoiceStatus.PAID: errors.InvoicePaid,
        InvoiceStatus.VOID: errors.InvoiceAlreadyVoid,
    }.get(status, errors.InvoiceAlreadyUncollectible)


def transition(invoice: Invoice, action: Action) -> InvoiceStatus:
    """The status `action` moves the invoice to, or the Conflict that forbids it.

    A finalized invoice with nothing to collect (every line free or fully discounted)
    is paid at once, as it posts nothing. An invoice with credit notes is never voided.
    """
    status = _NEXT.get((invoice.status, action))
    if status is None:
        refusal = _refusal(invoice.status, action)
        raise refusal(f"invoice {invoice.id} is {invoice.status}; cannot {action}", param="id")
    if action is Action.VOID and invoice.amount_credited:
        raise errors.InvoiceCredited(
            f"invoice {invoice.id} has credit notes: it is corrected, not voided; credit what"
            " is left instead",
            param="id",
        )
    if action is Action.FINALIZE:
        if not invoice.lines:
            raise errors.InvoiceEmpty(f"invoice {invoice.id} has no lines", param="lines")
        if invoice.totals.total == 0:
            return InvoiceStatus.PAID
    return status


def check_effective_date(invoice: Invoice, date: datetime.date) -> None:
    """Voiding or writing off takes effect on or after the invoice's issue date."""
    if invoice.issue_date is not None and date < invoice.issue_date:
        raise errors.ValidationFailed(
            f"the date {date} is before the invoice's issue date {invoice.issue_date}",
            param="date",
        )


# --- what invoices post ----------------------------------------------------------------


class BillingAccount(enum.StrEnum):
    """The chart accounts billing posts to, by their code in the default chart."""

    RECEIVABLE = "1200"
    TAX_PAYABLE = "2100"
    DEFERRED_REVENUE = "2400"
    REVENUE = "4000"
    BAD_DEBT = "6900"

    def chart_line(self) -> ledger.ChartLine:
        return next(line for line in ledger.DEFAULT_CHART if line.code == self.value)

    def code_in(self, currency: str) -> str:
        """The code of this account's twin in another currency (codes are unique per
        organization): '1200.EUR' when the chart's 1200 is in USD."""
        return f"{self.value}.{currency}"


@dataclass(frozen=True, slots=True)
class PostingAccounts:
    """Account ids, all in the invoice's currency."""

    receivable: str
    tax_payable: str
    deferred_revenue: str
    bad_debt: str


def is_deferred(line: Line, issue_date: datetime.date) -> bool:
    """A line whose service period ends after the issue date is not yet earned: all of
    it goes to deferred revenue, and recognition moves it to revenue day by day."""
    return line.service_end is not None and line.service_end > issue_date


def finalize_postings(
    invoice: Invoice, accounts: PostingAccounts, issue_date: datetime.date
) -> list[Posting]:
    """Receivable debit of the total; revenue (or deferred revenue) credit per line;
    tax payable credit of the tax. Free lines post nothing."""
    currency = invoice.currency
    postings = [Posting(accounts.receivable, Side.DEBIT, invoice.totals.total, currency)]
    for line in invoice.lines:
        if line.amounts.net:
            target = (
                accounts.deferred_revenue
                if is_deferred(line, issue_date)
                else line.revenue_account_id
            )
            postings.append(Posting(target, Side.CREDIT, line.amounts.net, currency))
    if invoice.totals.tax:
        postings.append(Posting(accounts.tax_payable, Side.CREDIT, invoice.totals.tax, currency))
    ledger.check_balanced(postings)
    return postings


def uncollectible_postings(invoice: Invoice, accounts: PostingAccounts) -> list[Posting]:
    """Write off what is still owed: bad-debt expense debit, receivable credit."""
    amount, currency = invoice.amount_remaining, invoice.currency
    postings = [
        Posting(accounts.bad_debt, Side.DEBIT, amount, currency),
        Posting(accounts.receivable, Side.CREDIT, amount, currency),
    ]
    ledger.check_balanced(postings)
    return postings


def check_void_clears(invoice: Invoice, receivable_left: int) -> None:
    """Voiding leaves nothing in receivable for the invoice. Reversing its entries would,
    when payments it had when written off were refunded since (the refunds moved bad-debt
    expense, as the receivable was written off): a credit note corrects it instead."""
    if receivable_left:
        raise errors.InvoiceReceivableNotCleared(
            f"invoice {invoice.id} was written off after payments since refunded: voiding it"
            f" would leave {receivable_left} in receivable; credit it instead",
            param="id",
        )


def void_reversals(invoice: Invoice) -> list[tuple[str, EntryKind]]:
    """(entry to reverse, kind of its reversal): voiding undoes everything the invoice
    posted, the write-off first, so its books end as if it had never been issued."""
    plan = []
    written_off = invoice.entry(EntryKind.UNCOLLECTIBLE)
    if written_off is not None:
        plan.append((written_off, EntryKind.VOID_UNCOLLECTIBLE))
    finalized = invoice.entry(EntryKind.FINALIZE)
    if finalized is not None:
        plan.append((finalized, EntryKind.VOID))
    return plan
