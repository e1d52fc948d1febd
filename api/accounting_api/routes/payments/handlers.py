"""Payments and refunds."""

from __future__ import annotations

import functools

from starlette.requests import Request
from starlette.responses import Response

from accounting_api.domain import errors
from accounting_api.domain import payments as rules
from accounting_api.routes import support
from accounting_api.routes.payments import schemas as m
from accounting_api.services import credit_notes, payments


def payment_out(payment: rules.Payment) -> m.PaymentOut:
    return m.PaymentOut(
        id=payment.id,
        customer=payment.customer_id,
        currency=payment.currency,
        amount=payment.amount,
        method=payment.method,
        date=payment.received_on,
        description=payment.description,
        status=payment.status,
        amount_applied=payment.amount_applied,
        amount_unapplied=payment.unapplied,
        amount_refunded=payment.amount_refunded,
        applied_to=[
            m.ApplicationOut(
                invoice=a.invoice_id, amount=a.amount, amount_refunded=a.amount_refunded
            )
            for a in payment.applications
        ],
        journal_entry_id=payment.journal_entry_id,
        created_at=payment.created_at,
    )


def refund_out(refund: rules.Refund) -> m.RefundOut:
    return m.RefundOut(
        id=refund.id,
        payment=refund.payment_id,
        credit_note=refund.credit_note_id,
        currency=refund.currency,
        amount=refund.amount,
        from_credit=refund.from_credit,
        from_invoices=refund.amount - refund.from_credit,
        date=refund.refunded_on,
        reason=refund.reason,
        journal_entry_id=refund.journal_entry_id,
        created_at=refund.created_at,
    )


async def create_payment(request: Request) -> Response:
    data = await support.body(request, m.PaymentIn)
    applied = data.applied_to
    payment = await payments.create_payment(
        support.unit(request),
        support.principal(request),
        payments.PaymentInput(
            customer_id=data.customer,
            amount=data.amount,
            currency=data.currency,
            method=data.method,
            received_on=data.date,
            description=data.description,
            applied_to=None
            if applied is None
            else [rules.Application(a.invoice, a.amount) for a in applied],
        ),
        request_id=support.request_id(request),
    )
    return support.json(payment_out(payment), 201)


async def list_payments(request: Request) -> Response:
    page = support.query(request, m.PaymentListQuery)
    found = await payments.list_payments(
        support.reads(request),
        support.principal(request),
        limit=page.limit + 1,
        starting_after=page.starting_after,
        customer_id=page.customer,
    )
    return support.page(found, page.limit, payment_out)


async def get_payment(request: Request) -> Response:
    payment = await payments.get_payment(
        support.db(request), support.principal(request), support.path_id(request, "pay")
    )
    return support.json(payment_out(payment))


async def create_refund(request: Request) -> Response:
    data = await support.body(request, m.RefundIn)
    if data.payment is not None and data.credit_note is None:
        refund_of = functools.partial(payments.create_refund, payment_id=data.payment)
    elif data.credit_note is not None and data.payment is None:
        refund_of = functools.partial(credit_notes.refund_credit, note_id=data.credit_note)
    else:
        raise errors.ValidationFailed(
            "give a payment or a credit note to refund, not both", param="payment"
        )
    refund = await refund_of(
        support.unit(request),
        support.principal(request),
        amount=data.amount,
        date=data.date,
        reason=data.reason,
        request_id=support.request_id(request),
    )
    return support.json(refund_out(refund), 201)


async def list_refunds(request: Request) -> Response:
    page = support.query(request, m.RefundListQuery)
    found = await payments.list_refunds(
        support.reads(request),
        support.principal(request),
        limit=page.limit + 1,
        starting_after=page.starting_after,
        payment_id=page.payment,
        credit_note_id=page.credit_note,
    )
    return support.page(found, page.limit, refund_out)


async def get_refund(request: Request) -> Response:
    refund = await payments.get_refund(
        support.db(request), support.principal(request), support.path_id(request, "re")
    )
    return support.json(refund_out(refund))
