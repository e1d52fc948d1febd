"""Customers and invoices: drafts, lines, finalize, void, mark uncollectible."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from accounting_api.domain import billing, errors, ids, tax_rates
from accounting_api.routes import support
from accounting_api.routes.billing import schemas as m
from accounting_api.services import billing as invoices
from accounting_api.services import customers

# --- customers -------------------------------------------------------------------------


def customer_out(customer: billing.Customer) -> m.CustomerOut:
    address = customer.billing_address
    return m.CustomerOut(
        id=customer.id,
        name=customer.name,
        email=customer.email,
        currency=customer.currency,
        tier=customer.tier,
        billing_address=m.AddressOut.model_validate(address) if address is not None else None,
        archived=customer.archived_at is not None,
        archived_at=customer.archived_at,
        created_at=customer.created_at,
        credit_balance=customer.credit_balance,
    )


async def create_customer(request: Request) -> Response:
    data = await support.body(request, m.CustomerIn)
    address = data.billing_address
    customer = await customers.create_customer(
        support.unit(request),
        support.principal(request),
        name=data.name,
        email=str(data.email) if data.email is not None else None,
        currency=data.currency,
        tier=data.tier,
        billing_address=address.model_dump(exclude_none=True) if address is not None else None,
    )
    return support.json(customer_out(customer), 201)


async def list_customers(request: Request) -> Response:
    page = support.query(request, m.CustomerListQuery)
    found = await customers.list_customers(
        support.reads(request),
        support.principal(request),
        limit=page.limit + 1,
        starting_after=page.starting_after,
        archived=page.archived,
    )
    return support.page(found, page.limit, customer_out)


async def get_customer(request: Request) -> Response:
    customer = await customers.get_customer(
        support.db(request), support.principal(request), support.path_id(request, "cus")
    )
    return support.json(customer_out(customer))


async def archive_customer(request: Request) -> Response:
    customer = await customers.archive_customer(
        support.unit(request), support.principal(request), support.path_id(request, "cus")
    )
    return support.json(customer_out(customer))


# --- invoices --------------------------------------------------------------------------


def line_out(line: billing.Line) -> m.LineOut:
    period = None
    if line.service_start is not None and line.service_end is not None:
        period = m.ServicePeriodOut(start=line.service_start, end=line.service_end)
    return m.LineOut(
        id=line.id,
        description=line.description,
        quantity=billing.format_quantity(line.quantity_milli),
        unit_amount=line.unit_amount,
        amount=line.amounts.amount,
        discount=line.amounts.discount,
        tax_rate=tax_rates.format_percent(line.tax_rate_ppm),
        tax_rate_bps=tax_rates.basis_points(line.tax_rate_ppm),
        tax=line.amounts.tax,
        total=line.amounts.total,
        revenue_account_id=line.revenue_account_id,
        service_period=period,
    )


def invoice_out(invoice: billing.Invoice) -> m.InvoiceOut:
    return m.InvoiceOut(
        id=invoice.id,
        customer=invoice.customer_id,
        currency=invoice.currency,
        status=invoice.status,
        number=invoice.number,
        description=invoice.description,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        days_until_due=invoice.days_until_due,
        subtotal=invoice.totals.subtotal,
        discount=invoice.totals.discount,
        tax=invoice.totals.tax,
        total=invoice.totals.total,
        amount_paid=invoice.amount_paid,
        amount_credited=invoice.amount_credited,
        amount_credit_applied=invoice.amount_credit_applied,
        amount_remaining=invoice.amount_remaining,
        lines=[line_out(line) for line in invoice.lines],
        journal_entries=[
            m.PostedEntryOut(kind=e.kind, journal_entry_id=e.journal_entry_id)
            for e in invoice.entries
        ],
        created_at=invoice.created_at,
        finalized_at=invoice.finalized_at,
        paid_at=invoice.paid_at,
        voided_at=invoice.voided_at,
        marked_uncollectible_at=invoice.uncollectible_at,
    )


def line_in(line: m.LineIn) -> invoices.LineInput:
    period = line.service_period
    return invoices.LineInput(
        description=line.description,
        quantity_milli=billing.parse_quantity(line.quantity),
        unit_amount=line.unit_amount,
        discount=line.discount,
        tax_rate_ppm=line.tax_rate_ppm(),
        revenue_account_id=line.revenue_account_id,
        service_start=period.start if period else None,
        service_end=period.end if period else None,
    )


async def create_invoice(request: Request) -> Response:
    data = await support.body(request, m.InvoiceIn)
    if data.due_date is not None and data.days_until_due is not None:
        raise errors.ValidationFailed(
            "give due_date or days_until_due, not both", param="days_until_due"
        )
    invoice = await invoices.create_invoice(
        support.unit(request),
        support.principal(request),
        customer_id=data.customer,
        currency=data.currency,
        description=data.description,
        due_date=data.due_date,
        days_until_due=data.days_until_due,
        lines=[line_in(line) for line in data.lines],
    )
    return support.json(invoice_out(invoice), 201)


async def list_invoices(request: Request) -> Response:
    page = support.query(request, m.InvoiceListQuery)
    found = await invoices.list_invoices(
        support.reads(request),
        support.principal(request),
        limit=page.limit + 1,
        starting_after=page.starting_after,
        status=page.status,
        customer_id=page.customer,
    )
    return support.page(found, page.limit, invoice_out)


async def get_invoice(request: Request) -> Response:
    invoice = await invoices.get_invoice(
        support.db(request), support.principal(request), support.path_id(request, "inv")
    )
    return support.json(invoice_out(invoice))


async def add_invoice_line(request: Request) -> Response:
    data = await support.body(request, m.LineIn)
    invoice = await invoices.add_lines(
        support.unit(request),
        support.principal(request),
        support.path_id(request, "inv"),
        [line_in(data)],
    )
    return support.json(invoice_out(invoice))


async def delete_invoice_line(request: Request) -> Response:
    invoice_id = support.path_id(request, "inv")
    line_id = str(request.path_params["line_id"])
    if not ids.has_prefix(line_id, "il"):
        raise errors.NotFound(f"no invoice line {line_id!r}", param="line_id")
    invoice = await invoices.delete_line(
        support.unit(request), support.principal(request), invoice_id, line_id
    )
    return support.json(invoice_out(invoice))


async def finalize_invoice(request: Request) -> Response:
    data = await support.body(request, m.FinalizeIn, optional=True)
    invoice = await invoices.finalize(
        support.unit(request),
        support.principal(request),
        support.path_id(request, "inv"),
        issue_date=data.issue_date,
        request_id=support.request_id(request),
    )
    return support.json(invoice_out(invoice))


def _dated_transition(
    name: str, action: Callable[..., Awaitable[billing.Invoice]]
) -> support.Handler:
    """A handler for an invoice action that takes an optional effective date."""

    async def handler(request: Request) -> Response:
        data = await support.body(request, m.EffectiveDateIn, optional=True)
        invoice = await action(
            support.db(request),
            support.principal(request),
            support.path_id(request, "inv"),
            date=data.date,
            request_id=support.request_id(request),
        )
        return support.json(invoice_out(invoice))

    handler.__name__ = handler.__qualname__ = name
    return handler


void_invoice = _dated_transition("void_invoice", invoices.void)
mark_invoice_uncollectible = _dated_transition(
    "mark_invoice_uncollectible", invoices.mark_uncollectible
)
