"""SQL for a person's memberships (0029_memberships.sql): the app reads them only through
SECURITY DEFINER functions, one e-mail or one signed-in user at a time."""

from __future__ import annotations

from accounting_api.db.connection import Connection
from accounting_api.domain.memberships import Listed, Membership
from accounting_api.domain.roles import Role


async def find(conn: Connection, email: str) -> list[Membership]:
    """The live memberships of the person with this e-mail, the oldest first."""
    rows = await conn.fetch(
        "SELECT organization_id, user_id, active FROM find_memberships($1)", email
    )
    return [Membership(r["organization_id"], r["user_id"], r["active"]) for r in rows]


async def of_person(conn: Connection, user_id: str) -> list[Listed]:
    """The memberships of the person whom `user_id` (of the current organization) is."""
    rows = await conn.fetch(
        "SELECT organization_id, organization_name, user_id, role, active"
        " FROM person_memberships($1)",
        user_id,
    )
    return [
        Listed(
            r["organization_id"], r["organization_name"], r["user_id"], Role(r["role"]), r["active"]
        )
        for r in rows
    ]


async def lock_person(conn: Connection, email: str) -> None:
    """Until the transaction ends, the person's memberships and password change in turn
    (the lock the triggers of 0029 take, taken first: before any row lock)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('person:' || $1::text, 0))", email
    )
