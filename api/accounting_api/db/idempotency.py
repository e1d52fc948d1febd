"""SQL for stored Idempotency-Key responses."""

from __future__ import annotations

import asyncpg

from accounting_api.db.connection import Connection


async def try_lock(conn: Connection, scope: str, key: str) -> bool:
    """Take the key's transaction-scoped advisory lock, or report it held elsewhere.

    Scopes never contain '|', so scope|key names one key unambiguously.
    """
    return bool(
        await conn.fetchval(
            "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", f"{scope}|{key}"
        )
    )


async def find(conn: Connection, scope: str, key: str, ttl_seconds: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT request_hash, status_code, response_body, response_sealed FROM idempotency_keys"
        " WHERE scope = $1 AND key = $2 AND created_at > now() - make_interval(secs => $3)",
        scope,
        key,
        ttl_seconds,
    )


async def store(
    conn: Connection,
    *,
    scope: str,
    key: str,
    organization_id: str | None,
    request_hash: str,
    status_code: int,
    body: bytes,
    sealed: str | None = None,
) -> None:
    """`sealed`: the whole answer sealed, when it holds a secret (`body` is then the answer
    without it)."""
    # An expired row under the same key is replaced; the advisory lock serialises us.
    await conn.execute(
        "INSERT INTO idempotency_keys (scope, key, organization_id, request_hash,"
        " status_code, response_body, response_sealed) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (scope, key) DO UPDATE SET request_hash = excluded.request_hash,"
        " status_code = excluded.status_code, response_body = excluded.response_body,"
        " response_sealed = excluded.response_sealed,"
        " created_at = now(), organization_id = excluded.organization_id",
        scope,
        key,
        organization_id,
        request_hash,
        status_code,
        body,
        sealed,
    )


async def purge(conn: Connection, older_than_seconds: int) -> int:
    return int(
        await conn.fetchval(
            "SELECT purge_idempotency_keys(make_interval(secs => $1))", older_than_seconds
        )
    )
