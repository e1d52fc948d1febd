"""SQL for organizations, users and the login directory."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from accounting_api.db.connection import Connection
from accounting_api.domain import errors
from accounting_api.domain.organizations import Profile
from accounting_api.domain.roles import Role, User, UserStatus
from accounting_api.domain.two_factor import Requirement

_USER_COLUMNS = "id, organization_id, email, name, role, created_at, deactivated_at, removed_at"


def _user(row: asyncpg.Record) -> User:
    status = (
        UserStatus.REMOVED
        if row["removed_at"] is not None
        else UserStatus.DEACTIVATED
        if row["deactivated_at"] is not None
        else UserStatus.ACTIVE
    )
    return User(
        row["id"],
        row["organization_id"],
        row["email"],
        row["name"],
        Role(row["role"]),
        row["created_at"],
        status,
    )


async def insert_organization(
    conn: Connection, org_id: str, name: str, currency: str, fiscal_year_end_month: int
) -> None:
    await conn.execute(
        "INSERT INTO organizations (id, name, base_currency, fiscal_year_end_month)"
        " VALUES ($1, $2, $3, $4)",
        org_id,
        name,
        currency,
        fiscal_year_end_month,
    )


_PROFILE = "id, name, base_currency, fiscal_year_end_month, two_factor_required_for"


def _profile(row: asyncpg.Record | None) -> Profile:
    assert row is not None  # the tenant's own row: row-level security shows exactly it
    return Profile(
        row["id"],
        row["name"],
        row["base_currency"],
        row["fiscal_year_end_month"],
        Requirement(row["two_factor_required_for"]),
    )


async def profile(conn: Connection) -> Profile:
    """The current tenant's organization."""
    return _profile(
        await conn.fetchrow(f"SELECT {_PROFILE} FROM organizations WHERE id = app_current_org()")
    )


async def set_fiscal_year_end_month(conn: Connection, month: int) -> Profile:
    """Refused while a fiscal year under the current setting is closed."""
    try:
        row = await conn.fetchrow(
            "UPDATE organizations SET fiscal_year_end_month = $1 WHERE id = app_current_org()"
            f" RETURNING {_PROFILE}",
            month,
        )
    except asyncpg.ObjectNotInPrerequisiteStateError as exc:
        if exc.constraint_name != "fiscal_year_closed":
            raise
        raise errors.FiscalYearClosed(str(exc.message), param="fiscal_year_end_month") from None
    return _profile(row)


async def insert_user(
    conn: Connection,
    *,
    user_id: str,
    organization_id: str,
    email: str,
    name: str,
    role: str,
    password_hash: str,
) -> User:
    """A membership: a new person's first, with this password, or an existing person's
    next, with theirs (0029_memberships.sql: the hash given is then replaced)."""
    try:
        row = await conn.fetchrow(
            "INSERT INTO users (id, organization_id, email, name, role, password_hash)"
            " VALUES ($1, $2, $3, $4, $5, $6)"
            f" RETURNING {_USER_COLUMNS}",
            user_id,
            organization_id,
            email,
            name,
            role,
            password_hash,
        )
    except asyncpg.UniqueViolationError:
        raise errors.AlreadyMember(
            "a user with this email is already a member of the organization", param="email"
        ) from None
    # The person's login (the previous version signs in through it) stays where it is.
    await conn.execute(
        "INSERT INTO user_logins (email, organization_id, user_id) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING",
        email,
        organization_id,
        user_id,
    )
    assert row is not None
    return _user(row)


async def find_login(conn: Connection, email: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT organization_id, user_id FROM find_login($1)", email)


@dataclass(frozen=True, slots=True)
class Credentials:
    user: User
    password_hash: str
    token_version: int


async def get_credentials(conn: Connection, user_id: str) -> Credentials | None:
    row = await conn.fetchrow(
        f"SELECT {_USER_COLUMNS}, password_hash, token_version FROM users WHERE id = $1",
        user_id,
    )
    return Credentials(_user(row), row["password_hash"], row["token_version"]) if row else None


async def list_users(conn: Connection, *, limit: int, before: str | None) -> list[User]:
    rows = await conn.fetch(
        f"SELECT {_USER_COLUMNS} FROM users"
        " WHERE ($1::text IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
        before,
        limit,
    )
    return [_user(row) for row in rows]


async def get_user(conn: Connection, user_id: str) -> User | None:
    row = await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE id = $1", user_id)
    return _user(row) if row else None


async def lock_active_owners(conn: Connection) -> list[str]:
    """The organization's active owners, locked until the transaction ends: two requests
    that could each remove an owner take turns, so the last one never goes."""
    rows = await conn.fetch(
        "SELECT id FROM users WHERE role = 'owner' AND deactivated_at IS NULL"
        " AND removed_at IS NULL ORDER BY id FOR UPDATE"
    )
    return [row["id"] for row in rows]


async def update_user(
    conn: Connection, user_id: str, *, role: Role | None, active: bool | None
) -> User:
    """Change the role and/or whether the user is active (the database moves the user's
    token version on: 0025_sessions.sql)."""
    row = await conn.fetchrow(
        "UPDATE users SET role = coalesce($2, role),"
        " deactivated_at = CASE WHEN $3::boolean IS NULL THEN deactivated_at"
        "   WHEN $3 THEN NULL ELSE coalesce(deactivated_at, now()) END"
        f" WHERE id = $1 RETURNING {_USER_COLUMNS}",
        user_id,
        role.value if role is not None else None,
        active,
    )
    assert row is not None  # the caller locked and found it
    return _user(row)


async def remove_user(conn: Connection, user_id: str) -> User:
    """The row stays (the audit trail names it); the login goes, the e-mail is free."""
    row = await conn.fetchrow(
        f"UPDATE users SET removed_at = now() WHERE id = $1 RETURNING {_USER_COLUMNS}", user_id
    )
    await conn.execute("SELECT release_login($1)", user_id)
    assert row is not None
    return _user(row)


async def set_password(conn: Connection, user_id: str, password_hash: str) -> None:
    """The person's password, in every organization (0029_memberships.sql)."""
    await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash)


async def end_tokens(conn: Connection, user_id: str) -> None:
    """Sign-out: every token issued to the user so far ends."""
    await conn.execute("UPDATE users SET token_version = token_version + 1 WHERE id = $1", user_id)
