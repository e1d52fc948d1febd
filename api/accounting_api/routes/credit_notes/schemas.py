"""Request and response bodies of credit notes and applied customer credit (pydantic;
strict)."""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

from pydantic import Field

from accounting_api.domain import billing
from accounting_api.domain.credit_notes import Reason
from accounting_api.routes import schemas as common
from accounting_api.routes.billing.schemas import Quantity
from accounting_api.routes.schemas import (
    Amount,
    AmountOrZero,
    Body,
    Currency,
    Description,
    ListQuery,
    Out,
    Ref,
)


class CreditLineIn(Body):
    model_config = common.exactly_one_of("quantity", "amount")

    line: Ref = Field(description="A line of the credited invoice.")
    quantity: Quantity | None = Field(
        default=None,
        description="Units of the line to credit: q of the R units no credit by quantity"
        " took yet take q/R of what is left of the line's amount and of its tax, each rounded"
        " half up (the last remaining units take all of it).",
    )
    amount: Amount | None = Field(
        default=None, description="Or the part of the line's total (tax included) to credit."
    )


class CreditNoteIn(Body):
    model_config = common.exactly_one_of("amount", "lines")

    invoice: Ref = Field(description="An open, paid or uncollectible invoice.")
    amount: Amount | None = Field(
        default=None,
        description="Tax included, spread over the lines in proportion to what is left of"
        " them. Give amount or lines.",
    )
    lines: (
        Annotated[list[CreditLineIn], Field(min_length=1, max_length=billing.MAX_LINES)] | None
    ) = None
    reason: Reason | None = None
    memo: Description = ""
    currency: Currency | None = Field(default=None, description="Must be the invoice's.")
    date: datetime.date | None = Field(
        default=None, description="When it is booked: today (UTC) by default."
    )
    refund_amount: AmountOrZero = Field(
        default=0,
        description="Of the part that becomes the customer's credit (what the invoice had"
        " already been paid), how much to give back as money at once: a refund of this"
        " credit note, dated as it is (Stripe's refund_amount). 0 keeps it all as credit.",
    )


class CreditNoteListQuery(ListQuery):
    invoice: Ref | None = None
    customer: Ref | None = None


class CreditLineOut(Out):
    line: str
    quantity: str | None = Field(description="Decimal text, when credited by quantity.")
    amount: int = Field(description="Net of discount, without tax.")
    tax: int
    total: int
    deferred: int = Field(
        description="The part of amount taken back from deferred revenue: what the line's"
        " recognition pieces due after the credit note's date held (the latest first)."
    )


class CreditNoteOut(Out):
    object: Literal["credit_note"] = "credit_note"
    id: str
    number: int = Field(description="Gap-free per organization.")
    invoice: str
    customer: str
    currency: str
    reason: Reason | None
    memo: str
    subtotal: int
    tax: int
    amount: int = Field(description="Tax included.")
    pre_payment_amount: int = Field(description="Taken off the invoice's amount due.")
    post_payment_amount: int = Field(description="Credited to the customer's balance.")
    amount_unapplied: int = Field(description="The customer's credit it still holds.")
    amount_refunded: int = Field(
        description="Of its credit, given back as money (POST /v1/refunds with credit_note)."
    )
    date: datetime.date
    lines: list[CreditLineOut]
    journal_entry_id: str
    recognition_entry_ids: list[str] = Field(
        description="The journal entries that took back revenue already recognized for the"
        " lines it credits (deferred lines: one per piece of the schedule already posted,"
        " at that piece's date); empty when none was posted yet."
    )
    created_at: datetime.datetime


class ApplyCreditIn(Body):
    amount: Amount = Field(
        description="At most the customer's available credit and what the invoice still owes."
    )
    date: datetime.date | None = Field(
        default=None, description="When it is booked: today (UTC) by default."
    )
