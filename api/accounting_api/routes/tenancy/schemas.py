"""Request and response bodies of organizations, users and tokens."""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from accounting_api.domain.roles import Role
from accounting_api.routes import schemas as common
from accounting_api.routes.schemas import (
    Body,
    Currency,
    Name,
    Out,
    Text,
)

Password = Annotated[str, StringConstraints(min_length=12, max_length=256)]


FiscalYearEndMonth = Annotated[
    int,
    Field(
        ge=1,
        le=12,
        description="The last month of the fiscal year, 1 (January) to 12 (December).",
    ),
]


class OwnerIn(Body):
    email: common.Email
    password: Password
    name: Name


class SignUpIn(Body):
    name: Name
    base_currency: Currency = "USD"
    fiscal_year_end_month: FiscalYearEndMonth = 12
    owner: OwnerIn


class UserOut(Out):
    object: Literal["user"] = "user"
    id: str
    email: str
    name: str
    role: Role
    created_at: datetime.datetime


class OrganizationOut(Out):
    object: Literal["organization"] = "organization"
    id: str
    name: str
    base_currency: str
    fiscal_year_end_month: int
    owner: UserOut
    accounts_created: int


class OrganizationSettingsIn(Body):
    fiscal_year_end_month: FiscalYearEndMonth


class ProfileOut(Out):
    object: Literal["organization"] = "organization"
    id: str
    name: str
    base_currency: str
    fiscal_year_end_month: int = Field(
        description="The last month of the fiscal year, 1 (January) to 12 (December)."
    )


class TokenIn(Body):
    email: Annotated[Text, StringConstraints(min_length=3, max_length=320)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class TokenOut(Out):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class UserIn(Body):
    email: common.Email
    password: Password
    name: Name
    role: Role
