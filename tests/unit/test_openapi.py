"""The OpenAPI document: one schema per name, and query parameters typed as the query
models that parse them."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from starlette.requests import Request
from starlette.responses import Response

from accounting_api.domain import reports
from accounting_api.routes import openapi, openapi_document


async def _handler(request: Request) -> Response:
    return Response()


def test_two_different_models_of_one_name_fail_the_document_build() -> None:
    first = pydantic.create_model("PeriodOut", start=(str, ...))
    second = pydantic.create_model("PeriodOut", period=(str, ...), status=(str, ...))
    endpoints = [
        openapi.Endpoint("GET", "/a", _handler, "A", response=first),
        openapi.Endpoint("GET", "/b", _handler, "B", response=second),
    ]
    with pytest.raises(openapi.SchemaNameClash, match="'PeriodOut'"):
        openapi.document(endpoints)


def test_every_schema_name_is_a_valid_component_name() -> None:
    # OpenAPI 3.1: component names match ^[a-zA-Z0-9.\-_]+$ (no generic brackets).
    names = DOCUMENT["components"]["schemas"]
    assert all(name.replace(".", "").replace("-", "").replace("_", "").isalnum() for name in names)


DOCUMENT = openapi_document()


def _parameter(path: str, name: str) -> dict[str, Any]:
    operation = DOCUMENT["paths"][path]["get"]
    (found,) = [p for p in operation["parameters"] if p["name"] == name]
    return dict(found)


def _schema(parameter: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = parameter["schema"]
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = DOCUMENT["components"]["schemas"][name]
    return schema


@pytest.mark.parametrize(
    ("path", "name", "required", "expected"),
    [
        ("/v1/accounts", "limit", False, {"type": "integer", "minimum": 1, "maximum": 100}),
        ("/v1/accounts", "starting_after", False, {"type": "string", "maxLength": 64}),
        ("/v1/accounts/{id}/balance", "as_of", False, {"type": "string", "format": "date"}),
        ("/v1/reports/trial-balance", "as_of", False, {"type": "string", "format": "date"}),
        ("/v1/reports/income-statement", "from", True, {"type": "string", "format": "date"}),
        ("/v1/reports/income-statement", "to", True, {"type": "string", "format": "date"}),
        ("/v1/customers", "archived", False, {"type": "boolean"}),
        (
            "/v1/invoices",
            "status",
            False,
            {"enum": ["draft", "open", "paid", "void", "uncollectible"]},
        ),
        (
            "/v1/webhook-endpoints/{id}/deliveries",
            "status",
            False,
            {"enum": ["pending", "delivered", "failed"]},
        ),
        (
            "/v1/webhook-endpoints/{id}/deliveries",
            "starting_after",
            False,
            {"type": "string", "pattern": "^whd_[0-9a-f]{32}$"},
        ),
    ],
)
def test_query_parameters_are_documented_with_their_type_format_and_bounds(
    path: str, name: str, required: bool, expected: dict[str, Any]
) -> None:
    parameter = _parameter(path, name)
    assert parameter["required"] is required
    schema = _schema(parameter)
    assert {k: schema.get(k) for k in expected} == expected
    assert "null" not in str(parameter["schema"])  # left out, never sent as null


def test_a_period_in_a_path_is_documented_as_a_month() -> None:
    operation = DOCUMENT["paths"]["/v1/periods/{period}/close"]["post"]
    (period,) = [p for p in operation["parameters"] if p["in"] == "path"]
    assert period["schema"]["pattern"] == reports.MONTH_PATTERN
