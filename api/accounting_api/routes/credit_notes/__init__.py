"""Credit notes and applying customer credit: the endpoint table."""

from __future__ import annotations

from accounting_api.domain.roles import Role
from accounting_api.routes import schemas as common
from accounting_api.routes.billing import schemas as bm
from accounting_api.routes.credit_notes import handlers, schemas
from accounting_api.routes.openapi import Endpoint

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST",
        "/v1/credit-notes",
        handlers.create_credit_note,
        "Credit part or all of a finalized invoice (what is paid becomes customer credit)",
        201,
        schemas.CreditNoteIn,
        None,
        schemas.CreditNoteOut,
        tag="billing",
        role=Role.ACCOUNTANT,
    ),
    Endpoint(
        "GET",
        "/v1/credit-notes",
        handlers.list_credit_notes,
        "List credit notes, newest first",
        200,
        None,
        schemas.CreditNoteListQuery,
        common.ListOut[schemas.CreditNoteOut],
        tag="billing",
    ),
    Endpoint(
        "GET",
        "/v1/credit-notes/{id}",
        handlers.get_credit_note,
        "Retrieve a credit note",
        200,
        None,
        None,
        schemas.CreditNoteOut,
        tag="billing",
    ),
    Endpoint(
        "POST",
        "/v1/invoices/{id}/apply-credit",
        handlers.apply_invoice_credit,
        "Settle part or all of an invoice from its customer's credit, the oldest first",
        200,
        schemas.ApplyCreditIn,
        None,
        bm.InvoiceOut,
        tag="billing",
        role=Role.ACCOUNTANT,
    ),
)
