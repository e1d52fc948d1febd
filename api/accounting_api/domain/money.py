"""Money as integer minor units plus an ISO-4217 currency; floats never touch it."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from iso4217 import Currency

from accounting_api.domain import errors

MAX_AMOUNT = 10**15 - 1
"""Largest amount, in minor units, that one posting, invoice line (quantity x unit amount,
and its total with tax), invoice total, payment, application, credit note or refund may
carry: 999,999,999,999,999, fifteen digits (9,999,999,999,999.99 USD; 999 trillion JPY).

Why this bound (docs/api.md, "Amounts"): Stripe caps most currencies at eight digits; a ledger
books sums a card network never sees, so it gets seven more, above any single real
transaction. It stays below 2**53, so any one amount is exact even for a JSON reader that
parses numbers as doubles. And it leaves bigint room for what is stored per document:
9,223 amounts at the maximum still fit in a bigint, so a document's figures, each checked
against this bound when written, never overflow. Sums over many documents (balances,
reports, a customer's credit) are unbounded and computed in `numeric`, returned as exact
integers. Migration 0023 holds the database to the same bound."""


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
