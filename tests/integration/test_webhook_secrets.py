"""Webhook signing secrets sealed at rest: what the database holds, what deliveries are
signed with, a sealed secret moved to another row, stored answers, and no key ring."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable

import asyncpg
import httpx
from starlette.applications import Starlette

from accounting_api.domain import sealing, webhooks
from tests.integration import conftest
from tests.integration.billing import assert_problem, customer, finalized
from tests.integration.helpers import Tenant, sign_up
from tests.integration.receivers import (
    Receiver,
    deliver,
    deliveries,
    endpoint,
    receiving,
    stored_secret,
    verified,
)

KEYS = os.environ["WEBHOOK_SECRET_KEYS"]
"""The key ring of the app the `client` fixture serves (hack/services.sh's local one)."""


async def test_a_new_secret_is_stored_sealed_only_and_signs_the_deliveries(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, database: conftest.TestDatabase
) -> None:
    t = await sign_up(client)
    async with receiving(Receiver()) as receiver:
        made = await endpoint(client, t, receiver.url)
        row = await stored_secret(owner_conn, made["id"])
        assert row["secret"] is None
        assert made["secret"] not in row["whole"]
        ring = sealing.parse(KEYS)
        assert row["key"] == ring.current
        assert ring.open(row["secret_sealed"], webhooks.secret_binding(t.org_id, made["id"])) == (
            made["secret"].encode()
        )
        await finalized(client, t, (await customer(client, t))["id"])
        assert await deliver(database, t.org_id, KEYS) == 1
    [(headers, body)] = receiver.received
    assert verified(made["secret"], headers, body)
    events = await owner_conn.fetchval(
        "SELECT string_agg(a::text, ' ') FROM audit_events a WHERE organization_id = $1", t.org_id
    )
    assert made["id"] in events
    assert made["secret"] not in events


async def test_a_sealed_secret_copied_to_another_endpoint_fails_its_deliveries_unsent(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, database: conftest.TestDatabase
) -> None:
    t, other = await sign_up(client), await sign_up(client)
    async with receiving(Receiver()) as receiver:
        mine = await endpoint(client, t, receiver.url)
        same_org = await endpoint(client, t, receiver.url)
        other_org = await endpoint(client, other, receiver.url)
        await owner_conn.execute(  # behind the API's back: mine's sealed secret copied
            "UPDATE webhook_endpoints SET secret_sealed ="
            " (SELECT secret_sealed FROM webhook_endpoints WHERE id = $1) WHERE id = ANY($2)",
            mine["id"],
            [same_org["id"], other_org["id"]],
        )
        for tenant in (t, other):
            await finalized(client, tenant, (await customer(client, tenant))["id"])
            await deliver(database, tenant.org_id, KEYS)
    [(headers, body)] = receiver.received
    assert verified(mine["secret"], headers, body)
    current = sealing.parse(KEYS).current
    for tenant, hook in ((t, same_org), (other, other_org)):
        [stuck] = await deliveries(client, tenant, hook["id"])
        assert (stuck["status"], stuck["attempts"]) == ("pending", 1)
        assert stuck["last_error"] == (
            f"the signing secret cannot be opened (does not open with key {current!r} for"
            " this place): not sent"
        )


async def created(client: httpx.AsyncClient, t: Tenant, key: str) -> httpx.Response:
    body = {"url": "https://hooks.example.com/ua"}
    return await client.post(
        "/v1/webhook-endpoints", json=body, headers=t.auth | {"Idempotency-Key": key}
    )


async def stored(conn: asyncpg.Connection, key: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT response_body, response_sealed FROM idempotency_keys WHERE key = $1", key
    )
    assert row is not None
    return row


async def test_a_stored_answer_holds_no_secret_and_its_replay_returns_it(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    key = f"hook-{secrets.token_hex(6)}"
    first, replay = await created(client, t, key), await created(client, t, key)
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == first.content
    secret = first.json()["secret"]
    row = await stored(owner_conn, key)
    assert secret.encode() not in bytes(row["response_body"])
    assert secret not in row["response_sealed"]
    # What the previous version replays: the same answer without the secret.
    without = {k: v for k, v in first.json().items() if k != "secret"}
    assert json.loads(row["response_body"]) == without
    # A sealed answer moved to another key's row does not open there: no secret replayed.
    moved = f"hook-{secrets.token_hex(6)}"
    second = await created(client, t, moved)
    await owner_conn.execute(
        "UPDATE idempotency_keys SET response_sealed = $2 WHERE key = $1",
        moved,
        row["response_sealed"],
    )
    again = await created(client, t, moved)
    assert again.status_code == 201
    assert again.json() == {k: v for k, v in second.json().items() if k != "secret"}


async def test_without_a_key_ring_no_endpoint_is_created_and_no_sealed_secret_signs(
    client: httpx.AsyncClient,
    make_app: Callable[..., Starlette],
    database: conftest.TestDatabase,
) -> None:
    t = await sign_up(client)
    async with receiving(Receiver()) as receiver:
        made = await endpoint(client, t, receiver.url)
        async with conftest.serve(make_app(webhook_secret_keys="")) as keyless:
            body = {"url": receiver.url}
            refused = await keyless.post("/v1/webhook-endpoints", json=body, headers=t.auth)
            listed = await keyless.get("/v1/webhook-endpoints", headers=t.auth)
        assert_problem(refused, 503, "webhook_secret_keys_missing", None)
        assert [e["id"] for e in listed.json()["data"]] == [made["id"]]
        await finalized(client, t, (await customer(client, t))["id"])
        assert await deliver(database, t.org_id, "") == 0
    assert receiver.received == []
    [stuck] = await deliveries(client, t, made["id"])
    assert "WEBHOOK_SECRET_KEYS is not set" in stuck["last_error"]
