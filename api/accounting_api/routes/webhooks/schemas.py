"""Request and response bodies of webhook endpoints and their deliveries."""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from accounting_api.domain.webhooks import DeliveryStatus
from accounting_api.routes.schemas import Body, ListQuery, Out, Text

DELIVERY_ID = r"^whd_[0-9a-f]{32}$"

Url = Annotated[
    str,
    StringConstraints(pattern=r"^https?://[^\s]+$", max_length=2000),
    Field(
        description="Where events are POSTed: https, to a public internet address (http and "
        "private addresses only where WEBHOOK_ALLOW_INSECURE is on)."
    ),
]


class WebhookEndpointIn(Body):
    url: Url
    description: Annotated[Text, StringConstraints(max_length=500)] = ""


class WebhookEndpointOut(Out):
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    id: str
    url: str
    description: str
    status: Literal["enabled", "disabled"] = Field(
        description="A disabled endpoint is sent nothing; its pending deliveries wait."
    )
    created_at: datetime.datetime


class WebhookEndpointCreatedOut(WebhookEndpointOut):
    secret: str = Field(
        description="The signing secret (whsec_...), returned only by this response. Verify "
        "X-UA-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, '<t>.<raw body>')>."
    )


class WebhookEndpointDeletedOut(Out):
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    id: str
    deleted: Literal[True] = True


class DeliveryListQuery(ListQuery):
    starting_after: Annotated[str, StringConstraints(pattern=DELIVERY_ID)] | None = None
    status: DeliveryStatus | None = None


class WebhookDeliveryOut(Out):
    object: Literal["webhook_delivery"] = "webhook_delivery"
    id: str
    endpoint: str
    event: str = Field(description="The event's id (evt_...), as in the body sent.")
    event_type: str
    status: DeliveryStatus = Field(
        description="pending (to be tried), delivered (a 2xx answer), or failed: given up "
        "after the last allowed attempt, or its endpoint was deleted."
    )
    attempts: int
    last_error: str | None
    next_attempt_at: datetime.datetime | None
    delivered_at: datetime.datetime | None
