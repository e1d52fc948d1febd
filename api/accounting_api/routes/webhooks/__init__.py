"""Webhook endpoints and their deliveries (admin or owner): the endpoint table."""

from __future__ import annotations

from accounting_api.domain.roles import Role
from accounting_api.routes import schemas as common
from accounting_api.routes.openapi import Endpoint
from accounting_api.routes.webhooks import handlers, schemas

ONE = "/v1/webhook-endpoints/{id}"

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST",
        "/v1/webhook-endpoints",
        handlers.create_webhook_endpoint,
        "Add a webhook endpoint (admin or owner); the response holds its signing secret",
        201,
        schemas.WebhookEndpointIn,
        response=schemas.WebhookEndpointCreatedOut,
        tag="webhooks",
        role=Role.ADMIN,
    ),
    Endpoint(
        "GET",
        "/v1/webhook-endpoints",
        handlers.list_webhook_endpoints,
        "List webhook endpoints (admin or owner; secrets are never listed)",
        query=common.ListQuery,
        response=common.ListOut[schemas.WebhookEndpointOut],
        tag="webhooks",
        role=Role.ADMIN,
    ),
    Endpoint(
        "GET",
        ONE,
        handlers.get_webhook_endpoint,
        "Retrieve a webhook endpoint",
        response=schemas.WebhookEndpointOut,
        tag="webhooks",
        role=Role.ADMIN,
    ),
    Endpoint(
        "DELETE",
        ONE,
        handlers.delete_webhook_endpoint,
        "Delete a webhook endpoint; what was still to be sent to it fails",
        response=schemas.WebhookEndpointDeletedOut,
        tag="webhooks",
        role=Role.ADMIN,
    ),
    Endpoint(
        "POST",
        f"{ONE}/disable",
        handlers.disable_webhook_endpoint,
        "Disable a webhook endpoint: no new deliveries, pending ones wait",
        response=schemas.WebhookEndpointOut,
        tag="webhooks",
        role=Role.ADMIN,
    ),
    Endpoint(
        "POST",
        f"{ONE}/enable",
        handlers.enable_webhook_endpoint,
        "Enable a disabled webhook endpoint again",
        response=schemas.WebhookEndpointOut,
        tag="webhooks",
        role=Role.ADMIN,
    ),
    Endpoint(
        "GET",
        f"{ONE}/deliveries",
        handlers.list_webhook_deliveries,
        "List an endpoint's deliveries, newest first, by status if given",
        query=schemas.DeliveryListQuery,
        response=common.ListOut[schemas.WebhookDeliveryOut],
        tag="webhooks",
        role=Role.ADMIN,
    ),
    Endpoint(
        "POST",
        "/v1/webhook-deliveries/{id}/retry",
        handlers.retry_webhook_delivery,
        "Retry a failed delivery: pending again and due now, for one more attempt",
        response=schemas.WebhookDeliveryOut,
        tag="webhooks",
        role=Role.ADMIN,
    ),
)
