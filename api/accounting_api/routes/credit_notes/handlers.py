"""Credit notes, and customer credit applied to an invoice."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from accounting_api.domain import billing, errors
from accounting_api.domain import credit_notes as rules
from accounting_api.routes import support
from accounting_api.routes.billing import handlers as billing_routes
from accounting_api.routes.credit_notes import schemas as m
from accounting_api.services import credit_notes


def credit_note_out(note: rules.CreditNote) -> m.CreditNoteOut:
    return m.CreditNoteOut(
        id=note.id,
        number=note.number,
        invoice=note.invoice_id,
        customer=note.customer_id,
        currency=note.currency,
        reason=note.reason,
        memo=note.memo,
        subtotal=note.amount - note.tax,
        tax=note.tax,
        amount=note.amount,
        pre_payment_amount=note.pre_payment_amount,
        post_payment_amount=note.post_payment_amount,
        amount_unapplied=note.unapplied,
        amount_refunded=note.amount_refunded,
        date=note.credited_on,
        lines=[
            m.CreditLineOut(
                line=line.line_id,
                quantity=billing.format_quantity(line.quantity_milli)
                if line.quantity_milli is not None
                else None,
                amount=line.amount,
                tax=line.tax,
                total=line.total,
                deferred=line.deferred,
            )
            for line in note.lines
        ],
        journal_entry_id=note.journal_entry_id,
        recognition_entry_ids=list(note.recognition_entry_ids),
        created_at=note.created_at,
    )


def _line_request(line: m.CreditLineIn, i: int) -> rules.LineRequest:
    if (line.quantity is None) == (line.amount is None):
        raise errors.ValidationFailed(
            "give the line's quantity or amount to credit, not both", param=f"lines[{i}].quantity"
        )
    quantity = billing.parse_quantity(line.quantity) if line.quantity is not None else None
    return rules.LineRequest(line.line, quantity, line.amount)


def _input(data: m.CreditNoteIn) -> credit_notes.CreditNoteInput:
    if (data.amount is None) == (data.lines is None):
        raise errors.ValidationFailed("give an amount or lines to credit, not both", param="amount")
    lines = [_line_request(line, i) for i, line in enumerate(data.lines or [])]
    return credit_notes.CreditNoteInput(
        invoice_id=data.invoice,
        amount=data.amount,
        lines=lines if data.lines is not None else None,
        reason=data.reason,
        memo=data.memo,
        currency=data.currency,
        date=data.date,
        refund_amount=data.refund_amount,
    )


async def create_credit_note(request: Request) -> Response:
    data = _input(await support.body(request, m.CreditNoteIn))
    note = await credit_notes.create_credit_note(
        support.unit(request),
        support.principal(request),
        data,
        request_id=support.request_id(request),
    )
    return support.json(credit_note_out(note), 201)


async def list_credit_notes(request: Request) -> Response:
    page = support.query(request, m.CreditNoteListQuery)
    found = await credit_notes.list_credit_notes(
        support.reads(request),
        support.principal(request),
        limit=page.limit + 1,
        starting_after=page.starting_after,
        invoice_id=page.invoice,
        customer_id=page.customer,
    )
    return support.page(found, page.limit, credit_note_out)


async def get_credit_note(request: Request) -> Response:
    note = await credit_notes.get_credit_note(
        support.db(request), support.principal(request), support.path_id(request, "cn")
    )
    return support.json(credit_note_out(note))


async def apply_invoice_credit(request: Request) -> Response:
    data = await support.body(request, m.ApplyCreditIn)
    invoice = await credit_notes.apply_credit(
        support.unit(request),
        support.principal(request),
        support.path_id(request, "inv"),
        amount=data.amount,
        date=data.date,
        request_id=support.request_id(request),
    )
    return support.json(billing_routes.invoice_out(invoice))
