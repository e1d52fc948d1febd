"""Double-entry rules: account types, postings, balancing per currency, reversals."""

from __future__ import annotations

import datetime
import enum
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from accounting_api.domain import errors, money


class AccountType(enum.StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    REVENUE = "revenue"
    EXPENSE = "expense"


class Side(enum.StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"

    def opposite(self) -> Side:
        return Side.CREDIT if self is Side.DEBIT else Side.DEBIT


NORMAL_BALANCE = {
    AccountType.ASSET: Side.DEBIT,
    AccountType.EXPENSE: Side.DEBIT,
    AccountType.LIABILITY: Side.CREDIT,
    AccountType.EQUITY: Side.CREDIT,
    AccountType.REVENUE: Side.CREDIT,
}

MIN_POSTINGS = 2
MAX_POSTINGS = 500


@dataclass(frozen=True, slots=True)
class Posting:
    account_id: str
    side: Side
    amount: int
    currency: str

    @property
    def signed(self) -> int:
        """Debits positive, credits negative: how the database stores them."""
        return self.amount if self.side is Side.DEBIT else -self.amount


def check_balanced(postings: Iterable[Posting]) -> None:
    """Raise Unbalanced unless debits equal credits in every currency."""
    totals: defaultdict[str, int] = defaultdict(int)
    count = 0
    for posting in postings:
        if not 0 < posting.amount <= money.MAX_AMOUNT:
            raise errors.ValidationFailed(
                f"posting {count} amount must be between 1 and {money.MAX_AMOUNT}",
                param=f"postings[{count}].amount",
            )
        totals[posting.currency] += posting.signed
        count += 1
    if count < MIN_POSTINGS:
        raise errors.Unbalanced("a journal entry needs at least two postings", param="postings")
    for currency, total in sorted(totals.items()):
        if total:
            side = "debits" if total > 0 else "credits"
            raise errors.Unbalanced(
                f"{currency} postings are unbalanced: {side} exceed by "
                f"{money.Money(abs(total), currency).format()}",
                param="postings",
            )


def reversal(postings: Iterable[Posting]) -> list[Posting]:
    """The postings that cancel an entry: same amounts, opposite sides."""
    return [Posting(p.account_id, p.side.opposite(), p.amount, p.currency) for p in postings]


def balance_on_normal_side(account_type: AccountType, signed_total: int) -> int:
    """A signed debit-positive total expressed on the account's normal side."""
    return signed_total if NORMAL_BALANCE[account_type] is Side.DEBIT else -signed_total


@dataclass(frozen=True, slots=True)
class ChartLine:
    code: str
    name: str
    type: AccountType


DEFAULT_CHART: tuple[ChartLine, ...] = (
    ChartLine("1000", "Cash", AccountType.ASSET),
    ChartLine("1100", "Bank", AccountType.ASSET),
    ChartLine("1200", "Accounts Receivable", AccountType.ASSET),
    ChartLine("1500", "Equipment", AccountType.ASSET),
    ChartLine("2000", "Accounts Payable", AccountType.LIABILITY),
    ChartLine("2100", "Sales Tax Payable", AccountType.LIABILITY),
    ChartLine("2400", "Deferred Revenue", AccountType.LIABILITY),
    ChartLine("3000", "Owner's Equity", AccountType.EQUITY),
    ChartLine("3900", "Retained Earnings", AccountType.EQUITY),
    ChartLine("4000", "Sales Revenue", AccountType.REVENUE),
    ChartLine("4900", "Other Income", AccountType.REVENUE),
    ChartLine("5000", "Cost of Goods Sold", AccountType.EXPENSE),
    ChartLine("6000", "Operating Expenses", AccountType.EXPENSE),
    ChartLine("6100", "Salaries", AccountType.EXPENSE),
    ChartLine("6900", "Bad Debt Expense", AccountType.EXPENSE),
)
"""The chart every new organization starts with, in its base currency."""

RETAINED_EARNINGS_CODE = "3900"
"""The account of the earnings of earlier fiscal years, in each currency that has one."""


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    code: str
    name: str
    type: AccountType
    currency: str
    normal_balance: Side
    created_at: datetime.datetime


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A journal entry checked by the code, ready to be written."""

    id: str
    entry_date: datetime.date
    description: str
    postings: tuple[Posting, ...]
    reverses_entry_id: str | None = None


@dataclass(frozen=True, slots=True)
class JournalEntry:
    id: str
    entry_date: datetime.date
    description: str
    postings: tuple[Posting, ...]
    reverses_entry_id: str | None
    reversed_by_entry_id: str | None
    created_at: datetime.datetime
    closes_fiscal_year: datetime.date | None = None
    """The last day of the fiscal year a closing entry (or its reversal at a reopen) closes."""
