"""Payment rules: how a payment is spread over invoices, what is left as customer
credit, how a refund is taken back, and what each posts.

Allocation: a payment goes to the invoices it names, in the amounts it names; if it
names none, to the customer's oldest open invoices first (by due date, then number),
each up to its amount due. Whatever is not applied is the customer's credit (a
liability, 2300 Customer Credits), never lost.

Refunds: a refund takes back the payment's unapplied credit first, then its
applications, the latest applied first. A refunded application is owed again: the
invoice's amount due grows back (a paid invoice reopens).

Written-off invoices: an uncollectible invoice's receivable was moved to bad-debt
expense, so paying it is a recovery that credits bad-debt expense (6900) instead of
receivable; refunding such a payment debits bad-debt expense again. Receivable (1200)
therefore always equals the amount due of the open invoices.
"""

from __future__ import annotations

import datetime
import enum
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from accounting_api.domain import errors, ledger
from accounting_api.domain.ledger import Posting, Side

MAX_APPLICATIONS = 100


class Method(enum.StrEnum):
    """A closed set, so metrics may be labelled by it."""

    CARD = "card"
    BANK_TRANSFER = "bank_transfer"
    CASH = "cash"
    CHECK = "check"
    OTHER = "other"


class PaymentStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


@dataclass(frozen=True, slots=True)
class Application:
    invoice_id: str
    amount: int
    amount_refunded: int = 0

    @property
    def refundable(self) -> int:
        return self.amount - self.amount_refunded


@dataclass(frozen=True, slots=True)
class Payment:
    id: str
    customer_id: str
    currency: str
    amount: int
    method: Method
    received_on: datetime.date
    description: str
    amount_applied: int
    amount_refunded: int
    status: PaymentStatus
    applications: tuple[Application, ...]
    journal_entry_id: str
    created_at: datetime.datetime

    @property
    def unapplied(self) -> int:
        """The part still held as the customer's credit."""
        return self.amount - self.amount_applied - self.amount_refunded

    @property
    def refundable(self) -> int:
        return self.amount - self.amount_refunded


@dataclass(frozen=True, slots=True)
class Refund:
    """Of a payment, or of the customer credit a credit note holds (all credit)."""

    id: str
    payment_id: str | None
    credit_note_id: str | None
    currency: str
    amount: int
    from_credit: int
    refunded_on: datetime.date
    reason: str
    journal_entry_id: str
    created_at: datetime.datetime


@dataclass(frozen=True, slots=True)
class Due:
    """An invoice a payment may go to, as locked by the service."""

    invoice_id: str
    amount_due: int
    written_off: bool
    """Its receivable was written off (it is, or was, uncollectible)."""


# --- allocation ------------------------------------------------------------------------


def allocate_oldest_first(amount: int, open_invoices: Sequence[Due]) -> list[Application]:
    """Spread `amount` over invoices in the order given (oldest first), each up to its
    amount due; the rest is not applied."""
    applied = []
    left = amount
    for due in open_invoices:
        if left == 0:
            break
        part = min(left, due.amount_due)
        if part > 0:
            applied.append(Application(due.invoice_id, part))
            left -= part
    return applied


def check_requested(amount: int, requested: Sequence[Application]) -> None:
    """Explicit applications: each invoice once, all together within the payment."""
    seen: set[str] = set()
    for i, item in enumerate(requested):
        if item.invoice_id in seen:
            raise errors.ValidationFailed(
                f"invoice {item.invoice_id} is named twice", param=f"applied_to[{i}].invoice"
            )
        seen.add(item.invoice_id)
    applied = sum(item.amount for item in requested)
    if applied > amount:
        raise errors.AppliedExceedsPayment(
            f"{applied} is applied to invoices, more than the payment's {amount}",
            param="applied_to",
        )


def check_within_due(requested: Sequence[Application], dues: dict[str, Due]) -> None:
    for i, item in enumerate(requested):
        due = dues[item.invoice_id].amount_due
        if item.amount > due:
            raise errors.AmountExceedsAmountDue(
                f"{item.amount} exceeds the {due} still due on invoice {item.invoice_id}",
                param=f"applied_to[{i}].amount",
            )


# --- refunds ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefundPlan:
    from_credit: int
    from_applications: tuple[Application, ...]
    """(invoice, refunded now): the applications it takes back, latest first."""


def plan_refund(payment: Payment, amount: int) -> RefundPlan:
    """Credit first, then the applications, the latest applied first."""
    if amount > payment.refundable:
        raise errors.RefundExceedsPayment(
            f"{amount} exceeds the {payment.refundable} of payment {payment.id} not yet refunded",
            param="amount",
        )
    from_credit = min(amount, payment.unapplied)
    left = amount - from_credit
    taken = []
    for application in reversed(payment.applications):
        part = min(left, application.refundable)
        if part > 0:
            taken.append(Application(application.invoice_id, part))
            left -= part
    assert left == 0, "a payment's refundable amount is its credit plus its applications"
    return RefundPlan(from_credit, tuple(taken))


def check_credit_covered(plan: RefundPlan, refundable: Mapping[str, int]) -> None:
    """A refund never takes back what covers an invoice's credit notes: `refundable` is,
    per invoice, what its payments and applied credit settle beyond what credit notes
    took off it. The credited part was given to the customer as credit already, so
    refunding it too would pay the customer twice and make the invoice owed again."""
    for application in plan.from_applications:
        left = refundable[application.invoice_id]
        if application.amount > left:
            raise errors.RefundReopensCreditedInvoice(
                f"this refund takes {application.amount} back off invoice"
                f" {application.invoice_id}, but credit notes took all but {max(left, 0)} of"
                " what its payments settle off it and gave it to the customer as credit:"
                " refund that credit instead (POST /v1/refunds with the credit note), or"
                " refund less",
                param="amount",
            )


# --- postings --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostingAccounts:
    """Account ids, all in the payment's currency."""

    cash: str
    receivable: str
    bad_debt: str
    customer_credits: str


def _grouped(
    accounts: PostingAccounts,
    applications: Sequence[Application],
    dues: dict[str, Due],
    credit: int,
) -> dict[str, int]:
    """Account -> amount moved, for the applied parts and the credit."""
    amounts: defaultdict[str, int] = defaultdict(int)
    for application in applications:
        written_off = dues[application.invoice_id].written_off
        amounts[accounts.bad_debt if written_off else accounts.receivable] += application.amount
    if credit:
        amounts[accounts.customer_credits] += credit
    return dict(amounts)


def payment_postings(
    amount: int,
    currency: str,
    accounts: PostingAccounts,
    applications: Sequence[Application],
    dues: dict[str, Due],
) -> list[Posting]:
    """Cash debit; receivable (or bad-debt, for a recovery) credit for the applied
    parts; customer credits credit for the rest."""
    credit = amount - sum(a.amount for a in applications)
    postings = [Posting(accounts.cash, Side.DEBIT, amount, currency)]
    for account_id, part in _grouped(accounts, applications, dues, credit).items():
        postings.append(Posting(account_id, Side.CREDIT, part, currency))
    ledger.check_balanced(postings)
    return postings


def refund_postings(
    currency: str, accounts: PostingAccounts, plan: RefundPlan, dues: dict[str, Due]
) -> list[Posting]:
    """The reverse of a payment for the refunded parts: cash credit; customer credits,
    receivable (or bad-debt) debits."""
    grouped = _grouped(accounts, plan.from_applications, dues, plan.from_credit)
    postings = [
        Posting(account_id, Side.DEBIT, part, currency) for account_id, part in grouped.items()
    ]
    postings.append(Posting(accounts.cash, Side.CREDIT, sum(grouped.values()), currency))
    ledger.check_balanced(postings)
    return postings
