"""A write request's audit events go to PostgreSQL in its COMMIT's round trip: a posting
is three round trips (BEGIN with the tenant, the insert, the events with COMMIT), the
events commit with the change or nothing does, and a value that would need quoting is
sent as a parameter instead."""

from __future__ import annotations

import datetime
import secrets
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY

from accounting_api.db import ledger as ledger_db
from accounting_api.db.connection import Database
from accounting_api.db.unit_of_work import UnitOfWork
from accounting_api.domain import audit, errors, ids, ledger
from accounting_api.services import audit as audit_service
from tests.integration import conftest
from tests.integration.exposition import sample
from tests.integration.helpers import entry, post_entry, sign_up

OPERATIONS = ("other", "select", "insert", "update", "delete", "with", "set")


async def queries(client: httpx.AsyncClient) -> float:
    """Statements the API has sent PostgreSQL so far (its query timings' count)."""
    text = (await client.get("/metrics")).text
    found = (sample(text, "db_query_duration_seconds_count", operation=o) for o in OPERATIONS)
    return sum(value or 0.0 for value in found)


async def test_a_posting_is_three_round_trips_its_audit_event_sent_with_commit(
    client: httpx.AsyncClient,
) -> None:
    tenant = await sign_up(client)
    body = entry(tenant.accounts["1000"], tenant.accounts["4000"], 700)
    assert (await post_entry(client, tenant, body)).status_code == 201  # accounts cached
    idle = -(await queries(client)) + await queries(client)
    before = await queries(client)
    posted = await post_entry(client, tenant, body, **{"X-Request-Id": "req-rt-1"})
    sent = await queries(client) - before - idle
    assert posted.status_code == 201, posted.text
    assert sent == 3
    events = await client.get(
        "/v1/audit-events", params={"object_id": posted.json()["id"]}, headers=tenant.auth
    )
    (event,) = events.json()["data"]
    assert (event["action"], event["request_id"]) == ("journal_entry.created", "req-rt-1")


@pytest.fixture
async def db(database: conftest.TestDatabase) -> AsyncIterator[Database]:
    pool = Database(database.app_url, min_size=1, max_size=1)
    await pool.open()
    yield pool
    await pool.close()


def account() -> ledger.Account:
    now = datetime.datetime.now(datetime.UTC)
    kind = ledger.AccountType.ASSET
    code = f"9{secrets.randbelow(1000):03d}"
    return ledger.Account(
        ids.new_id("acct"), code, "Test", kind, "USD", ledger.NORMAL_BALANCE[kind], now
    )


async def record(unit: UnitOfWork, org: str, *changes: audit.Change) -> None:
    await audit_service.record(
        unit,
        organization_id=org,
        actor_user_id=None,
        request_id="req-rt",
        changes=changes,
        at_commit=True,
    )


async def test_a_refused_audit_event_at_commit_commits_nothing_of_the_change(
    client: httpx.AsyncClient, db: Database, owner_conn: asyncpg.Connection
) -> None:
    org = (await sign_up(client)).org_id
    created, kept = account(), []

    async def keep(unit: UnitOfWork) -> None:
        kept.append(unit.conn.is_in_transaction())

    refused = audit.Change("Not.an_action", "account", created.id, "a" * 64, None)

    async def change_with_a_refused_event() -> None:
        async with db.unit_of_work(org) as unit:
            async with unit.transaction(org) as conn:
                await ledger_db.insert_accounts(conn, org, [created])
            unit.keep(keep)
            await record(unit, org, refused)
            assert unit.last  # waiting for COMMIT's round trip

    with pytest.raises(errors.Conflict):
        await change_with_a_refused_event()
    assert kept == [True]  # the kept record still ran, in a transaction of its own
    assert await owner_conn.fetchval("SELECT count(*) FROM accounts WHERE id = $1", created.id) == 0
    # The pool's one connection came back out of the failed transaction.
    async with db.transaction(org) as conn:
        assert await conn.fetchval("SELECT 1") == 1


async def test_events_sent_with_commit_are_recorded_as_with_parameters(
    client: httpx.AsyncClient, db: Database, owner_conn: asyncpg.Connection
) -> None:
    org = (await sign_up(client)).org_id
    plain = audit.Change("account.created", "account", ids.new_id("acct"), "b" * 64, None)
    quoted = audit.Change("account.created", "account", "it's {a,b} \\ NULL", "c" * 64, None)
    for change in (plain, quoted):
        async with db.unit_of_work(org) as unit:
            await record(unit, org, change)
            assert bool(unit.last) is (change is plain)  # quoted: sent with parameters
    rows = await owner_conn.fetch(
        "SELECT object_id, action, object_type, after_sha256, target_id, request_id,"
        " occurred_at FROM audit_events WHERE organization_id = $1 AND object_type = 'account'"
        " AND object_id = ANY($2::text[]) ORDER BY after_sha256",
        org,
        [plain.object_id, quoted.object_id],
    )
    assert [(r["object_id"], r["after_sha256"], r["target_id"]) for r in rows] == [
        (plain.object_id, "b" * 64, None),
        (quoted.object_id, "c" * 64, None),
    ]
    assert {r["request_id"] for r in rows} == {"req-rt"}


def lost(reason: str) -> float:
    sample = REGISTRY.get_sample_value("accounting_kept_records_lost_total", {"reason": reason})
    return sample or 0.0


async def test_kept_records_that_cannot_be_written_are_named_and_counted(
    client: httpx.AsyncClient,
    db: Database,
    owner_conn: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    org = (await sign_up(client)).org_id
    created, before = account(), lost("write_failed")

    async def refused_by_the_database(unit: UnitOfWork) -> None:
        await unit.conn.execute("SELECT 1 / 0")

    async with db.unit_of_work(org) as unit:
        async with unit.transaction(org) as conn:
            await ledger_db.insert_accounts(conn, org, [created])
        unit.keep(refused_by_the_database)
    # The request's own work committed; the record that failed is named and counted.
    assert await owner_conn.fetchval("SELECT count(*) FROM accounts WHERE id = $1", created.id) == 1
    assert lost("write_failed") == before + 1
    assert "refused_by_the_database" in caplog.text
