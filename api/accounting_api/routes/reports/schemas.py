"""Response bodies and queries of the reports and accounting-period endpoints."""

from __future__ import annotations

import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from accounting_api.domain import ledger
from accounting_api.routes.schemas import Out


class AsOfQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    as_of: datetime.date | None = Field(default=None, description="Defaults to today (UTC).")


class RangeQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    start: datetime.date = Field(alias="from", description="First day included.")
    end: datetime.date = Field(alias="to", description="Last day included; not before from.")


class PeriodOut(Out):
    object: Literal["accounting_period"] = "accounting_period"
    period: str = Field(description="The month, YYYY-MM.")
    starts_on: datetime.date
    ends_on: datetime.date
    status: Literal["open", "closed"]
    closed_at: datetime.datetime | None
    closed_by: str | None
    closing_entry_id: str | None = Field(
        description="The fiscal year's closing entry (revenue and expense into retained"
        " earnings) this close posted, when the month ends a fiscal year; null otherwise."
    )


class PeriodListOut(Out):
    object: Literal["list"] = "list"
    data: list[PeriodOut]
    closed_through: datetime.date | None = Field(
        description="No entry dated on or before this day can be posted."
    )
    has_more: bool = False


class AccountLine(Out):
    account_id: str
    code: str
    name: str
    type: ledger.AccountType
    amount: int = Field(description="On the account's normal side, in minor units.")


class TrialBalanceLine(Out):
    account_id: str
    code: str
    name: str
    type: ledger.AccountType
    debit: int
    credit: int


class TrialBalanceCurrency(Out):
    currency: str
    accounts: list[TrialBalanceLine]
    total_debit: int
    total_credit: int


class TrialBalanceOut(Out):
    object: Literal["trial_balance"] = "trial_balance"
    as_of: datetime.date
    currencies: list[TrialBalanceCurrency]


class SectionOut(Out):
    accounts: list[AccountLine]
    total: int


class BalanceSheetCurrency(Out):
    currency: str
    assets: SectionOut
    liabilities: SectionOut
    equity: SectionOut = Field(
        description="The equity accounts but retained earnings (3900): see retained_earnings."
    )
    retained_earnings: int = Field(
        description="Earnings of every fiscal year before the as-of date's: account 3900's"
        " balance plus revenue minus expenses of those years."
    )
    current_earnings: int = Field(
        description="Revenue minus expenses from the first day of the as-of date's fiscal"
        " year to the as-of date."
    )
    total_assets: int
    total_liabilities_and_equity: int


class BalanceSheetOut(Out):
    object: Literal["balance_sheet"] = "balance_sheet"
    as_of: datetime.date
    fiscal_year_starts_on: datetime.date = Field(
        description="The first day of the fiscal year the as-of date lies in."
    )
    fiscal_year_ends_on: datetime.date
    currencies: list[BalanceSheetCurrency]


class IncomeStatementCurrency(Out):
    currency: str
    revenue: SectionOut
    expenses: SectionOut
    net_income: int


class IncomeStatementOut(Out):
    object: Literal["income_statement"] = "income_statement"
    start: datetime.date = Field(serialization_alias="from")
    end: datetime.date = Field(serialization_alias="to")
    currencies: list[IncomeStatementCurrency]


class AgingRowOut(Out):
    customer_id: str | None
    customer_name: str
    current: int
    days_1_30: int
    days_31_60: int
    days_61_90: int
    days_over_90: int
    total: int


class AgingCurrency(Out):
    currency: str
    customers: list[AgingRowOut]
    total: AgingRowOut


class AgingOut(Out):
    object: Literal["ar_aging"] = "ar_aging"
    as_of: datetime.date
    currencies: list[AgingCurrency]
