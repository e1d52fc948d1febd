"""The v1 route table: one list both the router and /openapi.json are built from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pydantic
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from accounting_api import __version__
from accounting_api.routes import ledger, models, ops, support, tenancy


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: support.Handler
    summary: str
    status: int = 200
    body: type[pydantic.BaseModel] | None = None
    query: type[pydantic.BaseModel] | None = None
    response: type[pydantic.BaseModel] | None = None
    auth: bool = True
    tag: str = "ledger"


def _list(model: type[pydantic.BaseModel]) -> type[pydantic.BaseModel]:
    return models.ListOut[model]  # type: ignore[valid-type]


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST",
        "/v1/organizations",
        tenancy.sign_up,
        "Sign up: an organization and its owner",
        201,
        models.SignUpIn,
        None,
        models.OrganizationOut,
        auth=False,
        tag="tenancy",
    ),
    Endpoint(
        "POST",
        "/v1/auth/token",
        tenancy.issue_token,
        "Exchange email and password for a token",
        200,
        models.TokenIn,
        None,
        models.TokenOut,
        auth=False,
        tag="tenancy",
    ),
    Endpoint(
        "POST",
        "/v1/users",
        tenancy.create_user,
        "Add a user (admin or owner)",
        201,
        models.UserIn,
        None,
        models.UserOut,
        tag="tenancy",
    ),
    Endpoint(
        "GET",
        "/v1/users",
        tenancy.list_users,
        "List users",
        200,
        None,
        models.ListQuery,
        _list(models.UserOut),
        tag="tenancy",
    ),
    Endpoint(
        "POST",
        "/v1/accounts",
        ledger.create_account,
        "Create an account",
        201,
        models.AccountIn,
        None,
        models.AccountOut,
    ),
    Endpoint(
        "GET",
        "/v1/accounts",
        ledger.list_accounts,
        "List the chart of accounts by code",
        200,
        None,
        models.ListQuery,
        _list(models.AccountOut),
    ),
    Endpoint(
        "GET",
        "/v1/accounts/{id}",
        ledger.get_account,
        "Retrieve an account",
        200,
        None,
        None,
        models.AccountOut,
    ),
    Endpoint(
        "GET",
        "/v1/accounts/{id}/balance",
        ledger.account_balance,
        "An account's balance as of a date",
        200,
        None,
        models.BalanceQuery,
        models.BalanceOut,
    ),
    Endpoint(
        "POST",
        "/v1/journal-entries",
        ledger.create_entry,
        "Post a balanced journal entry",
        201,
        models.EntryIn,
        None,
        models.EntryOut,
    ),
    Endpoint(
        "GET",
        "/v1/journal-entries",
        ledger.list_entries,
        "List journal entries, newest first",
        200,
        None,
        models.ListQuery,
        _list(models.EntryOut),
    ),
    Endpoint(
        "POST",
        "/v1/journal-entries/batch",
        ledger.create_batch,
        "Post up to 1,000 entries, all or nothing",
        201,
        models.BatchIn,
        None,
        _list(models.EntryOut),
    ),
    Endpoint(
        "GET",
        "/v1/journal-entries/{id}",
        ledger.get_entry,
        "Retrieve a journal entry",
        200,
        None,
        None,
        models.EntryOut,
    ),
    Endpoint(
        "POST",
        "/v1/journal-entries/{id}/reverse",
        ledger.reverse_entry,
        "Post the reversal of an entry (once)",
        201,
        models.ReverseIn,
        None,
        models.EntryOut,
    ),
    Endpoint(
        "GET",
        "/health",
        ops.health,
        "Health of the API and each dependency",
        auth=False,
        tag="operations",
    ),
    Endpoint(
        "GET",
        "/ready",
        ops.ready,
        "Readiness: database reachable, schema current",
        auth=False,
        tag="operations",
    ),
    Endpoint("GET", "/metrics", ops.metrics, "Prometheus metrics", auth=False, tag="operations"),
)


def _operation(endpoint: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    def ref(model: type[pydantic.BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    op: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": endpoint.handler.__name__,
        "tags": [endpoint.tag],
        "responses": {
            str(endpoint.status): {
                "description": "OK",
                "content": {"application/json": {"schema": ref(endpoint.response)}}
                if endpoint.response
                else {},
            },
            "default": {
                "description": "An RFC 9457 problem",
                "content": {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            },
        },
    }
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _path_params(endpoint.path)
    ]
    if endpoint.query is not None:
        for name, field in endpoint.query.model_fields.items():
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": field.is_required(),
                    "schema": {"type": "string"},
                    "description": field.description or "",
                }
            )
    if endpoint.method == "POST":
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 255},
            }
        )
    if params:
        op["parameters"] = params
    if endpoint.body is not None:
        op["requestBody"] = {
            "required": endpoint.body is not models.ReverseIn,
            "content": {"application/json": {"schema": ref(endpoint.body)}},
        }
    if endpoint.auth:
        op["security"] = [{"bearer": []}]
    return op


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "param": {"type": "string"},
        "request_id": {"type": "string"},
    },
}


def openapi_document() -> dict[str, Any]:
    schemas: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Universal Accounting API", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


async def openapi(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


def starlette_routes() -> list[Route]:
    routes = [
        Route(e.path, support.authenticated(e.handler) if e.auth else e.handler, methods=[e.method])
        for e in ENDPOINTS
    ]
    routes.append(Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False))
    return routes
