"""SQL for the chart of accounts, journal entries and postings."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from accounting_api.db import posting
from accounting_api.db.connection import Connection
from accounting_api.domain import errors, ledger

_ACCOUNT_COLUMNS = "id, code, name, type, currency, normal_balance, created_at"


def _account(row: asyncpg.Record) -> ledger.Account:
    return ledger.Account(
        id=row["id"],
        code=row["code"],
        name=row["name"],
        type=ledger.AccountType(row["type"]),
        currency=row["currency"],
        normal_balance=ledger.Side(row["normal_balance"]),
        created_at=row["created_at"],
    )


async def insert_accounts(
    conn: Connection,
    organization_id: str,
    accounts: Sequence[ledger.Account],
    *,
    skip_taken_codes: bool = False,
) -> list[ledger.Account]:
    """Insert accounts; return those inserted.

    With skip_taken_codes, an account whose code the organization already uses is
    skipped (a concurrent transaction adding the same code makes this one wait for it,
    then skip); without it, a taken code is a Conflict.
    """
    on_conflict = " ON CONFLICT (organization_id, code) DO NOTHING" if skip_taken_codes else ""
    try:
        rows = await conn.fetch(
            "INSERT INTO accounts"
            " (organization_id, id, code, name, type, currency, normal_balance)"
            " SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[],"
            f" $6::text[], $7::text[]){on_conflict}"
            f" RETURNING {_ACCOUNT_COLUMNS}",
            organization_id,
            [a.id for a in accounts],
            [a.code for a in accounts],
            [a.name for a in accounts],
            [a.type.value for a in accounts],
            [a.currency for a in accounts],
            [a.normal_balance.value for a in accounts],
        )
    except asyncpg.UniqueViolationError:
        raise errors.Conflict("an account with this code already exists", param="code") from None
    return [_account(row) for row in rows]


async def get_account(conn: Connection, account_id: str) -> ledger.Account | None:
    row = await conn.fetchrow(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE id = $1", account_id)
    return _account(row) if row else None


async def accounts_by_id(conn: Connection, ids: Sequence[str]) -> dict[str, ledger.Account]:
    rows = await conn.fetch(
        f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE id = ANY($1::text[])", list(set(ids))
    )
    return {row["id"]: _account(row) for row in rows}


async def list_accounts(conn: Connection, *, limit: int, after: str | None) -> list[ledger.Account]:
    rows = await conn.fetch(
        f"SELECT {_ACCOUNT_COLUMNS} FROM accounts"
        " WHERE ($1::text IS NULL OR code > (SELECT code FROM accounts WHERE id = $1))"
        " ORDER BY code LIMIT $2",
        after,
        limit,
    )
    return [_account(row) for row in rows]


_INSERT_ENTRIES = """
WITH entries AS (
  INSERT INTO journal_entries (organization_id, created_by, request_id,
                               id, entry_date, description, reverses_entry_id)
  SELECT $1, $2, $3, * FROM unnest($4::text[], $5::date[], $6::text[], $7::text[])
)
INSERT INTO postings (organization_id, journal_entry_id, line, account_id, currency,
                      amount, entry_date)
SELECT $1, * FROM unnest($8::text[], $9::int2[], $10::text[], $11::text[], $12::int8[],
                         $13::date[])
"""


async def insert_entries(
    conn: Connection,
    organization_id: str,
    entries: Sequence[ledger.NewEntry],
    *,
    created_by: str | None,
    request_id: str | None,
) -> None:
    """Write entries and their postings in one statement, whatever the batch size.

    Foreign keys are checked at the end of the statement, so the postings may refer
    to the entries the same statement inserts.
    """
    args = posting.entry_args(
        organization_id, entries, created_by=created_by, request_id=request_id
    )
    try:
        await conn.execute(_INSERT_ENTRIES, *args)
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name != "journal_entries_one_reversal":
            raise
        raise errors.AlreadyReversed(
            "this journal entry has already been reversed", param="id"
        ) from None


# The page of entries is chosen first (by the (organization_id, id) index), so the
# cost is the page's, not the book's.
_ENTRY_QUERY = """
WITH page AS (
  SELECT id, entry_date, description, reverses_entry_id, created_at, closes_fiscal_year
    FROM journal_entries e
   WHERE organization_id = app_current_org() AND {where}
   ORDER BY id DESC
   LIMIT $2
)
SELECT e.id, e.entry_date, e.description, e.reverses_entry_id, e.created_at,
       e.closes_fiscal_year,
       (SELECT r.id FROM journal_entries r WHERE r.reverses_entry_id = e.id)
         AS reversed_by_entry_id,
       array_agg(p.account_id ORDER BY p.line) AS account_ids,
       array_agg(p.amount ORDER BY p.line) AS amounts,
       array_agg(p.currency ORDER BY p.line) AS currencies
  FROM page e
  JOIN postings p ON p.journal_entry_id = e.id
 GROUP BY e.id, e.entry_date, e.description, e.reverses_entry_id, e.created_at,
          e.closes_fiscal_year
 ORDER BY e.id DESC
"""


def _entry(row: asyncpg.Record) -> ledger.JournalEntry:
    postings = tuple(
        ledger.Posting(
            account_id,
            ledger.Side.DEBIT if amount > 0 else ledger.Side.CREDIT,
            abs(amount),
            currency,
        )
        for account_id, amount, currency in zip(
            row["account_ids"], row["amounts"], row["currencies"], strict=True
        )
    )
    return ledger.JournalEntry(
        id=row["id"],
        entry_date=row["entry_date"],
        description=row["description"],
        postings=postings,
        reverses_entry_id=row["reverses_entry_id"],
        reversed_by_entry_id=row["reversed_by_entry_id"],
        created_at=row["created_at"],
        closes_fiscal_year=row["closes_fiscal_year"],
    )


async def get_entry(conn: Connection, entry_id: str) -> ledger.JournalEntry | None:
    row = await conn.fetchrow(_ENTRY_QUERY.format(where="e.id = $1"), entry_id, 1)
    return _entry(row) if row else None


async def list_entries(
    conn: Connection, *, limit: int, before: str | None
) -> list[ledger.JournalEntry]:
    rows = await conn.fetch(
        _ENTRY_QUERY.format(where="($1::text IS NULL OR e.id < $1)"), before, limit
    )
    return [_entry(row) for row in rows]


async def accounts_by_code(conn: Connection, codes: Sequence[str]) -> dict[str, ledger.Account]:
    rows = await conn.fetch(
        f"SELECT {_ACCOUNT_COLUMNS} FROM accounts"
        " WHERE organization_id = app_current_org() AND code = ANY($1::text[])",
        list(set(codes)),
    )
    return {row["code"]: _account(row) for row in rows}
