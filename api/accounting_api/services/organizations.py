"""Sign-up (an organization, its owner and its default chart), the organization's
settings (its fiscal year end) and user management."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from accounting_api.db import ledger as ledger_db
from accounting_api.db import memberships as memberships_db
from accounting_api.db import tenants
from accounting_api.domain import (
    audit,
    errors,
    fiscal,
    ids,
    ledger,
    memberships,
    money,
    passwords,
    security,
)
from accounting_api.domain.organizations import Profile
from accounting_api.domain.roles import Principal, Role, User
from accounting_api.services import auth, lockout
from accounting_api.services import security as security_service
from accounting_api.services.audit import records
from accounting_api.services.ports import Transactions, Unit


@dataclass(frozen=True, slots=True)
class Organization:
    id: str
    name: str
    base_currency: str
    fiscal_year_end_month: int
    owner: User
    accounts: int


def default_chart(currency: str) -> list[ledger.Account]:
    now = datetime.datetime.now(datetime.UTC)
    return [
        ledger.Account(
            ids.new_id("acct"),
            line.code,
            line.name,
            line.type,
            currency,
            ledger.NORMAL_BALANCE[line.type],
            now,
        )
        for line in ledger.DEFAULT_CHART
    ]


async def sign_up(
    db: Unit,
    *,
    name: str,
    base_currency: str,
    email: str,
    password: str,
    owner_name: str,
    fiscal_year_end_month: int = fiscal.DEFAULT_END_MONTH,
    password_hash: str | None = None,
) -> Organization:
    """An organization and its owner. `password_hash`: the owner's password already
    hashed, so the rules are not checked again: an existing person's, verified by
    sign_up_attempt (not a new password), or a new one sign_up_attempt checked and
    hashed. An existing person keeps their password whatever the caller gives
    (0029_memberships.sql)."""
    money.exponent(base_currency, param="base_currency")
    fiscal.check_end_month(fiscal_year_end_month)
    if password_hash is None:
        passwords.check(password, email=email, organization=name, param="owner.password")
        password_hash = await auth.hash_password(password)
    org_id = ids.new_id("org")
    async with db.transaction(org_id) as conn:
        await tenants.insert_organization(conn, org_id, name, base_currency, fiscal_year_end_month)
        owner = await tenants.insert_user(
            conn,
            user_id=ids.new_id("user"),
            organization_id=org_id,
            email=email.lower(),
            name=owner_name,
            role=Role.OWNER.value,
            password_hash=password_hash,
        )
        accounts = await ledger_db.insert_accounts(conn, org_id, default_chart(base_currency))
    organization = Organization(
        org_id, name, base_currency, fiscal_year_end_month, owner, len(accounts)
    )
    db.actor = owner.id  # the owner signs the organization up
    db.changed(audit.changed("organization", "created", organization))
    return organization


@dataclass(frozen=True, slots=True)
class Attempt:
    """A sign-up attempt counted against its limits, its password's work done
    (sign_up_attempt)."""

    hashed: str | None
    """The owner's password hash: an existing person's, or the new password's if it meets
    the rules (None: sign_up refuses it)."""
    person: bool
    """Whether the e-mail was an existing person's, their password verified."""


async def sign_up_attempt(
    db: Unit,
    guard: lockout.Guard,
    *,
    email: str,
    password: str,
    organization: str,
    origin: security.Origin,
    second_factor: auth.SecondFactor | None = None,
) -> Attempt:
    """Count a sign-up attempt of the e-mail and of the address (429 past either limit),
    then verify an existing person's password and `second_factor` (a wrong one: the token
    endpoint's 401, counted as a failed sign-in) or hash the new password. The step
    before the request's unit of work takes its connection (Endpoint.prepare), on `db`'s
    own short transactions: argon2 takes a third of a second and must not hold a pool
    connection idle, and an attempt past the limits costs no argon2 at all."""
    await guard.sign_up_attempted(email, origin.client_ip or "unknown")
    if await memberships_of(db, email):
        found, _, _ = await auth.verify_person(
            db, guard, email, password, origin, active=False, second_factor=second_factor
        )
        return Attempt(found.password_hash, person=True)
    try:
        passwords.check(password, email=email, organization=organization, param="owner.password")
    except errors.ValidationFailed:
        return Attempt(None, person=False)
    return Attempt(await auth.hash_password(password), person=False)


async def sign_up_person(
    unit: Unit,
    guard: lockout.Guard,
    *,
    name: str,
    base_currency: str,
    email: str,
    password: str,
    owner_name: str,
    fiscal_year_end_month: int,
    origin: security.Origin,
    attempt: Attempt,
) -> Organization:
    """Sign-up by anyone: a new person, or an existing one (any of their memberships,
    active or not) proving their password, who becomes the new organization's owner.
    `attempt`: the request's, counted against the limits, the existing person's password
    verified or the new one hashed before the unit took its connection (sign_up_attempt).
    Should the e-mail have become a person's since (a sign-up racing this one: a person
    that new has no second factor yet), the password is verified here: a wrong one gets
    the token endpoint's answer and counts as a failed sign-in, its records kept past the
    rollback (Unit.keep), never written through a second connection while the unit holds
    the first."""
    known = attempt.hashed
    if not attempt.person and await memberships_of(unit, email):
        found, _, _ = await auth.verify_person(unit, guard, email, password, origin, active=False)
        known = found.password_hash
    organization = await sign_up(
        unit,
        name=name,
        base_currency=base_currency,
        email=email,
        password=password,
        owner_name=owner_name,
        fiscal_year_end_month=fiscal_year_end_month,
        password_hash=known,
    )
    owner = organization.owner
    detail = {"role": Role.OWNER.value, "by": owner.id}
    event = security.NewEvent(security.Kind.USER_CREATED, organization.id, owner.id, origin, detail)
    await security_service.record(unit, event)
    return organization


async def memberships_of(db: Transactions, email: str) -> list[memberships.Membership]:
    """The live memberships of the person with this e-mail, the oldest first (none: no
    such person)."""
    async with db.transaction(None) as conn:
        return await memberships_db.find(conn, email.lower())


async def get_profile(db: Transactions, principal: Principal) -> Profile:
    async with db.transaction(principal.organization_id) as conn:
        return await tenants.profile(conn)


@records("organization", "updated")
async def set_fiscal_year_end(db: Unit, principal: Principal, month: int) -> Profile:
    """Set the last month of the fiscal year (admin or owner). Reports of every date
    follow the new setting: the fiscal year is how they are read, not what they hold.
    Refused (409 fiscal_year_closed, by the database: 0021_fiscal_year_end_locked.sql)
    while a fiscal year is closed under the current setting."""
    principal.require(Role.ADMIN)
    fiscal.check_end_month(month)
    async with db.transaction(principal.organization_id) as conn:
        return await tenants.set_fiscal_year_end_month(conn, month)


@records("user", "created")
async def create_user(
    db: Unit,
    principal: Principal,
    *,
    email: str,
    password: str,
    name: str,
    role: Role,
    origin: security.Origin = security.NOWHERE,
) -> User:
    """A member of the organization. A person who already exists (a member elsewhere)
    joins with their own password: the one given here is checked by the same rules, then
    ignored, so the answer never tells an admin whether the person exists elsewhere."""
    principal.require(Role.ADMIN)
    if role is Role.OWNER and principal.role is not Role.OWNER:
        raise errors.Forbidden("only an owner may create another owner", param="role")
    await check_password(db, principal.organization_id, password, email=email)
    password_hash = await auth.hash_password(password)
    async with db.transaction(principal.organization_id) as conn:
        user = await tenants.insert_user(
            conn,
            user_id=ids.new_id("user"),
            organization_id=principal.organization_id,
            email=email.lower(),
            name=name,
            role=role.value,
            password_hash=password_hash,
        )
    detail = {"role": role.value, "by": principal.user_id}
    event = security.NewEvent(
        security.Kind.USER_CREATED, principal.organization_id, user.id, origin, detail
    )
    await security_service.record(db, event)
    return user


async def check_password(
    db: Transactions, organization_id: str, password: str, *, email: str, param: str = "password"
) -> None:
    """Refuse a new password of one of the organization's users that the rules do not
    allow (domain/passwords.py), the organization's name included: for adding a user and
    for a change of password."""
    async with db.transaction(organization_id) as conn:
        organization = await tenants.profile(conn)
    passwords.check(password, email=email, organization=organization.name, param=param)


async def list_users(
    db: Transactions, principal: Principal, *, limit: int, starting_after: str | None
) -> list[User]:
    async with db.transaction(principal.organization_id) as conn:
        return await tenants.list_users(conn, limit=limit, before=starting_after)
