"""Two-factor sign-in: the endpoint table (docs/two-factor.md)."""

from __future__ import annotations

from accounting_api.domain.roles import Role
from accounting_api.routes.openapi import Endpoint
from accounting_api.routes.two_factor import handlers, schemas

_ME = "/v1/users/me/two-factor"

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        _ME,
        handlers.get_two_factor,
        "Your second factor: enabled or not, recovery codes left",
        200,
        None,
        None,
        schemas.TwoFactorOut,
        tag="two-factor",
        enrolment=True,
    ),
    Endpoint(
        "POST",
        _ME,
        handlers.enrol,
        "Start enrolling in two-factor sign-in: a fresh TOTP secret and its otpauth:// URI,"
        " returned once; sign-in changes only once a code of it is confirmed. Replacing a"
        " confirmed second factor needs `otp` or `recovery_code` of it",
        201,
        schemas.ProofIn,
        None,
        schemas.EnrolmentOut,
        tag="two-factor",
        role=Role.VIEWER,
        body_required=False,
        enrolment=True,
    ),
    Endpoint(
        "POST",
        _ME + "/confirm",
        handlers.confirm,
        "Confirm the enrolment with a current code: two-factor sign-in is on, and 10"
        " single-use recovery codes are returned once",
        200,
        schemas.ConfirmIn,
        None,
        schemas.RecoveryCodesOut,
        tag="two-factor",
        role=Role.VIEWER,
        enrolment=True,
    ),
    Endpoint(
        "POST",
        _ME + "/recovery-codes",
        handlers.regenerate,
        "Replace your recovery codes (with `otp` or `recovery_code`): 10 new ones, returned"
        " once; the old ones stop working",
        200,
        schemas.ProofIn,
        None,
        schemas.RecoveryCodesOut,
        tag="two-factor",
        role=Role.VIEWER,
    ),
    Endpoint(
        "DELETE",
        _ME,
        handlers.disable,
        "Turn two-factor sign-in off (with `otp` or `recovery_code`; an enrolment not yet"
        " confirmed is dropped without one)",
        200,
        schemas.ProofIn,
        None,
        schemas.TwoFactorOut,
        tag="two-factor",
        role=Role.VIEWER,
        body_required=False,
    ),
    Endpoint(
        "GET",
        "/v1/organization/two-factor-coverage",
        handlers.coverage,
        "Which active members have a second factor, and how many owners and admins do"
        " (admin or owner)",
        200,
        None,
        None,
        schemas.CoverageOut,
        tag="two-factor",
        role=Role.ADMIN,
    ),
)
