"""SQL for webhook endpoints and the deliveries of outbox events."""

from __future__ import annotations

import datetime
import json

import asyncpg

from accounting_api.db.connection import Connection
from accounting_api.domain.webhooks import Delivery, DeliveryRecord, Endpoint

_ENDPOINT_COLUMNS = "id, url, description, created_at, disabled_at"


def _endpoint(row: asyncpg.Record) -> Endpoint:
    return Endpoint(
        row["id"], row["url"], row["description"], row["created_at"], row["disabled_at"] is not None
    )


async def insert_endpoint(
    conn: Connection,
    organization_id: str,
    endpoint_id: str,
    *,
    url: str,
    description: str,
    sealed_secret: str,
) -> Endpoint:
    """A new endpoint whose secret is stored sealed only (never in `secret`)."""
    row = await conn.fetchrow(
        "INSERT INTO webhook_endpoints (id, organization_id, url, description, secret_sealed)"
        f" VALUES ($1, $2, $3, $4, $5) RETURNING {_ENDPOINT_COLUMNS}",
        endpoint_id,
        organization_id,
        url,
        description,
        sealed_secret,
    )
    assert row is not None
    return _endpoint(row)


async def list_endpoints(conn: Connection, *, limit: int, after: str | None) -> list[Endpoint]:
    rows = await conn.fetch(
        f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints"
        " WHERE organization_id = app_current_org() AND deleted_at IS NULL"
        " AND ($1::text IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
        after,
        limit,
    )
    return [_endpoint(row) for row in rows]


async def get_endpoint(conn: Connection, endpoint_id: str) -> Endpoint | None:
    row = await conn.fetchrow(
        f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints"
        " WHERE id = $1 AND organization_id = app_current_org() AND deleted_at IS NULL",
        endpoint_id,
    )
    return None if row is None else _endpoint(row)


async def set_disabled(conn: Connection, endpoint_id: str, disabled: bool) -> Endpoint | None:
    """Disable (keeping the first time it was) or enable an endpoint that exists."""
    row = await conn.fetchrow(
        "UPDATE webhook_endpoints SET disabled_at ="
        " CASE WHEN $2 THEN coalesce(disabled_at, now()) END"
        " WHERE id = $1 AND organization_id = app_current_org() AND deleted_at IS NULL"
        f" RETURNING {_ENDPOINT_COLUMNS}",
        endpoint_id,
        disabled,
    )
    return None if row is None else _endpoint(row)


ENDPOINT_DELETED = "the webhook endpoint was deleted"


async def delete_endpoint(conn: Connection, endpoint_id: str) -> Endpoint | None:
    """Mark the endpoint deleted and fail what was still to be sent to it."""
    row = await conn.fetchrow(
        "UPDATE webhook_endpoints SET deleted_at = now()"
        " WHERE id = $1 AND organization_id = app_current_org() AND deleted_at IS NULL"
        f" RETURNING {_ENDPOINT_COLUMNS}",
        endpoint_id,
    )
    if row is None:
        return None
    await conn.execute(
        "UPDATE webhook_deliveries SET status = 'failed', last_error = $2"
        " WHERE endpoint_id = $1 AND status = 'pending'",
        endpoint_id,
        ENDPOINT_DELETED,
    )
    return _endpoint(row)


_RECORD_SQL = (
    "SELECT d.public_id, d.endpoint_id, d.event_id, e.type, d.status, d.attempts,"
    " d.last_error, d.next_attempt_at, d.delivered_at"
    " FROM webhook_deliveries d JOIN outbox_events e ON e.id = d.event_id"
    " WHERE d.organization_id = app_current_org()"
)


def _record(row: asyncpg.Record) -> DeliveryRecord:
    pending = row["status"] == "pending"
    return DeliveryRecord(
        row["public_id"],
        row["endpoint_id"],
        row["event_id"],
        row["type"],
        row["status"],
        row["attempts"],
        row["last_error"],
        row["next_attempt_at"] if pending else None,
        row["delivered_at"],
    )


async def list_deliveries(
    conn: Connection, endpoint_id: str, *, limit: int, after: str | None, status: str | None
) -> list[DeliveryRecord]:
    """An endpoint's deliveries, newest first; `after` is a delivery's public id."""
    rows = await conn.fetch(
        f"{_RECORD_SQL} AND d.endpoint_id = $1 AND ($2::text IS NULL"
        "  OR d.id < (SELECT id FROM webhook_deliveries WHERE public_id = $2))"
        " AND ($4::text IS NULL OR d.status = $4) ORDER BY d.id DESC LIMIT $3",
        endpoint_id,
        after,
        limit,
        status,
    )
    return [_record(row) for row in rows]


async def lock_delivery(
    conn: Connection, delivery_id: str
) -> tuple[DeliveryRecord, Endpoint] | None:
    """The delivery (locked) and its endpoint; None when either is gone."""
    row = await conn.fetchrow(f"{_RECORD_SQL} AND d.public_id = $1 FOR UPDATE OF d", delivery_id)
    endpoint = None if row is None else await get_endpoint(conn, row["endpoint_id"])
    if row is None or endpoint is None:
        return None
    return _record(row), endpoint


async def requeue(conn: Connection, delivery_id: str) -> DeliveryRecord:
    """Make a failed delivery pending and due now (one more attempt)."""
    await conn.execute(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now()"
        " WHERE public_id = $1 AND status = 'failed'",
        delivery_id,
    )
    row = await conn.fetchrow(f"{_RECORD_SQL} AND d.public_id = $1", delivery_id)
    assert row is not None
    return _record(row)


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
        row["endpoint_id"],
        row["secret_sealed"],
    )


async def claim_due(conn: Connection, lease_seconds: float, limit: int) -> list[Delivery]:
    """Take due deliveries of the current tenant for a lease: until it ends, no other
    worker claims them; if this one dies, they are due again when it ends. Setting
    claimed_at tells the database this claim opens sealed secrets (0026: the previous
    version's claims skip endpoints without a plaintext secret)."""
    rows = await conn.fetch(
        "WITH claimed AS ("
        " UPDATE webhook_deliveries SET attempts = attempts + 1,"
        " next_attempt_at = now() + make_interval(secs => $1), claimed_at = clock_timestamp()"
        " WHERE id IN (SELECT id FROM webhook_deliveries"
        "  WHERE organization_id = app_current_org() AND status = 'pending'"
        "  AND next_attempt_at <= now() AND EXISTS (SELECT 1 FROM webhook_endpoints w"
        "   WHERE w.id = endpoint_id AND w.disabled_at IS NULL AND w.deleted_at IS NULL)"
        "  ORDER BY next_attempt_at, id LIMIT $2"
        "  FOR UPDATE SKIP LOCKED)"
        " RETURNING id, attempts, event_id, endpoint_id)"
        " SELECT c.id, c.attempts, w.url, w.secret, w.secret_sealed, c.endpoint_id,"
        " e.id AS event_id, e.type, e.data, e.created_at"
        " FROM claimed c JOIN outbox_events e ON e.id = c.event_id"
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
    conn: Connection,
    delivery_id: int,
    attempts: int,
    retry_at: datetime.datetime | None,
    error: str,
) -> None:
    """Schedule the retry (or, without retry_at, fail the delivery for good), unless
    another worker has claimed it since (lease expired)."""
    await conn.execute(
        "UPDATE webhook_deliveries SET next_attempt_at = coalesce($3, next_attempt_at),"
        " last_error = $4, status = CASE WHEN $3::timestamptz IS NULL THEN 'failed'"
        " ELSE 'pending' END WHERE id = $1 AND attempts = $2 AND status = 'pending'",
        delivery_id,
        attempts,
        retry_at,
        error,
    )
