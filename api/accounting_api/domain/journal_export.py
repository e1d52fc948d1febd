"""The journal in hledger's plain-text format (also read by ledger-cli).

Each entry is a header `YYYY-MM-DD description`, a comment line with its id tags, and
one line per posting: four spaces, the account, two spaces, the amount in major
units with the currency's number of decimals, then the currency code. Debits are
positive and credits negative, as in hledger. Accounts are `<type root>:<code> <name>`
(e.g. `assets:1000 Cash`). Free text is cleaned of what the format gives a meaning to:
line breaks, runs of spaces (two end an account name), `;` (starts a comment) and,
in account names, `:` (separates sub-accounts).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from accounting_api.domain import money

ROOTS = {
    "asset": "assets",
    "liability": "liabilities",
    "equity": "equity",
    "revenue": "revenues",
    "expense": "expenses",
}
HEADER = "; journal exported by accounting-api; hledger/ledger-cli plain-text format\n\n"

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Line:
    account_type: str
    code: str
    name: str
    currency: str
    amount: int
    """Signed minor units: debits positive."""


@dataclass(frozen=True, slots=True)
class Transaction:
    id: str
    date: datetime.date
    description: str
    reverses: str | None
    lines: tuple[Line, ...]


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text.replace(";", ",")).strip()


def account_name(line: Line) -> str:
    name = _clean(f"{line.code} {line.name}".replace(":", "-"))
    return f"{ROOTS[line.account_type]}:{name}"


def amount(minor_units: int, currency: str) -> str:
    """e.g. (-12345, 'USD') -> '-123.45 USD', (500, 'JPY') -> '500 JPY'."""
    digits = money.exponent(currency)
    sign = "-" if minor_units < 0 else ""
    whole, fraction = divmod(abs(minor_units), 10**digits)
    decimals = f".{fraction:0{digits}d}" if digits else ""
    return f"{sign}{whole}{decimals} {currency}"


def transaction(entry: Transaction) -> str:
    tags = f"id:{entry.id}" + (f", reverses:{entry.reverses}" if entry.reverses else "")
    header = f"{entry.date.isoformat()} {_clean(entry.description)}".rstrip()
    lines = [header, f"    ; {tags}"]
    lines += [f"    {account_name(p)}  {amount(p.amount, p.currency)}" for p in entry.lines]
    return "\n".join(lines) + "\n\n"
