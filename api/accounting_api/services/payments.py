"""Payment and refund use cases.

Each runs in one transaction that locks the invoices it touches FOR UPDATE (in id
order, so racing payments queue instead of deadlocking), writes the payment or
refund and posts its journal entry: the invoices, the payment and the ledger never
disagree. Racing payments that name an invoice explicitly and would overpay it are
refused (amount_exceeds_amount_due); payments left to allocate themselves go to what
is still due once they hold the locks, the rest becoming customer credit.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from accounting_api import metrics
from accounting_api.db import billing as billing_db
from accounting_api.db import ledger as ledger_db
from accounting_api.db import payments as payments_db
from accounting_api.db import receivables as receivables_db
from accounting_api.db.connection import Connection, Record
from accounting_api.domain import errors, ids, ledger, payments, receivables
from accounting_api.domain.billing import Billed, InvoiceStatus
from accounting_api.domain.payments import Application, Due, Payment, Refund
from accounting_api.domain.roles import Principal, Role
from accounting_api.services import payment_accounts
from accounting_api.services.audit import records
from accounting_api.services.ports import Transactions, Unit


@dataclass(frozen=True, slots=True)
class PaymentInput:
    customer_id: str
    amount: int
    currency: str | None
    method: payments.Method
    received_on: datetime.date | None
    description: str
    applied_to: Sequence[Application] | None
    """None: oldest open invoices first."""


def _today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


async def post_entry(
    conn: Connection,
    principal: Principal,
    date: datetime.date,
    description: str,
    postings: Sequence[ledger.Posting],
    *,
    request_id: str | None,
    entry_id: str | None = None,
) -> str:
    entry = ledger.NewEntry(entry_id or ids.new_id("je"), date, description, tuple(postings))
    await ledger_db.insert_entries(
        conn,
        principal.organization_id,
        [entry],
        created_by=principal.user_id,
        request_id=request_id,
    )
    return entry.id


async def record_moves(
    conn: Connection,
    principal: Principal,
    entry: tuple[str, datetime.date],
    account: tuple[str, str],
    moves: Sequence[receivables.Move],
) -> None:
    """What the entry (id, date) moved on invoices' receivable (account id, currency)."""
    (entry_id, date), (account_id, currency) = entry, account
    recorded = receivables.Entry(entry_id, date, account_id, currency, tuple(moves))
    await receivables_db.insert(conn, principal.organization_id, recorded)


def _written_off(dues: dict[str, Due]) -> dict[str, bool]:
    return {invoice_id: due.written_off for invoice_id, due in dues.items()}


async def settle(conn: Connection, invoice_ids: Sequence[str]) -> None:
    """Paid once fully covered by payments and credit; owed again (open, or
    uncollectible if it had been written off) once a refund uncovers it."""
    for row in await payments_db.invoice_state(conn, invoice_ids):
        if row["amount_settled"] == row["total"]:
            status = InvoiceStatus.PAID
        elif row["written_off"]:
            status = InvoiceStatus.UNCOLLECTIBLE
        else:
            status = InvoiceStatus.OPEN
        await payments_db.set_invoice_status(conn, row["id"], status)


# --- payments --------------------------------------------------------------------------


async def _payer(conn: Connection, data: PaymentInput) -> Billed:
    """The paying customer (an archived one may still pay what it owes)."""
    customer = await billing_db.get_billed(conn, data.customer_id)
    if customer is None:
        raise errors.ResourceMissing(f"no customer {data.customer_id}", param="customer")
    if data.currency is not None and data.currency != customer.currency:
        raise errors.CurrencyMismatch(
            f"customer {customer.id} is billed in {customer.currency}: its payments and"
            f" invoices are in {customer.currency}, not {data.currency}",
            param="currency",
        )
    return customer


_UNPAYABLE: dict[str, type[errors.Conflict]] = {
    InvoiceStatus.DRAFT: errors.InvoiceNotFinalized,
    InvoiceStatus.VOID: errors.InvoiceAlreadyVoid,
    InvoiceStatus.PAID: errors.InvoicePaid,
}


def payable(row: Record | None, customer_id: str, when: datetime.date, *, param: str) -> Due:
    """A locked invoice money may go to: the customer's, finalized, not void nor paid,
    issued by `when`."""
    if row is None:
        raise errors.ResourceMissing("no such invoice", param=param)
    if row["customer_id"] != customer_id:
        raise errors.InvoiceCustomerMismatch(
            f"invoice {row['id']} is billed to {row['customer_id']}, not {customer_id}",
            param=param,
        )
    refusal = _UNPAYABLE.get(row["status"])
    if refusal is not None:
        raise refusal(f"invoice {row['id']} is {row['status']}: it cannot be paid", param=param)
    if when < row["issue_date"]:
        raise errors.ValidationFailed(
            f"the date {when} is before invoice {row['id']}'s issue date {row['issue_date']}",
            param="date",
        )
    return Due(row["id"], row["amount_due"], row["written_off"])


async def _requested(
    conn: Connection, customer: Billed, requested: Sequence[Application], when: datetime.date
) -> dict[str, Due]:
    rows = await payments_db.lock_invoices(conn, [a.invoice_id for a in requested])
    dues = {
        a.invoice_id: payable(
            rows.get(a.invoice_id), customer.id, when, param=f"applied_to[{i}].invoice"
        )
        for i, a in enumerate(requested)
    }
    payments.check_within_due(requested, dues)
    return dues


async def _allocated(
    conn: Connection, customer: Billed, data: PaymentInput, when: datetime.date
) -> tuple[list[Application], dict[str, Due]]:
    """Where the money goes, with the invoices it goes to locked."""
    if data.applied_to is None:
        found = await payments_db.lock_open_invoices(conn, customer.id, customer.currency, when)
        return payments.allocate_oldest_first(data.amount, found), {d.invoice_id: d for d in found}
    applications = list(data.applied_to)
    return applications, await _requested(conn, customer, applications, when)


async def _record(
    db: Transactions, principal: Principal, data: PaymentInput, request_id: str | None
) -> Payment:
    org = principal.organization_id
    when = data.received_on or _today()
    if data.applied_to is not None:
        payments.check_requested(data.amount, data.applied_to)
    async with db.transaction(org) as conn:
        customer = await _payer(conn, data)
        applications, dues = await _allocated(conn, customer, data, when)
        accounts = await payment_accounts.posting_accounts(conn, org, customer.currency)
        postings = payments.payment_postings(
            data.amount, customer.currency, accounts, applications, dues
        )
        payment_id = ids.new_id("pay")
        description = f"Payment {payment_id} from customer {customer.id} ({data.method})"
        entry = ledger.NewEntry(ids.new_id("je"), when, description, tuple(postings))
        payment = Payment(
            payment_id,
            customer.id,
            customer.currency,
            data.amount,
            data.method,
            when,
            data.description,
            0,
            0,
            payments.PaymentStatus.SUCCEEDED,
            tuple(Application(a.invoice_id, a.amount) for a in applications),
            entry.id,
            datetime.datetime.now(datetime.UTC),
        )
        moves = receivables.settled(
            [(a.invoice_id, a.amount) for a in applications], _written_off(dues), sign=-1
        )
        moved = receivables.Entry(
            entry.id, when, accounts.receivable, customer.currency, tuple(moves)
        )
        await payments_db.record_payment(
            conn, org, payment, entry, moved, created_by=principal.user_id, request_id=request_id
        )
        return await payments_db.settle_payment(conn, payment)


@records("payment", "created")
async def create_payment(
    db: Unit, principal: Principal, data: PaymentInput, *, request_id: str | None
) -> Payment:
    """Record money received from a customer and apply it to its invoices."""
    principal.require(Role.ACCOUNTANT)
    try:
        payment = await _record(db, principal, data, request_id)
    except errors.AccountingError:
        metrics.PAYMENTS_PROCESSED.labels(data.method.value, "refused").inc()
        raise
    metrics.PAYMENTS_PROCESSED.labels(data.method.value, "succeeded").inc()
    return payment


async def get_payment(db: Transactions, principal: Principal, payment_id: str) -> Payment:
    async with db.transaction(principal.organization_id) as conn:
        payment = await payments_db.get_payment(conn, payment_id)
    if payment is None:
        raise errors.NotFound(f"no payment {payment_id}", param="id")
    return payment


async def list_payments(
    db: Transactions,
    principal: Principal,
    *,
    limit: int,
    starting_after: str | None,
    customer_id: str | None,
) -> list[Payment]:
    async with db.transaction(principal.organization_id) as conn:
        return await payments_db.list_payments(
            conn, limit=limit, before=starting_after, customer_id=customer_id
        )


# --- refunds ---------------------------------------------------------------------------


async def _refundable(conn: Connection, payment_id: str, when: datetime.date) -> Payment:
    payment = await payments_db.get_payment(conn, payment_id, lock=True)
    if payment is None:
        raise errors.ResourceMissing(f"no payment {payment_id}", param="payment")
    if when < payment.received_on:
        raise errors.ValidationFailed(
            f"the refund date {when} is before the payment's date {payment.received_on}",
            param="date",
        )
    return payment


@records("refund", "created")
async def create_refund(
    db: Unit,
    principal: Principal,
    *,
    payment_id: str,
    amount: int,
    date: datetime.date | None,
    reason: str,
    request_id: str | None,
) -> Refund:
    """Give back part or all of what a payment has not refunded yet: its credit
    first, then its applications, the latest first (those invoices are owed again)."""
    principal.require(Role.ACCOUNTANT)
    org = principal.organization_id
    when = date or _today()
    async with db.transaction(org) as conn:
        payment = await _refundable(conn, payment_id, when)
        plan = payments.plan_refund(payment, amount)
        invoice_ids = [a.invoice_id for a in plan.from_applications]
        rows = await payments_db.lock_invoices(conn, invoice_ids)
        payments.check_credit_covered(plan, {i: r["refundable"] for i, r in rows.items()})
        dues = {i: Due(i, r["amount_due"], r["written_off"]) for i, r in rows.items()}
        accounts = await payment_accounts.posting_accounts(conn, org, payment.currency)
        postings = payments.refund_postings(payment.currency, accounts, plan, dues)
        refund_id = ids.new_id("re")
        description = f"Refund {refund_id} of payment {payment.id}"
        entry_id = await post_entry(
            conn, principal, when, description, postings, request_id=request_id
        )
        refund = Refund(
            refund_id,
            payment.id,
            None,
            payment.currency,
            amount,
            plan.from_credit,
            when,
            reason,
            entry_id,
            datetime.datetime.now(datetime.UTC),
        )
        await payments_db.insert_refund(conn, org, refund, plan.from_applications)
        moves = receivables.settled(
            [(a.invoice_id, a.amount) for a in plan.from_applications], _written_off(dues), sign=1
        )
        receivable = (accounts.receivable, payment.currency)
        await record_moves(conn, principal, (entry_id, when), receivable, moves)
        await settle(conn, invoice_ids)
        created = await payments_db.get_refund(conn, refund_id)
    assert created is not None
    return created


async def get_refund(db: Transactions, principal: Principal, refund_id: str) -> Refund:
    async with db.transaction(principal.organization_id) as conn:
        refund = await payments_db.get_refund(conn, refund_id)
    if refund is None:
        raise errors.NotFound(f"no refund {refund_id}", param="id")
    return refund


async def list_refunds(
    db: Transactions,
    principal: Principal,
    *,
    limit: int,
    starting_after: str | None,
    payment_id: str | None,
    credit_note_id: str | None = None,
) -> list[Refund]:
    async with db.transaction(principal.organization_id) as conn:
        return await payments_db.list_refunds(
            conn,
            limit=limit,
            before=starting_after,
            payment_id=payment_id,
            credit_note_id=credit_note_id,
        )
