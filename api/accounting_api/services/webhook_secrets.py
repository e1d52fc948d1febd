"""Sealing webhook signing secrets and second factors under the current key of the
platform key ring: each worker pass, and `accounting-api webhooks rekey`
(docs/webhook-secrets.md).

A secret the previous version wrote in the clear is sealed and its plaintext cleared; a
secret sealed under an older key of the ring is sealed again under the current one. Once
a pass finds nothing left (and nothing unreadable), no row needs an older key any more.
A secret that does not open (its key is gone, or it was copied from another row) is left
as it is and counted: its endpoint's deliveries fail with that error until it is fixed.
Only ids reach the log (a second factor's owner is named by neither e-mail nor id: the
factor is the person's, in no organization).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from accounting_api.db import two_factor as factors_db
from accounting_api.db import webhook_secrets as secrets_db
from accounting_api.domain import sealing, two_factor, webhooks
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


FACTORS_PAGE = 500
"""Second factors resealed per transaction."""


def _resealed_factor(sealed: str | None, email: str, keys: sealing.KeyRing) -> str | None:
    """One column of a factor under the current key (as it is if already); sealing.Unreadable
    if it does not open."""
    if sealed is None or sealed.partition(":")[0] == keys.current:
        return sealed
    bound_to = two_factor.secret_binding(email)
    return keys.seal(keys.open(sealed, bound_to), bound_to)


async def rekey_second_factors(db: Transactions, keys: sealing.KeyRing) -> Rekeyed:
    """Seal every second factor (confirmed and pending) under the current key; a factor
    that does not open is left as it is and counted (its person signs in with a recovery
    code, or enrols again)."""
    sealed = unreadable = 0
    after = ""
    while True:
        async with db.transaction(None) as conn:
            page = await factors_db.to_reseal(conn, keys.current, after, FACTORS_PAGE)
            for factor in page:
                try:
                    secret = _resealed_factor(factor.secret_sealed, factor.email, keys)
                    pending = _resealed_factor(factor.pending_sealed, factor.email, keys)
                except sealing.Unreadable as exc:
                    unreadable += 1
                    log.error("a second factor does not open: %s", exc)
                    continue
                sealed += await factors_db.reseal(conn, factor, secret, pending)
        if len(page) < FACTORS_PAGE:
            return Rekeyed(sealed, unreadable)
        after = page[-1].email
