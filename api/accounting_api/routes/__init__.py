"""The v1 route table: one list both the router and /openapi.json are built from."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from accounting_api.routes import (
    audit,
    billing,
    compliance,
    credit_notes,
    ledger,
    openapi,
    ops,
    payments,
    reports,
    security,
    tenancy,
    two_factor,
    webhooks,
    work,
)
from accounting_api.routes.openapi import Endpoint
from accounting_api.routes.support import Handler

ENDPOINTS: tuple[Endpoint, ...] = (
    *tenancy.ENDPOINTS,
    *two_factor.ENDPOINTS,
    *ledger.ENDPOINTS,
    *billing.ENDPOINTS,
    *payments.ENDPOINTS,
    *reports.ENDPOINTS,
    *credit_notes.ENDPOINTS,
    *audit.ENDPOINTS,
    *security.ENDPOINTS,
    *compliance.ENDPOINTS,
    *ops.ENDPOINTS,
    *webhooks.ENDPOINTS,
)


def openapi_document() -> dict[str, Any]:
    return openapi.document(ENDPOINTS)


async def openapi_json(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


class _PathRoute(Route):
    """Every method served at one path: a 405 answer's Allow header names them all."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            raise HTTPException(405, headers={"Allow": ", ".join(sorted(self.methods))})
        await super().handle(scope, receive, send)


def _by_method(handlers: dict[str, Handler]) -> Handler:
    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return dispatch


def starlette_routes() -> list[Route]:
    """One route per path (in the table's order), dispatching on the method."""
    paths: dict[str, dict[str, Handler]] = {}
    for e in ENDPOINTS:
        paths.setdefault(e.path, {})[e.method] = work.handler(e)
    routes: list[Route] = [
        _PathRoute(path, _by_method(handlers), methods=list(handlers))
        for path, handlers in paths.items()
    ]
    routes.append(Route("/openapi.json", openapi_json, methods=["GET"], include_in_schema=False))
    return routes
