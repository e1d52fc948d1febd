"""Sign-up, the organization's settings, access tokens and users."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from accounting_api.domain import errors
from accounting_api.domain import two_factor as domain_two_factor
from accounting_api.domain.memberships import Listed
from accounting_api.domain.organizations import Profile
from accounting_api.domain.roles import User, UserStatus
from accounting_api.routes import schemas as common
from accounting_api.routes import support
from accounting_api.routes.tenancy import schemas
from accounting_api.routes.two_factor import handlers as two_factor_handlers
from accounting_api.services import auth, memberships, organizations, two_factor, users


def user_out(user: User, lock: users.Lock | None = None) -> schemas.UserOut:
    return schemas.UserOut(
        id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        status=user.status,
        created_at=user.created_at,
        locked=lock.locked if lock else None,
        locked_until=lock.until if lock else None,
    )


_ATTEMPT = "sign_up_attempt"
"""The request-state key of count_sign_up's Attempt."""


async def count_sign_up(request: Request) -> None:
    """Sign-up's step before its unit of work (Endpoint.prepare): the attempt counted
    against its limits, an existing person's password and second factor verified (as the
    token endpoint does) or the new password hashed, in short transactions of its own (no
    connection held through argon2; a code is used up at once). A body the handler will
    refuse is left to it (it parses the same body)."""
    try:
        data = await support.body(request, schemas.SignUpIn)
    except errors.AccountingError:
        return
    deps = support.deps(request)
    answer = domain_two_factor.Answer(data.owner.otp, data.owner.recovery_code)
    async with deps.db.own_transactions() as db:
        attempt = await organizations.sign_up_attempt(
            db,
            deps.guard,
            email=str(data.owner.email),
            password=data.owner.password,
            organization=data.name,
            origin=support.origin(request),
            second_factor=two_factor.second_step(db, two_factor_handlers.checks(request), answer),
        )
    request.scope.setdefault("state", {})[_ATTEMPT] = attempt


async def sign_up(request: Request) -> Response:
    data = await support.body(request, schemas.SignUpIn)
    deps = support.deps(request)
    org = await organizations.sign_up_person(
        support.unit(request),
        deps.guard,
        name=data.name,
        base_currency=data.base_currency,
        email=str(data.owner.email),
        password=data.owner.password,
        owner_name=data.owner.name,
        fiscal_year_end_month=data.fiscal_year_end_month,
        origin=support.origin(request),
        attempt=request.scope["state"][_ATTEMPT],
    )
    out = schemas.OrganizationOut(
        id=org.id,
        name=org.name,
        base_currency=org.base_currency,
        fiscal_year_end_month=org.fiscal_year_end_month,
        owner=user_out(org.owner),
        accounts_created=org.accounts,
    )
    return support.json(out, 201)


def profile_out(profile: Profile) -> schemas.ProfileOut:
    return schemas.ProfileOut(
        id=profile.id,
        name=profile.name,
        base_currency=profile.base_currency,
        fiscal_year_end_month=profile.fiscal_year_end_month,
        two_factor_required_for=profile.two_factor_required_for,
    )


async def get_organization(request: Request) -> Response:
    profile = await organizations.get_profile(support.db(request), support.principal(request))
    return support.json(profile_out(profile))


async def update_organization(request: Request) -> Response:
    data = await support.body(request, schemas.OrganizationSettingsIn)
    if data.fiscal_year_end_month is None and data.two_factor_required_for is None:
        raise errors.ValidationFailed(
            "give fiscal_year_end_month or two_factor_required_for (not null)",
            param="fiscal_year_end_month",
        )
    unit, principal = support.unit(request), support.principal(request)
    profile: Profile | None = None
    if data.two_factor_required_for is not None:
        checks = two_factor_handlers.checks(request)
        profile = await two_factor.require_for(
            unit, checks, principal, data.two_factor_required_for
        )
    if data.fiscal_year_end_month is not None:
        profile = await organizations.set_fiscal_year_end(
            unit, principal, data.fiscal_year_end_month
        )
    assert profile is not None  # the body gives at least one of the two
    return support.json(profile_out(profile))


async def issue_token(request: Request) -> Response:
    data = await support.body(request, schemas.TokenIn)
    deps = support.deps(request)
    answer = domain_two_factor.Answer(data.otp, data.recovery_code)
    async with deps.db.own_transactions() as db:  # no connection held through argon2
        second = two_factor.second_step(db, two_factor_handlers.checks(request), answer)
        principal = await auth.authenticate(
            db,
            deps.guard,
            data.email,
            data.password,
            support.origin(request),
            organization_id=data.organization_id,
            second_factor=second,
        )
    token, ttl = deps.codec.issue(principal)
    scope = "two_factor_enrolment" if principal.enrolment_only else "full"
    return support.json(schemas.TokenOut(access_token=token, expires_in=ttl, scope=scope))


async def create_user(request: Request) -> Response:
    data = await support.body(request, schemas.UserIn)
    user = await organizations.create_user(
        support.unit(request),
        support.principal(request),
        email=str(data.email),
        password=data.password,
        name=data.name,
        role=data.role,
        origin=support.origin(request),
    )
    return support.json(user_out(user), 201)


async def list_users(request: Request) -> Response:
    page = support.query(request, common.ListQuery)
    users = await organizations.list_users(
        support.reads(request),
        support.principal(request),
        limit=page.limit + 1,
        starting_after=page.starting_after,
    )
    return support.page(users, page.limit, user_out)


async def get_user(request: Request) -> Response:
    principal = support.principal(request)
    user = await users.get_user(support.db(request), principal, support.path_id(request, "user"))
    lock = await users.lock_of(support.deps(request).guard, principal, user)
    return support.json(user_out(user, lock))


async def update_user(request: Request) -> Response:
    data = await support.body(request, schemas.UserChangeIn)
    user = await users.update_user(
        support.unit(request),
        support.principal(request),
        support.path_id(request, "user"),
        role=data.role,
        active=data.active,
        origin=support.origin(request),
    )
    return support.json(user_out(user))


async def remove_user(request: Request) -> Response:
    user = await users.remove_user(
        support.unit(request),
        support.principal(request),
        support.path_id(request, "user"),
        origin=support.origin(request),
    )
    return support.json(user_out(user))


async def unlock_user(request: Request) -> Response:
    user = await users.unlock_user(
        support.unit(request),
        support.principal(request),
        support.path_id(request, "user"),
        guard=support.deps(request).guard,
        origin=support.origin(request),
    )
    return support.json(user_out(user))


async def change_password(request: Request) -> Response:
    data = await support.body(request, schemas.PasswordChangeIn)
    await users.change_password(
        support.unit(request),
        support.principal(request),
        current_password=data.current_password,
        new_password=data.new_password,
        origin=support.origin(request),
    )
    return Response(status_code=204)


async def sign_out(request: Request) -> Response:
    await users.sign_out(
        support.unit(request), support.principal(request), origin=support.origin(request)
    )
    return Response(status_code=204)


def membership_out(membership: Listed) -> schemas.MembershipOut:
    return schemas.MembershipOut(
        organization_id=membership.organization_id,
        organization_name=membership.organization_name,
        user_id=membership.user_id,
        role=membership.role,
        status=UserStatus.ACTIVE if membership.active else UserStatus.DEACTIVATED,
    )


async def list_my_organizations(request: Request) -> Response:
    found = await memberships.list_mine(support.db(request), support.principal(request))
    return support.page(found, len(found), membership_out)
