"""Financial reports from account balances: pure, per currency, never mixing currencies.

Balances come in signed (debit-positive, as the ledger stores them); each report
shows them on the side an accountant expects. The balance sheet splits earnings by
the organization's fiscal year (domain/fiscal.py): retained earnings are account
3900's balance plus revenue minus expenses of every fiscal year before the as-of
date's; current earnings are revenue minus expenses from that fiscal year's first day
to the as-of date. Both are computed from balances, so they hold on any date, and
assets = liabilities + equity + retained earnings + current earnings. The closing entries
of fiscal years (which move revenue and expense into 3900) are left out of the balances
of the as-of date's own fiscal year and of an income statement's range, so the figures
are the same whether a year was closed or not.
"""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from accounting_api.domain import errors, ledger

MONTH_PATTERN = r"^([0-9]{3}[1-9]|[0-9]{2}[1-9]0|[0-9][1-9]00|[1-9]000)-(0[1-9]|1[0-2])$"
"""YYYY-MM, of the years a date has (0001 to 9999), in ASCII digits."""
_MONTH = re.compile(MONTH_PATTERN)


def parse_period(text: str) -> datetime.date:
    """A `YYYY-MM` month as its first day."""
    match = _MONTH.match(text)
    if match is None:
        raise errors.ValidationFailed(f"{text!r} is not a month (YYYY-MM)", param="period")
    return datetime.date(int(match[1]), int(match[2]), 1)


def period_label(period: datetime.date) -> str:
    return f"{period.year:04d}-{period.month:02d}"


def period_end(period: datetime.date) -> datetime.date:
    if period.month == 12:  # the following month of 9999-12 is no date
        return period.replace(day=31)
    return period.replace(month=period.month + 1) - datetime.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ClosedPeriod:
    period: datetime.date
    """The month's first day."""
    ends_on: datetime.date
    closed_at: datetime.datetime
    closed_by: str | None
    closing_entry_id: str | None = None
    """The fiscal year's closing entry this close posted (the month ends a fiscal year)."""


def check_period_ended(period: datetime.date, today: datetime.date) -> None:
    """A month can be closed once it is over, never while entries may still be dated in it."""
    end = period_end(period)
    if end >= today:
        raise errors.PeriodNotEnded(
            f"{period_label(period)} has not ended yet; it can be closed after {end}",
            param="period",
        )


@dataclass(frozen=True, slots=True)
class AccountBalance:
    account: ledger.Account
    signed: int
    """Debit-positive total of the account's postings."""

    @property
    def normal(self) -> int:
        return ledger.balance_on_normal_side(self.account.type, self.signed)


def by_currency(balances: Iterable[AccountBalance]) -> dict[str, list[AccountBalance]]:
    grouped: defaultdict[str, list[AccountBalance]] = defaultdict(list)
    for balance in balances:
        grouped[balance.account.currency].append(balance)
    return dict(sorted(grouped.items()))


# --- trial balance ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrialBalance:
    currency: str
    lines: list[AccountBalance]
    total_debit: int
    total_credit: int


def trial_balance(balances: Iterable[AccountBalance]) -> list[TrialBalance]:
    return [
        TrialBalance(
            currency,
            lines,
            sum(b.signed for b in lines if b.signed > 0),
            -sum(b.signed for b in lines if b.signed < 0),
        )
        for currency, lines in by_currency(balances).items()
    ]


# --- balance sheet and income statement ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Section:
    lines: list[AccountBalance]
    total: int


def section(balances: Sequence[AccountBalance], type_: ledger.AccountType) -> Section:
    lines = [b for b in balances if b.account.type is type_]
    return Section(lines, sum(b.normal for b in lines))


@dataclass(frozen=True, slots=True)
class BalanceSheet:
    currency: str
    assets: Section
    liabilities: Section
    equity: Section
    """The equity accounts but retained earnings (3900), which `retained_earnings` shows."""
    retained_earnings: int
    """Account 3900's balance plus revenue minus expenses of every earlier fiscal year."""
    current_earnings: int
    """Revenue minus expenses from the fiscal year's first day to the as-of date."""

    @property
    def total_liabilities_and_equity(self) -> int:
        return (
            self.liabilities.total
            + self.equity.total
            + self.retained_earnings
            + self.current_earnings
        )


def net_income(balances: Sequence[AccountBalance]) -> int:
    """Revenue minus expenses on the normal side: what the balances earned."""
    revenue = section(balances, ledger.AccountType.REVENUE).total
    return revenue - section(balances, ledger.AccountType.EXPENSE).total


def _is_retained(balance: AccountBalance) -> bool:
    return balance.account.code == ledger.RETAINED_EARNINGS_CODE


def balance_sheet(
    balances: Iterable[AccountBalance], before_year: Iterable[AccountBalance]
) -> list[BalanceSheet]:
    """The balance sheet from every account's balance as of a date (`balances`) and as of
    the day before its fiscal year's first day (`before_year`, to tell the years apart)."""
    earlier = {c: net_income(lines) for c, lines in by_currency(before_year).items()}
    sheets = []
    for currency, lines in by_currency(balances).items():
        equity = section(lines, ledger.AccountType.EQUITY)
        others = [b for b in equity.lines if not _is_retained(b)]
        retained = sum(b.normal for b in equity.lines if _is_retained(b))
        prior = earlier.get(currency, 0)
        sheets.append(
            BalanceSheet(
                currency,
                section(lines, ledger.AccountType.ASSET),
                section(lines, ledger.AccountType.LIABILITY),
                Section(others, sum(b.normal for b in others)),
                retained + prior,
                net_income(lines) - prior,
            )
        )
    return sheets


@dataclass(frozen=True, slots=True)
class IncomeStatement:
    currency: str
    revenue: Section
    expenses: Section

    @property
    def net_income(self) -> int:
        return self.revenue.total - self.expenses.total


def movements(
    before: Iterable[AccountBalance], after: Iterable[AccountBalance]
) -> list[AccountBalance]:
    """What each account moved between two dates (balance after minus balance before)."""
    start = {b.account.id: b.signed for b in before}
    return [AccountBalance(b.account, b.signed - start.get(b.account.id, 0)) for b in after]


def without(balances: Iterable[AccountBalance], moves: Mapping[str, int]) -> list[AccountBalance]:
    """The balances less what `moves` (account id -> signed amount) moved: the books as
    they would be without the fiscal-year closing entries those moves are."""
    return [AccountBalance(b.account, b.signed - moves.get(b.account.id, 0)) for b in balances]


def income_statement(moved: Iterable[AccountBalance]) -> list[IncomeStatement]:
    return [
        IncomeStatement(
            currency,
            section(lines, ledger.AccountType.REVENUE),
            section(lines, ledger.AccountType.EXPENSE),
        )
        for currency, lines in by_currency(moved).items()
    ]


# --- receivables aging ----------------------------------------------------------------------

BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "days_over_90")


def bucket(days_past_due: int) -> str:
    if days_past_due <= 0:
        return "current"
    if days_past_due <= 30:
        return "days_1_30"
    if days_past_due <= 60:
        return "days_31_60"
    if days_past_due <= 90:
        return "days_61_90"
    return "days_over_90"


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    customer_id: str
    customer_name: str
    currency: str
    due_date: datetime.date
    amount_due: int


@dataclass(slots=True)
class AgingRow:
    customer_id: str | None
    """None on the total row."""
    customer_name: str
    buckets: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.buckets.values())


@dataclass(frozen=True, slots=True)
class Aging:
    currency: str
    customers: list[AgingRow]
    total: AgingRow


def _row(customer_id: str | None, name: str) -> AgingRow:
    return AgingRow(customer_id, name, dict.fromkeys(BUCKETS, 0))


def aging(invoices: Iterable[OpenInvoice], as_of: datetime.date) -> list[Aging]:
    """Amounts due per customer and currency, by days past due on as_of. Every amount
    not zero counts (a negative one too), so the total is the receivable balance."""
    rows: dict[str, dict[str, AgingRow]] = defaultdict(dict)
    for invoice in invoices:
        if invoice.amount_due == 0:
            continue
        customers = rows[invoice.currency]
        row = customers.setdefault(
            invoice.customer_id, _row(invoice.customer_id, invoice.customer_name)
        )
        row.buckets[bucket((as_of - invoice.due_date).days)] += invoice.amount_due
    result = []
    for currency, customers in sorted(rows.items()):
        total = _row(None, "Total")
        for row in customers.values():
            for name, amount in row.buckets.items():
                total.buckets[name] += amount
        ordered = sorted(customers.values(), key=lambda r: (r.customer_name, r.customer_id or ""))
        result.append(Aging(currency, ordered, total))
    return result
