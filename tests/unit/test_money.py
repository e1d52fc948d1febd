"""Money: ISO-4217 minor units and the human decimal form shown in error messages."""

from __future__ import annotations

import pytest

from accounting_api.domain import errors, money


@pytest.mark.parametrize(
    ("code", "digits"),
    [("JPY", 0), ("USD", 2), ("EUR", 2), ("BHD", 3), ("KWD", 3)],
)
def test_exponent_is_the_iso_4217_minor_unit(code: str, digits: int) -> None:
    assert money.exponent(code) == digits


@pytest.mark.parametrize("code", ["ZZZ", "usd", "US", "", "XAU", "XXX"])
def test_codes_that_cannot_be_booked_are_refused_on_the_currency_param(code: str) -> None:
    with pytest.raises(errors.ValidationFailed) as caught:
        money.exponent(code)
    assert caught.value.param == "currency"
    assert caught.value.status == 422
    assert code in caught.value.detail


@pytest.mark.parametrize(("code", "expected"), [("USD", True), ("XAU", False), ("ZZZ", False)])
def test_is_currency_answers_without_raising(code: str, expected: bool) -> None:
    assert money.is_currency(code) is expected


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (12345, "USD", "123.45 USD"),
        (5, "USD", "0.05 USD"),
        (100, "USD", "1.00 USD"),
        (0, "USD", "0.00 USD"),
        (-5, "USD", "-0.05 USD"),
        (-12345, "USD", "-123.45 USD"),
        (1000, "JPY", "1000 JPY"),
        (-7, "JPY", "-7 JPY"),
        (1234, "BHD", "1.234 BHD"),
        (5, "BHD", "0.005 BHD"),
        (-12345, "BHD", "-12.345 BHD"),
        (money.MAX_AMOUNT, "USD", "9999999999999.99 USD"),
    ],
)
def test_format_shows_the_decimal_amount_and_its_sign(
    amount: int, currency: str, text: str
) -> None:
    assert money.Money(amount, currency).format() == text


def test_format_of_an_unknown_currency_raises() -> None:
    with pytest.raises(errors.ValidationFailed):
        money.Money(1, "ZZZ").format()


def test_the_maximum_amount_is_fifteen_digits_exact_as_a_double_with_bigint_headroom() -> None:
    """docs/api.md, "Amounts": any one amount survives a JSON reader that parses doubles, and
    9,223 of them (a document's figures, with room to spare) still fit in a bigint."""
    assert money.MAX_AMOUNT == 999_999_999_999_999
    assert float(money.MAX_AMOUNT) == money.MAX_AMOUNT < 2**53
    assert 9_223 * money.MAX_AMOUNT < 2**63 <= 9_224 * money.MAX_AMOUNT
