"""The ledger version cached reports are keyed by (0009, bumped at commit since 0013):
bumping it never makes concurrent transactions deadlock.

Each organization's version is spread over 16 counter rows, one per backend-pid slot.
Two sessions in the same slot used to deadlock when one bumped its counter early and
then waited for a lock the other held while bumping the same counter; the counter is
now the last lock a transaction takes. Plain SQL as the app role, with the tenant set,
so the interleaving is exact."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from tests.integration import conftest
from tests.integration.helpers import sign_up

SLOTS = 16


async def in_slot(url: str, slot: int) -> asyncpg.Connection:
    """A connection whose backend falls in the given counter slot."""
    spare: list[asyncpg.Connection] = []
    try:
        while True:
            conn = await asyncpg.connect(url)
            if await conn.fetchval("SELECT pg_backend_pid()") % SLOTS == slot:
                return conn
            spare.append(conn)
    finally:
        await asyncio.gather(*(c.close() for c in spare))


@pytest.fixture
async def sessions(database: conftest.TestDatabase) -> AsyncIterator[list[asyncpg.Connection]]:
    first = await asyncpg.connect(database.app_url)
    slot = await first.fetchval("SELECT pg_backend_pid()") % SLOTS
    opened = [first, await in_slot(database.app_url, slot), await in_slot(database.app_url, slot)]
    yield opened
    await asyncio.gather(*(c.close() for c in opened))


async def begin(conn: asyncpg.Connection, org_id: str) -> None:
    await conn.execute(f"BEGIN; SELECT set_config('app.organization_id', '{org_id}', true)")


def new_entry(conn: asyncpg.Connection, org_id: str, entry_id: str) -> asyncio.Task[str]:
    sql = (
        "INSERT INTO journal_entries (id, organization_id, entry_date, description)"
        " VALUES ($1, $2, '2026-06-15', 'in flight')"
    )
    return asyncio.create_task(conn.execute(sql, entry_id, org_id))


async def test_a_posting_queued_behind_a_period_close_does_not_deadlock_it(
    client: httpx.AsyncClient, sessions: list[asyncpg.Connection]
) -> None:
    t = await sign_up(client)
    in_flight, closing, posting = sessions
    for conn in sessions:
        await begin(conn, t.org_id)
    await new_entry(in_flight, t.org_id, "je_inflight")  # holds the period lock, shared
    close = asyncio.create_task(
        closing.fetch("SELECT * FROM close_accounting_period('2026-01-01', NULL, 'req_test')")
    )
    await asyncio.sleep(0.3)  # the close now waits for the posting in flight
    queued = new_entry(posting, t.org_id, "je_queued")  # same counter slot as the close
    await asyncio.sleep(0.3)
    await in_flight.execute("ROLLBACK")
    closed = await asyncio.wait_for(close, 10)
    await closing.execute("COMMIT")
    assert [row["period"].isoformat() for row in closed] == ["2026-01-01"]
    await asyncio.wait_for(queued, 10)  # dated after the closed month: accepted
    await posting.execute("ROLLBACK")  # (its postings were never written)
