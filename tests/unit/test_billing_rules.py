"""Billing rules: quantities, half-up rounding, totals, the state machine, what posts."""

from __future__ import annotations

import dataclasses
import datetime
from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounting_api.domain import billing, errors, ledger, money, tax_rates
from accounting_api.domain.billing import Action, EntryKind, InvoiceStatus, LineAmounts
from accounting_api.domain.ledger import Side

D, C = Side.DEBIT, Side.CREDIT
ISSUED = datetime.date(2026, 1, 15)
ACCOUNTS = billing.PostingAccounts("acct_ar", "acct_tax", "acct_deferred", "acct_bad")


@pytest.mark.parametrize(
    ("given_", "milli"),
    [
        (1, 1000),
        (2, 2000),
        ("2", 2000),
        ("1.5", 1500),
        ("0.001", 1),
        ("10.250", 10_250),
        (10**9, 10**12),
        ("1000000000", 10**12),
    ],
)
def test_quantities_are_thousandths_of_a_unit(given_: int | str, milli: int) -> None:
    assert billing.parse_quantity(given_) == milli


@pytest.mark.parametrize(
    "bad", [0, -1, "0", "0.000", "-1", "1.2345", "abc", "1e3", " 1", "1.", ".5", 10**9 + 1]
)
def test_bad_quantities_are_refused(bad: int | str) -> None:
    with pytest.raises(ValueError, match="must"):
        billing.parse_quantity(bad)


@pytest.mark.parametrize(
    ("milli", "text"),
    [(1000, "1"), (1500, "1.5"), (1, "0.001"), (10_250, "10.25"), (10**12, "1000000000")],
)
def test_quantities_print_as_the_shortest_decimal(milli: int, text: str) -> None:
    assert billing.format_quantity(milli) == text
    assert billing.parse_quantity(text) == milli


@pytest.mark.parametrize(
    ("numerator", "denominator", "rounded"),
    [
        (0, 10, 0),
        (4, 10, 0),
        (5, 10, 1),
        (15, 10, 2),
        (25, 10, 3),
        (35, 10, 4),
        (49, 100, 0),
        (50, 100, 1),
        (4125, 100, 41),
        (4150, 100, 42),
    ],
)
def test_rounding_is_half_up_not_bankers(numerator: int, denominator: int, rounded: int) -> None:
    assert billing.round_half_up(numerator, denominator) == rounded


PRICES = [
    # quantity (thousandths), unit, discount, rate (ppm) -> amount, tax, total
    ((1500, 333, 0, 82_500), (500, 41, 541)),  # 499.5 -> 500; 41.25 -> 41
    ((2000, 10_000, 1_500, 100_000), (20_000, 1_850, 20_350)),
    ((1000, 5, 0, 500_000), (5, 3, 8)),  # 2.5 -> 3 (banker's rounding would give 2)
    ((1000, 7, 0, 500_000), (7, 4, 11)),  # 3.5 -> 4
    ((500, 1, 0, 0), (1, 0, 1)),  # half a cent rounds up
    ((1000, 100, 100, 200_000), (100, 0, 0)),  # fully discounted: no tax
    ((3000, 0, 0, 190_000), (0, 0, 0)),  # free
    ((1, 0, 0, 88_750), (0, 0, 0)),  # free, however small the quantity
    ((1000, 10_000, 0, 1_000_000), (10_000, 10_000, 20_000)),  # 100 % tax
    # New York City, 8.875 %: the tax on the net, rounded once
    ((1000, 1_200, 0, 88_750), (1_200, 107, 1_307)),  # 106.5 -> 107 (banker's: 106)
    ((1000, 569, 0, 88_750), (569, 50, 619)),  # 50.49875 -> 50
    ((1000, 231, 0, 88_750), (231, 21, 252)),  # 20.50125 -> 21
    ((3000, 1_999, 500, 88_750), (5_997, 488, 5_985)),  # 487.85875 -> 488
    ((1500, 333, 0, 88_750), (500, 44, 544)),  # 499.5 -> 500, then 44.375 -> 44
    ((1000, 1, 0, 1), (1, 0, 1)),  # 0.0001 % of a cent
]


@pytest.mark.parametrize(("inputs", "expected"), PRICES)
def test_a_line_is_priced_per_line_with_half_up_rounding(
    inputs: tuple[int, int, int, int], expected: tuple[int, int, int]
) -> None:
    amounts = billing.price_line(*inputs)
    assert (amounts.amount, amounts.tax, amounts.total) == expected
    assert amounts.discount == inputs[2]


@pytest.mark.parametrize(
    ("inputs", "error", "param"),
    [
        ((1000, 100, 101, 0), errors.DiscountExceedsAmount, "discount"),
        ((2000, money.MAX_AMOUNT, 0, 0), errors.AmountTooLarge, "unit_amount"),
        ((1000, money.MAX_AMOUNT, 0, 1), errors.AmountTooLarge, "tax_rate"),
        ((1, 1, 0, 0), errors.LineRoundsToZero, "quantity"),  # a thousandth of a cent
        ((1, 499, 0, 0), errors.LineRoundsToZero, "quantity"),  # 0.499 -> 0
        ((1, 4_99, 0, 88_750), errors.LineRoundsToZero, "quantity"),  # 0.001 x 4.99
    ],
    ids=[
        "discount-over-amount",
        "amount-over-the-maximum",
        "total-over-the-maximum",
        "thousandth-of-a-cent",
        "just-under-half-a-cent",
        "0.001-x-4.99",
    ],
)
def test_impossible_lines_name_the_field(
    inputs: tuple[int, int, int, int], error: type[errors.AccountingError], param: str
) -> None:
    with pytest.raises(error) as caught:
        billing.price_line(*inputs)
    assert (caught.value.param, caught.value.status) == (param, 422)


def test_invoice_totals_are_the_sums_of_the_lines() -> None:
    lines = [LineAmounts(500, 0, 41), LineAmounts(20_000, 1_500, 1_850), LineAmounts(0, 0, 0)]
    totals = billing.totals(lines)
    assert (totals.subtotal, totals.discount, totals.tax, totals.total) == (
        20_500,
        1_500,
        1_891,
        20_891,
    )
    assert billing.totals([]).total == 0


def test_invoice_totals_cannot_overflow() -> None:
    half = money.MAX_AMOUNT // 2 + 1
    with pytest.raises(errors.AmountTooLarge) as caught:
        billing.totals([LineAmounts(half, 0, 0), LineAmounts(half, 0, 0)])
    assert caught.value.param == "lines"


@pytest.mark.parametrize(
    ("fixed", "days", "due"),
    [
        (None, None, "2026-02-14"),
        (None, 0, "2026-01-15"),
        (None, 7, "2026-01-22"),
        ("2026-01-15", None, "2026-01-15"),
        ("2026-03-01", None, "2026-03-01"),
    ],
)
def test_the_due_date_is_fixed_or_counted_from_the_issue_date(
    fixed: str | None, days: int | None, due: str
) -> None:
    date = datetime.date.fromisoformat(fixed) if fixed else None
    assert billing.due_date(ISSUED, date, days) == datetime.date.fromisoformat(due)


def test_a_due_date_before_the_issue_date_is_refused() -> None:
    with pytest.raises(errors.ValidationFailed) as caught:
        billing.due_date(ISSUED, datetime.date(2026, 1, 14), None)
    assert caught.value.param == "due_date"


def test_a_service_period_may_not_end_before_it_starts() -> None:
    billing.check_service_period(ISSUED, ISSUED)
    with pytest.raises(errors.ValidationFailed) as caught:
        billing.check_service_period(ISSUED, ISSUED - datetime.timedelta(days=1))
    assert caught.value.param == "service_period.end"


# --- the state machine ---------------------------------------------------------------


def line(
    net: int = 1000, tax: int = 0, end: datetime.date | None = None, n: int = 0
) -> billing.Line:
    start = datetime.date(2026, 1, 1) if end else None
    amounts = LineAmounts(net, 0, tax)
    return billing.Line(f"il_{n}", "x", 1000, net, 0, amounts, f"acct_rev{n}", start, end)


def invoice(status: InvoiceStatus = InvoiceStatus.DRAFT, *lines: billing.Line) -> billing.Invoice:
    lines = lines or (line(),)
    return billing.Invoice(
        "inv_1", "cus_1", "USD", status, None, "", None, None, None,
        billing.totals(x.amounts for x in lines), 0, lines, (),
        datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    )  # fmt: skip


S, A = InvoiceStatus, Action
MATRIX: dict[tuple[InvoiceStatus, Action], InvoiceStatus | str] = {
    (S.DRAFT, A.EDIT): S.DRAFT,
    (S.DRAFT, A.FINALIZE): S.OPEN,
    (S.DRAFT, A.VOID): "invoice_not_finalized",
    (S.DRAFT, A.MARK_UNCOLLECTIBLE): "invoice_not_finalized",
    (S.OPEN, A.EDIT): "invoice_not_draft",
    (S.OPEN, A.FINALIZE): "invoice_already_finalized",
    (S.OPEN, A.VOID): S.VOID,
    (S.OPEN, A.MARK_UNCOLLECTIBLE): S.UNCOLLECTIBLE,
    (S.PAID, A.EDIT): "invoice_not_draft",
    (S.PAID, A.FINALIZE): "invoice_already_finalized",
    (S.PAID, A.VOID): "invoice_paid",
    (S.PAID, A.MARK_UNCOLLECTIBLE): "invoice_paid",
    (S.VOID, A.EDIT): "invoice_not_draft",
    (S.VOID, A.FINALIZE): "invoice_already_finalized",
    (S.VOID, A.VOID): "invoice_already_void",
    (S.VOID, A.MARK_UNCOLLECTIBLE): "invoice_already_void",
    (S.UNCOLLECTIBLE, A.EDIT): "invoice_not_draft",
    (S.UNCOLLECTIBLE, A.FINALIZE): "invoice_already_finalized",
    (S.UNCOLLECTIBLE, A.VOID): S.VOID,
    (S.UNCOLLECTIBLE, A.MARK_UNCOLLECTIBLE): "invoice_already_uncollectible",
}


def test_the_matrix_covers_every_status_and_action() -> None:
    assert set(MATRIX) == {(s, a) for s in InvoiceStatus for a in Action}


@pytest.mark.parametrize(("status", "action"), list(MATRIX), ids=[f"{s}-{a}" for s, a in MATRIX])
def test_each_status_allows_its_actions_and_refuses_the_rest_with_a_stable_code(
    status: InvoiceStatus, action: Action
) -> None:
    expected = MATRIX[(status, action)]
    if isinstance(expected, InvoiceStatus):
        assert billing.transition(invoice(status), action) is expected
        return
    with pytest.raises(errors.Conflict) as caught:
        billing.transition(invoice(status), action)
    assert (caught.value.code, caught.value.status, caught.value.param) == (expected, 409, "id")


def test_an_empty_draft_cannot_be_finalized() -> None:
    empty = dataclasses.replace(invoice(), lines=(), totals=billing.totals([]))
    with pytest.raises(errors.InvoiceEmpty) as caught:
        billing.transition(empty, Action.FINALIZE)
    assert (caught.value.code, caught.value.param) == ("invoice_empty", "lines")


def test_a_draft_with_nothing_to_collect_is_paid_at_finalize() -> None:
    assert billing.transition(invoice(S.DRAFT, line(0)), Action.FINALIZE) is S.PAID


def test_a_void_invoice_owes_nothing() -> None:
    assert invoice(S.OPEN).amount_remaining == 1000
    assert invoice(S.VOID).amount_remaining == 0


# --- what invoices post ----------------------------------------------------------------


def summed(postings: list[ledger.Posting]) -> dict[str, int]:
    by_account: defaultdict[str, int] = defaultdict(int)
    for p in postings:
        by_account[p.account_id] += p.signed
    return dict(by_account)


def test_finalize_posts_receivable_revenue_per_line_deferred_revenue_and_tax() -> None:
    future = datetime.date(2026, 12, 31)
    lines = (
        line(1000, 100, n=0),
        line(2000, 0, future, n=1),
        line(0, 0, n=2),
        line(300, 30, ISSUED, n=3),
    )
    postings = billing.finalize_postings(invoice(S.DRAFT, *lines), ACCOUNTS, ISSUED)
    assert [(p.account_id, p.side, p.amount) for p in postings] == [
        ("acct_ar", D, 3430),
        ("acct_rev0", C, 1000),
        ("acct_deferred", C, 2000),  # ends after the issue date: not earned yet
        ("acct_rev3", C, 300),  # ends on the issue date: earned
        ("acct_tax", C, 130),
    ]


def test_writing_off_moves_what_is_owed_from_receivable_to_bad_debt() -> None:
    postings = billing.uncollectible_postings(invoice(S.OPEN, line(1000, 50)), ACCOUNTS)
    assert summed(postings) == {"acct_bad": 1050, "acct_ar": -1050}


def test_voiding_reverses_the_write_off_first_then_the_finalize_entry() -> None:
    posted = (
        billing.PostedEntry(EntryKind.FINALIZE, "je_f"),
        billing.PostedEntry(EntryKind.UNCOLLECTIBLE, "je_u"),
    )
    written_off = dataclasses.replace(invoice(S.UNCOLLECTIBLE), entries=posted)
    assert billing.void_reversals(written_off) == [
        ("je_u", EntryKind.VOID_UNCOLLECTIBLE),
        ("je_f", EntryKind.VOID),
    ]
    opened = dataclasses.replace(invoice(S.OPEN), entries=posted[:1])
    assert billing.void_reversals(opened) == [("je_f", EntryKind.VOID)]


@pytest.mark.parametrize("account", list(billing.BillingAccount))
def test_billing_accounts_come_from_the_default_chart(account: billing.BillingAccount) -> None:
    assert account.chart_line().code == account.value
    assert account.code_in("EUR") == f"{account.value}.EUR"


prices = st.tuples(
    st.integers(500, 10**6),  # at least half a unit: an amount of 0 means a free line
    st.integers(0, 10**7),
    st.integers(0, tax_rates.SCALE),
    st.booleans(),
    st.booleans(),
)


@given(st.lists(prices, min_size=1, max_size=20))
def test_every_finalize_entry_balances_and_receivable_is_the_total(
    specs: list[tuple[int, int, int, bool, bool]],
) -> None:
    lines = []
    for n, (quantity, unit, rate, discounted, deferred) in enumerate(specs):
        amount = billing.round_half_up(quantity * unit, billing.QUANTITY_SCALE)
        amounts = billing.price_line(quantity, unit, amount // 3 if discounted else 0, rate)
        end = datetime.date(2027, 1, 1) if deferred else None
        lines.append(dataclasses.replace(line(n=n, end=end), amounts=amounts))
    draft = invoice(S.DRAFT, *lines)
    if draft.totals.total == 0:
        assert billing.transition(draft, Action.FINALIZE) is S.PAID
        return
    postings = billing.finalize_postings(draft, ACCOUNTS, ISSUED)
    ledger.check_balanced(postings)
    assert summed(postings)["acct_ar"] == draft.totals.total
    assert all(p.amount > 0 for p in postings)
    written_off = billing.uncollectible_postings(
        dataclasses.replace(draft, status=S.OPEN), ACCOUNTS
    )
    assert sum(p.signed for p in postings + written_off if p.account_id == "acct_ar") == 0
