"""One person, several organizations: the organizations a signed-in person may switch to,
and the answer to a sign-in that must choose one."""

from __future__ import annotations

from accounting_api.db import memberships as memberships_db
from accounting_api.domain import errors
from accounting_api.domain.memberships import Listed
from accounting_api.domain.roles import Principal, Role, User
from accounting_api.services.ports import Transactions


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
