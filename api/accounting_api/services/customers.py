"""Customer use cases: create, read, list, archive (customers are never deleted)."""

from __future__ import annotations

import datetime
from typing import Any

from accounting_api.db import billing as billing_db
from accounting_api.db.connection import Connection
from accounting_api.domain import billing, errors, ids, money
from accounting_api.domain.billing import Customer
from accounting_api.domain.roles import Principal, Role
from accounting_api.services.audit import records
from accounting_api.services.ports import Transactions, Unit


@records("customer", "created")
async def create_customer(
    db: Unit,
    principal: Principal,
    *,
    name: str,
    email: str | None,
    currency: str | None,
    tier: billing.CustomerTier,
    billing_address: dict[str, Any] | None,
) -> Customer:
    """A customer billed in `currency` (the organization's base currency by default)."""
    principal.require(Role.ACCOUNTANT)
    if currency is not None:
        money.exponent(currency)
    async with db.transaction(principal.organization_id) as conn:
        customer = Customer(
            ids.new_id("cus"),
            name,
            email,
            currency or await billing_db.organization_currency(conn),
            tier,
            billing_address,
            None,
            datetime.datetime.now(datetime.UTC),
        )
        return await billing_db.insert_customer(conn, principal.organization_id, customer)


async def get_customer(db: Transactions, principal: Principal, customer_id: str) -> Customer:
    async with db.transaction(principal.organization_id) as conn:
        customer = await billing_db.get_customer(conn, customer_id)
    if customer is None:
        raise errors.NotFound(f"no customer {customer_id}", param="id")
    return customer


async def list_customers(
    db: Transactions,
    principal: Principal,
    *,
    limit: int,
    starting_after: str | None,
    archived: bool | None,
) -> list[Customer]:
    async with db.transaction(principal.organization_id) as conn:
        return await billing_db.list_customers(
            conn, limit=limit, before=starting_after, archived=archived
        )


@records("customer", "archived")
async def archive_customer(db: Unit, principal: Principal, customer_id: str) -> Customer:
    """Archive a customer: no new invoice may be created or finalized for it; its
    invoices and their history stay."""
    principal.require(Role.ACCOUNTANT)
    async with db.transaction(principal.organization_id) as conn:
        archived = await billing_db.archive_customer(conn, customer_id)
        if archived is None:
            # Missing, or archived already: billable_customer raises the error that says so.
            await billable_customer(conn, customer_id, param="id", missing=errors.NotFound)
    assert archived is not None
    return archived


async def billable_customer(
    conn: Connection,
    customer_id: str,
    *,
    param: str,
    missing: type[errors.AccountingError] = errors.ResourceMissing,
) -> billing.Billed:
    """The customer, held FOR SHARE (so archiving waits for this transaction), if it
    exists in this organization and is not archived."""
    customer = await billing_db.get_billed(conn, customer_id, lock=True)
    if customer is None:
        raise missing(f"no customer {customer_id}", param=param)
    if customer.archived_at is not None:
        raise errors.CustomerArchived(
            f"customer {customer_id} was archived on {customer.archived_at:%Y-%m-%d}", param=param
        )
    return customer
