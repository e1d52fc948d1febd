"""Payment rules: oldest-first allocation, refund plans (credit first, then the latest
applications), and what payments and refunds post."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounting_api.domain import errors, ledger, payments
from accounting_api.domain.ledger import Side
from accounting_api.domain.payments import Application, Due

D, C = Side.DEBIT, Side.CREDIT
ACCOUNTS = payments.PostingAccounts("cash", "ar", "bad", "credits")
DUES = {
    "inv_a": Due("inv_a", 5_000, written_off=False),
    "inv_b": Due("inv_b", 3_000, written_off=False),
    "inv_w": Due("inv_w", 2_000, written_off=True),
}


def a_payment(amount: int, *applications: Application, refunded: int = 0) -> payments.Payment:
    return payments.Payment(
        "pay_x",
        "cus_x",
        "USD",
        amount,
        payments.Method.CARD,
        datetime.date(2026, 2, 1),
        "",
        sum(a.refundable for a in applications),
        refunded,
        payments.PaymentStatus.SUCCEEDED,
        applications,
        "je_x",
        datetime.datetime(2026, 2, 1, tzinfo=datetime.UTC),
    )


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (1_000, [("inv_a", 1_000)]),
        (5_000, [("inv_a", 5_000)]),
        (6_500, [("inv_a", 5_000), ("inv_b", 1_500)]),
        (8_000, [("inv_a", 5_000), ("inv_b", 3_000)]),
        (9_999, [("inv_a", 5_000), ("inv_b", 3_000)]),
    ],
)
def test_allocation_pays_the_oldest_invoices_first_up_to_their_amount_due(
    amount: int, expected: list[tuple[str, int]]
) -> None:
    found = payments.allocate_oldest_first(amount, [DUES["inv_a"], DUES["inv_b"]])
    assert [(a.invoice_id, a.amount) for a in found] == expected


@given(
    st.integers(1, 10**12),
    st.lists(st.integers(0, 10**9), max_size=20),
)
def test_allocation_never_exceeds_the_payment_nor_any_amount_due(
    amount: int, due_amounts: list[int]
) -> None:
    dues = [Due(f"inv_{i}", d, written_off=False) for i, d in enumerate(due_amounts)]
    found = payments.allocate_oldest_first(amount, dues)
    assert sum(a.amount for a in found) == min(amount, sum(due_amounts))
    by_id = {d.invoice_id: d.amount_due for d in dues}
    assert all(0 < a.amount <= by_id[a.invoice_id] for a in found)


@pytest.mark.parametrize(
    ("requested", "error", "param"),
    [
        (
            [Application("inv_a", 600), Application("inv_b", 500)],
            errors.AppliedExceedsPayment,
            "applied_to",
        ),
        (
            [Application("inv_a", 1), Application("inv_a", 1)],
            errors.ValidationFailed,
            "applied_to[1].invoice",
        ),
    ],
)
def test_requested_applications_are_checked(
    requested: list[Application], error: type[errors.AccountingError], param: str
) -> None:
    with pytest.raises(error) as caught:
        payments.check_requested(1_000, requested)
    assert caught.value.param == param


def test_applying_more_than_the_amount_due_is_refused() -> None:
    payments.check_within_due([Application("inv_b", 3_000)], DUES)
    with pytest.raises(errors.AmountExceedsAmountDue) as caught:
        payments.check_within_due([Application("inv_a", 1), Application("inv_b", 3_001)], DUES)
    assert caught.value.param == "applied_to[1].amount"


@pytest.mark.parametrize(
    ("amount", "from_credit", "taken"),
    [
        (1_000, 1_000, []),
        (2_000, 2_000, []),
        (2_500, 2_000, [("inv_b", 500)]),
        (5_000, 2_000, [("inv_b", 2_000), ("inv_a", 1_000)]),
        (9_000, 2_000, [("inv_b", 2_000), ("inv_a", 5_000)]),
    ],
)
def test_a_refund_takes_the_credit_first_then_the_latest_applications(
    amount: int, from_credit: int, taken: list[tuple[str, int]]
) -> None:
    payment = a_payment(
        10_000, Application("inv_a", 5_000), Application("inv_b", 3_000, 1_000), refunded=1_000
    )
    assert payment.unapplied == 2_000
    plan = payments.plan_refund(payment, amount)
    assert plan.from_credit == from_credit
    assert [(a.invoice_id, a.amount) for a in plan.from_applications] == taken


def test_a_refund_beyond_what_is_not_yet_refunded_is_refused() -> None:
    payment = a_payment(10_000, Application("inv_a", 5_000), refunded=4_000)
    with pytest.raises(errors.RefundExceedsPayment):
        payments.plan_refund(payment, 6_001)


def _sorted(postings: list[ledger.Posting]) -> list[tuple[str, Side, int]]:
    return sorted((p.account_id, p.side, p.amount) for p in postings)


def test_a_payment_posts_cash_against_receivable_recovery_and_credit() -> None:
    applied = [Application("inv_a", 5_000), Application("inv_b", 1_000), Application("inv_w", 500)]
    postings = payments.payment_postings(7_000, "USD", ACCOUNTS, applied, DUES)
    assert _sorted(postings) == [
        ("ar", C, 6_000),
        ("bad", C, 500),
        ("cash", D, 7_000),
        ("credits", C, 500),
    ]


def test_a_payment_applied_to_nothing_is_all_credit() -> None:
    postings = payments.payment_postings(700, "EUR", ACCOUNTS, [], {})
    assert _sorted(postings) == [("cash", D, 700), ("credits", C, 700)]
    assert {p.currency for p in postings} == {"EUR"}


def test_a_refund_posts_the_reverse_of_what_it_takes_back() -> None:
    plan = payments.RefundPlan(300, (Application("inv_a", 200), Application("inv_w", 100)))
    postings = payments.refund_postings("USD", ACCOUNTS, plan, DUES)
    assert _sorted(postings) == [
        ("ar", D, 200),
        ("bad", D, 100),
        ("cash", C, 600),
        ("credits", D, 300),
    ]
