"""Accounts, balances, journal entries, batches and reversals."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from accounting_api.domain import ledger
from accounting_api.routes import schemas as common
from accounting_api.routes import support
from accounting_api.routes.ledger import schemas
from accounting_api.services import ledger as ledger_service


def account_out(account: ledger.Account) -> schemas.AccountOut:
    return schemas.AccountOut(
        id=account.id,
        code=account.code,
        name=account.name,
        type=account.type,
        currency=account.currency,
        normal_balance=account.normal_balance,
        created_at=account.created_at,
    )


def entry_out(entry: ledger.JournalEntry) -> schemas.EntryOut:
    return schemas.EntryOut(
        id=entry.id,
        date=entry.entry_date,
        description=entry.description,
        postings=[
            schemas.PostingOut(
                account_id=p.account_id, side=p.side, amount=p.amount, currency=p.currency
            )
            for p in entry.postings
        ],
        reverses=entry.reverses_entry_id,
        reversed_by=entry.reversed_by_entry_id,
        created_at=entry.created_at,
        closes_fiscal_year=entry.closes_fiscal_year,
    )


def entry_in(entry: schemas.EntryIn) -> ledger_service.EntryInput:
    return ledger_service.EntryInput(
        entry.date,
        entry.description,
        [ledger_service.PostingInput(p.account_id, p.side, p.amount) for p in entry.postings],
    )


async def create_account(request: Request) -> Response:
    data = await support.body(request, schemas.AccountIn)
    account = await ledger_service.create_account(
        support.unit(request),
        support.principal(request),
        code=data.code,
        name=data.name,
        type=data.type,
        currency=data.currency,
    )
    return support.json(account_out(account), 201)


async def list_accounts(request: Request) -> Response:
    page = support.query(request, common.ListQuery)
    accounts = await ledger_service.list_accounts(
        support.reads(request),
        support.principal(request),
        limit=page.limit + 1,
        starting_after=page.starting_after,
    )
    return support.page(accounts, page.limit, account_out)


async def get_account(request: Request) -> Response:
    account = await ledger_service.get_account(
        support.db(request), support.principal(request), support.path_id(request, "acct")
    )
    return support.json(account_out(account))


async def account_balance(request: Request) -> Response:
    params = support.query(request, schemas.BalanceQuery)
    balance = await ledger_service.account_balance(
        support.reads(request),
        support.principal(request),
        support.path_id(request, "acct"),
        params.as_of or support.today(),
    )
    out = schemas.BalanceOut(
        account_id=balance.account.id,
        as_of=balance.as_of,
        currency=balance.account.currency,
        amount=balance.amount,
        normal_balance=balance.account.normal_balance,
    )
    return support.json(out)


async def create_entry(request: Request) -> Response:
    data = await support.body(request, schemas.EntryIn)
    (entry,) = await ledger_service.post_entries(
        support.unit(request),
        support.principal(request),
        [entry_in(data)],
        request_id=support.request_id(request),
    )
    return support.json(entry_out(entry), 201)


async def create_batch(request: Request) -> Response:
    data = await support.body(request, schemas.BatchIn)
    entries = await ledger_service.post_entries(
        support.unit(request),
        support.principal(request),
        [entry_in(e) for e in data.entries],
        request_id=support.request_id(request),
        batch=True,
    )
    out = common.ListOut[schemas.EntryOut](data=[entry_out(e) for e in entries], has_more=False)
    return support.json(out, 201)


async def list_entries(request: Request) -> Response:
    page = support.query(request, common.ListQuery)
    entries = await ledger_service.list_entries(
        support.reads(request),
        support.principal(request),
        limit=page.limit + 1,
        starting_after=page.starting_after,
    )
    return support.page(entries, page.limit, entry_out)


async def get_entry(request: Request) -> Response:
    entry = await ledger_service.get_entry(
        support.db(request), support.principal(request), support.path_id(request, "je")
    )
    return support.json(entry_out(entry))


async def reverse_entry(request: Request) -> Response:
    data = await support.body(request, schemas.ReverseIn, optional=True)
    entry = await ledger_service.reverse_entry(
        support.unit(request),
        support.principal(request),
        support.path_id(request, "je"),
        entry_date=data.date,
        description=data.description,
        request_id=support.request_id(request),
    )
    return support.json(entry_out(entry), 201)
