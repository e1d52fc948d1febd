"""Property, through the API: for a random deferred line, credit notes of random dates and
amounts, worker runs and month closes in any order, the books are what an accountant
computes from the day-count schedule and the credit notes' dates alone. Revenue per month
is what the schedule's pieces of that month still earn net of the revenue part of the
credit notes dated in it, and deferred revenue as of any month end or credit date is the
line less what was earned and less what credit notes took from deferred revenue by then,
whether the worker posted a piece before or after the credit note that shrank it, and
whether the month was closed before the worker reached it.

Months close in order (the books close through one date); a credit note dated in a closed
month is refused with 409 and changes nothing. The organization's fiscal year ends in a
random month, so a close may also be a fiscal year-end close: the balance sheet's retained
earnings and current earnings as of every month end are the model's revenue of the
earlier fiscal years and of the current one, closed or not."""

from __future__ import annotations

import datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounting_api.domain import recognition
from tests.integration import conftest
from tests.integration.billing import act, customer, draft
from tests.integration.conftest import Harness
from tests.integration.fiscal_books import set_year_end, sheet
from tests.integration.helpers import Tenant, sign_up
from tests.integration.payments import assert_books_agree, credit, credited
from tests.integration.test_credits_by_date import deferred, revenue
from tests.integration.test_recognition import run_worker

d = datetime.date
ISSUED = d(2026, 1, 20)
LAST = d(2026, 11, 30)
Op = tuple[str, int, int]
ops: st.SearchStrategy[Op] = st.tuples(
    st.sampled_from(["credit", "credit", "worker", "close"]),
    st.integers(0, (LAST - ISSUED).days),  # the credit's date or the worker's day
    st.integers(1, 4),  # of what is left of the line, in quarters
)


class Model:
    """The schedule's pieces and the credit notes, as an accountant computes them."""

    def __init__(self, start: datetime.date, end: datetime.date, amount: int) -> None:
        segments = recognition.month_segments(start, end)
        shares = recognition.allocate(amount, [days for _, days in segments])
        self.amount = amount
        self.pieces = {last: share for (last, _), share in zip(segments, shares, strict=True)}
        self.credits: list[tuple[datetime.date, int, int]] = []
        """(date, revenue part, deferred part)."""
        self.closed = 0
        """The books are closed through the end of this month of 2026 (0: none closed)."""

    @property
    def left(self) -> int:
        return self.amount - sum(r + f for _, r, f in self.credits)

    def credit(self, on: datetime.date, amount: int) -> int:
        """The deferred part: taken from the pieces due after `on`, the latest first."""
        want = amount
        for due in sorted((p for p in self.pieces if p > on), reverse=True):
            part = min(want, self.pieces[due])
            self.pieces[due] -= part
            want -= part
        self.credits.append((on, want, amount - want))
        return amount - want

    def revenue(self, month: int) -> int:
        earned = sum(a for due, a in self.pieces.items() if due.month == month)
        return earned - sum(r for on, r, _ in self.credits if on.month == month)

    def earnings(self, month: int, year_end: int) -> tuple[int, int]:
        """(retained, current) as of the end of a month of 2026: the revenue of the fiscal
        years ended before it, and of the fiscal year it is in, up to it."""
        starts = year_end + 1 if month > year_end else 1
        retained = sum(self.revenue(m) for m in range(1, starts))
        return retained, sum(self.revenue(m) for m in range(starts, month + 1))

    def deferred(self, as_of: datetime.date) -> int:
        earned = sum(a for due, a in self.pieces.items() if due <= as_of)
        taken = sum(f for on, _, f in self.credits if on <= as_of)
        return self.amount - earned - taken


def month_end(month: int) -> datetime.date:
    return d(2026, month + 1, 1) - datetime.timedelta(days=1)


async def run(
    h: Harness,
    database: conftest.TestDatabase,
    line: tuple[int, int, int],
    year_end: int,
    sequence: list[Op],
) -> None:
    start_month, months, amount = line
    start = d(2026, start_month, 1)
    end = d(2026, start_month + months, 1) - datetime.timedelta(days=1)
    t: Tenant = await sign_up(h.client)
    assert (await set_year_end(h.client, t, year_end)).status_code == 200
    period = {"start": str(start), "end": str(end)}
    item = {"description": "Season", "unit_amount": amount, "service_period": period}
    inv: dict[str, Any] = await draft(h.client, t, (await customer(h.client, t))["id"], item)
    finalize = await act(h.client, t, inv["id"], "finalize", issue_date=str(ISSUED))
    assert finalize.status_code == 200, finalize.text
    model = Model(start, end, amount)
    for kind, offset, quarters in sequence:
        on = ISSUED + datetime.timedelta(days=offset)
        if kind == "worker":
            await run_worker(database, on)
        elif kind == "close":
            if model.closed < 11:
                model.closed += 1
                closing = f"2026-{model.closed:02d}"
                closed = await h.client.post(f"/v1/periods/{closing}/close", headers=t.auth)
                assert closed.status_code == 200, closed.text
        elif model.closed and on <= month_end(model.closed) and model.left:
            refused = await credit(h.client, t, inv["id"], amount=model.left, date=str(on))
            assert refused.status_code == 409, refused.text
        elif model.left:
            share = max(1, model.left * quarters // 4)
            note = await credited(h.client, t, inv["id"], amount=share, date=str(on))
            assert note["lines"][0]["deferred"] == model.credit(on, share)
    await run_worker(database, d(2026, 12, 1))
    assert [await revenue(h.client, t, 2026, m) for m in range(1, 12)] == [
        model.revenue(m) for m in range(1, 12)
    ]
    ends = [month_end(m) for m in range(1, 12)]
    for as_of in sorted({*ends, *(on for on, _, _ in model.credits)}):
        assert await deferred(h.client, t, str(as_of)) == model.deferred(as_of), as_of
    for month in range(1, 12):
        found = await sheet(h.client, t, str(month_end(month)))
        assert (found["retained"], found["current"]) == model.earnings(month, year_end), month
    await assert_books_agree(h.conn, t.org_id)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    start_month=st.integers(2, 6),
    months=st.integers(1, 6),
    amount=st.integers(1, 200_000),
    year_end=st.integers(1, 12),
    sequence=st.lists(ops, max_size=8),
)
def test_books_by_date_do_not_depend_on_when_the_worker_ran_or_months_closed(
    harness: Harness,
    database: conftest.TestDatabase,
    start_month: int,
    months: int,
    amount: int,
    year_end: int,
    sequence: list[Op],
) -> None:
    line = (start_month, months, amount)
    harness.loop.run_until_complete(run(harness, database, line, year_end, sequence))
