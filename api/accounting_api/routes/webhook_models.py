"""Request and response bodies of webhook endpoints."""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from accounting_api.routes.models import Body, Out, Text

Url = Annotated[
    str,
    StringConstraints(pattern=r"^https?://[^\s]+$", max_length=2000),
    Field(description="Where events are POSTed (http or https)."),
]


class WebhookEndpointIn(Body):
    url: Url
    description: Annotated[Text, StringConstraints(max_length=500)] = ""


class WebhookEndpointOut(Out):
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    id: str
    url: str
    description: str
    created_at: datetime.datetime


class WebhookEndpointCreatedOut(WebhookEndpointOut):
    secret: str = Field(
        description="The signing secret (whsec_...), returned only by this response. Verify "
        "X-UA-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, '<t>.<raw body>')>."
    )
