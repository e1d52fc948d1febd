"""Ledger use cases: the chart of accounts, posting, reversing, balances."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from accounting_api.db import ledger as ledger_db
from accounting_api.db import reports as reports_db
from accounting_api.db.connection import Connection
from accounting_api.domain import audit, errors, ids, ledger, money
from accounting_api.domain.roles import Principal, Role
from accounting_api.services.audit import records
from accounting_api.services.ports import Transactions, Unit


class AccountCache:
    """Accounts by (organization, id), shared by the requests of one process.

    Sound because the columns posting depends on (organization, currency, type)
    never change: the app role may only INSERT and SELECT accounts.
    """

    def __init__(self, size: int = 50_000) -> None:
        self._size = size
        self._accounts: dict[tuple[str, str], ledger.Account] = {}

    def get(self, organization_id: str, ids_: Sequence[str]) -> dict[str, ledger.Account]:
        found = {}
        for account_id in ids_:
            account = self._accounts.get((organization_id, account_id))
            if account is not None:
                found[account_id] = account
        return found

    def add(self, organization_id: str, accounts: dict[str, ledger.Account]) -> None:
        if len(self._accounts) + len(accounts) > self._size:
            self._accounts.clear()
        for account_id, account in accounts.items():
            self._accounts[(organization_id, account_id)] = account


_accounts = AccountCache()


async def _accounts_for(
    conn: Connection, organization_id: str, account_ids: Sequence[str]
) -> dict[str, ledger.Account]:
    found = _accounts.get(organization_id, account_ids)
    missing = [a for a in account_ids if a not in found]
    if missing:
        loaded = await ledger_db.accounts_by_id(conn, missing)
        _accounts.add(organization_id, loaded)
        found |= loaded
    return found


@dataclass(frozen=True, slots=True)
class PostingInput:
    account_id: str
    side: ledger.Side
    amount: int


@dataclass(frozen=True, slots=True)
class EntryInput:
    entry_date: datetime.date
    description: str
    postings: Sequence[PostingInput]


@dataclass(frozen=True, slots=True)
class Balance:
    account: ledger.Account
    as_of: datetime.date
    amount: int
    """On the account's normal side: positive when the account holds its usual balance."""


@records("account", "created")
async def create_account(
    db: Unit,
    principal: Principal,
    *,
    code: str,
    name: str,
    type: ledger.AccountType,
    currency: str,
) -> ledger.Account:
    principal.require(Role.ACCOUNTANT)
    money.exponent(currency)
    account = ledger.Account(
        ids.new_id("acct"),
        code,
        name,
        type,
        currency,
        ledger.NORMAL_BALANCE[type],
        datetime.datetime.now(datetime.UTC),
    )
    async with db.transaction(principal.organization_id) as conn:
        (created,) = await ledger_db.insert_accounts(conn, principal.organization_id, [account])
    return created


async def get_account(db: Transactions, principal: Principal, account_id: str) -> ledger.Account:
    async with db.transaction(principal.organization_id) as conn:
        account = await ledger_db.get_account(conn, account_id)
    if account is None:
        raise errors.NotFound(f"no account {account_id}", param="id")
    return account


async def list_accounts(
    db: Transactions, principal: Principal, *, limit: int, starting_after: str | None
) -> list[ledger.Account]:
    async with db.transaction(principal.organization_id) as conn:
        return await ledger_db.list_accounts(conn, limit=limit, after=starting_after)


async def account_balance(
    db: Transactions, principal: Principal, account_id: str, as_of: datetime.date
) -> Balance:
    async with db.transaction(principal.organization_id) as conn:
        account = await ledger_db.get_account(conn, account_id)
        if account is None:
            raise errors.NotFound(f"no account {account_id}", param="id")
        total = await reports_db.account_balance(conn, account_id, as_of)
    return Balance(account, as_of, ledger.balance_on_normal_side(account.type, total))


def _checked_entry(
    entry: EntryInput, entry_id: str, accounts: dict[str, ledger.Account], param: str
) -> ledger.NewEntry:
    postings = []
    for i, line in enumerate(entry.postings):
        account = accounts.get(line.account_id)
        if account is None:
            raise errors.ResourceMissing(
                f"no account {line.account_id}", param=f"{param}postings[{i}].account_id"
            )
        postings.append(ledger.Posting(account.id, line.side, line.amount, account.currency))
    try:
        ledger.check_balanced(postings)
    except errors.AccountingError as exc:
        exc.param = f"{param}{exc.param}" if exc.param else exc.param
        raise
    return ledger.NewEntry(entry_id, entry.entry_date, entry.description, tuple(postings))


def _view(entry: ledger.NewEntry) -> ledger.JournalEntry:
    return ledger.JournalEntry(
        entry.id,
        entry.entry_date,
        entry.description,
        entry.postings,
        entry.reverses_entry_id,
        None,
        datetime.datetime.now(datetime.UTC),
    )


@records("journal_entry", "created")
async def post_entries(
    db: Unit,
    principal: Principal,
    entries: Sequence[EntryInput],
    *,
    request_id: str | None,
    batch: bool = False,
) -> list[ledger.JournalEntry]:
    """Post entries all-or-nothing: one bad entry and none is written."""
    principal.require(Role.ACCOUNTANT)
    account_ids = [p.account_id for e in entries for p in e.postings]
    async with db.transaction(principal.organization_id) as conn:
        accounts = await _accounts_for(conn, principal.organization_id, account_ids)
        entry_ids = ids.new_ids("je", len(entries))
        checked = [
            _checked_entry(e, entry_ids[i], accounts, f"entries[{i}]." if batch else "")
            for i, e in enumerate(entries)
        ]
        await ledger_db.insert_entries(
            conn,
            principal.organization_id,
            checked,
            created_by=principal.user_id,
            request_id=request_id,
        )
    return [_view(e) for e in checked]


async def get_entry(db: Transactions, principal: Principal, entry_id: str) -> ledger.JournalEntry:
    async with db.transaction(principal.organization_id) as conn:
        entry = await ledger_db.get_entry(conn, entry_id)
    if entry is None:
        raise errors.NotFound(f"no journal entry {entry_id}", param="id")
    return entry


async def list_entries(
    db: Transactions, principal: Principal, *, limit: int, starting_after: str | None
) -> list[ledger.JournalEntry]:
    async with db.transaction(principal.organization_id) as conn:
        return await ledger_db.list_entries(conn, limit=limit, before=starting_after)


async def reverse_entry(
    db: Unit,
    principal: Principal,
    entry_id: str,
    *,
    entry_date: datetime.date | None,
    description: str | None,
    request_id: str | None,
) -> ledger.JournalEntry:
    """Post the entry that cancels entry_id; an entry is reversed at most once."""
    principal.require(Role.ACCOUNTANT)
    async with db.transaction(principal.organization_id) as conn:
        original = await ledger_db.get_entry(conn, entry_id)
        if original is None:
            raise errors.NotFound(f"no journal entry {entry_id}", param="id")
        if original.reversed_by_entry_id:
            raise errors.AlreadyReversed(
                f"journal entry {entry_id} was already reversed by {original.reversed_by_entry_id}",
                param="id",
            )
        reversal = ledger.NewEntry(
            ids.new_id("je"),
            entry_date or datetime.datetime.now(datetime.UTC).date(),
            description or f"Reversal of {entry_id}",
            tuple(ledger.reversal(original.postings)),
            reverses_entry_id=entry_id,
        )
        await ledger_db.insert_entries(
            conn,
            principal.organization_id,
            [reversal],
            created_by=principal.user_id,
            request_id=request_id,
        )
    posted = _view(reversal)
    db.changed(audit.changed("journal_entry", "reversal_posted", posted, target_id=entry_id))
    return posted
