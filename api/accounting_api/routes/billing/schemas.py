"""Request and response bodies of customers and invoices (pydantic; strict)."""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

from pydantic import (
    Field,
    PlainValidator,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from accounting_api.domain import billing, tax_rates
from accounting_api.domain.billing import CustomerTier, EntryKind, InvoiceStatus
from accounting_api.routes import schemas as common
from accounting_api.routes.schemas import (
    AmountOrZero,
    Body,
    Currency,
    Description,
    ListQuery,
    Name,
    Out,
    Ref,
    Text,
)

Short = Annotated[Text, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


def _quantity(value: object) -> int | str:
    # One validator for both shapes, so an error names the field, not a union branch.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be an integer or a decimal string such as '1.5', never a float")
    billing.parse_quantity(value)
    return value


QUANTITY_PATTERN = r"^([1-9][0-9]{0,8}(\.[0-9]{1,3})?|0\.[0-9]{0,2}[1-9]|1000000000(\.0{1,3})?)$"
"""The decimal texts of quantities from 0.001 to MAX_QUANTITY (without leading zeros)."""
TAX_RATE_PATTERN = r"^(100(\.0{1,4})?|[0-9]{1,2}(\.[0-9]{1,4})?)$"
"""The decimal texts of percentages from 0 to 100 (without leading zeros)."""

Quantity = Annotated[
    int | str,
    PlainValidator(_quantity),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": billing.MAX_QUANTITY},
                {"type": "string", "pattern": QUANTITY_PATTERN},
            ],
            "description": "Units, > 0: an integer or a decimal string with up to 3 decimals"
            " ('1.5'). Never a JSON float.",
        }
    ),
]


def _tax_rate(value: object) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be a decimal string such as '8.875' or an integer, never a float")
    tax_rates.parse(value)
    return value


TaxRate = Annotated[
    int | str,
    PlainValidator(_tax_rate),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": 100},
                {"type": "string", "pattern": TAX_RATE_PATTERN},
            ],
            "description": "Percent of (amount - discount), 0 to 100, with up to 4 decimals:"
            " '8.875' is 8.875 %. A decimal string or an integer; never a JSON float.",
        }
    ),
]

# --- customers -----------------------------------------------------------------------


class AddressIn(Body):
    line1: Short | None = None
    line2: Short | None = None
    city: Short | None = None
    state: Short | None = None
    postal_code: Annotated[Text, StringConstraints(min_length=1, max_length=20)] | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = Field(
        default=None, description="ISO 3166-1 alpha-2, e.g. DE."
    )


class CustomerIn(Body):
    name: Name
    email: common.Email | None = None
    currency: Currency | None = Field(
        default=None,
        description="What the customer is billed in; the organization's base"
        " currency by default. Fixed once set.",
    )
    tier: CustomerTier = CustomerTier.STANDARD
    billing_address: AddressIn | None = None


class AddressOut(Out):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


class CustomerOut(Out):
    object: Literal["customer"] = "customer"
    id: str
    name: str
    email: str | None
    currency: str
    tier: CustomerTier
    billing_address: AddressOut | None
    archived: bool
    archived_at: datetime.datetime | None
    created_at: datetime.datetime
    credit_balance: int = Field(
        description="Available credit in the customer's currency (unapplied payments and"
        " credit notes): POST /v1/invoices/{id}/apply-credit spends it."
    )


class CustomerListQuery(ListQuery):
    archived: bool | None = Field(default=None, description="Only archived (or active) ones.")


# --- invoices ------------------------------------------------------------------------


class ServicePeriod(Body):
    start: datetime.date
    end: datetime.date = Field(description="Inclusive; not before start.")


class LineIn(Body):
    model_config = common.at_most_one_of("tax_rate", "tax_rate_bps")

    description: Annotated[Text, StringConstraints(min_length=1, max_length=500)]
    quantity: Quantity = 1
    unit_amount: AmountOrZero
    discount: AmountOrZero = Field(default=0, description="Off this line, in minor units.")
    tax_rate: TaxRate | None = Field(
        default=None,
        description="Percent on (amount - discount), up to 4 decimals: '8.875'. 0 by default.",
    )
    tax_rate_bps: Annotated[int, Field(ge=0, le=tax_rates.BASIS_POINTS)] = Field(
        default=0,
        description="Superseded by tax_rate (kept for existing clients): whole basis points"
        " on (amount - discount), 825 is 8.25 %. Give one of the two, not both.",
        json_schema_extra={"deprecated": True},
    )
    revenue_account_id: Ref | None = Field(
        default=None, description="A revenue account in the invoice's currency; 4000 by default."
    )
    service_period: ServicePeriod | None = Field(
        default=None,
        description="Lines whose period ends after the issue date post to deferred revenue.",
    )

    @field_validator("tax_rate_bps")
    @classmethod
    def _not_both(cls, value: int, info: ValidationInfo) -> int:
        # Runs only when the client sent tax_rate_bps; tax_rate is validated before it.
        if info.data.get("tax_rate") is not None:
            raise ValueError("give tax_rate or tax_rate_bps (superseded), not both")
        return value

    def tax_rate_ppm(self) -> int:
        """The rate in parts per million, from whichever field was given."""
        if self.tax_rate is not None:
            return tax_rates.parse(self.tax_rate)
        return self.tax_rate_bps * tax_rates.PER_BASIS_POINT


class InvoiceIn(Body):
    model_config = common.at_most_one_of("due_date", "days_until_due")

    customer: Ref
    currency: Currency | None = Field(default=None, description="Must be the customer's.")
    description: Description = ""
    due_date: datetime.date | None = None
    days_until_due: Annotated[int, Field(ge=0, le=3650)] | None = Field(
        default=None,
        description=f"Due this many days after the issue date ({billing.DEFAULT_DAYS_UNTIL_DUE}"
        " unless due_date is given).",
    )
    lines: Annotated[list[LineIn], Field(max_length=billing.MAX_LINES)] = Field(
        default_factory=list
    )


class FinalizeIn(Body):
    issue_date: datetime.date | None = Field(default=None, description="Today (UTC) by default.")


class EffectiveDateIn(Body):
    date: datetime.date | None = Field(
        default=None, description="When it is booked: today (UTC) by default."
    )


class InvoiceListQuery(ListQuery):
    status: InvoiceStatus | None = None
    customer: Ref | None = None


class ServicePeriodOut(Out):
    start: datetime.date
    end: datetime.date


class LineOut(Out):
    object: Literal["line_item"] = "line_item"
    id: str
    description: str
    quantity: str = Field(description="Decimal text, e.g. '1.5'.")
    unit_amount: int
    amount: int = Field(description="quantity x unit_amount, rounded half up.")
    discount: int
    tax_rate: str = Field(description="Percent, up to 4 decimals: '8.875'.")
    tax_rate_bps: int | None = Field(
        description="Superseded by tax_rate: the rate in whole basis points (825 for"
        " '8.25'), or null when it has none (8.875 %).",
        json_schema_extra={"deprecated": True},
    )
    tax: int = Field(description="On amount - discount at tax_rate, rounded half up.")
    total: int
    revenue_account_id: str
    service_period: ServicePeriodOut | None


class PostedEntryOut(Out):
    kind: EntryKind
    journal_entry_id: str


class InvoiceOut(Out):
    object: Literal["invoice"] = "invoice"
    id: str
    customer: str
    currency: str
    status: InvoiceStatus
    number: int | None = Field(description="Gap-free per organization, set at finalize.")
    description: str
    issue_date: datetime.date | None
    due_date: datetime.date | None
    days_until_due: int | None
    subtotal: int
    discount: int
    tax: int
    total: int
    amount_paid: int = Field(description="By payments (and payment credit applied).")
    amount_credited: int = Field(description="By the credit notes issued against it.")
    amount_credit_applied: int = Field(
        description="Credit-note credit that settled part of it (its own or others')."
    )
    amount_remaining: int = Field(description="total - amount_paid - amount_credit_applied.")
    lines: list[LineOut]
    journal_entries: list[PostedEntryOut]
    created_at: datetime.datetime
    finalized_at: datetime.datetime | None
    paid_at: datetime.datetime | None
    voided_at: datetime.datetime | None
    marked_uncollectible_at: datetime.datetime | None
