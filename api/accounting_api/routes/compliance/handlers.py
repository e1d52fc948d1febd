"""The compliance report (admin or owner)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from accounting_api.routes import support
from accounting_api.routes.compliance import schemas
from accounting_api.services import compliance


async def get_report(request: Request) -> Response:
    routes = {
        f"{method} {route.path}"
        for route in request.app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
    }
    report = await compliance.report(
        support.db(request),
        support.principal(request),
        compliance.protection(support.deps(request).settings),
        routes,
    )
    return support.json(schemas.report_out(report))
