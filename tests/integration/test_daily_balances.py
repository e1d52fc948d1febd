"""What each account moved per day (0028): the reports read it instead of the postings, so
it must always agree with them, whoever wrote them, concurrently or not, before and after
the worker folds it, and in books written before it existed."""

from __future__ import annotations

import asyncio
import datetime

import asyncpg
import httpx
import pytest

from accounting_api.db import migrations
from accounting_api.db.connection import Database
from accounting_api.domain import ids
from accounting_api.services import maintenance, organizations
from tests.integration import conftest
from tests.integration.helpers import Tenant, entry, post_entry, sign_up

DAYS = ("2026-03-01", "2026-03-02", "2026-03-31")


async def moved(owner: asyncpg.Connection, org_id: str, table: str) -> dict[tuple[str, str], int]:
    """Per (account, day), what the table says the account moved that day (nonzero)."""
    rows = await owner.fetch(
        f"SELECT account_id, entry_date::text AS day, sum(amount) AS total FROM {table}"
        " WHERE organization_id = $1 GROUP BY 1, 2 HAVING sum(amount) <> 0",
        org_id,
    )
    return {(r["account_id"], r["day"]): int(r["total"]) for r in rows}


async def slots(owner: asyncpg.Connection, org_id: str) -> set[int]:
    rows = await owner.fetch(
        "SELECT DISTINCT slot FROM daily_balances WHERE organization_id = $1", org_id
    )
    return {r["slot"] for r in rows}


async def write_concurrently(client: httpx.AsyncClient, t: Tenant, count: int) -> None:
    """count entries over three days and four accounts, 16 in flight at once (so over
    several of the API's database sessions)."""
    cash, bank, sales, equity = (t.accounts[c] for c in ("1000", "1100", "4000", "3000"))
    pairs = [(cash, sales), (bank, sales), (cash, equity), (bank, cash)]
    gate = asyncio.Semaphore(16)

    async def one(i: int) -> None:
        debit, credit = pairs[i % len(pairs)]
        async with gate:
            response = await post_entry(
                client, t, entry(debit, credit, 100 + i, DAYS[i % len(DAYS)])
            )
        assert response.status_code == 201, response.text

    await asyncio.gather(*(one(i) for i in range(count)))


async def test_concurrent_writers_daily_balances_match_the_postings_before_and_after_a_fold(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, database: conftest.TestDatabase
) -> None:
    t = await sign_up(client)
    await write_concurrently(client, t, 120)
    expected = await moved(owner_conn, t.org_id, "postings")
    assert len(expected) == 12  # four accounts (cash, bank, sales, equity) x three days
    assert await moved(owner_conn, t.org_id, "daily_balances") == expected
    assert len(await slots(owner_conn, t.org_id)) > 1  # several sessions wrote their own rows

    db = Database(database.app_url, min_size=1, max_size=2)
    await db.open()
    try:
        assert (await maintenance.Worker(db, 1, 86400).run_once())["daily_balances_folded"] > 0
    finally:
        await db.close()
    assert await slots(owner_conn, t.org_id) == {0}
    assert await moved(owner_conn, t.org_id, "daily_balances") == expected

    # And the reports, which read it, say what the postings say.
    trial = await client.get(
        "/v1/reports/trial-balance", params={"as_of": "2026-03-02"}, headers=t.auth
    )
    assert trial.status_code == 200, trial.text
    by_code = {
        a["code"]: a["debit"] - a["credit"] for a in trial.json()["currencies"][0]["accounts"]
    }
    to_march_2 = {
        code: sum(
            v
            for (account, day), v in expected.items()
            if account == t.accounts[code] and day <= "2026-03-02"
        )
        for code in ("1000", "1100", "4000", "3000")
    }
    assert {code: by_code.get(code, 0) for code in to_march_2} == to_march_2
    balance = await client.get(
        f"/v1/accounts/{t.accounts['1100']}/balance",
        params={"as_of": "2026-03-31"},
        headers=t.auth,
    )
    assert balance.status_code == 200, balance.text
    assert balance.json()["amount"] == sum(
        v for (account, _), v in expected.items() if account == t.accounts["1100"]
    )


async def test_a_fold_skips_the_rows_of_a_writer_that_has_not_committed(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, database: conftest.TestDatabase
) -> None:
    t = await sign_up(client)
    writer = await asyncpg.connect(database.app_url)
    folder = await asyncpg.connect(database.app_url)

    async def post(amount: int) -> None:
        """Inside the writer's open transaction: an entry of amount on March 5."""
        await writer.execute("SELECT set_config('app.organization_id', $1, true)", t.org_id)
        entry_id = ids.new_id("je")
        await writer.execute(
            "INSERT INTO journal_entries (id, organization_id, entry_date, description)"
            " VALUES ($1, $2, '2026-03-05', 'held')",
            entry_id,
            t.org_id,
        )
        await writer.execute(
            "INSERT INTO postings (organization_id, journal_entry_id, line, account_id,"
            " currency, amount, entry_date) VALUES ($1, $2, 0, $3, 'USD', $5, '2026-03-05'),"
            " ($1, $2, 1, $4, 'USD', -$5::bigint, '2026-03-05')",
            t.org_id,
            entry_id,
            t.accounts["1000"],
            t.accounts["4000"],
            amount,
        )

    try:
        async with writer.transaction():
            await post(300)  # committed: the writer's rows exist
        transaction = writer.transaction()
        await transaction.start()
        await post(700)  # updates (and so locks) those rows until it commits
        pid = await writer.fetchval("SELECT pg_backend_pid()")
        # The fold would fail here if it waited for the writer's row locks.
        await folder.execute("SET lock_timeout = '2s'")
        await folder.fetchval("SELECT fold_daily_balances(100000)")
        await transaction.commit()
        assert await slots(owner_conn, t.org_id) == {pid}
        assert await folder.fetchval("SELECT fold_daily_balances(100000)") >= 2
        assert await slots(owner_conn, t.org_id) == {0}
        assert await moved(owner_conn, t.org_id, "daily_balances") == await moved(
            owner_conn, t.org_id, "postings"
        )
    finally:
        await writer.close()
        await folder.close()


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO daily_balances (organization_id, entry_date, account_id, slot, amount)"
        " VALUES ($1, '2026-03-01', 'acct_x', 1, 100)",
        "UPDATE daily_balances SET amount = amount + 1 WHERE organization_id = $1",
        "DELETE FROM daily_balances WHERE organization_id = $1",
    ],
    ids=["insert", "update", "delete"],
)
async def test_the_app_role_may_not_change_daily_balances(
    client: httpx.AsyncClient, database: conftest.TestDatabase, statement: str
) -> None:
    t = await sign_up(client)
    conn = await asyncpg.connect(database.app_url)
    try:
        await conn.execute("SELECT set_config('app.organization_id', $1, false)", t.org_id)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await conn.execute(statement, t.org_id)
    finally:
        await conn.close()


async def test_a_tenant_reads_only_its_own_daily_balances(
    client: httpx.AsyncClient, database: conftest.TestDatabase
) -> None:
    mine, theirs = await sign_up(client), await sign_up(client)
    for t in (mine, theirs):
        body = entry(t.accounts["1000"], t.accounts["4000"], 500, "2026-03-01")
        assert (await post_entry(client, t, body)).status_code == 201
    conn = await asyncpg.connect(database.app_url)
    try:
        await conn.execute("SELECT set_config('app.organization_id', $1, false)", mine.org_id)
        seen = await conn.fetch("SELECT DISTINCT organization_id FROM daily_balances")
    finally:
        await conn.close()
    assert [r["organization_id"] for r in seen] == [mine.org_id]


async def test_books_written_before_daily_balances_existed_are_carried_over() -> None:
    db = await conftest.create_empty_database("ua_daily")
    owner = await asyncpg.connect(db.owner_url)
    try:
        await migrations.apply(owner, through=27)
        org_id = ids.new_id("org")
        chart = organizations.default_chart("USD")
        accounts = {a.code: a.id for a in chart}
        async with owner.transaction():
            await owner.execute("SELECT set_config('app.organization_id', $1, true)", org_id)
            await owner.execute(
                "INSERT INTO organizations (id, name, base_currency) VALUES ($1, 'Old', 'USD')",
                org_id,
            )
            await owner.executemany(
                "INSERT INTO accounts (id, organization_id, code, name, type, currency,"
                " normal_balance) VALUES ($1, $2, $3, $4, $5, 'USD', $6)",
                [(a.id, org_id, a.code, a.name, a.type, a.normal_balance) for a in chart],
            )
            for i, day in enumerate(["2026-01-05", "2026-01-05", "2026-02-01"]):
                entry_id = ids.new_id("je")
                date = datetime.date.fromisoformat(day)
                await owner.execute(
                    "INSERT INTO journal_entries (id, organization_id, entry_date, description)"
                    " VALUES ($1, $2, $3, 'old')",
                    entry_id,
                    org_id,
                    date,
                )
                await owner.execute(
                    "INSERT INTO postings (organization_id, journal_entry_id, line, account_id,"
                    " currency, amount, entry_date) VALUES ($1, $2, 0, $3, 'USD', $5, $6),"
                    " ($1, $2, 1, $4, 'USD', -$5::bigint, $6)",
                    org_id,
                    entry_id,
                    accounts["1000"],
                    accounts["4000"],
                    1_000 * (i + 1),
                    date,
                )
        await migrations.apply(owner)
        expected = await moved(owner, org_id, "postings")
        assert expected == {
            (accounts["1000"], "2026-01-05"): 3_000,
            (accounts["4000"], "2026-01-05"): -3_000,
            (accounts["1000"], "2026-02-01"): 3_000,
            (accounts["4000"], "2026-02-01"): -3_000,
        }
        assert await moved(owner, org_id, "daily_balances") == expected
    finally:
        await owner.close()
        await conftest.drop_database(db.name)
