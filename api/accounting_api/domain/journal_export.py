"""The journal in hledger's plain-text format (also read by ledger-cli).

It opens with `commodity` and `account` directives for every currency and account of
the book, so `hledger check --strict` (accounts and commodities declared) passes; an
account first seen later (created during the export) is declared before its first
entry. Each entry is a header `YYYY-MM-DD description`, a comment line with its id
tags (`closes-fiscal-year:` on the closing entries of fiscal years and their reversals,
as hledger's `close --retain` would post them; `not:tag:closes-fiscal-year` leaves them
out of an income statement), and one line per posting: four spaces, the account, two
spaces, the amount in major units with the currency's number of decimals, then the
currency code. Debits are positive and credits negative, as in hledger. Accounts are
`<type root>:<code> <name>` (e.g. `assets:1000 Cash`).

Free text is cleaned of what the format gives a meaning to: line breaks, runs of
spaces (two end an account name), `;` (starts a comment) and, in account names, `:`
(separates sub-accounts). A description starting with what hledger reads as a status
mark or a transaction code (`*`, `!`, `(`) follows an empty code `()`, so it stays
text: an unclosed `(` would otherwise make the whole file unreadable.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
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


_CODE_OR_STATUS = ("*", "!", "(")


@dataclass(frozen=True, slots=True)
class Account:
    type: str
    code: str
    name: str
    currency: str


@dataclass(frozen=True, slots=True)
class Line:
    account: Account
    amount: int
    """Signed minor units: debits positive."""


@dataclass(frozen=True, slots=True)
class Transaction:
    id: str
    date: datetime.date
    description: str
    reverses: str | None
    lines: tuple[Line, ...]
    closes_fiscal_year: datetime.date | None = None
    """Set on a fiscal year's closing entry and on its reversal: the year's last day."""


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text.replace(";", ",")).strip()


def account_name(account: Account) -> str:
    name = _clean(f"{account.code} {account.name}".replace(":", "-"))
    return f"{ROOTS[account.type]}:{name}"


class Declarations:
    """The `commodity` and `account` directives a journal needs, each written once."""

    def __init__(self) -> None:
        self._currencies: set[str] = set()
        self._accounts: set[str] = set()

    def new(self, accounts: Iterable[Account]) -> str:
        """Directives for those of accounts (and their currencies) not declared yet."""
        lines = []
        for account in accounts:
            name = account_name(account)
            if account.currency not in self._currencies:
                self._currencies.add(account.currency)
                lines.append(f"commodity {account.currency}")
            if name not in self._accounts:
                self._accounts.add(name)
                lines.append(f"account {name}")
        return "".join(f"{line}\n" for line in sorted(lines, key=_directive_order)) + (
            "\n" if lines else ""
        )


def _directive_order(line: str) -> tuple[bool, str]:
    return (line.startswith("account "), line)


def amount(minor_units: int, currency: str) -> str:
    """e.g. (-12345, 'USD') -> '-123.45 USD', (500, 'JPY') -> '500 JPY'."""
    digits = money.exponent(currency)
    sign = "-" if minor_units < 0 else ""
    whole, fraction = divmod(abs(minor_units), 10**digits)
    decimals = f".{fraction:0{digits}d}" if digits else ""
    return f"{sign}{whole}{decimals} {currency}"


def description(text: str) -> str:
    cleaned = _clean(text)
    return f"() {cleaned}" if cleaned.startswith(_CODE_OR_STATUS) else cleaned


def transaction(entry: Transaction) -> str:
    tags = f"id:{entry.id}" + (f", reverses:{entry.reverses}" if entry.reverses else "")
    if entry.closes_fiscal_year:
        tags += f", closes-fiscal-year:{entry.closes_fiscal_year.isoformat()}"
    header = f"{entry.date.isoformat()} {description(entry.description)}".rstrip()
    lines = [header, f"    ; {tags}"]
    lines += [
        f"    {account_name(p.account)}  {amount(p.amount, p.account.currency)}"
        for p in entry.lines
    ]
    return "\n".join(lines) + "\n\n"
