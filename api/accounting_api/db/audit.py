"""SQL for the audit trail: record events unlinked, link them, list and scan."""

from __future__ import annotations

import datetime
import re
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


def _event(row: asyncpg.Record) -> audit.Event:
    return audit.Event(**dict(row))


RECORD_SQL = (
    "SELECT record_audit_events($1, $2, $3, $4, $5::text[], $6::text[], $7::text[],"
    " $8::text[], $9::text[], $10::text[])"
)


def record_args(
    organization_id: str,
    events: Sequence[NewEvent],
    *,
    actor_user_id: str | None,
    request_id: str | None,
    occurred_at: datetime.datetime,
) -> tuple[object, ...]:
    """The arguments of RECORD_SQL: events are recorded unlinked, in one statement."""
    return (
        organization_id,
        actor_user_id,
        request_id,
        occurred_at,
        [e.id for e in events],
        [e.change.action for e in events],
        [e.change.object_type for e in events],
        [e.change.object_id for e in events],
        [e.change.target_id for e in events],
        [e.change.after_sha256 for e in events],
    )


_PLAIN = re.compile(r"[A-Za-z0-9_.:+@-]*")
"""Characters that need no quoting or escaping in SQL text or an array literal."""


def record_literal(args: Sequence[object]) -> str | None:
    """RECORD_SQL with `args` (record_args) written into its text, to be sent in the
    same round trip as COMMIT (a simple query takes no parameters); None when a value
    is not plain (ids, actions, hex digests and times are), and the statement must
    then take them as parameters."""
    try:
        values = [_literal(value) for value in args]
    except _NotPlain:
        return None
    return f"SELECT record_audit_events({', '.join(values)})"


class _NotPlain(Exception):
    pass


def _literal(value: object) -> str:
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return f"'{_plain(value.isoformat())}'::timestamptz"
    if isinstance(value, list):
        items = ",".join("NULL" if item is None else f'"{_plain(item)}"' for item in value)
        return f"'{{{items}}}'::text[]"
    return "NULL" if value is None else f"'{_plain(value)}'"


def _plain(value: object) -> str:
    if isinstance(value, str) and _PLAIN.fullmatch(value):
        return value
    raise _NotPlain


async def link(conn: Connection, organization_id: str, limit: int) -> int:
    """Link up to limit of the tenant's committed unlinked events; holds the chain's
    lock until commit, so run it in a short transaction of its own."""
    linked = await conn.fetchval("SELECT link_audit_events($1, $2)", organization_id, limit)
    return int(linked)


async def organizations_with_unlinked(conn: Connection) -> list[str]:
    rows = await conn.fetch("SELECT organizations_with_unlinked_audit_events() AS id")
    return [row["id"] for row in rows]


async def list_events(
    conn: Connection,
    *,
    limit: int,
    before: str | None,
    action: str | None,
    object_id: str | None,
) -> list[audit.Event]:
    """Newest first by (occurred_at, id), linked or not; `before` is the id of the event
    the previous page ended with."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM audit_events"
        " WHERE organization_id = app_current_org()"
        " AND ($1::text IS NULL OR (occurred_at, id) < (SELECT occurred_at, id"
        "      FROM audit_events WHERE organization_id = app_current_org() AND id = $1))"
        " AND ($2::text IS NULL OR action = $2) AND ($3::text IS NULL OR object_id = $3)"
        " ORDER BY occurred_at DESC, id DESC LIMIT $4",
        before,
        action,
        object_id,
        limit,
    )
    return [_event(row) for row in rows]


async def scan(conn: Connection, *, batch: int = 1000) -> AsyncIterator[audit.Event]:
    """Every linked event of the tenant in chain order, fetched a batch at a time."""
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
