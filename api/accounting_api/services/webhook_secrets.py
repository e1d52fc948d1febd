"""Sealing webhook signing secrets under the current key: each worker pass, and
`accounting-api webhooks rekey` (docs/webhook-secrets.md).

A secret the previous version wrote in the clear is sealed and its plaintext cleared; a
secret sealed under an older key of the ring is sealed again under the current one. Once
a pass finds nothing left (and nothing unreadable), no row needs an older key any more.
A secret that does not open (its key is gone, or it was copied from another row) is left
as it is and counted: its endpoint's deliveries fail with that error until it is fixed.
Only ids reach the log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from accounting_api.db import webhook_secrets as secrets_db
from accounting_api.domain import sealing, webhooks
from accounting_api.services.ports import Transactions

log = logging.getLogger("accounting_api.worker")


@dataclass(frozen=True, slots=True)
class Rekeyed:
    sealed: int
    """Secrets now sealed under the current key (that were not before)."""
    unreadable: int
    """Secrets that did not open, left as they were."""


def resealed(stored: secrets_db.StoredSecret, organization_id: str, keys: sealing.KeyRing) -> str:
    """The secret sealed under the current key; sealing.Unreadable if it does not open."""
    bound_to = webhooks.secret_binding(organization_id, stored.endpoint_id)
    if stored.sealed is not None:
        return keys.seal(keys.open(stored.sealed, bound_to), bound_to)
    assert stored.plain is not None  # the table's check: one or the other
    return keys.seal(stored.plain.encode(), bound_to)


async def _rekey_organization(
    db: Transactions, organization_id: str, keys: sealing.KeyRing
) -> Rekeyed:
    sealed = unreadable = 0
    async with db.transaction(organization_id) as conn:
        for stored in await secrets_db.lock_to_seal(conn, keys.current):
            try:
                await secrets_db.store_sealed(
                    conn, stored.endpoint_id, resealed(stored, organization_id, keys)
                )
                sealed += 1
            except sealing.Unreadable as exc:
                unreadable += 1
                log.error("webhook secret of %s does not open: %s", stored.endpoint_id, exc)
    return Rekeyed(sealed, unreadable)


async def rekey(db: Transactions, keys: sealing.KeyRing) -> Rekeyed:
    """Seal every organization's secrets under the current key; what it did."""
    async with db.transaction(None) as conn:
        organizations = await secrets_db.organizations_to_seal(conn, keys.current)
    sealed = unreadable = 0
    for organization_id in organizations:
        done = await _rekey_organization(db, organization_id, keys)
        sealed, unreadable = sealed + done.sealed, unreadable + done.unreadable
    return Rekeyed(sealed, unreadable)
