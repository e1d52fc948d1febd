"""The life of an account: a user's role, deactivation and removal (owners and admins),
a user's own password, and signing out. Each ends the user's tokens at once: the
database moves the user's token version on (0025_sessions.sql) and every request checks
its token's version in its first statement (domain.roles.Session)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from accounting_api.db import memberships as memberships_db
from accounting_api.db import tenants
from accounting_api.db.connection import Connection
from accounting_api.domain import audit, errors, security
from accounting_api.domain.roles import Principal, Role, User, UserStatus
from accounting_api.services import auth, lockout, organizations
from accounting_api.services import memberships as memberships_service
from accounting_api.services import security as security_service
from accounting_api.services.audit import records
from accounting_api.services.ports import Transactions, Unit


async def get_user(db: Transactions, principal: Principal, user_id: str) -> User:
    async with db.transaction(principal.organization_id) as conn:
        user = await tenants.get_user(conn, user_id)
    if user is None:
        raise errors.NotFound(f"no user {user_id}", param="id")
    return user


@dataclass(frozen=True, slots=True)
class Lock:
    """Whether failed sign-ins from many addresses have locked a user's account, and until
    when (POST /v1/users/{id}/unlock lifts it sooner)."""

    locked: bool
    until: datetime.datetime | None = None


async def lock_of(guard: lockout.Guard, principal: Principal, user: User) -> Lock | None:
    """The account's lock as owners and admins see it; None for the other roles."""
    if not principal.role.allows(Role.ADMIN):
        return None
    left = await guard.locked(user.email)
    if left <= 0:
        return Lock(False)
    now = datetime.datetime.now(datetime.UTC)
    return Lock(True, (now + datetime.timedelta(seconds=left)).replace(microsecond=0))


def check_change(
    actor: Principal, target: User, *, loses_owner: bool, makes_owner: bool, owners: list[str]
) -> None:
    """Who may change whom: owners and admins; only an owner makes, changes, deactivates
    or removes an owner; the organization's last active owner never goes."""
    actor.require(Role.ADMIN)
    if target.status is UserStatus.REMOVED:
        raise errors.UserRemoved(f"user {target.id} has been removed", param="id")
    if (target.role is Role.OWNER or makes_owner) and actor.role is not Role.OWNER:
        raise errors.Forbidden("only an owner may make, change, deactivate or remove an owner")
    if loses_owner and owners == [target.id]:
        raise errors.LastOwner(
            "this is the organization's last active owner: make another user owner first"
        )


async def _locked_target(conn: Connection, user_id: str) -> tuple[User, list[str]]:
    owners = await tenants.lock_active_owners(conn)
    target = await tenants.get_user(conn, user_id)
    if target is None:
        raise errors.NotFound(f"no user {user_id}", param="id")
    return target, owners


async def update_user(
    db: Unit,
    principal: Principal,
    user_id: str,
    *,
    role: Role | None,
    active: bool | None,
    origin: security.Origin,
) -> User:
    """Change a user's role and/or deactivate or reactivate them."""
    principal.require(Role.ADMIN)
    async with db.transaction(principal.organization_id) as conn:
        target, owners = await _locked_target(conn, user_id)
        active_owner = target.role is Role.OWNER and target.status is UserStatus.ACTIVE
        check_change(
            principal,
            target,
            loses_owner=active_owner
            and ((role is not None and role is not Role.OWNER) or active is False),
            makes_owner=role is Role.OWNER,
            owners=owners,
        )
        updated = await tenants.update_user(conn, user_id, role=role, active=active)
    if updated != target:
        kind = _kind(target, updated)
        db.changed(audit.changed("user", kind.value.split(".")[1], updated))
        detail = {"role": updated.role.value, "previous_role": target.role.value}
        await _record(db, principal, kind, user_id, origin, detail=detail)
    return updated


def _kind(before: User, after: User) -> security.Kind:
    if before.status is not after.status:
        if after.status is UserStatus.DEACTIVATED:
            return security.Kind.DEACTIVATED
        return security.Kind.REACTIVATED
    return security.Kind.ROLE_CHANGED


async def _record(
    db: Unit,
    principal: Principal,
    kind: security.Kind,
    user_id: str,
    origin: security.Origin,
    *,
    detail: dict[str, str] | None = None,
) -> None:
    """The change's security event, in its unit of work; `by` names who made it."""
    event = security.NewEvent(
        kind, principal.organization_id, user_id, origin, (detail or {}) | {"by": principal.user_id}
    )
    await security_service.record(db, event)


@records("user", "removed")
async def remove_user(
    db: Unit, principal: Principal, user_id: str, *, origin: security.Origin
) -> User:
    """The user leaves the organization: tokens end, the login goes, the row stays. The
    person's memberships of other organizations are untouched."""
    principal.require(Role.ADMIN)
    async with db.transaction(principal.organization_id) as conn:
        target, owners = await _locked_target(conn, user_id)
        check_change(
            principal,
            target,
            loses_owner=target.role is Role.OWNER and target.status is UserStatus.ACTIVE,
            makes_owner=False,
            owners=owners,
        )
        removed = await tenants.remove_user(conn, user_id)
    await _record(db, principal, security.Kind.REMOVED, user_id, origin)
    return removed


async def unlock_user(
    db: Unit,
    principal: Principal,
    user_id: str,
    *,
    guard: lockout.Guard,
    origin: security.Origin,
) -> User:
    """Lift the lock that failed sign-ins from many addresses put on the user's account
    (owners and admins), and forget those failures. Blocks of single addresses run out on
    their own. Lifted at once, before the audit event commits: an unlock left without its
    event by a failed commit gives no one more than a lock's expiry would."""
    principal.require(Role.ADMIN)
    async with db.transaction(principal.organization_id) as conn:
        target = await tenants.get_user(conn, user_id)
    if target is None:
        raise errors.NotFound(f"no user {user_id}", param="id")
    if target.status is UserStatus.REMOVED:
        raise errors.UserRemoved(f"user {target.id} has been removed", param="id")
    await guard.unlock(target.email)
    db.changed(audit.changed("user", "unlocked", target))
    await _record(db, principal, security.Kind.UNLOCKED, user_id, origin)
    return target


async def change_password(
    db: Unit,
    principal: Principal,
    *,
    current_password: str,
    new_password: str,
    origin: security.Origin,
) -> None:
    """The caller's own password, after the current one: the person's, in every
    organization they are a member of, and every token of theirs ends in each."""
    principal.require(Role.VIEWER)
    async with db.transaction(principal.organization_id) as conn:
        found = await tenants.get_credentials(conn, principal.user_id)
    if found is None or not await auth.verify_password(found.password_hash, current_password):
        raise errors.CurrentPasswordIncorrect(
            "the current password is not correct", param="current_password"
        )
    await organizations.check_password(
        db, principal.organization_id, new_password, email=found.user.email, param="new_password"
    )
    new_hash = await auth.hash_password(new_password)
    async with db.transaction(principal.organization_id) as conn:
        await memberships_db.lock_person(conn, found.user.email)
        await tenants.set_password(conn, principal.user_id, new_hash)
    db.changed(audit.changed("user", "password_changed", found.user))
    await _record(db, principal, security.Kind.PASSWORD_CHANGED, principal.user_id, origin)
    await memberships_service.password_changed_elsewhere(db, principal, origin)


async def sign_out(db: Unit, principal: Principal, *, origin: security.Origin) -> None:
    """End every token issued to the caller so far (on every device)."""
    principal.require(Role.VIEWER)
    async with db.transaction(principal.organization_id) as conn:
        await tenants.end_tokens(conn, principal.user_id)
        user = await tenants.get_user(conn, principal.user_id)
    assert user is not None  # the session check found it a moment ago
    db.changed(audit.changed("user", "signed_out", user))
    await _record(db, principal, security.Kind.SIGNED_OUT, principal.user_id, origin)
