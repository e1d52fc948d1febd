"""Organizations, their settings, users and tokens: the endpoint table."""

from __future__ import annotations

from accounting_api.domain.roles import Role
from accounting_api.routes import schemas as common
from accounting_api.routes.openapi import Endpoint
from accounting_api.routes.tenancy import handlers, schemas

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST",
        "/v1/organizations",
        handlers.sign_up,
        "Sign up: an organization and its owner",
        201,
        schemas.SignUpIn,
        None,
        schemas.OrganizationOut,
        auth=False,
        tag="tenancy",
    ),
    Endpoint(
        "GET",
        "/v1/organization",
        handlers.get_organization,
        "The caller's organization and its settings",
        200,
        None,
        None,
        schemas.ProfileOut,
        tag="tenancy",
    ),
    Endpoint(
        "PATCH",
        "/v1/organization",
        handlers.update_organization,
        "Change the organization's settings: its fiscal year end month (admin or owner)",
        200,
        schemas.OrganizationSettingsIn,
        None,
        schemas.ProfileOut,
        tag="tenancy",
        role=Role.ADMIN,
    ),
    Endpoint(
        "POST",
        "/v1/auth/token",
        handlers.issue_token,
        "Exchange email and password for a token",
        200,
        schemas.TokenIn,
        None,
        schemas.TokenOut,
        auth=False,
        tag="tenancy",
    ),
    Endpoint(
        "POST",
        "/v1/users",
        handlers.create_user,
        "Add a user (admin or owner)",
        201,
        schemas.UserIn,
        None,
        schemas.UserOut,
        tag="tenancy",
        role=Role.ADMIN,
    ),
    Endpoint(
        "GET",
        "/v1/users",
        handlers.list_users,
        "List users",
        200,
        None,
        common.ListQuery,
        common.list_of(schemas.UserOut),
        tag="tenancy",
    ),
)
