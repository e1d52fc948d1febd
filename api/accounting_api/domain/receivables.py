"""The receivables sub-ledger: what a journal entry moves on each invoice's receivable.

Every entry that posts to receivable for invoices records, with it, one move per invoice
(signed, debit-positive, as postings are): finalize adds the total; a payment's or
credit's application, a credit note's part off the amount due and a write-off take off;
a refunded application adds back; a void reverses what the invoice's entries moved. An
invoice whose receivable was written off moves bad-debt expense instead, and records no
move. The sum of an invoice's moves dated on or before a day is what it owed on that
day, and the sum over invoices is the receivable accounts' balance on that day.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from accounting_api.domain import ledger


@dataclass(frozen=True, slots=True)
class Move:
    invoice_id: str
    amount: int
    """Signed, debit-positive: what the invoice owes grows when positive."""


@dataclass(frozen=True, slots=True)
class Entry:
    """The moves one journal entry made on one receivable account."""

    journal_entry_id: str
    entry_date: datetime.date
    account_id: str
    currency: str
    moves: tuple[Move, ...]


def posted_to(postings: Iterable[ledger.Posting], account_id: str) -> int:
    """What postings move on one account, signed."""
    return sum(p.signed for p in postings if p.account_id == account_id)


def of_invoice(invoice_id: str, postings: Iterable[ledger.Posting], account_id: str) -> list[Move]:
    """An entry of one invoice moves all it posts to receivable on that invoice."""
    amount = posted_to(postings, account_id)
    return [Move(invoice_id, amount)] if amount else []


def settled(
    amounts: Iterable[tuple[str, int]], written_off: Mapping[str, bool], *, sign: int
) -> list[Move]:
    """(invoice, amount) settled (sign -1) or owed again (sign +1), leaving out the
    invoices whose receivable was written off (they move bad-debt expense)."""
    return [
        Move(invoice_id, sign * amount)
        for invoice_id, amount in amounts
        if amount and not written_off[invoice_id]
    ]


def entry(
    journal_entry: ledger.NewEntry, account_id: str, currency: str, moves: Sequence[Move]
) -> Entry:
    return Entry(journal_entry.id, journal_entry.entry_date, account_id, currency, tuple(moves))
