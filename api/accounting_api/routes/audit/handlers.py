"""The audit trail: list its events and verify its hash chain (admin or owner)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from accounting_api.domain import audit
from accounting_api.routes import schemas as common
from accounting_api.routes import support
from accounting_api.routes.audit import schemas as am
from accounting_api.services import audit as audit_service


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
    out = common.ListOut[am.AuditEventOut](
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
