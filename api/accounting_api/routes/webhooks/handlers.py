"""HTTP handlers of webhook endpoints and their deliveries (admin and owner only)."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from accounting_api.domain import errors
from accounting_api.domain.webhooks import DeliveryRecord, Endpoint
from accounting_api.routes import schemas as common
from accounting_api.routes import support
from accounting_api.routes.webhooks import schemas as wm
from accounting_api.services import webhook_endpoints as endpoints


def endpoint_out(endpoint: Endpoint) -> wm.WebhookEndpointOut:
    return wm.WebhookEndpointOut(
        id=endpoint.id,
        url=endpoint.url,
        description=endpoint.description,
        status="disabled" if endpoint.disabled else "enabled",
        created_at=endpoint.created_at,
    )


def delivery_out(delivery: DeliveryRecord) -> wm.WebhookDeliveryOut:
    return wm.WebhookDeliveryOut(
        id=delivery.id,
        endpoint=delivery.endpoint_id,
        event=delivery.event_id,
        event_type=delivery.event_type,
        status=delivery.status,
        attempts=delivery.attempts,
        last_error=delivery.last_error,
        next_attempt_at=delivery.next_attempt_at,
        delivered_at=delivery.delivered_at,
    )


def _delivery_id(request: Request) -> str:
    value = str(request.path_params["id"])
    if not re.fullmatch(wm.DELIVERY_ID, value):
        raise errors.NotFound(f"no webhook delivery with id {value!r}", param="id")
    return value


async def create_webhook_endpoint(request: Request) -> Response:
    data = await support.body(request, wm.WebhookEndpointIn)
    deps = support.deps(request)
    endpoint = await endpoints.create_endpoint(
        support.unit(request),
        support.principal(request),
        url=data.url,
        description=data.description,
        allow_insecure=deps.settings.webhook_allow_insecure,
        keys=deps.keys,
    )
    assert endpoint.secret is not None
    public = endpoint_out(endpoint)
    created = wm.WebhookEndpointCreatedOut(**public.model_dump(), secret=endpoint.secret)
    return support.SecretAnswer(created, public, 201)


async def list_webhook_endpoints(request: Request) -> Response:
    page = support.query(request, common.ListQuery)
    found = await endpoints.list_endpoints(
        support.reads(request),
        support.principal(request),
        limit=page.limit + 1,
        starting_after=page.starting_after,
    )
    return support.page(found, page.limit, endpoint_out)


async def get_webhook_endpoint(request: Request) -> Response:
    endpoint = await endpoints.get_endpoint(
        support.db(request), support.principal(request), support.path_id(request, "we")
    )
    return support.json(endpoint_out(endpoint))


async def _set_disabled(request: Request, disabled: bool) -> Response:
    endpoint = await endpoints.set_disabled(
        support.unit(request),
        support.principal(request),
        support.path_id(request, "we"),
        disabled=disabled,
    )
    return support.json(endpoint_out(endpoint))


async def disable_webhook_endpoint(request: Request) -> Response:
    return await _set_disabled(request, True)


async def enable_webhook_endpoint(request: Request) -> Response:
    return await _set_disabled(request, False)


async def delete_webhook_endpoint(request: Request) -> Response:
    endpoint = await endpoints.delete_endpoint(
        support.unit(request), support.principal(request), support.path_id(request, "we")
    )
    return support.json(wm.WebhookEndpointDeletedOut(id=endpoint.id))


async def list_webhook_deliveries(request: Request) -> Response:
    endpoint_id = support.path_id(request, "we")
    page = support.query(request, wm.DeliveryListQuery)
    found = await endpoints.list_deliveries(
        support.reads(request),
        support.principal(request),
        endpoint_id,
        limit=page.limit + 1,
        starting_after=page.starting_after,
        status=page.status,
    )
    return support.page(found, page.limit, delivery_out)


async def retry_webhook_delivery(request: Request) -> Response:
    delivery = await endpoints.retry_delivery(
        support.unit(request), support.principal(request), _delivery_id(request)
    )
    return support.json(delivery_out(delivery))
