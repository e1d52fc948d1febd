"""Who may do what: roles ordered by privilege."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass, field

from accounting_api.domain import errors


class Role(enum.StrEnum):
    VIEWER = "viewer"
    ACCOUNTANT = "accountant"
    ADMIN = "admin"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, required: Role) -> bool:
        return self.rank >= required.rank


_RANK = {Role.VIEWER: 0, Role.ACCOUNTANT: 1, Role.ADMIN: 2, Role.OWNER: 3}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as, taken from a verified access token."""

    user_id: str
    organization_id: str
    role: Role
    token_version: int = 0
    """The user's token version when the token was issued (a token of the previous
    release, without one, stands for version 0)."""
    issued_at: int = field(default=0, compare=False)
    """When the token was issued (seconds since the epoch): a step-up asks for a recent one."""
    enrolment_only: bool = False
    """A token good only for enrolling in two-factor sign-in: the organization requires
    it of this owner or admin, who has none yet (docs/two-factor.md)."""

    def require(self, role: Role) -> None:
        if not self.role.allows(role):
            raise errors.Forbidden(f"this action needs the {role} role or higher")


@dataclass(slots=True)
class Session:
    """One request's claim to act as its token's user, checked against the user's row by
    the first statement of the request's first transaction in its organization
    (0025_sessions.sql): a token whose user changed role, password or membership, signed
    out, or was deactivated or removed since it was issued is refused there."""

    user_id: str
    organization_id: str
    token_version: int
    checked: bool = False

    @classmethod
    def of(cls, principal: Principal) -> Session:
        return cls(principal.user_id, principal.organization_id, principal.token_version)


class UserStatus(enum.StrEnum):
    ACTIVE = "active"
    DEACTIVATED = "deactivated"
    """May not sign in or use a token until reactivated."""
    REMOVED = "removed"
    """No longer a member: the row stays for the audit trail; the e-mail is free again."""


@dataclass(frozen=True, slots=True)
class User:
    id: str
    organization_id: str
    email: str
    name: str
    role: Role
    created_at: datetime.datetime
    status: UserStatus = UserStatus.ACTIVE
