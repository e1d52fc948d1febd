"""Ledger rules PostgreSQL enforces by itself, whatever SQL the app (or a person) sends."""

from __future__ import annotations

import dataclasses
import datetime
import secrets
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from tests.integration import conftest
from tests.integration.helpers import sign_up

DATE = datetime.date(2026, 1, 15)
TENANT_TABLES = ("organizations", "users", "accounts", "journal_entries", "postings")


@dataclasses.dataclass(frozen=True)
class Books:
    org_id: str
    accounts: dict[str, tuple[str, str]]
    """Name -> (account id, currency)."""
    committed: str
    """A balanced entry written (and committed) by `write`."""


Lines = list[tuple[str, int]]


def new_id() -> str:
    return f"je_rules{secrets.token_hex(8)}"


async def insert(
    conn: asyncpg.Connection,
    books_org: str,
    accounts: dict[str, tuple[str, str]],
    lines: Lines,
    entry_id: str,
    *,
    new: bool = True,
) -> None:
    """Inside an open transaction: the entry (if new), then postings after its last one."""
    await conn.execute("SELECT set_config('app.organization_id', $1, true)", books_org)
    if new:
        await conn.execute(
            "INSERT INTO journal_entries (id, organization_id, entry_date, description)"
            " VALUES ($1, $2, $3, 'direct SQL')",
            entry_id,
            books_org,
            DATE,
        )
    first = await conn.fetchval(
        "SELECT count(*) FROM postings WHERE journal_entry_id = $1", entry_id
    )
    for line, (name, amount) in enumerate(lines, start=first):
        account_id, currency = accounts[name]
        await conn.execute(
            "INSERT INTO postings (organization_id, journal_entry_id, line, account_id,"
            " currency, amount, entry_date) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            books_org,
            entry_id,
            line,
            account_id,
            currency,
            amount,
            DATE,
        )


@pytest.fixture
async def app_conn(database: conftest.TestDatabase) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database.app_url)
    yield conn
    await conn.close()


@pytest.fixture(scope="module")
async def books(client: httpx.AsyncClient, database: conftest.TestDatabase) -> Books:
    tenant = await sign_up(client)
    body = {"code": "1010", "name": "Cash EUR", "type": "asset", "currency": "EUR"}
    eur = await client.post("/v1/accounts", json=body, headers=tenant.auth)
    assert eur.status_code == 201, eur.text
    accounts = {
        "cash": (tenant.accounts["1000"], "USD"),
        "equity": (tenant.accounts["3000"], "USD"),
        "eur_cash": (eur.json()["id"], "EUR"),
    }
    conn = await asyncpg.connect(database.app_url)
    try:
        committed = new_id()
        async with conn.transaction():
            await insert(
                conn, tenant.org_id, accounts, [("cash", 100), ("equity", -100)], committed
            )
    finally:
        await conn.close()
    return Books(tenant.org_id, accounts, committed)


async def postings_of(conn: asyncpg.Connection, entry_id: str) -> list[int]:
    rows = await conn.fetch(
        "SELECT amount FROM postings WHERE journal_entry_id = $1 ORDER BY line", entry_id
    )
    return [row["amount"] for row in rows]


# --- every entry balances, with at least two postings, checked at commit ---------------

REFUSED_AT_COMMIT: list[tuple[str, Lines, str]] = [
    ("unbalanced", [("cash", 100), ("equity", -99)], "unbalanced in USD"),
    ("single-posting", [("cash", 100)], "journal entry"),
    ("no-postings", [], "has 0 postings"),
    ("balanced-across-currencies-only", [("eur_cash", 100), ("equity", -100)], "unbalanced in"),
]


@pytest.mark.parametrize(
    ("lines", "message"),
    [(lines, message) for _, lines, message in REFUSED_AT_COMMIT],
    ids=[name for name, _, _ in REFUSED_AT_COMMIT],
)
async def test_an_entry_that_does_not_balance_fails_at_commit(
    app_conn: asyncpg.Connection,
    owner_conn: asyncpg.Connection,
    books: Books,
    lines: Lines,
    message: str,
) -> None:
    entry_id = new_id()
    transaction = app_conn.transaction()
    await transaction.start()
    await insert(app_conn, books.org_id, books.accounts, lines, entry_id)  # each statement passes
    with pytest.raises(asyncpg.CheckViolationError) as caught:
        await transaction.commit()
    assert caught.value.constraint_name == "journal_entry_balanced"
    assert entry_id in str(caught.value)
    assert message in str(caught.value)
    found = await owner_conn.fetchval(
        "SELECT count(*) FROM journal_entries WHERE id = $1", entry_id
    )
    assert found == 0


async def test_a_balanced_entry_commits(owner_conn: asyncpg.Connection, books: Books) -> None:
    assert await postings_of(owner_conn, books.committed) == [100, -100]


# --- committed entries are immutable --------------------------------------------------------

APP_REFUSED = [
    "UPDATE postings SET amount = amount * 2 WHERE journal_entry_id = $1",
    "DELETE FROM postings WHERE journal_entry_id = $1",
    "UPDATE journal_entries SET description = 'edited' WHERE id = $1",
    "DELETE FROM journal_entries WHERE id = $1",
]


@pytest.mark.parametrize(
    "statement",
    APP_REFUSED,
    ids=["update-postings", "delete-postings", "update-entry", "delete-entry"],
)
async def test_the_app_role_may_not_update_or_delete_the_ledger(
    app_conn: asyncpg.Connection, owner_conn: asyncpg.Connection, books: Books, statement: str
) -> None:
    await app_conn.execute("SELECT set_config('app.organization_id', $1, false)", books.org_id)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        await app_conn.execute(statement, books.committed)
    assert await postings_of(owner_conn, books.committed) == [100, -100]


@pytest.mark.parametrize("table", ["postings", "journal_entries"])
async def test_the_app_role_may_not_truncate_the_ledger(
    app_conn: asyncpg.Connection, table: str
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        await app_conn.execute(f"TRUNCATE {table}")


@pytest.mark.parametrize("column", ["created_txid", "created_at"])
async def test_the_app_role_may_not_stamp_an_entry_itself(
    app_conn: asyncpg.Connection, books: Books, column: str
) -> None:
    # The immutability check trusts created_txid: a client choosing it (say, a future
    # transaction id) could reopen an entry later.
    await app_conn.execute("SELECT set_config('app.organization_id', $1, false)", books.org_id)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        await app_conn.execute(
            f"INSERT INTO journal_entries (id, organization_id, entry_date, description, {column})"
            " VALUES ($1, $2, $3, 'stamped', DEFAULT)",
            new_id(),
            books.org_id,
            DATE,
        )


OWNER_REFUSED = [
    "UPDATE postings SET amount = amount * 2 WHERE journal_entry_id = $1",
    "DELETE FROM postings WHERE journal_entry_id = $1",
    "UPDATE journal_entries SET entry_date = entry_date + 1 WHERE id = $1",
    "DELETE FROM journal_entries WHERE id = $1",
]


@pytest.mark.parametrize(
    "statement",
    OWNER_REFUSED,
    ids=["update-postings", "delete-postings", "update-entry", "delete-entry"],
)
async def test_even_the_owner_cannot_change_a_committed_entry(
    owner_conn: asyncpg.Connection, books: Books, statement: str
) -> None:
    with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError, match="immutable"):
        await owner_conn.execute(statement, books.committed)
    assert await postings_of(owner_conn, books.committed) == [100, -100]


async def test_postings_cannot_be_added_to_a_committed_entry(
    app_conn: asyncpg.Connection, owner_conn: asyncpg.Connection, books: Books
) -> None:
    pair: Lines = [("cash", 7), ("equity", -7)]
    with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError, match="immutable"):
        async with app_conn.transaction():
            await insert(app_conn, books.org_id, books.accounts, pair, books.committed, new=False)
    assert await postings_of(owner_conn, books.committed) == [100, -100]


# --- the app role is an ordinary, unprivileged role -------------------------------------------


async def test_the_app_role_owns_no_tables_and_cannot_bypass_rls(
    app_conn: asyncpg.Connection,
) -> None:
    user = await app_conn.fetchval("SELECT current_user")
    roles = await app_conn.fetch(
        "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles"
        " WHERE rolname = $1 OR rolname = 'accounting_app'"
        "    OR oid IN (SELECT roleid FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member"
        "               WHERE r.rolname = $1)",
        user,
    )
    assert {r["rolname"] for r in roles} >= {user, "accounting_app"}
    assert [(r["rolname"], r["rolsuper"], r["rolbypassrls"]) for r in roles] == [
        (r["rolname"], False, False) for r in roles
    ]
    owned = await app_conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        " AND tableowner IN ($1, 'accounting_app')",
        user,
    )
    assert owned == []
    assert await app_conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") > 0


async def test_every_tenant_table_forces_row_level_security(
    owner_conn: asyncpg.Connection,
) -> None:
    rows = await owner_conn.fetch(
        "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
        " WHERE relname = ANY($1::text[]) AND relkind = 'r' ORDER BY relname",
        list(TENANT_TABLES),
    )
    assert [tuple(r) for r in rows] == [(name, True, True) for name in sorted(TENANT_TABLES)]
