"""Revenue recognition rules: month segments, exact allocation, schedules, dates."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounting_api.domain import billing, recognition
from accounting_api.domain.billing import LineAmounts
from accounting_api.domain.ledger import Side

d = datetime.date


def line(net: int, start: datetime.date | None, end: datetime.date | None) -> billing.Line:
    return billing.Line(
        "il_1", "Support", 1000, net, 0, LineAmounts(net, 0, 0), "acct_rev", start, end
    )


@pytest.mark.parametrize(
    ("start", "end", "segments"),
    [
        (d(2026, 1, 1), d(2026, 1, 31), [(d(2026, 1, 31), 31)]),
        (d(2026, 1, 15), d(2026, 3, 10), [(d(2026, 1, 31), 17), (d(2026, 2, 28), 28),
                                           (d(2026, 3, 10), 10)]),
        (d(2026, 12, 31), d(2027, 1, 1), [(d(2026, 12, 31), 1), (d(2027, 1, 1), 1)]),
        (d(2028, 2, 1), d(2028, 2, 29), [(d(2028, 2, 29), 29)]),
        (d(2026, 5, 5), d(2026, 5, 5), [(d(2026, 5, 5), 1)]),
    ],
)  # fmt: skip
def test_a_service_period_splits_into_calendar_months(
    start: datetime.date, end: datetime.date, segments: list[tuple[datetime.date, int]]
) -> None:
    assert recognition.month_segments(start, end) == segments


@pytest.mark.parametrize(
    ("amount", "weights", "expected"),
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (2, [1, 1, 1], [1, 1, 0]),
        (120_000, [31, 28, 31], [41_334, 37_333, 41_333]),
        (0, [5, 7], [0, 0]),
        (10, [1, 3], [3, 7]),
    ],
)
def test_allocation_is_exact_and_gives_remainders_to_the_largest_then_earliest(
    amount: int, weights: list[int], expected: list[int]
) -> None:
    assert recognition.allocate(amount, weights) == expected


@given(
    st.integers(min_value=0, max_value=10**15),
    st.lists(st.integers(min_value=1, max_value=31), min_size=1, max_size=130),
)
def test_allocated_pieces_always_sum_to_the_amount(amount: int, weights: list[int]) -> None:
    pieces = recognition.allocate(amount, weights)
    assert sum(pieces) == amount
    assert all(p >= 0 for p in pieces)
    assert recognition.allocate(amount, weights) == pieces


def test_a_yearly_line_is_earned_month_by_month_with_days_already_served_at_issue() -> None:
    pieces = recognition.line_schedule(line(365_00, d(2026, 1, 1), d(2026, 12, 31)), d(2026, 2, 10))
    # January, already served at issue, is earned on the issue date; February on its
    # last day.
    assert [(p.recognize_on, p.amount) for p in pieces[:3]] == [
        (d(2026, 2, 10), 3100),
        (d(2026, 2, 28), 2800),
        (d(2026, 3, 31), 3100),
    ]
    assert len(pieces) == 12
    assert sum(p.amount for p in pieces) == 365_00
    assert {p.revenue_account_id for p in pieces} == {"acct_rev"}


@pytest.mark.parametrize(
    "item",
    [
        line(1000, None, None),
        line(1000, d(2026, 1, 1), d(2026, 1, 10)),  # ended by the issue date
        line(0, d(2026, 1, 1), d(2026, 12, 31)),  # free
    ],
)
def test_lines_earned_at_issue_or_free_have_no_schedule(item: billing.Line) -> None:
    assert recognition.line_schedule(item, d(2026, 1, 10)) == []


@pytest.mark.parametrize(
    ("due", "closed_through", "posted_on"),
    [
        (d(2026, 1, 31), None, d(2026, 1, 31)),
        (d(2026, 1, 31), d(2025, 12, 31), d(2026, 1, 31)),
        (d(2026, 1, 31), d(2026, 1, 31), d(2026, 2, 1)),
        (d(2026, 1, 31), d(2026, 3, 31), d(2026, 4, 1)),
    ],
)
def test_a_piece_due_in_a_closed_period_posts_on_the_first_open_day(
    due: datetime.date, closed_through: datetime.date | None, posted_on: datetime.date
) -> None:
    assert recognition.posting_date(due, closed_through) == posted_on


def test_recognition_moves_deferred_revenue_to_the_lines_revenue_account() -> None:
    due = recognition.Due(1, "inv_1", 7, "il_1", "EUR", "acct_rev", "acct_def", d(2026, 1, 31), 500)
    assert [(p.account_id, p.side, p.amount, p.currency) for p in recognition.postings(due)] == [
        ("acct_def", Side.DEBIT, 500, "EUR"),
        ("acct_rev", Side.CREDIT, 500, "EUR"),
    ]
