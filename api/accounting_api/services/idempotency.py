"""Idempotency-Key: a POST's answer stored with its effect, in its unit of work, and
replayed to the same caller.

A stored answer belongs to the caller who made it (scope: the user, or the client's
address for a request without a user, such as sign-up), as Stripe scopes keys to the API
key that used them: another user of the same organization sending the same key runs
their own request (and is refused what their role does not allow). The key's advisory
lock is held until the unit of work ends, so a concurrent request with the same key gets
409; the same key with a different request gets 422.

An answer that holds a secret (a new webhook endpoint's) is stored sealed under the key
ring, bound to its scope and key, next to the same answer without the secret (what the
previous version replays, docs/webhook-secrets.md): the replay opens it. One that no longer
opens (its key dropped from the ring) is replayed without its secret.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from accounting_api.db import idempotency as store_db
from accounting_api.domain import errors, sealing
from accounting_api.services.ports import Unit

log = logging.getLogger("accounting_api.idempotency")


@dataclass(frozen=True, slots=True)
class Stored:
    status_code: int
    body: bytes
    public: bytes | None = None
    """When `body` holds a secret: the same answer without it (stored in the clear while
    `body` is stored sealed)."""


def _binding(scope: str, key: str) -> bytes:
    return sealing.binding("idempotency_keys.response_sealed", scope, key)


def _opened(sealed: str, bound_to: bytes, keys: sealing.KeyRing | None) -> bytes | None:
    """The sealed answer, opened; None (logged) when it no longer opens."""
    try:
        if keys is None:
            raise sealing.Unreadable("WEBHOOK_SECRET_KEYS is not set")
        return keys.open(sealed, bound_to)
    except sealing.Unreadable as exc:
        log.warning("a stored answer is replayed without its secret: %s", exc)
        return None


async def claim(
    unit: Unit,
    *,
    scope: str,
    key: str,
    request_hash: str,
    ttl_seconds: int,
    keys: sealing.KeyRing | None,
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
    public, sealed = bytes(found["response_body"]), found["response_sealed"]
    opened = None if sealed is None else _opened(sealed, _binding(scope, key), keys)
    return Stored(found["status_code"], opened or public)


async def store(
    unit: Unit,
    *,
    scope: str,
    key: str,
    organization_id: str | None,
    request_hash: str,
    answer: Stored,
    keys: sealing.KeyRing | None,
) -> None:
    """Store the answer under the key, in the unit of work that made its effect; one that
    holds a secret sealed (without a key ring, only the answer without it)."""
    body, sealed = answer.body, None
    if answer.public is not None:
        body = answer.public
        sealed = None if keys is None else keys.seal(answer.body, _binding(scope, key))
    await unit.use_tenant(organization_id)
    await store_db.store(
        unit.conn,
        scope=scope,
        key=key,
        organization_id=organization_id,
        request_hash=request_hash,
        status_code=answer.status_code,
        body=body,
        sealed=sealed,
    )
