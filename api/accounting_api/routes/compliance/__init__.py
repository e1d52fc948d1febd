"""The compliance report: the endpoint table."""

from __future__ import annotations

from accounting_api.domain.roles import Role
from accounting_api.routes.compliance import handlers, schemas
from accounting_api.routes.openapi import Endpoint

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/v1/compliance-report",
        handlers.get_report,
        "The compliance report (admin or owner): every control PASS, FAIL or NOT_APPLICABLE,"
        " computed now from live evidence",
        200,
        None,
        None,
        schemas.ComplianceReportOut,
        tag="security",
        role=Role.ADMIN,
    ),
)
