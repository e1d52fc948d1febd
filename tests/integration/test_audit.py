"""The audit trail through the API: events per change, the hash chain, tampering, roles."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest

from accounting_api.db.connection import Database
from accounting_api.services import maintenance
from tests.integration import conftest
from tests.integration.helpers import PASSWORD, Tenant, entry, post_entry, sign_up, token

EVENTS, VERIFY = "/v1/audit-events", "/v1/audit-events/verify"


async def events(client: httpx.AsyncClient, tenant: Tenant, **params: str) -> list[dict]:  # type: ignore[type-arg]
    response = await client.get(EVENTS, params={"limit": 100, **params}, headers=tenant.auth)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def verify(client: httpx.AsyncClient, tenant: Tenant) -> dict:  # type: ignore[type-arg]
    response = await client.get(VERIFY, headers=tenant.auth)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def linked(client: httpx.AsyncClient, tenant: Tenant, **params: str) -> list[dict]:  # type: ignore[type-arg]
    """The events after verify has linked every pending one."""
    assert (await verify(client, tenant))["valid"] is True
    return await events(client, tenant, **params)


async def run_worker(database: conftest.TestDatabase) -> dict[str, int]:
    db = Database(database.app_url, min_size=1, max_size=2)
    await db.open()
    try:
        return await maintenance.Worker(db, 1, 86400).run_once()
    finally:
        await db.close()


async def test_a_posting_is_recorded_with_actor_request_and_state(
    client: httpx.AsyncClient,
) -> None:
    tenant = await sign_up(client)
    body = entry(tenant.accounts["1000"], tenant.accounts["4000"], 500)
    posted = await post_entry(client, tenant, body, **{"X-Request-Id": "req-audit-1"})
    assert posted.status_code == 201, posted.text
    (event,) = await events(client, tenant, object_id=posted.json()["id"])
    assert event["action"] == "journal_entry.created"
    assert event["object_type"] == "journal_entry"
    assert event["request_id"] == "req-audit-1"
    assert event["actor"] is not None
    assert event["before_sha256"] is None
    assert len(event["after_sha256"]) == 64
    # Recorded unlinked; sign-up is the chain's first event once linked.
    assert (event["seq"], event["prev_hash"], event["hash"]) == (None, None, None)
    first = (await linked(client, tenant))[-1]
    assert (first["action"], first["seq"], first["prev_hash"]) == (
        "organization.created",
        1,
        "0" * 64,
    )


async def test_a_failed_request_records_nothing(client: httpx.AsyncClient) -> None:
    tenant = await sign_up(client)
    before = len(await events(client, tenant))
    bad = entry(tenant.accounts["1000"], tenant.accounts["4000"], 500)
    bad["postings"][1]["amount"] = 400
    assert (await post_entry(client, tenant, bad)).status_code == 422
    assert len(await events(client, tenant)) == before


async def test_a_reversal_names_the_entry_and_chains_state(client: httpx.AsyncClient) -> None:
    tenant = await sign_up(client)
    posted = await post_entry(
        client, tenant, entry(tenant.accounts["1000"], tenant.accounts["4000"], 700)
    )
    original = posted.json()["id"]
    reversed_ = await client.post(f"/v1/journal-entries/{original}/reverse", headers=tenant.auth)
    assert reversed_.status_code == 201, reversed_.text
    (event,) = await events(client, tenant, action="journal_entry.reversal_posted")
    assert (event["object_id"], event["target_id"]) == (reversed_.json()["id"], original)


async def test_fifty_concurrent_postings_leave_a_valid_chain(client: httpx.AsyncClient) -> None:
    tenant = await sign_up(client)
    body = entry(tenant.accounts["1000"], tenant.accounts["4000"], 100)
    results = await asyncio.gather(*(post_entry(client, tenant, body) for _ in range(50)))
    assert all(r.status_code == 201 for r in results)
    result = await verify(client, tenant)
    assert result == {
        "object": "audit_verification",
        "valid": True,
        "events_checked": 51,
        "first_broken": None,
    }


async def test_tampering_with_an_event_breaks_the_chain_there(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    tenant = await sign_up(client)
    for amount in (100, 200, 300):
        body = entry(tenant.accounts["1000"], tenant.accounts["4000"], amount)
        assert (await post_entry(client, tenant, body)).status_code == 201
    victim = (await linked(client, tenant))[1]  # the second newest of five
    async with owner_conn.transaction():
        # Triggers (the immutability one included) do not fire in replica mode.
        await owner_conn.execute("SET LOCAL session_replication_role = replica")
        await owner_conn.execute(
            "UPDATE audit_events SET actor_user_id = 'user_forged' WHERE id = $1", victim["id"]
        )
    result = await verify(client, tenant)
    assert result["valid"] is False
    assert result["events_checked"] == victim["seq"]
    assert result["first_broken"] == {
        "id": victim["id"],
        "reason": "hash does not match the event's content",
    }


async def test_events_cannot_be_changed_even_by_the_owner(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    tenant = await sign_up(client)
    (event,) = await linked(client, tenant)
    for statement in (
        "UPDATE audit_events SET action = 'x.y' WHERE id = $1",
        "UPDATE audit_events SET hash = repeat('a', 64) WHERE id = $1",
        # Re-linking an already linked event.
        "UPDATE audit_events SET seq = 7, prev_hash = repeat('b', 64), hash = repeat('c', 64)"
        " WHERE id = $1",
        "DELETE FROM audit_events WHERE id = $1",
    ):
        with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError, match="append-only"):
            await owner_conn.execute(statement, event["id"])


async def test_only_admins_and_owners_read_audit_events(client: httpx.AsyncClient) -> None:
    tenant = await sign_up(client)
    for role in ("accountant", "admin"):
        email = f"{role}-{tenant.org_id}@example.com"
        made = await client.post(
            "/v1/users",
            json={"email": email, "password": PASSWORD, "name": role, "role": role},
            headers=tenant.auth,
        )
        assert made.status_code == 201, made.text
        headers = {"Authorization": f"Bearer {await token(client, email)}"}
        expected = 403 if role == "accountant" else 200
        assert (await client.get(EVENTS, headers=headers)).status_code == expected
        assert (await client.get(VERIFY, headers=headers)).status_code == expected


async def test_events_are_listed_newest_first_with_a_cursor(client: httpx.AsyncClient) -> None:
    tenant = await sign_up(client)
    for amount in (1, 2, 3):
        body = entry(tenant.accounts["1000"], tenant.accounts["4000"], amount)
        assert (await post_entry(client, tenant, body)).status_code == 201
    pending = await events(client, tenant)
    assert [e["seq"] for e in pending] == [None] * 4
    assert [e["action"] for e in pending] == ["journal_entry.created"] * 3 + [
        "organization.created"
    ]
    first = await client.get(EVENTS, params={"limit": 2}, headers=tenant.auth)
    page = first.json()
    assert [e["id"] for e in page["data"]] == [e["id"] for e in pending[:2]]
    assert page["has_more"] is True
    assert (await verify(client, tenant))["events_checked"] == 4
    first = await client.get(EVENTS, params={"limit": 2}, headers=tenant.auth)
    page = first.json()
    assert [e["seq"] for e in page["data"]] == [4, 3]
    assert page["has_more"] is True
    rest = await events(client, tenant, starting_after=page["data"][-1]["id"])
    assert [e["seq"] for e in rest] == [2, 1]


async def test_the_worker_links_pending_events(
    client: httpx.AsyncClient, database: conftest.TestDatabase
) -> None:
    tenant = await sign_up(client)
    body = entry(tenant.accounts["1000"], tenant.accounts["4000"], 100)
    assert (await post_entry(client, tenant, body)).status_code == 201
    assert [e["seq"] for e in await events(client, tenant)] == [None, None]
    result = await run_worker(database)
    assert result["audit_events_linked"] >= 2
    listed = await events(client, tenant)
    assert [e["seq"] for e in listed] == [2, 1]
    assert listed[0]["prev_hash"] == listed[1]["hash"]
    assert (await verify(client, tenant))["events_checked"] == 2


async def test_an_event_committed_after_a_later_one_still_links_and_verifies(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, database: conftest.TestDatabase
) -> None:
    tenant = await sign_up(client)
    app = await asyncpg.connect(database.app_url)
    try:
        # A slow request records its event first but commits only after another
        # request's later event has committed and been linked.
        slow = app.transaction()
        await slow.start()
        await app.execute(
            "SELECT record_audit_events($1, NULL, 'slow', now() - interval '1 minute',"
            " ARRAY['aud_0000000000000000000000000'], ARRAY['thing.created'],"
            " ARRAY['thing'], ARRAY['thing_1'], ARRAY[NULL], ARRAY[repeat('d', 64)])",
            tenant.org_id,
        )
        body = entry(tenant.accounts["1000"], tenant.accounts["4000"], 100)
        assert (await post_entry(client, tenant, body)).status_code == 201
        assert (await verify(client, tenant))["events_checked"] == 2
        await slow.commit()
    finally:
        await app.close()
    result = await verify(client, tenant)
    assert result == {
        "object": "audit_verification",
        "valid": True,
        "events_checked": 3,
        "first_broken": None,
    }
    late = await owner_conn.fetchrow(
        "SELECT seq, occurred_at < (SELECT max(occurred_at) FROM audit_events"
        " WHERE organization_id = $1) AS earlier FROM audit_events WHERE request_id = 'slow'",
        tenant.org_id,
    )
    # It occurred first but linked last: the chain's order is the link order.
    assert late is not None
    assert (late["seq"], late["earlier"]) == (3, True)


async def test_events_recorded_together_chain_state_per_object(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, database: conftest.TestDatabase
) -> None:
    """Several events in one call (the set-based path): an object's second event starts
    from its first's after state, another object's from its own latest stored event."""
    tenant = await sign_up(client)
    a, b, c = repeat_hex("a"), repeat_hex("b"), repeat_hex("c")
    app = await asyncpg.connect(database.app_url)
    try:
        record = (
            "SELECT record_audit_events($1, NULL, $2, now(), $3::text[],"
            " array_fill('thing.changed'::text, ARRAY[cardinality($3::text[])]),"
            " array_fill('thing'::text, ARRAY[cardinality($3::text[])]), $4::text[],"
            " array_fill(NULL::text, ARRAY[cardinality($3::text[])]), $5::text[])"
        )
        async with app.transaction():
            await app.execute(record, tenant.org_id, "first", ["aud_1"], ["thing_2"], [c])
        async with app.transaction():
            await app.execute(
                record,
                tenant.org_id,
                "together",
                ["aud_2", "aud_3", "aud_4"],
                ["thing_1", "thing_2", "thing_1"],
                [a, b, b],
            )
    finally:
        await app.close()
    rows = await owner_conn.fetch(
        "SELECT id, before_sha256 FROM audit_events WHERE request_id = 'together' ORDER BY id"
    )
    assert [(r["id"], r["before_sha256"]) for r in rows] == [
        ("aud_2", None),
        ("aud_3", c),
        ("aud_4", a),
    ]
    assert (await verify(client, tenant))["valid"] is True
    # Two linked events never share a place in the chain.
    with pytest.raises(asyncpg.UniqueViolationError):
        await owner_conn.execute(
            "INSERT INTO audit_events (id, organization_id, seq, action, object_type, object_id,"
            " occurred_at, prev_hash, hash) VALUES ('aud_5', $1, 1, 'thing.changed', 'thing',"
            " 'thing_3', now(), repeat('0', 64), repeat('e', 64))",
            tenant.org_id,
        )


def repeat_hex(digit: str) -> str:
    return digit * 64
