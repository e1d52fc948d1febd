"""The v1 route table: one list both the router and /openapi.json are built from."""

from __future__ import annotations

from typing import Any

import pydantic
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from accounting_api.routes import billing, ledger, models, ops, support, tenancy
from accounting_api.routes import billing_models as bm
from accounting_api.routes import openapi as openapi_spec
from accounting_api.routes.openapi import Endpoint


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
        body_required=False,
    ),
    Endpoint(
        "POST",
        "/v1/customers",
        billing.create_customer,
        "Create a customer",
        201,
        bm.CustomerIn,
        None,
        bm.CustomerOut,
        tag="billing",
    ),
    Endpoint(
        "GET",
        "/v1/customers",
        billing.list_customers,
        "List customers, newest first",
        200,
        None,
        bm.CustomerListQuery,
        _list(bm.CustomerOut),
        tag="billing",
    ),
    Endpoint(
        "GET",
        "/v1/customers/{id}",
        billing.get_customer,
        "Retrieve a customer",
        200,
        None,
        None,
        bm.CustomerOut,
        tag="billing",
    ),
    Endpoint(
        "POST",
        "/v1/customers/{id}/archive",
        billing.archive_customer,
        "Archive a customer (no new invoices; never deleted)",
        200,
        None,
        None,
        bm.CustomerOut,
        tag="billing",
    ),
    Endpoint(
        "POST",
        "/v1/invoices",
        billing.create_invoice,
        "Create a draft invoice",
        201,
        bm.InvoiceIn,
        None,
        bm.InvoiceOut,
        tag="billing",
    ),
    Endpoint(
        "GET",
        "/v1/invoices",
        billing.list_invoices,
        "List invoices, newest first",
        200,
        None,
        bm.InvoiceListQuery,
        _list(bm.InvoiceOut),
        tag="billing",
    ),
    Endpoint(
        "GET",
        "/v1/invoices/{id}",
        billing.get_invoice,
        "Retrieve an invoice",
        200,
        None,
        None,
        bm.InvoiceOut,
        tag="billing",
    ),
    Endpoint(
        "POST",
        "/v1/invoices/{id}/lines",
        billing.add_invoice_line,
        "Add a line to a draft invoice",
        200,
        bm.LineIn,
        None,
        bm.InvoiceOut,
        tag="billing",
    ),
    Endpoint(
        "DELETE",
        "/v1/invoices/{id}/lines/{line_id}",
        billing.delete_invoice_line,
        "Remove a line from a draft invoice",
        200,
        None,
        None,
        bm.InvoiceOut,
        tag="billing",
    ),
    Endpoint(
        "POST",
        "/v1/invoices/{id}/finalize",
        billing.finalize_invoice,
        "Finalize a draft: number it and post it to the ledger",
        200,
        bm.FinalizeIn,
        None,
        bm.InvoiceOut,
        tag="billing",
        body_required=False,
    ),
    Endpoint(
        "POST",
        "/v1/invoices/{id}/void",
        billing.void_invoice,
        "Void an open or uncollectible invoice (posts the reversals)",
        200,
        bm.EffectiveDateIn,
        None,
        bm.InvoiceOut,
        tag="billing",
        body_required=False,
    ),
    Endpoint(
        "POST",
        "/v1/invoices/{id}/mark-uncollectible",
        billing.mark_invoice_uncollectible,
        "Write off an open invoice as bad debt",
        200,
        bm.EffectiveDateIn,
        None,
        bm.InvoiceOut,
        tag="billing",
        body_required=False,
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


def openapi_document() -> dict[str, Any]:
    return openapi_spec.document(ENDPOINTS)


async def openapi(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


def starlette_routes() -> list[Route]:
    routes = [
        Route(e.path, support.authenticated(e.handler) if e.auth else e.handler, methods=[e.method])
        for e in ENDPOINTS
    ]
    routes.append(Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False))
    return routes
