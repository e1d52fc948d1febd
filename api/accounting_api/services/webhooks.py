"""The worker job that delivers outbox events to webhook endpoints.

Delivery is at least once: a delivery is claimed for a lease in a short transaction
(FOR UPDATE SKIP LOCKED, so two workers never claim the same one), posted with no
transaction open, then marked delivered (2xx), rescheduled with exponential backoff,
or failed for good after the last allowed attempt. A worker killed mid-delivery leaves
the claim to expire and be taken again.
Endpoint secrets never reach a log line: deliveries log ids only. A secret is sealed at
rest (docs/webhook-secrets.md) and opened here, just before signing; one that does not open
fails the attempt like an unreachable receiver: nothing is sent, nothing is signed.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import time

from accounting_api.db import webhooks as webhooks_db
from accounting_api.domain import sealing, webhooks
from accounting_api.services import webhook_transport
from accounting_api.services.ports import Transactions

log = logging.getLogger("accounting_api.worker")


@dataclasses.dataclass(frozen=True, slots=True)
class DeliverySettings:
    retry_base_seconds: float = 30.0
    """Delay before the first retry; doubled after each further failure."""
    retry_max_seconds: float = 6 * 3600.0
    """Longest delay between two tries."""
    lease_seconds: float = 60.0
    """How long a claimed delivery is left to its worker before another may take it."""
    timeout_seconds: float = 10.0
    """Time allowed for a receiver to answer."""
    batch_size: int = 50
    """Deliveries claimed per transaction."""
    max_attempts: int = 22
    """Attempts before a delivery is failed for good: with the defaults above, the last
    comes about three days after the first (30 s doubling, capped at 6 h)."""
    allow_insecure: bool = False
    """Deliver over plain http and to private, loopback and other internal addresses
    (local development and tests only)."""
    keys: sealing.KeyRing | None = None
    """The key ring that opens sealed endpoint secrets (WEBHOOK_SECRET_KEYS); without it
    only a secret the previous version left in the clear can sign."""


def signing_secret(
    delivery: webhooks.Delivery, organization_id: str, keys: sealing.KeyRing | None
) -> str:
    """The endpoint's secret, opened; sealing.Unreadable when it cannot be."""
    if delivery.sealed_secret is None:
        if not delivery.secret:  # the table's check forbids it; never sign with nothing
            raise sealing.Unreadable("the endpoint has no signing secret")
        return delivery.secret
    if keys is None:
        raise sealing.Unreadable("WEBHOOK_SECRET_KEYS is not set")
    bound_to = webhooks.secret_binding(organization_id, delivery.endpoint_id)
    return keys.open(delivery.sealed_secret, bound_to).decode()


async def _attempt(
    delivery: webhooks.Delivery,
    organization_id: str,
    transport: webhook_transport.Transport,
    settings: DeliverySettings,
) -> str | None:
    """Post one delivery; None on a 2xx answer, else what went wrong."""
    try:
        secret = signing_secret(delivery, organization_id, settings.keys)
    except sealing.Unreadable as exc:
        return webhooks.short_error(f"the signing secret cannot be opened ({exc}): not sent")
    body = webhooks.body(delivery)
    header = webhooks.signature(secret, int(time.time()), body)
    try:
        status = await transport(
            delivery.url, body, {webhooks.SIGNATURE_HEADER: header}, settings.timeout_seconds
        )
    except (OSError, TimeoutError, ValueError) as exc:
        # ValueError: a URL no request can be made to (a port out of range, a host that
        # is not a domain name...), stored before creation checked for it.
        return webhooks.short_error(f"{type(exc).__name__}: {exc}")
    return None if 200 <= status < 300 else f"receiver answered HTTP {status}"


def _retry_at(delivery: webhooks.Delivery, settings: DeliverySettings) -> datetime.datetime | None:
    """When to try again after a failed attempt; None when it was the last one allowed."""
    if webhooks.gives_up(delivery.attempts, settings.max_attempts):
        return None
    delay = webhooks.retry_delay(
        delivery.attempts, settings.retry_base_seconds, settings.retry_max_seconds
    )
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=delay)


async def _settle(
    db: Transactions,
    organization_id: str,
    delivery: webhooks.Delivery,
    error: str | None,
    settings: DeliverySettings,
) -> None:
    async with db.transaction(organization_id) as conn:
        if error is None:
            await webhooks_db.mark_delivered(conn, delivery.id)
            return
        retry_at = _retry_at(delivery, settings)
        await webhooks_db.mark_failed(conn, delivery.id, delivery.attempts, retry_at, error)
    log.warning(
        "webhook delivery failed: %s",
        error,
        extra={
            "delivery_id": delivery.id,
            "event_id": delivery.event_id,
            "retry_at": retry_at.isoformat() if retry_at else None,
        },
    )


async def deliver_organization(
    db: Transactions,
    organization_id: str,
    transport: webhook_transport.Transport,
    settings: DeliverySettings,
) -> int:
    """One batch of one organization's due deliveries; returns how many succeeded."""
    async with db.transaction(organization_id) as conn:
        claimed = await webhooks_db.claim_due(conn, settings.lease_seconds, settings.batch_size)
    delivered = 0
    for delivery in claimed:
        error = await _attempt(delivery, organization_id, transport, settings)
        await _settle(db, organization_id, delivery, error, settings)
        delivered += error is None
    return delivered


async def deliver_due(
    db: Transactions,
    settings: DeliverySettings,
    transport: webhook_transport.Transport | None = None,
) -> int:
    """Attempt every organization's due deliveries once; returns how many succeeded.
    The transport is the guarded HTTP one unless a test gives another."""
    transport = transport or webhook_transport.Guarded(allow_insecure=settings.allow_insecure)
    async with db.transaction(None) as conn:
        organizations = await webhooks_db.organizations_with_due(conn)
    delivered = 0
    for organization_id in organizations:
        try:
            delivered += await deliver_organization(db, organization_id, transport, settings)
        except Exception:
            # One organization's failure must not hold up every other's webhooks (nor
            # the rest of the worker's pass); its claims expire and are tried again.
            log.exception("webhook deliveries of %s failed", organization_id)
    return delivered
