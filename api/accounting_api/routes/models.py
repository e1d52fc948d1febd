"""Request and response bodies of the v1 API (pydantic; strict, unknown fields refused)."""

from __future__ import annotations

import datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from accounting_api.domain import ledger, money
from accounting_api.domain.roles import Role

T = TypeVar("T")

Amount = Annotated[
    int, Field(gt=0, le=money.MAX_AMOUNT, description="Integer minor units (cents), > 0.")
]
Currency = Annotated[
    str, StringConstraints(pattern=r"^[A-Z]{3}$"), Field(description="ISO-4217 code, e.g. USD.")
]


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here, naming the field.
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
Name = Annotated[Text, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Ref = Annotated[Text, StringConstraints(min_length=1, max_length=64)]
"""An object id given in a body or query (checked against the database later)."""
Password = Annotated[str, StringConstraints(min_length=12, max_length=256)]
AccountCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")]
Description = Annotated[Text, StringConstraints(max_length=1000)]
FiscalYearEndMonth = Annotated[
    int,
    Field(
        ge=1,
        le=12,
        description="The last month of the fiscal year, 1 (January) to 12 (December).",
    ),
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Out(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- organizations, users, tokens -------------------------------------------------


class OwnerIn(Body):
    email: EmailStr
    password: Password
    name: Name


class SignUpIn(Body):
    name: Name
    base_currency: Currency = "USD"
    fiscal_year_end_month: FiscalYearEndMonth = 12
    owner: OwnerIn


class UserOut(Out):
    object: Literal["user"] = "user"
    id: str
    email: str
    name: str
    role: Role
    created_at: datetime.datetime


class OrganizationOut(Out):
    object: Literal["organization"] = "organization"
    id: str
    name: str
    base_currency: str
    fiscal_year_end_month: int
    owner: UserOut
    accounts_created: int


class OrganizationSettingsIn(Body):
    fiscal_year_end_month: FiscalYearEndMonth


class ProfileOut(Out):
    object: Literal["organization"] = "organization"
    id: str
    name: str
    base_currency: str
    fiscal_year_end_month: int = Field(
        description="The last month of the fiscal year, 1 (January) to 12 (December)."
    )


class TokenIn(Body):
    email: Annotated[Text, StringConstraints(min_length=3, max_length=320)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class TokenOut(Out):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class UserIn(Body):
    email: EmailStr
    password: Password
    name: Name
    role: Role


# --- ledger -----------------------------------------------------------------------


class AccountIn(Body):
    code: AccountCode
    name: Name
    type: ledger.AccountType
    currency: Currency


class AccountOut(Out):
    object: Literal["account"] = "account"
    id: str
    code: str
    name: str
    type: ledger.AccountType
    currency: str
    normal_balance: ledger.Side
    created_at: datetime.datetime


class BalanceOut(Out):
    object: Literal["balance"] = "balance"
    account_id: str
    as_of: datetime.date
    currency: str
    amount: int = Field(description="On the account's normal side, in minor units.")
    normal_balance: ledger.Side


class PostingIn(Body):
    account_id: Ref
    side: ledger.Side
    amount: Amount


class PostingOut(Out):
    account_id: str
    side: ledger.Side
    amount: int
    currency: str


class EntryIn(Body):
    date: datetime.date
    description: Description = ""
    postings: Annotated[
        list[PostingIn], Field(min_length=ledger.MIN_POSTINGS, max_length=ledger.MAX_POSTINGS)
    ]


class EntryOut(Out):
    object: Literal["journal_entry"] = "journal_entry"
    id: str
    date: datetime.date
    description: str
    postings: list[PostingOut]
    reverses: str | None
    reversed_by: str | None
    created_at: datetime.datetime
    closes_fiscal_year: datetime.date | None = Field(
        default=None,
        description="Set on the closing entry of a fiscal year (posted when its last month is"
        " closed) and on its reversal (when that month is reopened): the year's last day.",
    )


class BatchIn(Body):
    entries: Annotated[list[EntryIn], Field(min_length=1, max_length=1000)]


class ReverseIn(Body):
    date: datetime.date | None = None
    description: Description | None = None


# --- lists --------------------------------------------------------------------------


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(default=10, ge=1, le=100)
    starting_after: Ref | None = None


class BalanceQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    as_of: datetime.date | None = None


class ListOut(Out, Generic[T]):
    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool


def list_of(model: type[BaseModel]) -> type[BaseModel]:
    """The list envelope of `model`, for the route table."""
    return ListOut[model]  # type: ignore[valid-type]
