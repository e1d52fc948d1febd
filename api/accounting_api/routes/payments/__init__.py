"""Payments and refunds: the endpoint table."""

from __future__ import annotations

from accounting_api.domain.roles import Role
from accounting_api.routes import schemas as common
from accounting_api.routes.openapi import Endpoint
from accounting_api.routes.payments import handlers, schemas

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST",
        "/v1/payments",
        handlers.create_payment,
        "Record a payment and apply it to invoices (the rest becomes customer credit)",
        201,
        schemas.PaymentIn,
        None,
        schemas.PaymentOut,
        tag="billing",
        role=Role.ACCOUNTANT,
    ),
    Endpoint(
        "GET",
        "/v1/payments",
        handlers.list_payments,
        "List payments, newest first",
        200,
        None,
        schemas.PaymentListQuery,
        common.list_of(schemas.PaymentOut),
        tag="billing",
    ),
    Endpoint(
        "GET",
        "/v1/payments/{id}",
        handlers.get_payment,
        "Retrieve a payment",
        200,
        None,
        None,
        schemas.PaymentOut,
        tag="billing",
    ),
    Endpoint(
        "POST",
        "/v1/refunds",
        handlers.create_refund,
        "Refund part or all of a payment (its credit first, then its invoices), or the"
        " customer credit a credit note holds",
        201,
        schemas.RefundIn,
        None,
        schemas.RefundOut,
        tag="billing",
        role=Role.ACCOUNTANT,
    ),
    Endpoint(
        "GET",
        "/v1/refunds",
        handlers.list_refunds,
        "List refunds, newest first",
        200,
        None,
        schemas.RefundListQuery,
        common.list_of(schemas.RefundOut),
        tag="billing",
    ),
    Endpoint(
        "GET",
        "/v1/refunds/{id}",
        handlers.get_refund,
        "Retrieve a refund",
        200,
        None,
        None,
        schemas.RefundOut,
        tag="billing",
    ),
)
