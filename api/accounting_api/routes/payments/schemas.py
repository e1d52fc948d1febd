"""Request and response bodies of payments and refunds (pydantic; strict)."""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

from pydantic import Field

from accounting_api.domain import payments
from accounting_api.domain.payments import Method, PaymentStatus
from accounting_api.routes import schemas as common
from accounting_api.routes.schemas import (
    Amount,
    Body,
    Currency,
    Description,
    ListQuery,
    Out,
    Ref,
)


class ApplicationIn(Body):
    invoice: Ref = Field(description="An open or uncollectible invoice of the customer.")
    amount: Amount = Field(description="At most what the invoice still owes.")


class PaymentIn(Body):
    customer: Ref
    amount: Amount
    currency: Currency | None = Field(default=None, description="Must be the customer's.")
    method: Method
    date: datetime.date | None = Field(default=None, description="Received on; today (UTC).")
    description: Description = ""
    applied_to: (
        Annotated[list[ApplicationIn], Field(min_length=1, max_length=payments.MAX_APPLICATIONS)]
        | None
    ) = Field(
        default=None,
        description="Where the money goes; by default the customer's oldest open invoices"
        " first. Whatever is not applied becomes the customer's credit.",
    )


class PaymentListQuery(ListQuery):
    customer: Ref | None = None


class ApplicationOut(Out):
    invoice: str
    amount: int
    amount_refunded: int


class PaymentOut(Out):
    object: Literal["payment"] = "payment"
    id: str
    customer: str
    currency: str
    amount: int
    method: Method
    date: datetime.date
    description: str
    status: PaymentStatus
    amount_applied: int = Field(description="Applied to invoices now, net of refunds.")
    amount_unapplied: int = Field(description="Held as the customer's credit.")
    amount_refunded: int
    applied_to: list[ApplicationOut]
    journal_entry_id: str
    created_at: datetime.datetime


class RefundIn(Body):
    model_config = common.exactly_one_of("payment", "credit_note")

    payment: Ref | None = Field(
        default=None,
        description="The payment to refund: its credit first, then its invoices. Give"
        " payment or credit_note.",
    )
    credit_note: Ref | None = Field(
        default=None,
        description="Or a credit note whose customer credit to give back as money (goods"
        " returned): its invoice stays as it is.",
    )
    amount: Amount = Field(
        description="At most what the payment has not refunded yet, or the credit the credit"
        " note still holds."
    )
    date: datetime.date | None = Field(default=None, description="Today (UTC) by default.")
    reason: Description = ""


class RefundListQuery(ListQuery):
    payment: Ref | None = None
    credit_note: Ref | None = None


class RefundOut(Out):
    object: Literal["refund"] = "refund"
    id: str
    payment: str | None
    credit_note: str | None
    currency: str
    amount: int
    from_credit: int = Field(
        description="Taken from customer credit: the payment's unapplied part, or all of a"
        " credit note's refund."
    )
    from_invoices: int = Field(description="Taken back from invoices, which owe it again.")
    date: datetime.date
    reason: str
    journal_entry_id: str
    created_at: datetime.datetime
