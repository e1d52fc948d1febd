"""Request and response bodies of two-factor sign-in (docs/two-factor.md)."""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from accounting_api.domain.two_factor import Requirement
from accounting_api.routes import schemas as common
from accounting_api.routes.schemas import Body, Out

Otp = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{6}$"),
    Field(description="The 6-digit code your authenticator app shows now (used once)."),
]
RecoveryCode = Annotated[
    str,
    StringConstraints(min_length=10, max_length=40, pattern=r"^[0-9A-Fa-f -]+$"),
    Field(description="One of your recovery codes (xxxxx-xxxxx-xxxxx-xxxxx); each works once."),
]


class ProofIn(Body):
    """A current code or a recovery code: needed to change a confirmed second factor."""

    model_config = common.at_most_one_of("otp", "recovery_code")
    otp: Otp | None = None
    recovery_code: RecoveryCode | None = None

    @model_validator(mode="after")
    def _one(self) -> ProofIn:
        if self.otp is not None and self.recovery_code is not None:
            raise ValueError("give otp or recovery_code, not both")
        return self


class ConfirmIn(Body):
    otp: Otp


class TwoFactorOut(Out):
    object: Literal["two_factor"] = "two_factor"
    enabled: bool = Field(description="Sign-in asks for a code (confirmed).")
    confirmed_at: datetime.datetime | None
    enrolment_pending: bool = Field(
        description="An enrolment was started and awaits its first code (POST .../confirm)."
    )
    recovery_codes_left: int


class EnrolmentOut(TwoFactorOut):
    secret: str = Field(
        description="The TOTP secret (base32), returned only by this response: add it to an"
        " authenticator app, or show `otpauth_uri` as a QR code."
    )
    otpauth_uri: str = Field(
        description="otpauth://totp/Universal%20Accounting:<e-mail>?secret=...&issuer=..."
    )


class RecoveryCodesOut(TwoFactorOut):
    recovery_codes: list[str] = Field(
        description="10 single-use recovery codes, returned only by this response: keep them"
        " somewhere safe; each signs in once instead of a code."
    )


class CoverageUserOut(Out):
    user: str
    role: str
    enabled: bool


class CoverageOut(Out):
    object: Literal["two_factor_coverage"] = "two_factor_coverage"
    required_for: Requirement
    owners_and_admins: int = Field(description="Active owners and admins.")
    owners_and_admins_enabled: int = Field(description="Of them, with a second factor.")
    members: int = Field(description="Active members of every role.")
    members_enabled: int
    users: list[CoverageUserOut]
