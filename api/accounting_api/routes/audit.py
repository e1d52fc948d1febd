"""The audit hook every mutating endpoint runs through, and the audit-event endpoints.

A POST/PATCH/DELETE runs in one unit of work (routes/work.py). Its use cases say what
they changed (typed records: `services.audit.records` on a use case, or
`Unit.changed`); after a 2xx answer, `record` writes them as audit events in that same
transaction (one statement, unlinked: the chain links it later), so an event exists
exactly when its change committed. An object's state reference is the sha256 of its
domain fields (domain/audit.py: changed).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from accounting_api.domain import audit
from accounting_api.routes import audit_models as am
from accounting_api.routes import models, support
from accounting_api.services import audit as audit_service
from accounting_api.services.ports import Unit


async def record(request: Request, unit: Unit) -> None:
    """Record what the use cases said they changed as audit events, last in the unit of
    work of a write that answered 2xx."""
    principal = request.scope.get("state", {}).get("principal")
    org = principal.organization_id if principal is not None else unit.tenant
    if not unit.changes or org is None:
        return
    await audit_service.record(
        unit,
        organization_id=org,
        actor_user_id=unit.actor,
        request_id=support.request_id(request),
        changes=unit.changes,
    )


def event_out(event: audit.Event) -> am.AuditEventOut:
    return am.AuditEventOut(
        id=event.id,
        seq=event.seq,
        actor=event.actor_user_id,
        action=event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        target_id=event.target_id,
        request_id=event.request_id,
        before_sha256=event.before_sha256,
        after_sha256=event.after_sha256,
        occurred_at=event.occurred_at,
        prev_hash=event.prev_hash,
        hash=event.hash,
    )


async def list_events(request: Request) -> Response:
    page = support.query(request, am.AuditEventListQuery)
    events = await audit_service.list_events(
        support.db(request),
        support.principal(request),
        limit=page.limit + 1,
        starting_after=page.starting_after,
        action=page.action,
        object_id=page.object_id,
    )
    out = models.ListOut[am.AuditEventOut](
        data=[event_out(e) for e in events[: page.limit]], has_more=len(events) > page.limit
    )
    return support.json(out)


async def verify(request: Request) -> Response:
    result = await audit_service.verify(support.db(request), support.principal(request))
    broken = result.first_broken
    out = am.VerificationOut(
        valid=result.valid,
        events_checked=result.events_checked,
        first_broken=am.BrokenLinkOut(id=broken.id, reason=broken.reason) if broken else None,
    )
    return support.json(out)
