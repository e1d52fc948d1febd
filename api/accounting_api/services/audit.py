"""The audit trail: record a request's changes in its transaction, list them, verify the chain.

Design: record now, link later. Each change's events are recorded in the same
transaction as the change, as its last statement (the route layer runs a mutating
request in one unit of work and records after the use case returns), unlinked and
without any lock, so writers of an organization never wait on each other's commits.
Linking (link_pending: the worker's pass, and verify before it checks) takes the
organization's chain lock in a short transaction of its own and links its committed
unlinked events in (occurred_at, id) order. The chain's order is the link order: an
event whose transaction commits after a pass is linked by a later one, after events
that occurred later. Reading audit events needs the admin role:
they name every user's actions across the organization.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeAlias, TypeVar

from accounting_api.db import audit as audit_db
from accounting_api.db.connection import Database
from accounting_api.domain import audit, ids
from accounting_api.domain.roles import Principal, Role
from accounting_api.services.ports import Transactions, Unit

READ_ROLE = Role.ADMIN


@dataclass(frozen=True, slots=True)
class Verification:
    valid: bool
    events_checked: int
    first_broken: audit.Broken | None


P = ParamSpec("P")
R = TypeVar("R")
UseCase: TypeAlias = Callable[Concatenate[Unit, P], Awaitable[R]]


def records(
    object_type: str, verb: str, *, state: Callable[[Any], Any] | None = None
) -> Callable[[UseCase[P, R]], UseCase[P, R]]:
    """Declare what a write use case changes: each object it returns (each item of a
    list) is recorded as `<object_type>.<verb>` in its unit of work, with its state
    (through `state`, e.g. to leave a secret out; a deleted object has none)."""

    def declare(use_case: UseCase[P, R]) -> UseCase[P, R]:
        @functools.wraps(use_case)
        async def recorded(db: Unit, /, *args: P.args, **kwargs: P.kwargs) -> R:
            result = await use_case(db, *args, **kwargs)
            for item in result if isinstance(result, list) else [result]:
                after = state(item) if state is not None else item
                change = audit.changed(object_type, verb, after)
                if verb == "deleted":
                    change = dataclasses.replace(change, after_sha256=None)
                db.changed(change)
            return result

        return recorded

    return declare


async def record(
    unit: Unit,
    *,
    organization_id: str,
    actor_user_id: str | None,
    request_id: str | None,
    changes: Sequence[audit.Change],
    at_commit: bool = False,
) -> None:
    """Record one unlinked event per change, last in the change's unit of work.

    One statement, no lock: the events commit (or roll back) with the change, and a
    linking pass puts them in the chain later. With `at_commit` (the unit's last
    statement), it is sent in COMMIT's round trip when its values need no quoting (ids,
    actions, digests do), which saves each write request a round trip.
    """
    if not changes:
        return
    occurred_at = datetime.datetime.now(datetime.UTC)
    # Ids sort in the order of the changes, which is then the order they link in.
    event_ids = sorted(ids.new_ids("aud", len(changes)))
    events = [audit_db.NewEvent(i, c) for i, c in zip(event_ids, changes, strict=True)]
    args = audit_db.record_args(
        organization_id,
        events,
        actor_user_id=actor_user_id,
        request_id=request_id,
        occurred_at=occurred_at,
    )
    statement = audit_db.record_literal(args) if at_commit else None
    if statement is not None:
        unit.at_commit(statement)
    else:
        await unit.conn.execute(audit_db.RECORD_SQL, *args)


LINK_BATCH_SIZE = 1000
"""Events linked per transaction (each holds the organization's chain lock)."""


async def link_pending(db: Transactions, organization_id: str) -> int:
    """Link every committed unlinked event of the organization, a batch per transaction."""
    linked = 0
    while True:
        async with db.transaction(organization_id) as conn:
            batch = await audit_db.link(conn, organization_id, LINK_BATCH_SIZE)
        linked += batch
        if batch < LINK_BATCH_SIZE:
            return linked


async def link_all(db: Database) -> int:
    """Link the pending events of every organization that has some (the worker's job)."""
    async with db.transaction(None) as conn:
        organizations = await audit_db.organizations_with_unlinked(conn)
    linked = 0
    for organization_id in organizations:
        linked += await link_pending(db, organization_id)
    return linked


async def list_events(
    db: Transactions,
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


async def verify(db: Transactions, principal: Principal) -> Verification:
    """Link the organization's pending events, then recompute its chain from the first
    event; stop at the first break. Covers every event committed before the call."""
    principal.require(READ_ROLE)
    await link_pending(db, principal.organization_id)
    checked, prev_hash = 0, audit.GENESIS
    async with db.transaction(principal.organization_id) as conn:
        async for event in audit_db.scan(conn):
            broken = audit.check_link(event, expected_seq=checked + 1, prev_hash=prev_hash)
            checked += 1
            if broken is not None:
                return Verification(False, checked, broken)
            prev_hash = event.hash or audit.GENESIS  # linked: check_link checked it
    return Verification(True, checked, None)
