"""Operations: health, liveness, readiness and metrics: the endpoint table."""

from __future__ import annotations

from accounting_api.routes.openapi import Endpoint
from accounting_api.routes.ops import handlers

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/health",
        handlers.health,
        "Health of the API and each dependency",
        auth=False,
        tag="operations",
    ),
    Endpoint(
        "GET",
        "/health/live",
        handlers.live,
        "Liveness: the process answers (no dependency checked)",
        auth=False,
        tag="operations",
    ),
    Endpoint(
        "GET",
        "/ready",
        handlers.ready,
        "Readiness: database reachable, schema current",
        auth=False,
        tag="operations",
    ),
    Endpoint(
        "GET", "/metrics", handlers.metrics, "Prometheus metrics", auth=False, tag="operations"
    ),
)
