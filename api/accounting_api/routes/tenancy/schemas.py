"""Request and response bodies of organizations, users and tokens."""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from accounting_api.domain import passwords
from accounting_api.domain.roles import Role, UserStatus
from accounting_api.domain.two_factor import Requirement
from accounting_api.routes import schemas as common
from accounting_api.routes.schemas import (
    Body,
    Currency,
    Name,
    Out,
    Text,
)
from accounting_api.routes.two_factor.schemas import Otp, ProofIn, RecoveryCode

Password = Annotated[
    str,
    StringConstraints(min_length=passwords.MIN_LENGTH, max_length=passwords.MAX_LENGTH),
    Field(
        description=f"At least {passwords.MIN_LENGTH} characters. Refused (422) when it is a"
        " common password, in any letter case (`password_too_common`: about 4.2 million of"
        " 10 characters or more, from SecLists), or when it contains the e-mail address's"
        " name (before the @) or the organization's name (`password_too_personal`)."
    ),
]


FiscalYearEndMonth = Annotated[
    int,
    Field(
        ge=1,
        le=12,
        description="The last month of the fiscal year, 1 (January) to 12 (December).",
    ),
]


class SecondFactorIn(ProofIn):
    """A person's second factor, for a body that proves who they are (a sign-in; a
    sign-up as an existing person): ProofIn's fields, described for signing in."""

    otp: Otp | None = Field(
        default=None,
        description="With two-factor sign-in: the 6-digit code of the authenticator app"
        " (without it: 401 two_factor_required after a correct password).",
    )
    recovery_code: RecoveryCode | None = Field(
        default=None, description="With two-factor sign-in, instead of otp: a recovery code."
    )


class OwnerIn(SecondFactorIn):
    """The owner: a new person, or an existing one (any membership) who proves their
    password and, with two-factor sign-in, a code (docs/memberships.md); a code given for
    a person without a second factor is not checked, as at sign-in."""

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
    status: UserStatus = Field(
        description="active; deactivated (may not sign in until reactivated); removed (no"
        " longer a member: kept for the audit trail, the e-mail is free again)."
    )
    created_at: datetime.datetime
    locked: bool | None = Field(
        default=None,
        description="Whether failed sign-ins from many addresses have locked the account"
        " (POST /v1/users/{id}/unlock lifts it); shown by GET /v1/users/{id} to owners and"
        " admins, null otherwise.",
    )
    locked_until: datetime.datetime | None = Field(
        default=None,
        description="When the lock ends by itself; null when not locked or not shown.",
    )


class UserChangeIn(Body):
    model_config = common.at_least_one_of("role", "active")
    role: Role | None = Field(
        default=None, description="The new role (only an owner makes or unmakes an owner)."
    )
    active: bool | None = Field(
        default=None, description="false: deactivate (every token ends); true: reactivate."
    )

    @model_validator(mode="after")
    def _something(self) -> UserChangeIn:
        if self.role is None and self.active is None:
            raise ValueError("give at least one of role and active")
        return self


class PasswordChangeIn(Body):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    new_password: Password


class OrganizationOut(Out):
    object: Literal["organization"] = "organization"
    id: str
    name: str
    base_currency: str
    fiscal_year_end_month: int
    owner: UserOut
    accounts_created: int


class OrganizationSettingsIn(Body):
    model_config = common.at_least_one_of("fiscal_year_end_month", "two_factor_required_for")
    fiscal_year_end_month: FiscalYearEndMonth | None = None
    two_factor_required_for: Requirement | None = Field(
        default=None,
        description="none; owners_and_admins: an owner or admin without a second factor"
        " signs in to a token good only for enrolling one (docs/two-factor.md). Requiring"
        " it needs a second factor of your own first (409 two_factor_not_enabled).",
    )


class ProfileOut(Out):
    object: Literal["organization"] = "organization"
    id: str
    name: str
    base_currency: str
    fiscal_year_end_month: int = Field(
        description="The last month of the fiscal year, 1 (January) to 12 (December)."
    )
    two_factor_required_for: Requirement = Field(
        description="Who must sign in with a second factor: none or owners_and_admins."
    )


class TokenIn(SecondFactorIn):
    email: Annotated[Text, StringConstraints(min_length=3, max_length=320)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    organization_id: Annotated[Text, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None,
        description="The organization the token is for. Needed when you are an active"
        " member of several (else 409 `organization_required`, listing them, once the"
        " password is right); one you are no active member of gets the wrong-password"
        " answer (401).",
    )


class MembershipOut(Out):
    object: Literal["membership"] = "membership"
    organization_id: str
    organization_name: str
    user_id: str = Field(description="You, as a user of that organization.")
    role: Role
    status: UserStatus = Field(description="active, or deactivated (no sign-in there).")


class TokenOut(Out):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    scope: Literal["full", "two_factor_enrolment"] = Field(
        default="full",
        description="two_factor_enrolment: the organization requires a second factor of"
        " this owner or admin, who has none; the token only enrols one"
        " (/v1/users/me/two-factor), then sign in again.",
    )


class UserIn(Body):
    email: common.Email
    password: Password
    name: Name
    role: Role
