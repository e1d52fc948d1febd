"""Idempotency-Key: a POST's answer stored with its effect, in its unit of work, and
replayed to the same caller.

A stored answer belongs to the caller who made it (scope: the user, or the client's
address for a request without a user, such as sign-up), as Stripe scopes keys to the API
key that used them: another user of the same organization sending the same key runs
their own request (and is refused what their role does not allow). The key's advisory
lock is held until the unit of work ends, so a concurrent request with the same key gets
409; the same key with a different request gets 422.
"""

from __future__ import annotations

from dataclasses import dataclass

from accounting_api.db import idempotency as store_db
from accounting_api.domain import errors
from accounting_api.services.ports import Unit


@dataclass(frozen=True, slots=True)
class Stored:
    status_code: int
    body: bytes


async def claim(
    unit: Unit, *, scope: str, key: str, request_hash: str, ttl_seconds: int
) -> Stored | None:
    """Hold the key for this unit of work; the answer stored under it, if any."""
    if not await store_db.try_lock(unit.conn, scope, key):
        raise errors.IdempotencyInProgress(
            "a request with this Idempotency-Key is still being processed; retry later",
            param="Idempotency-Key",
        )
    found = await store_db.find(unit.conn, scope, key, ttl_seconds)
    if found is None:
        return None
    if found["request_hash"] != request_hash:
        raise errors.IdempotencyMismatch(
            "this Idempotency-Key was used with a different request", param="Idempotency-Key"
        )
    return Stored(found["status_code"], bytes(found["response_body"]))


async def store(
    unit: Unit,
    *,
    scope: str,
    key: str,
    organization_id: str | None,
    request_hash: str,
    answer: Stored,
) -> None:
    """Store the answer under the key, in the unit of work that made its effect."""
    await unit.use_tenant(organization_id)
    await store_db.store(
        unit.conn,
        scope=scope,
        key=key,
        organization_id=organization_id,
        request_hash=request_hash,
        status_code=answer.status_code,
        body=answer.body,
    )
