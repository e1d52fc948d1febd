"""The audit hook every mutating endpoint runs through, and the audit-event endpoints.

A POST/PATCH/DELETE runs in one unit of work (routes/work.py); after a 2xx answer,
`record` records the objects it returned as audit events in that same transaction (one
statement, unlinked: the chain links it later), so an event exists exactly when its
change committed. The object's
state reference is the sha256 of the JSON representation the client received.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from accounting_api.domain import audit
from accounting_api.routes import audit_models as am
from accounting_api.routes import models, support
from accounting_api.routes.openapi import Endpoint
from accounting_api.services import audit as audit_service
from accounting_api.services.ports import Unit

NOT_AUDITED = frozenset({("POST", "/v1/auth/token")})
"""Mutating methods that change nothing (issuing a token)."""

ACTIONS: dict[tuple[str, str], str] = {
    ("PATCH", "/v1/organization"): "updated",
    ("POST", "/v1/journal-entries/batch"): "created",
    ("POST", "/v1/journal-entries/{id}/reverse"): "reversal_posted",
    ("POST", "/v1/invoices/{id}/lines"): "line_added",
    ("DELETE", "/v1/invoices/{id}/lines/{line_id}"): "line_removed",
    ("POST", "/v1/invoices/{id}/finalize"): "finalized",
    ("POST", "/v1/invoices/{id}/void"): "voided",
    ("POST", "/v1/invoices/{id}/mark-uncollectible"): "marked_uncollectible",
    ("POST", "/v1/invoices/{id}/apply-credit"): "credit_applied",
    ("POST", "/v1/customers/{id}/archive"): "archived",
    ("POST", "/v1/periods/{period}/close"): "closed",
    ("POST", "/v1/periods/{period}/reopen"): "reopened",
    ("POST", "/v1/webhook-endpoints/{id}/disable"): "disabled",
    ("POST", "/v1/webhook-endpoints/{id}/enable"): "enabled",
    ("POST", "/v1/webhook-deliveries/{id}/retry"): "retried",
}
"""The verb of an endpoint's action when the path alone does not say 'created'."""


def verb(method: str, path: str) -> str:
    """What an endpoint does to the object it returns, e.g. 'finalized'."""
    known = ACTIONS.get((method, path))
    if known is not None:
        return known
    last = path.rstrip("/").rsplit("/", 1)[-1]
    if method == "DELETE":
        return "deleted"
    if last.startswith("{") or "{" not in path:
        return "created"
    return last.replace("-", "_")


def audited(method: str, path: str) -> bool:
    return method in {"POST", "PATCH", "DELETE"} and (method, path) not in NOT_AUDITED


def changes(
    method: str, path: str, representation: Any, target_id: str | None
) -> list[audit.Change]:
    """One change per object in a response body (each item of a list)."""
    if not isinstance(representation, dict):
        return []
    items = (
        representation.get("data", [])
        if representation.get("object") == "list"
        else [representation]
    )
    found = []
    for item in items:
        if not isinstance(item, dict) or "object" not in item:
            continue
        object_id = item.get("id") or item.get("period")
        if not object_id:
            continue
        found.append(
            audit.Change(
                f"{item['object']}.{verb(method, path)}",
                str(item["object"]),
                str(object_id),
                audit.state_sha256(item),
                target_id if target_id != object_id else None,
            )
        )
    return found


async def record(request: Request, endpoint: Endpoint, response: Response, unit: Unit) -> None:
    """Record the audit events of a write's answer, last in its unit of work."""
    representation = json.loads(bytes(response.body))
    target = request.path_params.get("id") or request.path_params.get("period")
    method, path = endpoint.method, endpoint.path
    found = changes(method, path, representation, str(target) if target else None)
    for also_method, also_path, also in request.scope.get("state", {}).get(support.AUDIT_ALSO, []):
        found += changes(also_method, also_path, also, None)
    principal = request.scope.get("state", {}).get("principal")
    if principal is not None:
        org, actor = principal.organization_id, principal.user_id
    elif representation.get("object") == "organization":
        org, actor = representation["id"], representation.get("owner", {}).get("id")
    else:
        return
    await audit_service.record(
        unit,
        organization_id=org,
        actor_user_id=actor,
        request_id=support.request_id(request),
        changes=found,
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
