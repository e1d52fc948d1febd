"""SQL for webhook endpoints and the deliveries of outbox events."""

from __future__ import annotations

import datetime
import json

import asyncpg

from accounting_api.db.connection import Connection
from accounting_api.domain.webhooks import Delivery, Endpoint


def _endpoint(row: asyncpg.Record, *, with_secret: bool = False) -> Endpoint:
    return Endpoint(
        row["id"],
        row["url"],
        row["description"],
        row["created_at"],
        row["secret"] if with_secret else None,
    )


async def insert_endpoint(
    conn: Connection,
    organization_id: str,
    endpoint_id: str,
    *,
    url: str,
    description: str,
    secret: str,
) -> Endpoint:
    row = await conn.fetchrow(
        "INSERT INTO webhook_endpoints (id, organization_id, url, description, secret)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING id, url, description, created_at, secret",
        endpoint_id,
        organization_id,
        url,
        description,
        secret,
    )
    assert row is not None
    return _endpoint(row, with_secret=True)


async def list_endpoints(conn: Connection, *, limit: int, after: str | None) -> list[Endpoint]:
    rows = await conn.fetch(
        "SELECT id, url, description, created_at FROM webhook_endpoints"
        " WHERE organization_id = app_current_org() AND ($1::text IS NULL OR id < $1)"
        " ORDER BY id DESC LIMIT $2",
        after,
        limit,
    )
    return [_endpoint(row) for row in rows]


async def organizations_with_due(conn: Connection) -> list[str]:
    rows = await conn.fetch("SELECT organizations_with_due_deliveries() AS id")
    return [row["id"] for row in rows]


def _delivery(row: asyncpg.Record) -> Delivery:
    return Delivery(
        row["id"],
        row["attempts"],
        row["url"],
        row["secret"],
        row["event_id"],
        row["type"],
        json.loads(row["data"]),
        row["created_at"],
    )


async def claim_due(conn: Connection, lease_seconds: float, limit: int) -> list[Delivery]:
    """Take due deliveries of the current tenant for a lease: until it ends, no other
    worker claims them; if this one dies, they are due again when it ends."""
    rows = await conn.fetch(
        "WITH claimed AS ("
        " UPDATE webhook_deliveries SET attempts = attempts + 1,"
        " next_attempt_at = now() + make_interval(secs => $1)"
        " WHERE id IN (SELECT id FROM webhook_deliveries"
        "  WHERE organization_id = app_current_org() AND status = 'pending'"
        "  AND next_attempt_at <= now() ORDER BY next_attempt_at, id LIMIT $2"
        "  FOR UPDATE SKIP LOCKED)"
        " RETURNING id, attempts, event_id, endpoint_id)"
        " SELECT c.id, c.attempts, w.url, w.secret, e.id AS event_id, e.type, e.data,"
        " e.created_at FROM claimed c JOIN outbox_events e ON e.id = c.event_id"
        " JOIN webhook_endpoints w ON w.id = c.endpoint_id ORDER BY c.id",
        lease_seconds,
        limit,
    )
    return [_delivery(row) for row in rows]


async def mark_delivered(conn: Connection, delivery_id: int) -> None:
    await conn.execute(
        "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(),"
        " last_error = NULL WHERE id = $1 AND status = 'pending'",
        delivery_id,
    )


async def mark_failed(
    conn: Connection, delivery_id: int, attempts: int, retry_at: datetime.datetime, error: str
) -> None:
    """Schedule the retry, unless another worker has claimed it since (lease expired)."""
    await conn.execute(
        "UPDATE webhook_deliveries SET next_attempt_at = $3, last_error = $4"
        " WHERE id = $1 AND attempts = $2 AND status = 'pending'",
        delivery_id,
        attempts,
        retry_at,
        error,
    )
