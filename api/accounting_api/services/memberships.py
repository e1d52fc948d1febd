"""One person, several organizations: the organizations a signed-in person may switch to,
and the answer to a sign-in that must choose one."""

from __future__ import annotations

from accounting_api.db import memberships as memberships_db
from accounting_api.db import tenants
from accounting_api.domain import audit, errors, security
from accounting_api.domain.memberships import Listed
from accounting_api.domain.roles import Principal, Role, User
from accounting_api.services import audit as audit_service
from accounting_api.services import security as security_service
from accounting_api.services.ports import Transactions, Unit


async def list_mine(db: Transactions, principal: Principal) -> list[Listed]:
    """The caller's memberships, active and deactivated, in every organization (their
    own person only: the directory of other people stays closed)."""
    principal.require(Role.VIEWER)
    async with db.transaction(principal.organization_id) as conn:
        return await memberships_db.of_person(conn, principal.user_id)


async def organization_required(db: Transactions, user: User) -> errors.OrganizationRequired:
    """The answer to a verified sign-in of a person active in several organizations who
    chose none: which ones they may choose (`organizations`, the oldest first)."""
    async with db.transaction(user.organization_id) as conn:
        listed = await memberships_db.of_person(conn, user.id)
    error = errors.OrganizationRequired(
        "you are a member of several organizations: choose one with organization_id",
        param="organization_id",
    )
    error.extra["organizations"] = [
        {"id": m.organization_id, "name": m.organization_name, "role": m.role.value}
        for m in listed
        if m.active
    ]
    return error


async def password_changed_elsewhere(
    unit: Unit, principal: Principal, origin: security.Origin
) -> None:
    """The person's password changed in every organization: each other organization's
    audit trail and security events say so of its own member (and name no other
    organization), in the change's unit of work."""
    async with unit.transaction(principal.organization_id) as conn:
        listed = await memberships_db.of_person(conn, principal.user_id)
    for membership in listed:
        if membership.organization_id == principal.organization_id:
            continue
        org, user_id = membership.organization_id, membership.user_id
        async with unit.transaction(org) as conn:
            user = await tenants.get_user(conn, user_id)
            assert user is not None  # person_memberships found it in this transaction
            await audit_service.record(
                unit,
                organization_id=org,
                actor_user_id=user_id,
                request_id=origin.request_id,
                changes=[audit.changed("user", "password_changed", user)],
            )
        kind = security.Kind.PASSWORD_CHANGED
        event = security.NewEvent(kind, org, user_id, origin, {"by": user_id})
        await security_service.record(unit, event)
    await unit.use_tenant(principal.organization_id)  # the request's own audit events follow
