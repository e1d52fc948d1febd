"""Double-entry rules: balancing per currency, reversals, normal sides, roles."""

from __future__ import annotations

import pytest

from accounting_api.domain import errors, ledger, money
from accounting_api.domain.ledger import AccountType, Posting, Side
from accounting_api.domain.roles import Principal, Role

D, C = Side.DEBIT, Side.CREDIT


def p(side: Side, amount: int, currency: str = "USD", account: str = "acct_a") -> Posting:
    return Posting(account, side, amount, currency)


@pytest.mark.parametrize(
    "postings",
    [
        [p(D, 100), p(C, 100)],
        [p(D, 100), p(C, 60), p(C, 40)],
        [p(D, 100), p(C, 100), p(D, 700, "JPY"), p(C, 700, "JPY")],
        [p(D, money.MAX_AMOUNT), p(C, money.MAX_AMOUNT)],
    ],
    ids=["single", "split", "two-currencies", "max-amount"],
)
def test_balanced_entries_pass(postings: list[Posting]) -> None:
    ledger.check_balanced(postings)


@pytest.mark.parametrize(
    ("postings", "currency", "excess"),
    [
        ([p(D, 150), p(C, 100)], "USD", "debits exceed by 0.50 USD"),
        ([p(D, 100), p(C, 250)], "USD", "credits exceed by 1.50 USD"),
        ([p(D, 100), p(C, 100), p(D, 5, "JPY"), p(C, 3, "JPY")], "JPY", "debits exceed by 2 JPY"),
        ([p(D, 1, "BHD"), p(C, 1, "USD")], "BHD", "debits exceed by 0.001 BHD"),
    ],
)
def test_unbalanced_entries_name_the_currency_and_the_excess(
    postings: list[Posting], currency: str, excess: str
) -> None:
    with pytest.raises(errors.Unbalanced) as caught:
        ledger.check_balanced(postings)
    assert caught.value.code == "unbalanced_entry"
    assert caught.value.param == "postings"
    assert caught.value.detail.startswith(currency)
    assert excess in caught.value.detail


@pytest.mark.parametrize("postings", [[], [p(D, 100)]], ids=["none", "one"])
def test_fewer_than_two_postings_are_unbalanced(postings: list[Posting]) -> None:
    with pytest.raises(errors.Unbalanced) as caught:
        ledger.check_balanced(postings)
    assert "two postings" in caught.value.detail


@pytest.mark.parametrize(
    ("postings", "param"),
    [
        ([p(D, 0), p(C, 0)], "postings[0].amount"),
        ([p(D, 100), p(C, -100)], "postings[1].amount"),
        ([p(D, 1), p(C, 1), p(D, money.MAX_AMOUNT + 1)], "postings[2].amount"),
    ],
    ids=["zero", "negative", "over-max"],
)
def test_out_of_range_amounts_name_the_posting(postings: list[Posting], param: str) -> None:
    with pytest.raises(errors.ValidationFailed) as caught:
        ledger.check_balanced(postings)
    assert caught.value.param == param
    assert caught.value.status == 422


def test_reversal_flips_every_side_and_keeps_amounts_and_currencies() -> None:
    original = [p(D, 100, "USD", "acct_a"), p(C, 60, "USD", "acct_b"), p(C, 40, "USD", "acct_c")]
    reversed_ = ledger.reversal(original)
    assert reversed_ == [
        p(C, 100, "USD", "acct_a"),
        p(D, 60, "USD", "acct_b"),
        p(D, 40, "USD", "acct_c"),
    ]
    ledger.check_balanced(reversed_)
    assert sum(x.signed for x in original + reversed_) == 0


@pytest.mark.parametrize(
    ("account_type", "normal", "on_normal_side"),
    [
        (AccountType.ASSET, D, 250),
        (AccountType.EXPENSE, D, 250),
        (AccountType.LIABILITY, C, -250),
        (AccountType.EQUITY, C, -250),
        (AccountType.REVENUE, C, -250),
    ],
)
def test_balance_on_normal_side(
    account_type: AccountType, normal: Side, on_normal_side: int
) -> None:
    assert ledger.NORMAL_BALANCE[account_type] is normal
    # 250 more debited than credited: positive on debit-normal accounts only.
    assert ledger.balance_on_normal_side(account_type, 250) == on_normal_side
    assert ledger.balance_on_normal_side(account_type, -250) == -on_normal_side


def test_roles_are_ordered_by_privilege() -> None:
    ordered = [Role.VIEWER, Role.ACCOUNTANT, Role.ADMIN, Role.OWNER]
    assert sorted(Role, key=lambda r: r.rank) == ordered


@pytest.mark.parametrize("held", list(Role))
@pytest.mark.parametrize("required", list(Role))
def test_a_role_allows_what_it_outranks(held: Role, required: Role) -> None:
    assert held.allows(required) is (held.rank >= required.rank)
    principal = Principal("user_x", "org_x", held)
    if held.allows(required):
        principal.require(required)
    else:
        with pytest.raises(errors.Forbidden) as caught:
            principal.require(required)
        assert caught.value.status == 403
        assert str(required) in caught.value.detail
