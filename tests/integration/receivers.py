"""A local webhook receiver and helpers to run the worker against it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import hashlib
import hmac
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx

from accounting_api.db.connection import Database
from accounting_api.services import maintenance, webhook_transport, webhooks
from accounting_api.settings import secret_keys
from tests.integration import conftest
from tests.integration.helpers import Tenant


@dataclasses.dataclass
class Receiver:
    """An HTTP receiver on 127.0.0.1 answering `status` (or never, when hanging)."""

    status: int = 200
    hanging: bool = False
    received: list[tuple[dict[str, str], bytes]] = dataclasses.field(default_factory=list)
    arrived: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    released: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    url: str = ""

    connections: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)}
        body = await reader.readexactly(int(headers["content-length"]))
        self.received.append((headers, body))
        self.arrived.set()
        if self.hanging:
            await self.released.wait()
        with contextlib.suppress(ConnectionError):
            writer.write(f"HTTP/1.1 {self.status} X\r\nContent-Length: 0\r\n\r\n".encode())
            await writer.drain()
        writer.close()

    def events(self) -> list[str]:
        return [json.loads(body)["type"] for _, body in self.received]

    def bodies(self) -> dict[str, dict[str, Any]]:
        """The events received, by type (the last of each type)."""
        return {event["type"]: event for event in (json.loads(b) for _, b in self.received)}


@contextlib.asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[Receiver]:
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    receiver.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hooks"
    try:
        yield receiver
    finally:
        receiver.released.set()
        server.close()
        await server.wait_closed()


ISSUED = datetime.date(2026, 1, 15)
"""The issue date of the invoices of `finalized`: as the worker's today, none is overdue."""


async def run_worker(
    database: conftest.TestDatabase, today: datetime.date = ISSUED, **settings: Any
) -> dict[str, int]:
    """One worker pass; deliveries go to 127.0.0.1 unless allow_insecure=False."""
    db = Database(database.app_url, min_size=1, max_size=2)
    await db.open()
    keys = secret_keys(os.environ["WEBHOOK_SECRET_KEYS"])
    defaults = {"timeout_seconds": 5.0, "allow_insecure": True, "keys": keys}
    delivery = webhooks.DeliverySettings(**(defaults | settings))
    try:
        return await maintenance.Worker(db, 1, 86400, webhooks=delivery).run_once(today)
    finally:
        await db.close()


async def deliver(database: conftest.TestDatabase, org_id: str, keys: str) -> int:
    """One organization's due deliveries, opening secrets with the key ring `keys` (none
    when empty), and nothing else a worker pass does (no sealing); how many succeeded."""
    db = Database(database.app_url, min_size=1, max_size=2)
    await db.open()
    settings = webhooks.DeliverySettings(
        timeout_seconds=5.0, allow_insecure=True, keys=secret_keys(keys)
    )
    transport = webhook_transport.Guarded(allow_insecure=True)
    try:
        return await webhooks.deliver_organization(db, org_id, transport, settings)
    finally:
        await db.close()


async def endpoint(client: httpx.AsyncClient, t: Tenant, url: str) -> dict[str, Any]:
    made = await client.post("/v1/webhook-endpoints", json={"url": url}, headers=t.auth)
    assert made.status_code == 201, made.text
    result: dict[str, Any] = made.json()
    return result


def verified(secret: str, headers: dict[str, str], body: bytes) -> bool:
    fields = dict(part.split("=", 1) for part in headers["x-ua-signature"].split(","))
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), fields["v1"])


async def stored_secret(conn: asyncpg.Connection, endpoint_id: str) -> asyncpg.Record:
    """How the database holds an endpoint's secret: `secret` (in the clear),
    `secret_sealed`, the `key` it is sealed under, and the `whole` row as text."""
    row = await conn.fetchrow(
        "SELECT secret, secret_sealed, split_part(secret_sealed, ':', 1) AS key,"
        " w::text AS whole FROM webhook_endpoints w WHERE id = $1",
        endpoint_id,
    )
    assert row is not None
    return row


async def delivery(conn: asyncpg.Connection, org_id: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT id, status, attempts, last_error, next_attempt_at - clock_timestamp() AS wait"
        " FROM webhook_deliveries WHERE organization_id = $1",
        org_id,
    )
    assert row is not None
    return row


async def deliveries(
    client: httpx.AsyncClient, t: Tenant, endpoint_id: str, **params: str
) -> list[dict[str, Any]]:
    """An endpoint's deliveries as the API lists them, newest first."""
    path = f"/v1/webhook-endpoints/{endpoint_id}/deliveries"
    listed = await client.get(path, params={"limit": "100"} | params, headers=t.auth)
    assert listed.status_code == 200, listed.text
    found: list[dict[str, Any]] = listed.json()["data"]
    return found


async def time_passes(conn: asyncpg.Connection, org_id: str) -> None:
    """Every pending delivery of the organization is due."""
    await conn.execute(
        "UPDATE webhook_deliveries SET next_attempt_at = now()"
        " WHERE organization_id = $1 AND status = 'pending'",
        org_id,
    )
