"""SQL for sealing webhook signing secrets under the current key (services/webhook_secrets)."""

from __future__ import annotations

from dataclasses import dataclass

from accounting_api.db.connection import Connection


@dataclass(frozen=True, slots=True)
class StoredSecret:
    """An endpoint's secret as its row holds it: in the clear (written by the previous
    version), or sealed."""

    endpoint_id: str
    plain: str | None
    sealed: str | None


async def organizations_to_seal(conn: Connection, current_key: str) -> list[str]:
    """Every organization with a secret in the clear or sealed under another key."""
    rows = await conn.fetch(
        "SELECT organizations_with_webhook_secrets_to_seal($1) AS id", current_key
    )
    return [row["id"] for row in rows]


async def lock_to_seal(conn: Connection, current_key: str) -> list[StoredSecret]:
    """The current tenant's secrets still to seal under `current_key`, locked (another
    worker's pass skips them)."""
    rows = await conn.fetch(
        "SELECT id, secret, secret_sealed FROM webhook_endpoints"
        " WHERE organization_id = app_current_org()"
        " AND (secret IS NOT NULL OR split_part(secret_sealed, ':', 1) <> $1)"
        " ORDER BY id FOR UPDATE SKIP LOCKED",
        current_key,
    )
    return [StoredSecret(row["id"], row["secret"], row["secret_sealed"]) for row in rows]


async def store_sealed(conn: Connection, endpoint_id: str, sealed: str) -> None:
    """Keep the secret sealed only: the plaintext is cleared in the same statement."""
    await conn.execute(
        "UPDATE webhook_endpoints SET secret_sealed = $2, secret = NULL"
        " WHERE id = $1 AND organization_id = app_current_org()",
        endpoint_id,
        sealed,
    )
