"""Fiscal years: pure date rules from an organization's fiscal year end (its last month).

A fiscal year ending in month E (1-12) runs from the first day of the month after E to
the last day of E: with E = 12 it is the calendar year; with E = 6 the fiscal year
2025-07-01 to 2026-06-30. Every day lies in exactly one fiscal year, and each is named
by the calendar year it ends in (the one above is fiscal year 2026).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from accounting_api.domain import errors

DEFAULT_END_MONTH = 12
"""December: fiscal years are calendar years unless an organization says otherwise."""


def check_end_month(month: int, *, param: str = "fiscal_year_end_month") -> int:
    """A fiscal year end month, 1 (January) to 12 (December)."""
    if not 1 <= month <= 12:
        raise errors.ValidationFailed(
            f"{month} is not a month: the fiscal year end is 1 (January) to 12 (December)",
            param=param,
        )
    return month


@dataclass(frozen=True, slots=True)
class FiscalYear:
    starts_on: datetime.date
    ends_on: datetime.date

    @property
    def name(self) -> int:
        """The calendar year the fiscal year ends in."""
        return self.ends_on.year


def _month_end(year: int, month: int) -> datetime.date:
    if year > datetime.MAXYEAR:
        return datetime.date.max
    if month == 12:
        return datetime.date(year, 12, 31)
    return datetime.date(year, month + 1, 1) - datetime.timedelta(days=1)


def _month_start(year: int, month: int) -> datetime.date:
    return datetime.date.min if year < datetime.MINYEAR else datetime.date(year, month, 1)


def fiscal_year(day: datetime.date, end_month: int) -> FiscalYear:
    """The fiscal year that `day` lies in, for a fiscal year ending in `end_month` (cut
    at the calendar's first and last days, 0001-01-01 and 9999-12-31)."""
    check_end_month(end_month)
    end_year = day.year if day.month <= end_month else day.year + 1
    ends_on = _month_end(end_year, end_month)
    starts_on = _month_start(end_year - 1 + end_month // 12, end_month % 12 + 1)
    return FiscalYear(starts_on, ends_on)
