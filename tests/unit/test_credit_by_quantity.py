"""Credits by quantity: q of the R units not credited by quantity yet take q/R of what
is left of a line's amount and tax, so the last remaining quantity takes exactly what is
left, and credits by amount lower what the units not yet credited are worth."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accounting_api.domain import billing, credit_notes, errors
from accounting_api.domain.credit_notes import Credited, CreditLine, LineRequest
from tests.unit import invoices

T0 = datetime.datetime(2026, 2, 1, tzinfo=datetime.UTC)
Q, A = "quantity", "amount"


def a_line(line_id: str, quantity: int, unit: int, discount: int, bps: int) -> billing.Line:
    """`quantity` in thousandths, priced as invoices are."""
    ppm = bps * 100  # rates are parts per million (tax_rate_bps is superseded)
    amounts = billing.price_line(quantity, unit, discount, ppm)
    return billing.Line(line_id, "Work", quantity, unit, ppm, amounts, "rev", None, None)


def an_invoice(*lines: billing.Line) -> billing.Invoice:
    return invoices.open_invoice(*lines)


def took(credited: Credited, line: CreditLine) -> Credited:
    return Credited(
        credited.amount + line.amount,
        credited.tax + line.tax,
        credited.quantity_milli + (line.quantity_milli or 0),
    )


class Book:
    """One invoice and what its credit notes took, line by line."""

    def __init__(self, *lines: billing.Line) -> None:
        self.invoice = an_invoice(*lines)
        self.credited: dict[str, Credited] = {}

    def left(self) -> dict[str, credit_notes.Left]:
        return credit_notes.left_by_line(self.invoice, self.credited)

    def keep(self, planned: list[CreditLine]) -> list[tuple[int, int]]:
        for line in planned:
            self.credited[line.line_id] = took(self.credited.get(line.line_id, Credited()), line)
        return [(line.amount, line.tax) for line in planned]

    def credit(self, kind: str, value: int, line_id: str = "il_x") -> tuple[int, int]:
        request = LineRequest(line_id, value) if kind == Q else LineRequest(line_id, amount=value)
        [taken] = self.keep(credit_notes.plan_lines(self.left(), [request]))
        return taken

    def credit_invoice(self, amount: int) -> None:
        self.keep(credit_notes.plan_amount(self.left(), amount))


TEN_AT_825 = a_line("il_x", 3_000, 1_000, 0, 825)
"""3 x 10.00 at 8.25%: amount 30.00, tax 2.48, total 32.48."""
DISCOUNT_1 = a_line("il_x", 3_000, 3_333, 1, 0)
"""3 x 33.33 less 0.01: 99.98."""
DISCOUNT_2 = a_line("il_x", 3_000, 3_334, 2, 0)
"""3 x 33.34 less 0.02: 100.00."""


@pytest.mark.parametrize(
    ("line", "credits", "taken"),
    [
        pytest.param(
            TEN_AT_825,
            [(Q, 1_000)] * 3,
            [(1_000, 83), (1_000, 83), (1_000, 82)],
            id="issue-11-tax-unit-by-unit",
        ),
        pytest.param(
            DISCOUNT_1,
            [(Q, 1_000)] * 3,
            [(3_333, 0), (3_333, 0), (3_332, 0)],
            id="issue-11-discount-unit-by-unit",
        ),
        pytest.param(
            DISCOUNT_2,
            [(Q, 1_000)] * 3,
            [(3_333, 0), (3_334, 0), (3_333, 0)],
            id="issue-11-discount-leaves-no-cent",
        ),
        pytest.param(
            TEN_AT_825, [(Q, 2_000), (Q, 1_000)], [(2_000, 165), (1_000, 83)], id="two-then-one"
        ),
        pytest.param(
            TEN_AT_825,
            [(A, 1_000), (Q, 1_000), (Q, 2_000)],
            [(924, 76), (692, 57), (1_384, 115)],
            id="docstring-example-amount-then-units",
        ),
        pytest.param(
            TEN_AT_825,
            [(Q, 1_000), (A, 1_000), (Q, 2_000)],
            [(1_000, 83), (924, 76), (1_076, 89)],
            id="unit-amount-then-the-rest",
        ),
        pytest.param(
            a_line("il_x", 1_500, 333, 0, 825),
            [(Q, 500), (Q, 1_000)],
            [(167, 14), (333, 27)],
            id="fractional-quantity",
        ),
    ],
)
def test_credits_by_quantity_share_what_is_left_and_the_last_takes_the_rest(
    line: billing.Line, credits: list[tuple[str, int]], taken: list[tuple[int, int]]
) -> None:
    book = Book(line)
    assert [book.credit(kind, value) for kind, value in credits] == taken
    assert (book.left()["il_x"].amount, book.left()["il_x"].tax) == (0, 0)


@pytest.mark.parametrize(
    ("credits", "refused", "code"),
    [
        pytest.param([(Q, 1_000)] * 3, (Q, 1_000), "amount_exceeds_creditable", id="no-unit-left"),
        pytest.param([(Q, 2_000)], (Q, 2_000), "amount_exceeds_creditable", id="one-unit-left"),
        pytest.param([(A, 3_248)], (Q, 1_000), "validation_error", id="nothing-left-to-take"),
        pytest.param([(Q, 1_000)], (A, 2_166), "amount_exceeds_creditable", id="amount-over"),
    ],
)
def test_real_over_credits_are_still_refused(
    credits: list[tuple[str, int]], refused: tuple[str, int], code: str
) -> None:
    book = Book(TEN_AT_825)
    for kind, value in credits:
        book.credit(kind, value)
    with pytest.raises(errors.AccountingError) as raised:
        book.credit(*refused)
    assert (raised.value.code, raised.value.param) == (code, f"lines[0].{refused[0]}")


def test_a_share_that_rounds_to_nothing_is_refused_and_takes_no_units() -> None:
    book = Book(a_line("il_x", 20_000, 1, 15, 0))  # 20 x 0.01 less 0.15: 0.05
    with pytest.raises(errors.ValidationFailed):
        book.credit(Q, 1_000)
    assert book.left()["il_x"].quantity_milli == 20_000
    assert book.credit(Q, 2_000) == (1, 0)  # 0.5 rounds up
    assert book.credit(Q, 18_000) == (4, 0)


LINES = st.builds(
    lambda quantity, unit, discount_share, bps: (quantity, unit, discount_share, bps),
    st.integers(1, 5_000),
    st.integers(1, 50_000),
    st.integers(0, 100),
    st.sampled_from([0, 500, 825, 1_000, 2_500]),
).filter(lambda spec: spec[0] * spec[1] >= 500)  # a line that bills 0 is refused


def _line(i: int, spec: tuple[int, int, int, int]) -> billing.Line:
    quantity, unit, discount_share, bps = spec
    amount = billing.round_half_up(quantity * unit, billing.QUANTITY_SCALE)
    return a_line(f"il_{i}", quantity, unit, amount * discount_share // 100, bps)


def _random_credit(book: Book, data: st.DataObject, line_ids: list[str]) -> None:
    kind = data.draw(st.sampled_from([Q, A, "invoice"]))
    line_id = data.draw(st.sampled_from(line_ids))
    left = book.left()[line_id]
    try:
        if kind == Q and left.quantity_milli:
            book.credit(Q, data.draw(st.integers(1, left.quantity_milli)), line_id)
        elif kind == A and left.total:
            book.credit(A, data.draw(st.integers(1, left.total)), line_id)
        elif kind == "invoice" and (total := sum(x.total for x in book.left().values())):
            book.credit_invoice(data.draw(st.integers(1, total)))
    except errors.ValidationFailed:
        pass  # a share worth less than a cent: refused, nothing written


@settings(max_examples=300)
@given(st.lists(LINES, min_size=1, max_size=3), st.data())
def test_any_credits_that_cover_everything_end_at_exactly_zero_per_line(
    specs: list[tuple[int, int, int, int]], data: st.DataObject
) -> None:
    book = Book(*[_line(i, spec) for i, spec in enumerate(specs)])
    line_ids = [line.id for line in book.invoice.lines]
    for _ in range(data.draw(st.integers(0, 8))):
        _random_credit(book, data, line_ids)
        for left in book.left().values():
            assert min(left.amount, left.tax, left.quantity_milli) >= 0
            assert left.quantity_milli or left.total == 0, "all units credited, money left"
    for line_id, left in book.left().items():
        if left.quantity_milli and left.total and data.draw(st.booleans()):
            book.credit(Q, left.quantity_milli, line_id)
        elif left.total:
            book.credit(A, left.total, line_id)
    assert {(x.amount, x.tax) for x in book.left().values()} == {(0, 0)}
