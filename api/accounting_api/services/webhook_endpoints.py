"""Webhook endpoints and their deliveries, as admins manage them (admin role or above).

An endpoint is created with a fresh signing secret (returned that once), may be
disabled (sent nothing, its pending deliveries wait) and enabled again, or deleted
(never listed again; what was still to be sent fails). A failed delivery may be
retried: it becomes pending and due at once, for one more attempt.
"""

from __future__ import annotations

import dataclasses
import secrets

from accounting_api.db import webhooks as webhooks_db
from accounting_api.db.connection import Connection
from accounting_api.domain import audit, errors, ids, sealing, webhook_urls, webhooks
from accounting_api.domain.roles import Principal, Role
from accounting_api.services.audit import records
from accounting_api.services.ports import Transactions, Unit


def _without_secret(endpoint: webhooks.Endpoint) -> webhooks.Endpoint:
    """An endpoint's state for the audit trail: its signing secret stays out of it."""
    return dataclasses.replace(endpoint, secret=None)


@records("webhook_endpoint", "created", state=_without_secret)
async def create_endpoint(
    db: Unit,
    principal: Principal,
    *,
    url: str,
    description: str,
    allow_insecure: bool,
    keys: sealing.KeyRing | None,
) -> webhooks.Endpoint:
    """A new endpoint with a fresh signing secret, returned this once and stored sealed
    (refused without a key ring: a secret is never stored in the clear)."""
    principal.require(Role.ADMIN)
    webhook_urls.check(url, allow_insecure=allow_insecure)
    if keys is None:
        raise errors.WebhookSecretKeysMissing(
            "webhook endpoints cannot be created: no key to seal their signing secrets"
            " (WEBHOOK_SECRET_KEYS) is configured"
        )
    secret = f"whsec_{secrets.token_hex(32)}"
    endpoint_id, organization_id = ids.new_id("we"), principal.organization_id
    sealed = keys.seal(secret.encode(), webhooks.secret_binding(organization_id, endpoint_id))
    async with db.transaction(organization_id) as conn:
        endpoint = await webhooks_db.insert_endpoint(
            conn,
            organization_id,
            endpoint_id,
            url=url,
            description=description,
            sealed_secret=sealed,
        )
    return dataclasses.replace(endpoint, secret=secret)


async def list_endpoints(
    db: Transactions, principal: Principal, *, limit: int, starting_after: str | None
) -> list[webhooks.Endpoint]:
    principal.require(Role.ADMIN)
    async with db.transaction(principal.organization_id) as conn:
        return await webhooks_db.list_endpoints(conn, limit=limit, after=starting_after)


def _found(endpoint: webhooks.Endpoint | None, endpoint_id: str) -> webhooks.Endpoint:
    if endpoint is None:
        raise errors.NotFound(f"no webhook endpoint with id {endpoint_id!r}", param="id")
    return endpoint


async def get_endpoint(
    db: Transactions, principal: Principal, endpoint_id: str
) -> webhooks.Endpoint:
    principal.require(Role.ADMIN)
    async with db.transaction(principal.organization_id) as conn:
        return _found(await webhooks_db.get_endpoint(conn, endpoint_id), endpoint_id)


async def set_disabled(
    db: Unit, principal: Principal, endpoint_id: str, *, disabled: bool
) -> webhooks.Endpoint:
    """Disable or enable an endpoint; doing it twice changes nothing more."""
    principal.require(Role.ADMIN)
    async with db.transaction(principal.organization_id) as conn:
        endpoint = _found(await webhooks_db.set_disabled(conn, endpoint_id, disabled), endpoint_id)
    db.changed(audit.changed("webhook_endpoint", "disabled" if disabled else "enabled", endpoint))
    return endpoint


@records("webhook_endpoint", "deleted")
async def delete_endpoint(db: Unit, principal: Principal, endpoint_id: str) -> webhooks.Endpoint:
    principal.require(Role.ADMIN)
    async with db.transaction(principal.organization_id) as conn:
        return _found(await webhooks_db.delete_endpoint(conn, endpoint_id), endpoint_id)


async def list_deliveries(
    db: Transactions,
    principal: Principal,
    endpoint_id: str,
    *,
    limit: int,
    starting_after: str | None,
    status: webhooks.DeliveryStatus | None,
) -> list[webhooks.DeliveryRecord]:
    principal.require(Role.ADMIN)
    async with db.transaction(principal.organization_id) as conn:
        _found(await webhooks_db.get_endpoint(conn, endpoint_id), endpoint_id)
        return await webhooks_db.list_deliveries(
            conn, endpoint_id, limit=limit, after=starting_after, status=status
        )


async def _retryable(conn: Connection, delivery_id: str) -> None:
    found = await webhooks_db.lock_delivery(conn, delivery_id)
    if found is None:
        raise errors.NotFound(f"no webhook delivery with id {delivery_id!r}", param="id")
    delivery, endpoint = found
    if delivery.status != "failed":
        raise errors.WebhookDeliveryNotFailed(
            f"webhook delivery {delivery_id} is {delivery.status}: only a failed one is retried"
        )
    if endpoint.disabled:
        raise errors.WebhookEndpointDisabled(
            f"webhook endpoint {endpoint.id} is disabled: enable it first"
        )


@records("webhook_delivery", "retried")
async def retry_delivery(
    db: Unit, principal: Principal, delivery_id: str
) -> webhooks.DeliveryRecord:
    """Make a failed delivery pending and due now; the worker sends it on its next pass."""
    principal.require(Role.ADMIN)
    async with db.transaction(principal.organization_id) as conn:
        await _retryable(conn, delivery_id)
        return await webhooks_db.requeue(conn, delivery_id)
