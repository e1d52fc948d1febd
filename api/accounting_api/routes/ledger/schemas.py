"""Request and response bodies of accounts, balances and journal entries."""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from accounting_api.domain import ledger
from accounting_api.routes.schemas import (
    Amount,
    Body,
    Currency,
    Description,
    Name,
    Out,
    Ref,
)

AccountCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")]


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


class BalanceQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    as_of: datetime.date | None = None
