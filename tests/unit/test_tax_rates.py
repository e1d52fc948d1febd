"""Tax rates: percent text <-> parts per million, basis points, and the rounding rule's
worked example (the one in domain/billing.py's docstring and docs/api.md)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounting_api.domain import billing, money, tax_rates


@pytest.mark.parametrize(
    ("given_", "ppm"),
    [
        ("8.875", 88_750),
        ("8.25", 82_500),
        ("8.250", 82_500),
        ("0.0001", 1),
        ("4.7125", 47_125),
        ("0", 0),
        ("0.0", 0),
        ("100", 1_000_000),
        ("100.0000", 1_000_000),
        ("007.5", 75_000),
        (0, 0),
        (19, 190_000),
        (100, 1_000_000),
    ],
)
def test_rates_are_parts_per_million(given_: int | str, ppm: int) -> None:
    assert tax_rates.parse(given_) == ppm


@pytest.mark.parametrize(
    "bad",
    [-1, 101, "100.0001", "-1", "8.87501", "8,875", "8.875%", "abc", " 8", "8.", ".5", "1e1", ""],
)
def test_bad_rates_are_refused(bad: int | str) -> None:
    with pytest.raises(ValueError, match="must"):
        tax_rates.parse(bad)


@pytest.mark.parametrize(
    ("ppm", "text", "bps"),
    [
        (88_750, "8.875", None),
        (82_500, "8.25", 825),
        (1, "0.0001", None),
        (100, "0.01", 1),
        (0, "0", 0),
        (190_000, "19", 1_900),
        (1_000_000, "100", 10_000),
    ],
)
def test_rates_print_as_the_shortest_percent_and_in_bps_when_they_can(
    ppm: int, text: str, bps: int | None
) -> None:
    assert tax_rates.format_percent(ppm) == text
    assert tax_rates.parse(text) == ppm
    assert tax_rates.basis_points(ppm) == bps


@given(
    st.integers(1, 10**7),
    st.integers(0, 10**9),
    st.integers(0, tax_rates.BASIS_POINTS),
)
def test_a_rate_in_bps_taxes_exactly_as_before(quantity: int, unit: int, bps: int) -> None:
    """What tax_rate_bps billed before the change it still bills, to the cent."""
    amount = billing.round_half_up(quantity * unit, billing.QUANTITY_SCALE)
    if amount == 0 or amount > money.MAX_AMOUNT // 2:
        return
    priced = billing.price_line(quantity, unit, amount // 7, bps * tax_rates.PER_BASIS_POINT)
    assert priced.tax == billing.round_half_up((amount - amount // 7) * bps, 10_000)
    assert tax_rates.basis_points(bps * tax_rates.PER_BASIS_POINT) == bps


def test_the_documented_rounding_example_at_new_york_citys_rate() -> None:
    """docs/api.md, "Rounding", and domain/billing.py: 3 x 19.99 less 5.00, and 1.5 x 3.33,
    both at 8.875 %."""
    nyc = tax_rates.parse("8.875")
    first = billing.price_line(billing.parse_quantity(3), 1_999, 500, nyc)
    second = billing.price_line(billing.parse_quantity("1.5"), 333, 0, nyc)
    assert (first.amount, first.net, first.tax, first.total) == (5_997, 5_497, 488, 5_985)
    assert (second.amount, second.tax, second.total) == (500, 44, 544)
    invoice = billing.totals([first, second])
    assert (invoice.subtotal, invoice.discount, invoice.tax, invoice.total) == (
        6_497,
        500,
        532,
        6_529,
    )
