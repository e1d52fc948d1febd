"""The v1 route table: one list both the router and /openapi.json are built from."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from accounting_api.routes import (
    audit,
    billing,
    credit_notes,
    ledger,
    ops,
    payments,
    reports,
    security,
    tenancy,
    webhooks,
    work,
)
from accounting_api.routes import openapi as openapi_spec
from accounting_api.routes.openapi import Endpoint

ENDPOINTS: tuple[Endpoint, ...] = (
    *tenancy.ENDPOINTS,
    *ledger.ENDPOINTS,
    *billing.ENDPOINTS,
    *payments.ENDPOINTS,
    *reports.ENDPOINTS,
    *credit_notes.ENDPOINTS,
    *audit.ENDPOINTS,
    *security.ENDPOINTS,
    *ops.ENDPOINTS,
    *webhooks.ENDPOINTS,
)


def openapi_document() -> dict[str, Any]:
    return openapi_spec.document(ENDPOINTS)


async def openapi(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


def starlette_routes() -> list[Route]:
    routes = [Route(e.path, work.handler(e), methods=[e.method]) for e in ENDPOINTS]
    routes.append(Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False))
    return routes
