"""Pure report rules: months, aging buckets, trial balance and balance sheet per currency."""

from __future__ import annotations

import datetime

import pytest

from accounting_api.domain import errors, ledger, reports

D = datetime.date


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [("2026-01", D(2026, 1, 1), D(2026, 1, 31)), ("2024-02", D(2024, 2, 1), D(2024, 2, 29)),
     ("2026-12", D(2026, 12, 1), D(2026, 12, 31)), ("0001-01", D(1, 1, 1), D(1, 1, 31)),
     ("9999-12", D(9999, 12, 1), D(9999, 12, 31))],
)  # fmt: skip
def test_months_parse_and_end(text: str, first: datetime.date, last: datetime.date) -> None:
    assert reports.parse_period(text) == first
    assert reports.period_end(first) == last
    assert reports.period_label(first) == text


@pytest.mark.parametrize(
    "text",
    [
        "2026-13",
        "2026-1",
        "2026-00",
        "january",
        "2026-01-01",
        "0000-01",
        "\u0662\u0660\u0662\u0666-01",
    ],
)
def test_bad_months_are_refused(text: str) -> None:
    with pytest.raises(errors.ValidationFailed):
        reports.parse_period(text)


def test_a_month_closes_only_once_it_is_over() -> None:
    reports.check_period_ended(D(2026, 1, 1), D(2026, 2, 1))
    with pytest.raises(errors.PeriodNotEnded):
        reports.check_period_ended(D(2026, 1, 1), D(2026, 1, 31))


@pytest.mark.parametrize(
    ("days", "bucket"),
    [(-5, "current"), (0, "current"), (1, "days_1_30"), (30, "days_1_30"), (31, "days_31_60"),
     (60, "days_31_60"), (61, "days_61_90"), (90, "days_61_90"), (91, "days_over_90")],
)  # fmt: skip
def test_aging_buckets(days: int, bucket: str) -> None:
    assert reports.bucket(days) == bucket


def _balance(type_: ledger.AccountType, currency: str, signed: int) -> reports.AccountBalance:
    account = ledger.Account(
        f"acct_{type_}_{currency}", type_[:4], str(type_), type_, currency,
        ledger.NORMAL_BALANCE[type_], datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    )  # fmt: skip
    return reports.AccountBalance(account, signed)


BOOK = [
    _balance(ledger.AccountType.ASSET, "USD", 900),
    _balance(ledger.AccountType.LIABILITY, "USD", -200),
    _balance(ledger.AccountType.EQUITY, "USD", -500),
    _balance(ledger.AccountType.REVENUE, "USD", -300),
    _balance(ledger.AccountType.EXPENSE, "USD", 100),
    _balance(ledger.AccountType.ASSET, "EUR", 40),
    _balance(ledger.AccountType.EQUITY, "EUR", -40),
]


def test_trial_balance_totals_each_currency_apart() -> None:
    totals = [(t.currency, t.total_debit, t.total_credit) for t in reports.trial_balance(BOOK)]
    assert totals == [("EUR", 40, 40), ("USD", 1000, 1000)]


def test_balance_sheet_includes_current_earnings() -> None:
    eur, usd = reports.balance_sheet(BOOK, [])
    assert (usd.assets.total, usd.current_earnings, usd.total_liabilities_and_equity) == (
        900,
        200,
        900,
    )
    assert eur.assets.total == eur.total_liabilities_and_equity == 40


def _retained(currency: str, signed: int) -> reports.AccountBalance:
    account = ledger.Account(
        f"acct_re_{currency}", ledger.RETAINED_EARNINGS_CODE, "Retained Earnings",
        ledger.AccountType.EQUITY, currency, ledger.Side.CREDIT,
        datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    )  # fmt: skip
    return reports.AccountBalance(account, signed)


def test_balance_sheet_splits_earnings_at_the_fiscal_year_start() -> None:
    # As of the date: revenue 300, expenses 100, 3900 booked 50 (credit). The day before
    # the fiscal year started: revenue 120, expenses 20, so earlier years earned 100.
    before = [
        _balance(ledger.AccountType.REVENUE, "USD", -120),
        _balance(ledger.AccountType.EXPENSE, "USD", 20),
    ]
    book = [
        _balance(ledger.AccountType.ASSET, "USD", 950),
        _balance(ledger.AccountType.LIABILITY, "USD", -200),
        _balance(ledger.AccountType.EQUITY, "USD", -500),
        _retained("USD", -50),
        _balance(ledger.AccountType.REVENUE, "USD", -300),
        _balance(ledger.AccountType.EXPENSE, "USD", 100),
    ]
    (usd,) = reports.balance_sheet(book, before)
    assert (usd.retained_earnings, usd.current_earnings) == (150, 100)
    assert [b.account.code for b in usd.equity.lines] == ["equi"]  # 3900 shown apart
    assert usd.equity.total == 500
    assert usd.total_liabilities_and_equity == usd.assets.total == 950


def test_aging_sums_per_customer_and_skips_settled_invoices() -> None:
    invoices = [
        reports.OpenInvoice("cus_b", "Beta", "USD", D(2026, 6, 1), 100),
        reports.OpenInvoice("cus_a", "Alpha", "USD", D(2026, 1, 1), 50),
        reports.OpenInvoice("cus_a", "Alpha", "USD", D(2026, 6, 29), 25),
        reports.OpenInvoice("cus_a", "Alpha", "USD", D(2026, 6, 29), 0),
    ]
    (usd,) = reports.aging(invoices, D(2026, 6, 30))
    assert [(r.customer_name, r.total) for r in usd.customers] == [("Alpha", 75), ("Beta", 100)]
    assert usd.total.buckets == {
        "current": 0, "days_1_30": 125, "days_31_60": 0, "days_61_90": 0, "days_over_90": 50,
    }  # fmt: skip
