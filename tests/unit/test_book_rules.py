"""The examples of docs/api.md's "The rules the books follow", figure for figure."""

from __future__ import annotations

import datetime

import pytest

from accounting_api.domain import billing, fiscal, money, recognition, tax_rates


@pytest.mark.parametrize(
    ("currency", "text"),
    [("USD", "123.45 USD"), ("JPY", "12345 JPY"), ("KWD", "12.345 KWD"), ("BHD", "12.345 BHD")],
)
def test_minor_units_per_currency(currency: str, text: str) -> None:
    assert money.Money(12345, currency).format() == text


def test_rounding_per_line_half_up() -> None:
    line = billing.price_line(3_000, 1_999, 500, tax_rates.parse("8.875"))
    assert (line.amount, line.discount, line.tax) == (5_997, 500, 488)


def test_shares_by_largest_remainder_earliest_first() -> None:
    assert recognition.allocate(100, [1, 1, 1]) == [34, 33, 33]


def test_recognition_by_day_count_on_the_last_service_day() -> None:
    segments = recognition.month_segments(datetime.date(2026, 6, 1), datetime.date(2026, 8, 31))
    assert [day.isoformat() for day, _ in segments] == ["2026-06-30", "2026-07-31", "2026-08-31"]
    assert recognition.allocate(92_000, [days for _, days in segments]) == [30_000, 31_000, 31_000]


def test_the_fiscal_year_a_day_falls_in() -> None:
    year = fiscal.fiscal_year(datetime.date(2026, 2, 28), 6)
    assert (year.starts_on, year.ends_on, year.name) == (
        datetime.date(2025, 7, 1),
        datetime.date(2026, 6, 30),
        2026,
    )
