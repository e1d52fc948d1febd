"""Invoice use cases: drafts and their lines, finalize, void, mark uncollectible.

Each runs in one transaction that holds the invoice FOR UPDATE, changes it and posts
its journal entries, so the invoice and the ledger never disagree.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from accounting_api import metrics
from accounting_api.db import billing as billing_db
from accounting_api.db import finalize as finalize_db
from accounting_api.db import ledger as ledger_db
from accounting_api.db import receivables as receivables_db
from accounting_api.db.connection import Connection
from accounting_api.domain import billing, errors, ids, ledger, receivables
from accounting_api.domain.billing import Action, EntryKind, Invoice, InvoiceStatus
from accounting_api.domain.roles import Principal, Role
from accounting_api.services import billing_accounts, recognition
from accounting_api.services.audit import records
from accounting_api.services.customers import billable_customer
from accounting_api.services.ports import Transactions, Unit


@dataclass(frozen=True, slots=True)
class LineInput:
    description: str
    quantity_milli: int
    unit_amount: int
    discount: int = 0
    tax_rate_ppm: int = 0
    """Parts per million (billing.RATE_SCALE): 88750 is 8.875 %."""
    revenue_account_id: str | None = None
    service_start: datetime.date | None = None
    service_end: datetime.date | None = None


def _today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def _line(item: LineInput, revenue_account_id: str) -> billing.Line:
    if item.service_start is not None and item.service_end is not None:
        billing.check_service_period(item.service_start, item.service_end)
    amounts = billing.price_line(
        item.quantity_milli, item.unit_amount, item.discount, item.tax_rate_ppm
    )
    return billing.Line(
        ids.new_id("il"),
        item.description,
        item.quantity_milli,
        item.unit_amount,
        item.tax_rate_ppm,
        amounts,
        revenue_account_id,
        item.service_start,
        item.service_end,
    )


async def _lines(
    conn: Connection, organization_id: str, currency: str, items: Sequence[LineInput], prefix: str
) -> list[billing.Line]:
    """Priced lines with their revenue accounts checked; params name the bad line."""
    accounts = await billing_accounts.revenue_accounts(
        conn, organization_id, currency, [i.revenue_account_id for i in items], prefix
    )
    lines = []
    for i, (item, account) in enumerate(zip(items, accounts, strict=True)):
        try:
            lines.append(_line(item, account))
        except errors.AccountingError as exc:
            if exc.param:
                exc.param = f"{prefix.format(i)}{exc.param}"
            raise
    return lines


async def _locked(conn: Connection, invoice_id: str) -> Invoice:
    invoice = await billing_db.get_invoice(conn, invoice_id, lock=True)
    if invoice is None:
        raise errors.NotFound(f"no invoice {invoice_id}", param="id")
    return invoice


async def _reloaded(conn: Connection, invoice_id: str) -> Invoice:
    invoice = await billing_db.get_invoice(conn, invoice_id)
    assert invoice is not None
    return invoice


# --- drafts ----------------------------------------------------------------------------


@records("invoice", "created")
async def create_invoice(
    db: Unit,
    principal: Principal,
    *,
    customer_id: str,
    currency: str | None,
    description: str,
    due_date: datetime.date | None,
    days_until_due: int | None,
    lines: Sequence[LineInput],
) -> Invoice:
    """A draft invoice, in its customer's currency, with its first lines."""
    principal.require(Role.ACCOUNTANT)
    org = principal.organization_id
    async with db.transaction(org) as conn:
        customer = await billable_customer(conn, customer_id, param="customer")
        if currency is not None and currency != customer.currency:
            raise errors.CurrencyMismatch(
                f"customer {customer_id} is billed in {customer.currency}, not {currency}",
                param="currency",
            )
        priced = await _lines(conn, org, customer.currency, lines, "lines[{}].")
        draft = Invoice(
            id=ids.new_id("inv"),
            customer_id=customer_id,
            currency=customer.currency,
            status=InvoiceStatus.DRAFT,
            number=None,
            description=description,
            days_until_due=days_until_due,
            issue_date=None,
            due_date=due_date,
            totals=billing.totals(line.amounts for line in priced),
            amount_paid=0,
            lines=(),
            entries=(),
            created_at=datetime.datetime.now(datetime.UTC),
        )
        created_at = await billing_db.insert_invoice(conn, org, draft)
        await billing_db.insert_lines(conn, org, draft.id, draft.currency, priced)
        # As written: a new draft's lines are these, in this order (no read back).
        created = dataclasses.replace(draft, lines=tuple(priced), created_at=created_at)
    metrics.INVOICES_CREATED.labels(customer.tier.value).inc()
    return created


@records("invoice", "line_added")
async def add_lines(
    db: Unit, principal: Principal, invoice_id: str, lines: Sequence[LineInput]
) -> Invoice:
    principal.require(Role.ACCOUNTANT)
    org = principal.organization_id
    async with db.transaction(org) as conn:
        invoice = await _locked(conn, invoice_id)
        billing.transition(invoice, Action.EDIT)
        if len(invoice.lines) + len(lines) > billing.MAX_LINES:
            raise errors.ValidationFailed(
                f"an invoice has at most {billing.MAX_LINES} lines", param="lines"
            )
        prefix = "" if len(lines) == 1 else "lines[{}]."
        added = await _lines(conn, org, invoice.currency, lines, prefix)
        amounts = [line.amounts for line in (*invoice.lines, *added)]
        totals = billing.totals(amounts)
        await billing_db.insert_lines(conn, org, invoice.id, invoice.currency, added)
        await billing_db.update_totals(conn, invoice.id, totals)
        return await _reloaded(conn, invoice.id)


@records("invoice", "line_removed")
async def delete_line(db: Unit, principal: Principal, invoice_id: str, line_id: str) -> Invoice:
    principal.require(Role.ACCOUNTANT)
    async with db.transaction(principal.organization_id) as conn:
        invoice = await _locked(conn, invoice_id)
        billing.transition(invoice, Action.EDIT)
        if not await billing_db.delete_line(conn, invoice.id, line_id):
            raise errors.NotFound(f"invoice {invoice_id} has no line {line_id}", param="line_id")
        kept = [line.amounts for line in invoice.lines if line.id != line_id]
        await billing_db.update_totals(conn, invoice.id, billing.totals(kept))
        return await _reloaded(conn, invoice.id)


async def get_invoice(db: Transactions, principal: Principal, invoice_id: str) -> Invoice:
    async with db.transaction(principal.organization_id) as conn:
        invoice = await billing_db.get_invoice(conn, invoice_id)
    if invoice is None:
        raise errors.NotFound(f"no invoice {invoice_id}", param="id")
    return invoice


async def list_invoices(
    db: Transactions,
    principal: Principal,
    *,
    limit: int,
    starting_after: str | None,
    status: InvoiceStatus | None,
    customer_id: str | None,
) -> list[Invoice]:
    async with db.transaction(principal.organization_id) as conn:
        return await billing_db.list_invoices(
            conn, limit=limit, before=starting_after, status=status, customer_id=customer_id
        )


# --- finalize, void, write off ---------------------------------------------------------


def _moves(
    invoice: Invoice, entries: Sequence[tuple[EntryKind, ledger.NewEntry]], receivable: str
) -> list[receivables.Entry]:
    """What each of the invoice's entries moves on its receivable."""
    return [
        receivables.entry(
            entry,
            receivable,
            invoice.currency,
            receivables.of_invoice(invoice.id, entry.postings, receivable),
        )
        for _, entry in entries
    ]


async def _post(
    conn: Connection,
    principal: Principal,
    invoice: Invoice,
    entries: Sequence[tuple[EntryKind, ledger.NewEntry]],
    *,
    receivable: str,
    request_id: str | None,
) -> None:
    """Write the invoice's entries, and what each moves on its receivable."""
    org = principal.organization_id
    await ledger_db.insert_entries(
        conn,
        org,
        [entry for _, entry in entries],
        created_by=principal.user_id,
        request_id=request_id,
    )
    await billing_db.insert_invoice_entries(
        conn, org, invoice.id, [billing.PostedEntry(kind, entry.id) for kind, entry in entries]
    )
    for moved in _moves(invoice, entries, receivable):
        await receivables_db.insert(conn, org, moved)


def _entry(
    date: datetime.date,
    description: str,
    postings: Sequence[ledger.Posting],
    reverses: str | None = None,
) -> ledger.NewEntry:
    return ledger.NewEntry(ids.new_id("je"), date, description, tuple(postings), reverses)


@records("invoice", "finalized")
async def finalize(
    db: Unit,
    principal: Principal,
    invoice_id: str,
    *,
    issue_date: datetime.date | None,
    request_id: str | None,
) -> Invoice:
    """Number the draft, fix its dates and post it: receivable against revenue
    (deferred for unearned service periods) and tax payable."""
    principal.require(Role.ACCOUNTANT)
    org = principal.organization_id
    async with db.transaction(org) as conn:
        invoice = await _locked(conn, invoice_id)
        status = billing.transition(invoice, Action.FINALIZE)
        await billable_customer(conn, invoice.customer_id, param="customer")
        issued = issue_date or _today()
        due = billing.due_date(issued, invoice.due_date, invoice.days_until_due)
        posted: list[tuple[EntryKind, ledger.NewEntry]] = []
        moved: list[receivables.Entry] = []
        if status is InvoiceStatus.OPEN:
            accounts = await billing_accounts.posting_accounts(conn, org, invoice.currency)
            postings = billing.finalize_postings(invoice, accounts, issued)
            description = f"Invoice #{finalize_db.NUMBER} ({invoice.id})"
            posted = [(EntryKind.FINALIZE, _entry(issued, description, postings))]
            moved = _moves(invoice, posted, accounts.receivable)
            await recognition.create_schedule(conn, org, invoice, issued, accounts.deferred_revenue)
        # The number's counter is locked from here to commit: the number and everything
        # that names it go in one last statement.
        finalized = finalize_db.Finalized(status, issued, due, posted, moved)
        return await finalize_db.finalize(
            conn, org, invoice, finalized, created_by=principal.user_id, request_id=request_id
        )


async def _void_reversals(
    conn: Connection, principal: Principal, invoice: Invoice, effective: datetime.date
) -> tuple[list[tuple[EntryKind, ledger.NewEntry]], str]:
    """The reversals of the invoice's entries, checked to clear its receivable (the
    receivable account's id comes with them)."""
    reversals = []
    for entry_id, kind in billing.void_reversals(invoice):
        original = await ledger_db.get_entry(conn, entry_id)
        assert original is not None
        description = f"Void of invoice #{invoice.number} ({invoice.id}): reverses {entry_id}"
        postings = ledger.reversal(original.postings)
        reversals.append((kind, _entry(effective, description, postings, entry_id)))
    accounts = await billing_accounts.posting_accounts(
        conn, principal.organization_id, invoice.currency
    )
    moved = sum(receivables.posted_to(e.postings, accounts.receivable) for _, e in reversals)
    left = await receivables_db.invoice_balance(conn, invoice.id) + moved
    billing.check_void_clears(invoice, left)
    return reversals, accounts.receivable


@records("invoice", "voided")
async def void(
    db: Unit,
    principal: Principal,
    invoice_id: str,
    *,
    date: datetime.date | None,
    request_id: str | None,
) -> Invoice:
    """Cancel an open or uncollectible invoice: reverse everything it posted."""
    principal.require(Role.ACCOUNTANT)
    async with db.transaction(principal.organization_id) as conn:
        invoice = await _locked(conn, invoice_id)
        status = billing.transition(invoice, Action.VOID)
        effective = date or _today()
        billing.check_effective_date(invoice, effective)
        # The database refuses first to void an invoice with money applied to it.
        await billing_db.set_status(conn, invoice.id, status)
        reversals, receivable = await _void_reversals(conn, principal, invoice, effective)
        await _post(
            conn, principal, invoice, reversals, receivable=receivable, request_id=request_id
        )
        await recognition.void_schedule(
            conn,
            principal.organization_id,
            invoice,
            effective,
            created_by=principal.user_id,
            request_id=request_id,
        )
        return await _reloaded(conn, invoice.id)


@records("invoice", "marked_uncollectible")
async def mark_uncollectible(
    db: Unit,
    principal: Principal,
    invoice_id: str,
    *,
    date: datetime.date | None,
    request_id: str | None,
) -> Invoice:
    """Write off what an open invoice still owes as bad-debt expense."""
    principal.require(Role.ACCOUNTANT)
    org = principal.organization_id
    async with db.transaction(org) as conn:
        invoice = await _locked(conn, invoice_id)
        status = billing.transition(invoice, Action.MARK_UNCOLLECTIBLE)
        effective = date or _today()
        billing.check_effective_date(invoice, effective)
        accounts = await billing_accounts.posting_accounts(conn, org, invoice.currency)
        postings = billing.uncollectible_postings(invoice, accounts)
        description = f"Invoice #{invoice.number} ({invoice.id}) written off as uncollectible"
        entry = _entry(effective, description, postings)
        await billing_db.set_status(conn, invoice.id, status)
        written_off = [(EntryKind.UNCOLLECTIBLE, entry)]
        await _post(
            conn,
            principal,
            invoice,
            written_off,
            receivable=accounts.receivable,
            request_id=request_id,
        )
        return await _reloaded(conn, invoice.id)
