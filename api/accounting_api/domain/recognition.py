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

A credit note takes revenue back by its own date: the part of a line's credit that the
pieces due after that date still hold comes from deferred revenue (those pieces shrink,
the latest first), the rest from revenue; whether the worker has posted the pieces or
not makes no difference to the books as of any date. A piece already posted that a
credit note shrinks has the part taken reversed at its own date (the first open day when
its month is closed). See `take_back`.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from accounting_api.domain import billing, ledger
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


@dataclass(frozen=True, slots=True)
class Scheduled:
    """A piece a credit note may still shrink, as locked by the service: pending, or
    already posted by the worker. `due.amount` is what no credit note took of it yet."""

    due: Due
    posted: bool


def take_back(
    wanted: Mapping[str, int], pieces: Sequence[Scheduled], on: datetime.date
) -> list[tuple[Scheduled, int]]:
    """(piece, amount taken) pairs: up to wanted[line id] of each line from its pieces
    due after `on` (the credit note's date), the latest first. Pieces due on or before
    `on` are earned by then: what a credit takes of them is revenue, they keep their
    amounts.

    Example (tests/unit/test_credit_note_rules.py checks it): 550.00 for 2026-02-01 to
    2026-07-31 has the pieces 85.08 (02-28), 94.20, 91.16, 94.20, 91.16, 94.20 (07-31).
    Credited in full on 2026-03-01, the five pieces after February give 464.92 from
    deferred revenue and 85.08 comes from revenue; 310.00 credited on 2026-11-10 of
    920.00 for June to August (300.00, 310.00, 310.00) is all revenue, and August still
    earns its 310.00.
    """
    taken = []
    for line_id, amount in wanted.items():
        want = amount
        later = [p for p in pieces if p.due.line_id == line_id and p.due.recognize_on > on]
        for piece in sorted(later, key=lambda p: p.due.recognize_on, reverse=True):
            part = min(want, piece.due.amount)
            if part > 0:
                taken.append((piece, part))
                want -= part
    return taken


def taken_back_postings(due: Due, amount: int) -> list[Posting]:
    """What cancels `amount` of a posted piece: revenue debit, deferred revenue credit."""
    return ledger.reversal(postings(replace(due, amount=amount)))
