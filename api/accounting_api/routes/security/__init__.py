"""Security events: the endpoint table."""

from __future__ import annotations

from accounting_api.domain.roles import Role
from accounting_api.routes import schemas as common
from accounting_api.routes.openapi import Endpoint
from accounting_api.routes.security import handlers, schemas

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/v1/security-events",
        handlers.list_events,
        "List security events, newest first (admin or owner): sign-ins, ended tokens, role"
        " and membership changes",
        200,
        None,
        schemas.SecurityEventListQuery,
        common.list_of(schemas.SecurityEventOut),
        tag="security",
        role=Role.ADMIN,
    ),
)
