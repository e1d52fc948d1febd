"""Fiscal years from an organization's fiscal year end month (domain/fiscal.py)."""

from __future__ import annotations

import datetime

import pytest

from accounting_api.domain import errors, fiscal

D = datetime.date


@pytest.mark.parametrize(
    ("day", "end_month", "starts_on", "ends_on"),
    [(D(2026, 2, 28), 12, D(2026, 1, 1), D(2026, 12, 31)),
     (D(2025, 12, 31), 12, D(2025, 1, 1), D(2025, 12, 31)),
     (D(2026, 1, 1), 12, D(2026, 1, 1), D(2026, 12, 31)),
     (D(2026, 6, 30), 6, D(2025, 7, 1), D(2026, 6, 30)),
     (D(2026, 7, 1), 6, D(2026, 7, 1), D(2027, 6, 30)),
     (D(2024, 2, 29), 1, D(2024, 2, 1), D(2025, 1, 31)),
     (D(2024, 1, 31), 1, D(2023, 2, 1), D(2024, 1, 31)),
     (D(2024, 3, 1), 2, D(2024, 3, 1), D(2025, 2, 28)),
     (D(2023, 12, 15), 2, D(2023, 3, 1), D(2024, 2, 29)),
     # cut at the calendar's ends, where the fiscal year would run past them
     (D(1, 1, 1), 1, D(1, 1, 1), D(1, 1, 31)),
     (D(1, 1, 1), 12, D(1, 1, 1), D(1, 12, 31)),
     (D(9999, 12, 31), 1, D(9999, 2, 1), D(9999, 12, 31)),
     (D(9999, 12, 31), 12, D(9999, 1, 1), D(9999, 12, 31))],
)  # fmt: skip
def test_the_fiscal_year_a_day_lies_in(
    day: datetime.date, end_month: int, starts_on: datetime.date, ends_on: datetime.date
) -> None:
    year = fiscal.fiscal_year(day, end_month)
    assert (year.starts_on, year.ends_on, year.name) == (starts_on, ends_on, ends_on.year)


@pytest.mark.parametrize("end_month", range(1, 13))
def test_fiscal_years_follow_each_other_without_gap(end_month: int) -> None:
    day = D(2024, 1, 1)
    while day < D(2027, 1, 1):
        year = fiscal.fiscal_year(day, end_month)
        assert year.starts_on <= day <= year.ends_on
        assert year.ends_on.month == end_month
        following = fiscal.fiscal_year(year.ends_on + datetime.timedelta(days=1), end_month)
        assert following.starts_on == year.ends_on + datetime.timedelta(days=1)
        day += datetime.timedelta(days=17)


@pytest.mark.parametrize("end_month", [0, 13, -1])
def test_a_fiscal_year_end_is_a_month(end_month: int) -> None:
    with pytest.raises(errors.ValidationFailed) as raised:
        fiscal.check_end_month(end_month)
    assert raised.value.param == "fiscal_year_end_month"
