"""SQL for second factors (0030_two_factor.sql): only through the SECURITY DEFINER
functions, each for one member of the transaction's organization; resealing under the
current key (0031) covers every person."""

from __future__ import annotations

from dataclasses import dataclass

from accounting_api.db.connection import Connection
from accounting_api.domain import two_factor


async def get(conn: Connection, user_id: str) -> two_factor.Stored | None:
    row = await conn.fetchrow(
        "SELECT secret_sealed, confirmed_at, last_step, recovery_codes_left, pending_sealed"
        " FROM second_factor_of($1)",
        user_id,
    )
    if row is None:
        return None
    return two_factor.Stored(
        row["secret_sealed"],
        row["confirmed_at"],
        row["last_step"],
        row["recovery_codes_left"],
        row["pending_sealed"],
    )


async def start(conn: Connection, user_id: str, pending_sealed: str) -> bool:
    found = await conn.fetchval("SELECT second_factor_start($1, $2)", user_id, pending_sealed)
    return bool(found)


async def confirm(
    conn: Connection, user_id: str, pending_sealed: str, step: int, recovery_hashes: list[str]
) -> bool:
    """False when the pending secret was replaced meanwhile (another enrolment)."""
    found = await conn.fetchval(
        "SELECT second_factor_confirm($1, $2, $3, $4)",
        user_id,
        pending_sealed,
        step,
        recovery_hashes,
    )
    return bool(found)


async def use_step(conn: Connection, user_id: str, step: int, resealed: str | None) -> bool:
    """False when a code of this step (or a later one) was used already."""
    found = await conn.fetchval(
        "SELECT second_factor_use_step($1, $2, $3)", user_id, step, resealed
    )
    return bool(found)


async def use_recovery(conn: Connection, user_id: str, code_hash: str) -> int | None:
    """How many recovery codes are left; None when this was not an unused one."""
    left: int | None = await conn.fetchval(
        "SELECT second_factor_use_recovery($1, $2)", user_id, code_hash
    )
    return left


async def set_recovery(conn: Connection, user_id: str, hashes: list[str]) -> bool:
    found = await conn.fetchval("SELECT second_factor_set_recovery($1, $2)", user_id, hashes)
    return bool(found)


async def remove(conn: Connection, user_id: str) -> bool:
    found = await conn.fetchval("SELECT second_factor_remove($1)", user_id)
    return bool(found)


@dataclass(frozen=True, slots=True)
class Covered:
    user_id: str
    role: str
    enabled: bool


async def coverage(conn: Connection) -> list[Covered]:
    """Each active member of the organization, and whether they have a second factor."""
    rows = await conn.fetch("SELECT user_id, role, enabled FROM second_factor_coverage()")
    return [Covered(row["user_id"], row["role"], row["enabled"]) for row in rows]


async def requirement(conn: Connection) -> two_factor.Requirement:
    found = await conn.fetchval(
        "SELECT two_factor_required_for FROM organizations WHERE id = app_current_org()"
    )
    return two_factor.Requirement(found)


async def set_requirement(conn: Connection, requirement: two_factor.Requirement) -> None:
    await conn.execute(
        "UPDATE organizations SET two_factor_required_for = $1 WHERE id = app_current_org()",
        requirement.value,
    )


@dataclass(frozen=True, slots=True)
class SealedFactor:
    email: str
    secret_sealed: str | None
    pending_sealed: str | None


async def to_reseal(conn: Connection, current: str, after: str, limit: int) -> list[SealedFactor]:
    """Factors another key than `current` sealed, by e-mail after `after`."""
    rows = await conn.fetch(
        "SELECT email, secret_sealed, pending_sealed FROM second_factors_to_reseal($1, $2, $3)",
        current,
        after,
        limit,
    )
    return [SealedFactor(r["email"], r["secret_sealed"], r["pending_sealed"]) for r in rows]


async def reseal(
    conn: Connection, was: SealedFactor, secret: str | None, pending: str | None
) -> bool:
    """Store the factor resealed, if it is still as read."""
    done = await conn.fetchval(
        "SELECT second_factor_reseal($1, $2, $3, $4, $5)",
        was.email,
        was.secret_sealed,
        secret,
        was.pending_sealed,
        pending,
    )
    return bool(done)
