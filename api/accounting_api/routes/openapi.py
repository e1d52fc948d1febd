"""The OpenAPI document, built from the same endpoint table as the router."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pydantic
from pydantic import json_schema
from pydantic.json_schema import JsonSchemaMode

from accounting_api import __version__
from accounting_api.domain import reports
from accounting_api.domain.roles import Role
from accounting_api.http import idempotency
from accounting_api.routes.support import Handler, Prepare


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    status: int = 200
    body: type[pydantic.BaseModel] | None = None
    query: type[pydantic.BaseModel] | None = None
    response: type[pydantic.BaseModel] | None = None
    auth: bool = True
    tag: str = "ledger"
    body_required: bool = True
    role: Role | None = None
    """The least role that may call it, checked before anything else (an
    Idempotency-Key's stored answer included); None: any member, or no one for
    auth=False. The use case checks it again."""
    own_transactions: bool = False
    """The handler runs short transactions of its own (db.own_transactions) instead of a
    unit of work: the token endpoint, which must not hold a pool connection through its
    password check (a flood of sign-ins would starve every write)."""
    idempotent: bool = True
    """A POST takes an Idempotency-Key (its answer stored and replayed); False: the
    header is ignored and not documented (the token endpoint: a token answer is never
    stored, and asking again is already safe)."""
    enrolment: bool = False
    """Open to a token restricted to two-factor enrolment (docs/two-factor.md); every
    other endpoint refuses one with 403 two_factor_enrolment_required."""
    prepare: Prepare | None = None
    """Run after the role check and before the unit of work takes its pool connection,
    leaving its result in the request's state for the handler: work that would otherwise
    hold the connection idle (sign-up's count against its limits and hash of the new
    password, which a flood of sign-ups would turn into starved writes). It may refuse
    the request past a limit (429, before anything is read or written) but leaves bad
    input to the handler, which refuses it in its unit of work as every endpoint does."""


REF = "#/components/schemas/{model}"


class SchemaNameClash(ValueError):
    """Two different schemas would be published under one name in components.schemas."""


class Components:
    """The document's components.schemas, filled as operations refer to models. A name
    names one schema only: the document keys schemas by name, so a second model of the
    same name would silently describe the first one's endpoints."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}

    def ref(self, model: type[pydantic.BaseModel], mode: JsonSchemaMode) -> dict[str, str]:
        """A reference to `model` (a request body in validation mode, a response in
        serialization mode), its schema and those it uses added."""
        refs, top = json_schema.models_json_schema([(model, mode)], ref_template=REF)
        self.add(top.get("$defs", {}))
        return {"$ref": refs[(model, mode)]["$ref"]}

    def query(self, model: type[pydantic.BaseModel]) -> dict[str, Any]:
        """The schema of each query parameter of `model`, by name (alias)."""
        schema = model.model_json_schema(ref_template=REF)
        self.add(schema.get("$defs", {}))
        return {name: _parameter_schema(field) for name, field in schema["properties"].items()}

    def add(self, schemas: dict[str, Any]) -> None:
        for name, schema in schemas.items():
            taken = self.schemas.setdefault(name, schema)
            if taken != schema:
                raise SchemaNameClash(
                    f"two different schemas are named {name!r} (properties"
                    f" {sorted(taken.get('properties', {}))} and"
                    f" {sorted(schema.get('properties', {}))}): rename one of the models"
                )


def _parameter_schema(field: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: an optional one is left out, never sent as null."""
    schema = {k: v for k, v in field.items() if k not in {"anyOf", "title", "description"}}
    branches = [b for b in field.get("anyOf", []) if b != {"type": "null"}]
    if len(branches) == 1:
        schema |= branches[0]
    elif branches:
        schema["anyOf"] = branches
    if "default" in schema and schema["default"] is None:
        del schema["default"]
    return schema


def _operation(endpoint: Endpoint, components: Components) -> dict[str, Any]:
    response = (
        {"application/json": {"schema": components.ref(endpoint.response, "serialization")}}
        if endpoint.response
        else {}
    )
    op: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": endpoint.handler.__name__,
        "tags": [endpoint.tag],
        "responses": {
            str(endpoint.status): {"description": "OK", "content": response},
            "default": {
                "description": "An RFC 9457 problem",
                "content": {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            },
        },
    }
    params = _parameters(endpoint, components)
    if params:
        op["parameters"] = params
    if endpoint.body is not None:
        op["requestBody"] = {
            "required": endpoint.body_required,
            "content": {
                "application/json": {"schema": components.ref(endpoint.body, "validation")}
            },
        }
    if endpoint.auth:
        op["security"] = [{"bearer": []}]
    if endpoint.role is not None:
        op["x-required-role"] = endpoint.role.value
    return op


PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "period": {"type": "string", "pattern": reports.MONTH_PATTERN, "description": "YYYY-MM"},
}
"""Path parameters of a known shape; any other is an opaque id string."""

IDEMPOTENCY_KEY = {
    "type": "string",
    "minLength": 1,
    "maxLength": idempotency.MAX_KEY_LENGTH,
    "pattern": "^[!-~]([ -~]*[!-~])?$",
    "description": "Printable ASCII (HTTP trims a header's surrounding spaces).",
}


def _parameters(endpoint: Endpoint, components: Components) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": PATH_PARAMETERS.get(name, {"type": "string"}),
        }
        for name in _path_params(endpoint.path)
    ]
    if endpoint.query is not None:
        schemas = components.query(endpoint.query)
        for name, field in endpoint.query.model_fields.items():
            alias = field.alias or name
            params.append(
                {
                    "name": alias,
                    "in": "query",
                    "required": field.is_required(),
                    "schema": schemas[alias],
                    "description": field.description or "",
                }
            )
    if endpoint.method == "POST" and endpoint.idempotent:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": IDEMPOTENCY_KEY,
            }
        )
    return params


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


def document(endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of these endpoints (so it matches the routes served)."""
    components = Components()
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        operation = _operation(endpoint, components)
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Universal Accounting API",
            "version": __version__,
            "description": "Bodies are JSON (Content-Type: application/json); an integer"
            " is a JSON integer (100, never 100.0).",
        },
        "paths": paths,
        "components": {
            "schemas": components.schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
