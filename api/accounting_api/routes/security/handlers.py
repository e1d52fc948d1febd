"""Security events: list them (admin or owner)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from accounting_api.domain import security
from accounting_api.routes import support
from accounting_api.routes.security import schemas
from accounting_api.services import security as security_service


def event_out(event: security.Event) -> schemas.SecurityEventOut:
    return schemas.SecurityEventOut(
        id=event.id,
        event=event.event,
        severity=event.severity,
        user=event.user_id,
        client_ip=event.client_ip,
        request_id=event.request_id,
        detail=event.detail,
        occurred_at=event.occurred_at,
    )


async def list_events(request: Request) -> Response:
    page = support.query(request, schemas.SecurityEventListQuery)
    events = await security_service.list_events(
        support.db(request),
        support.principal(request),
        limit=page.limit + 1,
        starting_after=page.starting_after,
        event=page.event.value if page.event else None,
        severity=page.severity.value if page.severity else None,
        user_id=page.user,
        since=page.since,
    )
    return support.page(events, page.limit, event_out)
