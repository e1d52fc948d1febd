"""Sealed webhook secrets across versions and keys: the previous version on the new schema,
the sealing of what it wrote, and a key rotation down to the removal of the old key."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from accounting_api.db.connection import Database
from accounting_api.domain import ids, sealing, webhooks
from tests.integration import conftest
from tests.integration.billing import customer, finalized
from tests.integration.helpers import sign_up
from tests.integration.payments import paid
from tests.integration.receivers import (
    Receiver,
    deliver,
    deliveries,
    endpoint,
    receiving,
    run_worker,
    stored_secret,
    time_passes,
    verified,
)

CLI = str(Path(sys.executable).with_name("accounting-api"))
KEYS = os.environ["WEBHOOK_SECRET_KEYS"]
OLD = f"old:{base64.b64encode(os.urandom(32)).decode()}"
NEW = f"new:{base64.b64encode(os.urandom(32)).decode()}"

# The previous version's statements (before 0026), copied verbatim rather than shared with
# db/webhooks.py: they are what the previous version runs, whatever this one changes.
PREVIOUS_INSERT = (
    "INSERT INTO webhook_endpoints (id, organization_id, url, description, secret)"
    " VALUES ($1, $2, $3, $4, $5) RETURNING id, url, description, created_at, disabled_at,"
    " secret"
)
PREVIOUS_CLAIM = (
    "WITH claimed AS ("
    " UPDATE webhook_deliveries SET attempts = attempts + 1,"
    " next_attempt_at = now() + make_interval(secs => $1)"
    " WHERE id IN (SELECT id FROM webhook_deliveries"
    "  WHERE organization_id = app_current_org() AND status = 'pending'"
    "  AND next_attempt_at <= now() AND EXISTS (SELECT 1 FROM webhook_endpoints w"
    "   WHERE w.id = endpoint_id AND w.disabled_at IS NULL AND w.deleted_at IS NULL)"
    "  ORDER BY next_attempt_at, id LIMIT $2"
    "  FOR UPDATE SKIP LOCKED)"
    " RETURNING id, attempts, event_id, endpoint_id)"
    " SELECT c.id, c.attempts, w.url, w.secret, e.id AS event_id, e.type, e.data,"
    " e.created_at FROM claimed c JOIN outbox_events e ON e.id = c.event_id"
    " JOIN webhook_endpoints w ON w.id = c.endpoint_id ORDER BY c.id"
)


async def as_app(database: conftest.TestDatabase, org_id: str, sql: str, *args: Any) -> list[Any]:
    """`sql` run by the app's role in a transaction of the tenant."""
    db = Database(database.app_url, min_size=1, max_size=1)
    await db.open()
    try:
        async with db.transaction(org_id) as conn:
            return list(await conn.fetch(sql, *args))
    finally:
        await db.close()


async def test_the_previous_version_skips_sealed_secrets_and_its_plaintext_ones_get_sealed(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, database: conftest.TestDatabase
) -> None:
    t = await sign_up(client)
    async with receiving(Receiver()) as receiver:
        sealed = await endpoint(client, t, receiver.url)
        plain_id, plain = ids.new_id("we"), f"whsec_{secrets.token_hex(32)}"
        await as_app(
            database, t.org_id, PREVIOUS_INSERT, plain_id, t.org_id, receiver.url, "", plain
        )
        await finalized(client, t, (await customer(client, t))["id"])
        claimed = await as_app(database, t.org_id, PREVIOUS_CLAIM, 60.0, 50)
        # Only what it can sign; the sealed endpoint's delivery is left as it was.
        assert [(c["url"], c["secret"]) for c in claimed] == [(receiver.url, plain)]
        [waiting] = await deliveries(client, t, sealed["id"])
        assert (waiting["status"], waiting["attempts"]) == ("pending", 0)
        await time_passes(owner_conn, t.org_id)  # the previous version's lease ends
        await run_worker(database)  # this version: seals the plaintext, delivers both
    row = await stored_secret(owner_conn, plain_id)
    assert row["secret"] is None
    ring = sealing.parse(KEYS)
    assert ring.open(row["secret_sealed"], webhooks.secret_binding(t.org_id, plain_id)) == (
        plain.encode()
    )
    for hook_id in (plain_id, sealed["id"]):
        [done] = await deliveries(client, t, hook_id)
        assert done["status"] == "delivered"
    # One delivery signed with each secret.
    signed = [[verified(s, h, b) for s in (plain, sealed["secret"])] for h, b in receiver.received]
    assert sorted(signed) == [[False, True], [True, False]]


@pytest.fixture
async def own_database() -> AsyncIterator[conftest.TestDatabase]:
    """A database of its own: its rekeys touch no other test's endpoints."""
    db = await conftest.create_database()
    yield db
    await conftest.drop_database(db.name)


async def rekey(database: conftest.TestDatabase, keys: str) -> tuple[int, dict[str, Any]]:
    """`accounting-api webhooks rekey` with the key ring `keys`: exit code and report."""
    env = os.environ | {"DATABASE_URL": database.app_url, "WEBHOOK_SECRET_KEYS": keys}
    process = await asyncio.create_subprocess_exec(
        CLI, "webhooks", "rekey", env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, json.loads(out)


async def test_a_rotation_opens_with_the_old_key_rekeys_to_the_new_and_drops_the_old(
    make_app: Callable[..., Starlette],
    own_database: conftest.TestDatabase,
    owner_conn: asyncpg.Connection,
) -> None:
    db = own_database
    urls = {"database_url": db.app_url, "migration_database_url": db.owner_url}
    owner = await asyncpg.connect(db.owner_url)
    key = {"Idempotency-Key": "rotation"}
    async with receiving(Receiver()) as receiver:
        async with conftest.serve(make_app(**urls, webhook_secret_keys=OLD)) as api:
            t = await sign_up(api)
            made = await api.post(
                "/v1/webhook-endpoints", json={"url": receiver.url}, headers=t.auth | key
            )
            hook = made.json()
            cus = (await customer(api, t))["id"]
            invoice = await finalized(api, t, cus)
            # The new key first, the old one still in the ring: the old one still opens.
            assert await deliver(db, t.org_id, f"{NEW},{OLD}") == 1
            assert (await stored_secret(owner, hook["id"]))["key"] == "old"
            # Dropping the old key before the rekey would leave a secret nothing opens.
            assert await rekey(db, NEW) == (
                1,
                {
                    "key": "new",
                    "sealed": 0,
                    "unreadable": 1,
                    "second_factors_sealed": 0,
                    "second_factors_unreadable": 0,
                },
            )
            assert await rekey(db, f"{NEW},{OLD}") == (
                0,
                {
                    "key": "new",
                    "sealed": 1,
                    "unreadable": 0,
                    "second_factors_sealed": 0,
                    "second_factors_unreadable": 0,
                },
            )
            assert await rekey(db, f"{NEW},{OLD}") == (
                0,
                {
                    "key": "new",
                    "sealed": 0,
                    "unreadable": 0,
                    "second_factors_sealed": 0,
                    "second_factors_unreadable": 0,
                },
            )
            assert (await stored_secret(owner, hook["id"]))["key"] == "new"
            await paid(api, t, cus, invoice["total"])
        # The old key removed: deliveries are still signed with the same secret.
        assert await deliver(db, t.org_id, NEW) == 2
        async with conftest.serve(make_app(**urls, webhook_secret_keys=NEW)) as api:
            replay = await api.post(
                "/v1/webhook-endpoints", json={"url": receiver.url}, headers=t.auth | key
            )
    await owner.close()
    assert len(receiver.received) == 3
    assert all(verified(hook["secret"], h, b) for h, b in receiver.received)
    # An answer stored under the dropped key is replayed without its secret.
    assert replay.status_code == 201
    assert replay.json() == {k: v for k, v in hook.items() if k != "secret"}
