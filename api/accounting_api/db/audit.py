"""SQL for the audit trail: append to the chain, look up prior states, list and scan."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import asyncpg

from accounting_api.db.connection import Connection
from accounting_api.domain import audit

_COLUMNS = (
    "id, organization_id, seq, actor_user_id, action, object_type, object_id, target_id,"
    " request_id, before_sha256, after_sha256, occurred_at, prev_hash, hash"
)


@dataclass(frozen=True, slots=True)
class NewEvent:
    id: str
    change: audit.Change
    before_sha256: str | None
    content_sha256: str


def _event(row: asyncpg.Record) -> audit.Event:
    return audit.Event(**dict(row))


async def latest_states(conn: Connection, object_ids: Sequence[str]) -> dict[str, str | None]:
    """The after-state reference of the latest event on each object that has one."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (object_id) object_id, after_sha256 FROM audit_events"
        " WHERE organization_id = app_current_org() AND object_id = ANY($1::text[])"
        " ORDER BY object_id, seq DESC",
        list(set(object_ids)),
    )
    return {row["object_id"]: row["after_sha256"] for row in rows}


async def append(
    conn: Connection,
    events: Sequence[NewEvent],
    *,
    actor_user_id: str | None,
    request_id: str | None,
    occurred_at: datetime.datetime,
) -> list[audit.Event]:
    """Link events after the chain's head; holds the chain's lock until commit."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM append_audit_events($1, $2, $3, $4::text[], $5::text[],"
        " $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])",
        actor_user_id,
        request_id,
        occurred_at,
        [e.id for e in events],
        [e.change.action for e in events],
        [e.change.object_type for e in events],
        [e.change.object_id for e in events],
        [e.change.target_id for e in events],
        [e.before_sha256 for e in events],
        [e.change.after_sha256 for e in events],
        [e.content_sha256 for e in events],
    )
    return [_event(row) for row in rows]


async def list_events(
    conn: Connection,
    *,
    limit: int,
    before: str | None,
    action: str | None,
    object_id: str | None,
) -> list[audit.Event]:
    """Newest first; `before` is the id of the event the previous page ended with."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM audit_events"
        " WHERE organization_id = app_current_org()"
        " AND ($1::text IS NULL OR seq < (SELECT seq FROM audit_events"
        "      WHERE organization_id = app_current_org() AND id = $1))"
        " AND ($2::text IS NULL OR action = $2) AND ($3::text IS NULL OR object_id = $3)"
        " ORDER BY seq DESC LIMIT $4",
        before,
        action,
        object_id,
        limit,
    )
    return [_event(row) for row in rows]


async def scan(conn: Connection, *, batch: int = 1000) -> AsyncIterator[audit.Event]:
    """Every event of the tenant in chain order, fetched a batch at a time."""
    after = 0
    while True:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM audit_events"
            " WHERE organization_id = app_current_org() AND seq > $1 ORDER BY seq LIMIT $2",
            after,
            batch,
        )
        for row in rows:
            yield _event(row)
        if len(rows) < batch:
            return
        after = rows[-1]["seq"]
