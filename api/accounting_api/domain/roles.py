"""Who may do what: roles ordered by privilege."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass

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

    def require(self, role: Role) -> None:
        if not self.role.allows(role):
            raise errors.Forbidden(f"this action needs the {role} role or higher")


@dataclass(frozen=True, slots=True)
class User:
    id: str
    organization_id: str
    email: str
    name: str
    role: Role
    created_at: datetime.datetime
