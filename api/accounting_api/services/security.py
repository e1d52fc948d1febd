"""Security events: recorded per organization (GET /v1/security-events, owners and
admins) and written as one JSON log line each, with `event` and `severity`.

An event about a change (a role, a removal, a password) is recorded in the change's unit
of work: it commits with the change or not at all. An event about a refusal (a failed
sign-in, an ended token) is recorded in a transaction of its own, because the refused
request's own transaction rolls back: once the request's unit of work has ended (an
ended token), or kept by that unit (Unit.keep: a wrong password or code), which writes it
on the request's one connection after its transaction has ended."""

from __future__ import annotations

import datetime
import logging

from accounting_api import metrics
from accounting_api.db import security as security_db
from accounting_api.domain import ids, security
from accounting_api.domain.roles import Principal, Role
from accounting_api.services.ports import Transactions

log = logging.getLogger("accounting_api.security")

READ_ROLE = Role.ADMIN

_LEVEL = {
    security.Severity.INFO: logging.INFO,
    security.Severity.WARNING: logging.WARNING,
    security.Severity.CRITICAL: logging.CRITICAL,
}


async def record(db: Transactions, event: security.NewEvent) -> None:
    """Store the event (under its organization, if it has one) and log it."""
    async with db.transaction(event.organization_id) as conn:
        await security_db.insert(conn, ids.new_id("sev"), event)
    metrics.SECURITY_EVENTS.labels(event.kind.value, event.kind.severity.value).inc()
    log.log(
        _LEVEL[event.kind.severity],
        "security event",
        extra={
            "event": event.kind.value,
            "severity": event.kind.severity.value,
            "organization_id": event.organization_id,
            "user_id": event.user_id,
            "client_ip": event.origin.client_ip,
            "request_id": event.origin.request_id,
            "detail": event.detail,
        },
    )


async def list_events(
    db: Transactions,
    principal: Principal,
    *,
    limit: int,
    starting_after: str | None,
    event: str | None = None,
    severity: str | None = None,
    user_id: str | None = None,
    since: datetime.datetime | None = None,
) -> list[security.Event]:
    principal.require(READ_ROLE)
    async with db.transaction(principal.organization_id) as conn:
        return await security_db.list_events(
            conn,
            limit=limit,
            before=starting_after,
            event=event,
            severity=severity,
            user_id=user_id,
            since=since,
        )
