"""Credit note rules: splitting a credit over lines and into amount and tax, what is
left of a line, deferred revenue taken latest first, drawing customer credit oldest
first, and what credit notes and applied credit post."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounting_api.domain import billing, credit_notes, errors, recognition
from accounting_api.domain.credit_notes import (
    Credited,
    CreditLine,
    Left,
    LineRequest,
    Source,
)
from accounting_api.domain.ledger import Posting, Side
from accounting_api.domain.recognition import Due, Scheduled
from tests.unit import invoices

D, C = Side.DEBIT, Side.CREDIT
ACCOUNTS = credit_notes.PostingAccounts("ar", "tax", "deferred", "bad", "credits")
T0 = datetime.datetime(2026, 2, 1, tzinfo=datetime.UTC)


def a_line(line_id: str, amount: int, tax: int, quantity_milli: int = 1_000) -> billing.Line:
    return billing.Line(
        line_id,
        "Work",
        quantity_milli,
        amount,
        0,
        billing.LineAmounts(amount, 0, tax),
        "rev",
        None,
        None,
    )


LEFT = {
    "il_a": Left(a_line("il_a", 10_000, 1_000, 2_000), 10_000, 1_000, 2_000),
    "il_b": Left(a_line("il_b", 5_000, 0), 5_000, 0, 1_000),
}


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (16_000, [("il_a", 10_000, 1_000), ("il_b", 5_000, 0)]),
        (1_600, [("il_a", 1_000, 100), ("il_b", 500, 0)]),
        (1, [("il_a", 1, 0)]),
    ],
)
def test_an_amount_spreads_over_the_lines_in_proportion(
    amount: int, expected: list[tuple[str, int, int]]
) -> None:
    planned = credit_notes.plan_amount(LEFT, amount)
    assert [(c.line_id, c.amount, c.tax) for c in planned] == expected


@pytest.mark.parametrize(
    ("request_", "code", "param"),
    [
        (LineRequest("il_nope", 1_000), "resource_missing", "lines[0].line"),
        (LineRequest("il_a", 3_000), "amount_exceeds_creditable", "lines[0].quantity"),
        (LineRequest("il_a", amount=11_001), "amount_exceeds_creditable", "lines[0].amount"),
    ],
)
def test_a_bad_line_request_names_its_field(request_: LineRequest, code: str, param: str) -> None:
    with pytest.raises(errors.AccountingError) as refused:
        credit_notes.plan_lines(LEFT, [request_])
    assert (refused.value.code, refused.value.param) == (code, param)


def test_more_than_is_left_is_refused() -> None:
    with pytest.raises(errors.AmountExceedsCreditable):
        credit_notes.plan_amount(LEFT, 16_001)


@given(st.lists(st.integers(1, 5_000), min_size=1, max_size=8))
def test_crediting_a_line_in_parts_ends_exactly_at_its_amount_and_tax(parts: list[int]) -> None:
    line = a_line("il_x", 9_999, 1_234)
    credited = Credited()
    for part in [*parts, 11_233]:
        left = credit_notes.left_by_line(_invoice(line), {"il_x": credited})["il_x"]
        if left.total == 0:
            break
        request = LineRequest("il_x", amount=min(part, left.total))
        [taken] = credit_notes.plan_lines({"il_x": left}, [request])
        credited = Credited(credited.amount + taken.amount, credited.tax + taken.tax)
        assert taken.amount >= 0
        assert taken.tax >= 0
    assert credited == Credited(9_999, 1_234)


def _invoice(line: billing.Line) -> billing.Invoice:
    return invoices.open_invoice(line)


def _piece(piece_id: int, on: datetime.date, amount: int, posted: bool = False) -> Scheduled:
    due = Due(piece_id, "inv_a", 1, "il_a", "USD", "acct_r", "acct_d", on, amount)
    return Scheduled(due, posted)


def test_deferred_revenue_is_taken_from_the_pieces_due_after_the_date_latest_first() -> None:
    pieces = [
        _piece(1, datetime.date(2026, 1, 31), 400),
        _piece(2, datetime.date(2026, 2, 28), 300),
    ]
    before = datetime.date(2026, 1, 15)
    lines, taken = credit_notes.take_deferred([CreditLine("il_a", None, 1_000, 0)], pieces, before)
    assert (lines[0].deferred, taken) == (700, [(pieces[1], 300), (pieces[0], 400)])
    lines, taken = credit_notes.take_deferred([CreditLine("il_a", None, 350, 0)], pieces, before)
    assert (lines[0].deferred, taken) == (350, [(pieces[1], 300), (pieces[0], 50)])
    on_the_first = datetime.date(2026, 1, 31)
    lines, taken = credit_notes.take_deferred(
        [CreditLine("il_a", None, 350, 0)], pieces, on_the_first
    )
    assert (lines[0].deferred, taken) == (300, [(pieces[1], 300)])


def _schedule(start: datetime.date, end: datetime.date, amount: int) -> list[Scheduled]:
    segments = recognition.month_segments(start, end)
    shares = recognition.allocate(amount, [days for _, days in segments])
    return [
        _piece(i, last, share, posted=True)
        for i, ((last, _), share) in enumerate(zip(segments, shares, strict=True))
    ]


def test_the_docstring_example_of_take_back() -> None:
    spring = _schedule(datetime.date(2026, 2, 1), datetime.date(2026, 7, 31), 55_000)
    assert [p.due.amount for p in spring] == [8_508, 9_420, 9_116, 9_420, 9_116, 9_420]
    taken = recognition.take_back({"il_a": 55_000}, spring, datetime.date(2026, 3, 1))
    assert sum(part for _, part in taken) == 46_492
    assert {piece.due.recognize_on.month for piece, _ in taken} == {3, 4, 5, 6, 7}
    summer = _schedule(datetime.date(2026, 6, 1), datetime.date(2026, 8, 31), 92_000)
    assert [p.due.amount for p in summer] == [30_000, 31_000, 31_000]
    assert recognition.take_back({"il_a": 31_000}, summer, datetime.date(2026, 11, 10)) == []


def test_what_is_taken_of_a_posted_piece_is_reversed_revenue_debit_deferred_credit() -> None:
    piece = _piece(1, datetime.date(2026, 3, 31), 9_420, posted=True)
    assert recognition.taken_back_postings(piece.due, 500) == [
        Posting("acct_d", Side.CREDIT, 500, "USD"),
        Posting("acct_r", Side.DEBIT, 500, "USD"),
    ]


def test_customer_credit_is_drawn_oldest_first_and_never_beyond_what_is_held() -> None:
    later = Source(credit_notes.SourceKind.PAYMENT, "pay_b", 500, T0 + datetime.timedelta(1))
    older = Source(credit_notes.SourceKind.CREDIT_NOTE, "cn_a", 300, T0)
    assert credit_notes.draw_credit([later, older], 600) == [(older, 300), (later, 300)]
    with pytest.raises(errors.InsufficientCredit):
        credit_notes.draw_credit([later, older], 801)


def test_a_credit_note_posts_revenue_deferred_and_tax_against_receivable_and_credit() -> None:
    lines = [CreditLine("il_a", None, 1_000, 100, deferred=600)]
    postings = credit_notes.credit_note_postings(
        lines, {"il_a": "rev"}, ACCOUNTS, pre_payment=800, written_off=False, currency="USD"
    )
    assert sorted(postings, key=lambda p: p.account_id) == [
        Posting("ar", C, 800, "USD"),
        Posting("credits", C, 300, "USD"),
        Posting("deferred", D, 600, "USD"),
        Posting("rev", D, 400, "USD"),
        Posting("tax", D, 100, "USD"),
    ]


def test_applied_credit_on_a_written_off_invoice_recovers_bad_debt() -> None:
    assert credit_notes.credit_application_postings(50, ACCOUNTS, True, "USD") == [
        Posting("credits", D, 50, "USD"),
        Posting("bad", C, 50, "USD"),
    ]
