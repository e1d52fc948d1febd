"""The audit trail: the endpoint table."""

from __future__ import annotations

from accounting_api.routes import schemas as common
from accounting_api.routes.audit import handlers, schemas
from accounting_api.routes.openapi import Endpoint

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/v1/audit-events",
        handlers.list_events,
        "List audit events, newest first (admin or owner)",
        200,
        None,
        schemas.AuditEventListQuery,
        common.list_of(schemas.AuditEventOut),
        tag="audit",
    ),
    Endpoint(
        "GET",
        "/v1/audit-events/verify",
        handlers.verify,
        "Recompute the audit hash chain and name its first broken link (admin or owner)",
        200,
        None,
        None,
        schemas.VerificationOut,
        tag="audit",
    ),
)
