"""SQL for security events (0027_security_events.sql)."""

from __future__ import annotations

import datetime
import json

import asyncpg

from accounting_api.db.connection import Connection
from accounting_api.domain import security

_COLUMNS = "id, event, severity, user_id, client_ip, request_id, detail, occurred_at"


async def insert(conn: Connection, event_id: str, event: security.NewEvent) -> None:
    await conn.execute(
        "INSERT INTO security_events (id, organization_id, event, severity, user_id,"
        " client_ip, request_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
        event_id,
        event.organization_id,
        event.kind.value,
        event.kind.severity.value,
        event.user_id,
        event.origin.client_ip,
        event.origin.request_id,
        json.dumps(event.detail),
    )


def _event(row: asyncpg.Record) -> security.Event:
    return security.Event(
        row["id"],
        row["event"],
        security.Severity(row["severity"]),
        row["user_id"],
        row["client_ip"],
        row["request_id"],
        json.loads(row["detail"]),
        row["occurred_at"],
    )


async def list_events(
    conn: Connection,
    *,
    limit: int,
    before: str | None,
    event: str | None,
    severity: str | None,
    user_id: str | None,
    since: datetime.datetime | None,
) -> list[security.Event]:
    """The tenant's events, newest first (ids are time-ordered)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM security_events"
        " WHERE organization_id = app_current_org() AND ($1::text IS NULL OR id < $1)"
        " AND ($2::text IS NULL OR event = $2) AND ($3::text IS NULL OR severity = $3)"
        " AND ($4::text IS NULL OR user_id = $4)"
        " AND ($5::timestamptz IS NULL OR occurred_at >= $5)"
        " ORDER BY id DESC LIMIT $6",
        before,
        event,
        severity,
        user_id,
        since,
        limit,
    )
    return [_event(row) for row in rows]
