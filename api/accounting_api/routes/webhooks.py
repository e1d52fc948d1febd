"""HTTP handlers of webhook endpoints (admin and owner only)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from accounting_api.domain.webhooks import Endpoint
from accounting_api.routes import models, support
from accounting_api.routes import webhook_models as wm
from accounting_api.services import webhooks


def endpoint_out(endpoint: Endpoint) -> wm.WebhookEndpointOut:
    return wm.WebhookEndpointOut(
        id=endpoint.id,
        url=endpoint.url,
        description=endpoint.description,
        created_at=endpoint.created_at,
    )


async def create_webhook_endpoint(request: Request) -> Response:
    data = await support.body(request, wm.WebhookEndpointIn)
    endpoint = await webhooks.create_endpoint(
        support.deps(request).db,
        support.principal(request),
        url=data.url,
        description=data.description,
    )
    assert endpoint.secret is not None
    created = wm.WebhookEndpointCreatedOut(
        **endpoint_out(endpoint).model_dump(), secret=endpoint.secret
    )
    return support.json(created, 201)


async def list_webhook_endpoints(request: Request) -> Response:
    page = support.query(request, models.ListQuery)
    found = await webhooks.list_endpoints(
        support.deps(request).db,
        support.principal(request),
        limit=page.limit + 1,
        starting_after=page.starting_after,
    )
    return support.page(found, page.limit, endpoint_out)
