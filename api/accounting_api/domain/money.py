"""Money as integer minor units plus an ISO-4217 currency; floats never touch it."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from iso4217 import Currency

from accounting_api.domain import errors

MAX_AMOUNT = 2**63 - 1
"""Largest amount one posting may carry (PostgreSQL bigint)."""


@functools.cache
def exponent(code: str, param: str = "currency") -> int:
    """Number of minor-unit digits of an ISO-4217 currency (JPY 0, USD 2, BHD 3).

    Raises ValidationFailed for codes ISO-4217 does not define or that have no minor
    unit (precious metals, fund codes such as XAU).
    """
    try:
        digits = Currency(code).exponent
    except ValueError:
        raise errors.ValidationFailed(
            f"{code!r} is not an ISO-4217 currency code", param=param
        ) from None
    if digits is None:
        raise errors.ValidationFailed(f"{code} has no minor unit and cannot be booked", param=param)
    return int(digits)


def is_currency(code: str) -> bool:
    try:
        exponent(code)
    except errors.ValidationFailed:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def format(self) -> str:
        """Human decimal form, e.g. Money(12345, 'USD') -> '123.45 USD'."""
        digits = exponent(self.currency)
        sign = "-" if self.amount < 0 else ""
        whole, frac = divmod(abs(self.amount), 10**digits)
        text = f"{whole}.{frac:0{digits}d}" if digits else str(whole)
        return f"{sign}{text} {self.currency}"
