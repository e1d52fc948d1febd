"""Webhooks: endpoints, signatures and the retry schedule of deliveries.

A delivery's body is signed with the endpoint's secret over `<unix time>.<body>`, sent
as `X-UA-Signature: t=<unix time>,v1=<hex HMAC-SHA256>`, so a receiver can verify it
and refuse replays older than its tolerance. Failed deliveries are retried with
exponential backoff (base x 2^(attempts - 1), capped) until the last allowed attempt,
after which the delivery is failed (dead-lettered): kept, shown, retried only on request.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Literal

from accounting_api.domain import sealing

SIGNATURE_HEADER = "X-UA-Signature"
MAX_ERROR_LENGTH = 1000


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    url: str
    description: str
    created_at: datetime.datetime
    disabled: bool = False
    """A disabled endpoint is sent nothing until it is enabled again."""
    secret: str | None = None
    """Only when just created: the secret is never listed."""


def secret_binding(organization_id: str, endpoint_id: str) -> bytes:
    """What an endpoint's sealed secret is bound to: it opens in that row only."""
    return sealing.binding("webhook_endpoints.secret_sealed", organization_id, endpoint_id)


DeliveryStatus = Literal["pending", "delivered", "failed"]


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A delivery as an admin sees it (GET .../deliveries)."""

    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    next_attempt_at: datetime.datetime | None
    """When the worker tries next; None once delivered or failed."""
    delivered_at: datetime.datetime | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed delivery: one event to one endpoint."""

    id: int
    attempts: int
    url: str
    secret: str | None
    """In the clear: only in a row the previous version wrote and no rekey sealed yet."""
    event_id: str
    event_type: str
    data: dict[str, Any]
    created_at: datetime.datetime
    endpoint_id: str
    sealed_secret: str | None
    """The secret sealed under the key ring (`secret_binding`)."""

    def __repr__(self) -> str:  # never show the secret in logs or tracebacks
        return f"Delivery(id={self.id}, event_id={self.event_id}, attempts={self.attempts})"


def body(delivery: Delivery) -> bytes:
    """The JSON posted: the event, Stripe-style."""
    event = {
        "id": delivery.event_id,
        "object": "event",
        "type": delivery.event_type,
        "created": int(delivery.created_at.timestamp()),
        "data": {"object": delivery.data},
    }
    return json.dumps(event, separators=(",", ":"), sort_keys=True).encode()


def signature(secret: str, timestamp: int, payload: bytes) -> str:
    """The X-UA-Signature header value."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def retry_delay(attempts: int, base_seconds: float, max_seconds: float) -> float:
    """Seconds before the next try after `attempts` failed ones (1 -> base)."""
    return float(min(max_seconds, base_seconds * 2 ** max(0, attempts - 1)))


def gives_up(attempts: int, max_attempts: int) -> bool:
    """Whether a delivery that just failed its `attempts`-th try is failed for good."""
    return attempts >= max_attempts


def short_error(message: str) -> str:
    return message[:MAX_ERROR_LENGTH]
