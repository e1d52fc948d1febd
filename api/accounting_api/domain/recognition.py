"""Revenue recognition: how a deferred invoice line is earned, straight-line by day.

A line whose service period ends after its invoice's issue date was posted entirely to
deferred revenue at finalize. It is earned one calendar month of its service period
at a time: each month's piece is the line's deferred amount weighted by the days of
the period that fall in it, recognized on the month's last service day (or on the
issue date, for days already served when the invoice was issued).

Amounts are integer minor units. Each piece gets the floor of its exact share; the
remaining units go one each to the pieces with the largest remainders, the earliest
first on ties, so the pieces always sum exactly to the line's amount and the same
line always gets the same schedule.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from accounting_api.domain import billing
from accounting_api.domain.billing import Invoice
from accounting_api.domain.ledger import Posting, Side

_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Piece:
    """What one line earns on one date."""

    line_id: str
    revenue_account_id: str
    recognize_on: datetime.date
    amount: int


@dataclass(frozen=True, slots=True)
class Due:
    """A claimed pending piece, with what its journal entry needs."""

    id: int
    invoice_id: str
    invoice_number: int
    line_id: str
    currency: str
    revenue_account_id: str
    deferred_account_id: str
    recognize_on: datetime.date
    amount: int


def month_segments(start: datetime.date, end: datetime.date) -> list[tuple[datetime.date, int]]:
    """(last day, number of days) of each calendar month of [start, end], in order."""
    segments = []
    day = start
    while day <= end:
        next_month = (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
        last = min(end, next_month - _DAY)
        segments.append((last, (last - day).days + 1))
        day = last + _DAY
    return segments


def allocate(amount: int, weights: Sequence[int]) -> list[int]:
    """amount split in proportion to weights, in integers summing exactly to amount."""
    total = sum(weights)
    shares = [divmod(amount * w, total) for w in weights]
    left = amount - sum(q for q, _ in shares)
    # Largest remainder first, earliest first on ties.
    order = sorted(range(len(shares)), key=lambda i: (-shares[i][1], i))
    bonus = set(order[:left])
    return [q + (1 if i in bonus else 0) for i, (q, _) in enumerate(shares)]


def line_schedule(line: billing.Line, issue_date: datetime.date) -> list[Piece]:
    """The pieces of one deferred line; none for a line earned at issue or free."""
    if not billing.is_deferred(line, issue_date) or not line.amounts.net:
        return []
    assert line.service_start is not None
    assert line.service_end is not None
    segments = month_segments(line.service_start, line.service_end)
    amounts = allocate(line.amounts.net, [days for _, days in segments])
    by_date: dict[datetime.date, int] = {}
    for (last, _), amount in zip(segments, amounts, strict=True):
        # Days already served at issue are earned on the issue date, in one piece.
        on = max(last, issue_date)
        by_date[on] = by_date.get(on, 0) + amount
    return [
        Piece(line.id, line.revenue_account_id, on, amount)
        for on, amount in by_date.items()
        if amount
    ]


def schedule(invoice: Invoice, issue_date: datetime.date) -> list[Piece]:
    """Every piece of every deferred line of an invoice being finalized on issue_date."""
    return [piece for line in invoice.lines for piece in line_schedule(line, issue_date)]


def posting_date(due: datetime.date, closed_through: datetime.date | None) -> datetime.date:
    """A piece due in a closed period is recognized on the first open day instead."""
    if closed_through is not None and due <= closed_through:
        return closed_through + _DAY
    return due


def postings(due: Due) -> list[Posting]:
    """Deferred revenue debit, revenue credit."""
    return [
        Posting(due.deferred_account_id, Side.DEBIT, due.amount, due.currency),
        Posting(due.revenue_account_id, Side.CREDIT, due.amount, due.currency),
    ]
