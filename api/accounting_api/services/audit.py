"""The audit trail: record a request's changes in its transaction, list them, verify the chain.

Design: each change's events are appended in the same transaction as the change, as
its last statement (the route layer runs a mutating request in one unit of work and
records after the use case returns). The append takes a per-organization advisory
lock held only until the commit that follows, so concurrent writers of an
organization serialize for that short tail, never for their whole transaction, and
the chain's order is the commit order. Reading audit events needs the admin role:
they name every user's actions across the organization.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from accounting_api.db import audit as audit_db
from accounting_api.db.connection import Database
from accounting_api.domain import audit, ids
from accounting_api.domain.roles import Principal, Role

READ_ROLE = Role.ADMIN


@dataclass(frozen=True, slots=True)
class Verification:
    valid: bool
    events_checked: int
    first_broken: audit.Broken | None


@asynccontextmanager
async def unit_of_work(db: Database) -> AsyncIterator[None]:
    """One transaction for a whole request: its use cases and then its audit events."""
    async with db.unit_of_work():
        yield


async def record(
    db: Database,
    *,
    organization_id: str,
    actor_user_id: str | None,
    request_id: str | None,
    changes: Sequence[audit.Change],
) -> list[audit.Event]:
    """Append one event per change; call last, inside the change's unit of work."""
    if not changes:
        return []
    occurred_at = datetime.datetime.now(datetime.UTC)
    async with db.transaction(organization_id) as conn:
        states = await audit_db.latest_states(conn, [c.object_id for c in changes])
        events = []
        for change in changes:
            event_id = ids.new_id("aud")
            before = states.get(change.object_id)
            content = audit.content_sha256(
                id=event_id,
                organization_id=organization_id,
                actor_user_id=actor_user_id,
                request_id=request_id,
                occurred_at=occurred_at,
                change=change,
                before_sha256=before,
            )
            events.append(audit_db.NewEvent(event_id, change, before, content))
            states[change.object_id] = change.after_sha256
        return await audit_db.append(
            conn,
            events,
            actor_user_id=actor_user_id,
            request_id=request_id,
            occurred_at=occurred_at,
        )


async def list_events(
    db: Database,
    principal: Principal,
    *,
    limit: int,
    starting_after: str | None,
    action: str | None,
    object_id: str | None,
) -> list[audit.Event]:
    principal.require(READ_ROLE)
    async with db.transaction(principal.organization_id) as conn:
        return await audit_db.list_events(
            conn, limit=limit, before=starting_after, action=action, object_id=object_id
        )


async def verify(db: Database, principal: Principal) -> Verification:
    """Recompute the organization's chain from its first event; stop at the first break."""
    principal.require(READ_ROLE)
    checked, prev_hash = 0, audit.GENESIS
    async with db.transaction(principal.organization_id) as conn:
        async for event in audit_db.scan(conn):
            broken = audit.check_link(event, expected_seq=checked + 1, prev_hash=prev_hash)
            checked += 1
            if broken is not None:
                return Verification(False, checked, broken)
            prev_hash = event.hash
    return Verification(True, checked, None)
