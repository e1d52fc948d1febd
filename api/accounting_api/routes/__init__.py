"""The v1 route table: one list both the router and /openapi.json are built from."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from accounting_api.domain.roles import Role
from accounting_api.routes import audit as audit_routes
from accounting_api.routes import audit_models as am
from accounting_api.routes import (
    billing_endpoints,
    ledger,
    models,
    ops,
    reports_endpoints,
    tenancy,
    work,
)
from accounting_api.routes import credit_notes as credit_note_routes
from accounting_api.routes import exports as exports_routes
from accounting_api.routes import openapi as openapi_spec
from accounting_api.routes import webhooks as webhook_routes
from accounting_api.routes.openapi import Endpoint

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
        "GET",
        "/v1/organization",
        tenancy.get_organization,
        "The caller's organization and its settings",
        200,
        None,
        None,
        models.ProfileOut,
        tag="tenancy",
    ),
    Endpoint(
        "PATCH",
        "/v1/organization",
        tenancy.update_organization,
        "Change the organization's settings: its fiscal year end month (admin or owner)",
        200,
        models.OrganizationSettingsIn,
        None,
        models.ProfileOut,
        tag="tenancy",
        role=Role.ADMIN,
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
        role=Role.ADMIN,
    ),
    Endpoint(
        "GET",
        "/v1/users",
        tenancy.list_users,
        "List users",
        200,
        None,
        models.ListQuery,
        models.list_of(models.UserOut),
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
        role=Role.ACCOUNTANT,
    ),
    Endpoint(
        "GET",
        "/v1/accounts",
        ledger.list_accounts,
        "List the chart of accounts by code",
        200,
        None,
        models.ListQuery,
        models.list_of(models.AccountOut),
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
        role=Role.ACCOUNTANT,
    ),
    Endpoint(
        "GET",
        "/v1/journal-entries",
        ledger.list_entries,
        "List journal entries, newest first",
        200,
        None,
        models.ListQuery,
        models.list_of(models.EntryOut),
    ),
    Endpoint(
        "POST",
        "/v1/journal-entries/batch",
        ledger.create_batch,
        "Post up to 1,000 entries, all or nothing",
        201,
        models.BatchIn,
        None,
        models.list_of(models.EntryOut),
        role=Role.ACCOUNTANT,
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
        role=Role.ACCOUNTANT,
    ),
    *billing_endpoints.ENDPOINTS,
    *reports_endpoints.ENDPOINTS,
    *credit_note_routes.ENDPOINTS,
    Endpoint(
        "GET",
        "/v1/audit-events",
        audit_routes.list_events,
        "List audit events, newest first (admin or owner)",
        200,
        None,
        am.AuditEventListQuery,
        models.list_of(am.AuditEventOut),
        tag="audit",
    ),
    Endpoint(
        "GET",
        "/v1/audit-events/verify",
        audit_routes.verify,
        "Recompute the audit hash chain and name its first broken link (admin or owner)",
        200,
        None,
        None,
        am.VerificationOut,
        tag="audit",
    ),
    Endpoint(
        "GET",
        "/v1/exports/ledger.journal",
        exports_routes.ledger_journal,
        "The journal in hledger's plain-text format (text/plain, streamed)",
        tag="reports",
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
        "/health/live",
        ops.live,
        "Liveness: the process answers (no dependency checked)",
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
    *webhook_routes.ROUTES,
)


def openapi_document() -> dict[str, Any]:
    return openapi_spec.document(ENDPOINTS)


async def openapi(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


def starlette_routes() -> list[Route]:
    routes = [Route(e.path, work.handler(e), methods=[e.method]) for e in ENDPOINTS]
    routes.append(Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False))
    return routes
