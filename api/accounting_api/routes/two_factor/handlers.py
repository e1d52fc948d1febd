"""The caller's own second factor: status, enrol, confirm, disable, recovery codes; and
the organization's coverage (admin or owner)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from accounting_api.domain import two_factor
from accounting_api.domain.roles import Role
from accounting_api.routes import support
from accounting_api.routes.two_factor import schemas
from accounting_api.services import organizations
from accounting_api.services import two_factor as service


def checks(request: Request) -> service.Checks:
    deps = support.deps(request)
    return service.Checks(deps.guard, deps.keys, support.origin(request))


def status_out(status: two_factor.Status) -> schemas.TwoFactorOut:
    return schemas.TwoFactorOut(
        enabled=status.enabled,
        confirmed_at=status.confirmed_at,
        enrolment_pending=status.enrolment_pending,
        recovery_codes_left=status.recovery_codes_left,
    )


def _answer(proof: schemas.ProofIn) -> two_factor.Answer:
    return two_factor.Answer(proof.otp, proof.recovery_code)


async def get_two_factor(request: Request) -> Response:
    found = await service.status(support.db(request), support.principal(request))
    return support.json(status_out(found))


async def enrol(request: Request) -> Response:
    data = await support.body(request, schemas.ProofIn, optional=True)
    started = await service.enrol(
        support.unit(request), checks(request), support.principal(request), _answer(data)
    )
    public = status_out(started.status)
    out = schemas.EnrolmentOut(
        **public.model_dump(), secret=started.secret, otpauth_uri=started.uri
    )
    return support.SecretAnswer(out, public, 201)


def _codes(found: service.RecoveryCodes) -> Response:
    public = status_out(found.status)
    out = schemas.RecoveryCodesOut(**public.model_dump(), recovery_codes=found.codes)
    return support.SecretAnswer(out, public, 200)


async def confirm(request: Request) -> Response:
    data = await support.body(request, schemas.ConfirmIn)
    found = await service.confirm(
        support.unit(request), checks(request), support.principal(request), data.otp
    )
    return _codes(found)


async def regenerate(request: Request) -> Response:
    data = await support.body(request, schemas.ProofIn)
    found = await service.regenerate(
        support.unit(request), checks(request), support.principal(request), _answer(data)
    )
    return _codes(found)


async def disable(request: Request) -> Response:
    data = await support.body(request, schemas.ProofIn, optional=True)
    found = await service.disable(
        support.unit(request), checks(request), support.principal(request), _answer(data)
    )
    return support.json(status_out(found))


async def coverage(request: Request) -> Response:
    principal = support.principal(request)
    found = await service.coverage(support.db(request), principal)
    profile = await organizations.get_profile(support.db(request), principal)
    staff = [c for c in found if Role(c.role).allows(Role.ADMIN)]
    out = schemas.CoverageOut(
        required_for=profile.two_factor_required_for,
        owners_and_admins=len(staff),
        owners_and_admins_enabled=sum(c.enabled for c in staff),
        members=len(found),
        members_enabled=sum(c.enabled for c in found),
        users=[
            schemas.CoverageUserOut(user=c.user_id, role=c.role, enabled=c.enabled) for c in found
        ],
    )
    return support.json(out)
