"""SQL for customers, invoices, invoice lines, invoice numbers and billing accounts."""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from accounting_api.db.connection import Connection
from accounting_api.domain import billing, tax_rates
from accounting_api.domain.billing import Billed, Customer, Invoice, Line

# --- customers -------------------------------------------------------------------------

_CUSTOMER_COLUMNS = (
    "id, name, email, currency, tier, billing_address, archived_at, created_at,"
    " customer_credit(id) AS credit_balance"
)


def _customer(row: asyncpg.Record) -> Customer:
    address = row["billing_address"]
    return Customer(
        id=row["id"],
        name=row["name"],
        email=row["email"],
        currency=row["currency"],
        tier=billing.CustomerTier(row["tier"]),
        billing_address=json.loads(address) if address is not None else None,
        archived_at=row["archived_at"],
        created_at=row["created_at"],
        credit_balance=int(row["credit_balance"]),
    )


async def organization_currency(conn: Connection) -> str:
    currency = await conn.fetchval(
        "SELECT base_currency FROM organizations WHERE id = app_current_org()"
    )
    return str(currency)


async def insert_customer(conn: Connection, organization_id: str, customer: Customer) -> Customer:
    row = await conn.fetchrow(
        "INSERT INTO customers (organization_id, id, name, email, currency, tier,"
        " billing_address) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)"
        f" RETURNING {_CUSTOMER_COLUMNS}",
        organization_id,
        customer.id,
        customer.name,
        customer.email,
        customer.currency,
        customer.tier.value,
        json.dumps(customer.billing_address) if customer.billing_address is not None else None,
    )
    assert row is not None
    return _customer(row)


async def get_customer(
    conn: Connection, customer_id: str, *, lock: bool = False
) -> Customer | None:
    """With lock, FOR SHARE: archiving waits until the invoice written meanwhile commits."""
    row = await conn.fetchrow(
        f"SELECT {_CUSTOMER_COLUMNS} FROM customers WHERE id = $1" + (" FOR SHARE" if lock else ""),
        customer_id,
    )
    return _customer(row) if row else None


async def get_billed(conn: Connection, customer_id: str, *, lock: bool = False) -> Billed | None:
    """The customer as billing sees it; with lock, FOR SHARE, as get_customer."""
    row = await conn.fetchrow(
        "SELECT id, currency, tier, archived_at FROM customers WHERE id = $1"
        + (" FOR SHARE" if lock else ""),
        customer_id,
    )
    if row is None:
        return None
    return Billed(row["id"], row["currency"], billing.CustomerTier(row["tier"]), row["archived_at"])


async def list_customers(
    conn: Connection, *, limit: int, before: str | None, archived: bool | None
) -> list[Customer]:
    rows = await conn.fetch(
        f"SELECT {_CUSTOMER_COLUMNS} FROM customers"
        " WHERE organization_id = app_current_org() AND ($1::text IS NULL OR id < $1)"
        "   AND ($3::bool IS NULL OR (archived_at IS NOT NULL) = $3)"
        " ORDER BY id DESC LIMIT $2",
        before,
        limit,
        archived,
    )
    return [_customer(row) for row in rows]


async def archive_customer(conn: Connection, customer_id: str) -> Customer | None:
    """Archive a customer not archived yet; None if it already was (or does not exist)."""
    row = await conn.fetchrow(
        "UPDATE customers SET archived_at = now() WHERE id = $1 AND archived_at IS NULL"
        f" RETURNING {_CUSTOMER_COLUMNS}",
        customer_id,
    )
    return _customer(row) if row else None


# --- invoices --------------------------------------------------------------------------

INVOICE_COLUMNS = (
    "id, customer_id, currency, status, number, description, days_until_due, issue_date,"
    " due_date, subtotal, total_discount, tax, amount_paid, created_at, finalized_at, paid_at,"
    " voided_at, uncollectible_at, amount_credited, amount_credit_applied"
)
_LINE_COLUMNS = (
    "id, invoice_id, description, quantity_milli, unit_amount, discount, tax_rate_ppm, amount,"
    " tax, revenue_account_id, service_start, service_end"
)


_LINE_NAMES = tuple(column.strip() for column in _LINE_COLUMNS.split(","))
_ENTRY_ORDER = (
    "array_position(ARRAY['finalize', 'uncollectible', 'void_uncollectible', 'void'], kind)"
)


def _line(row: asyncpg.Record | Mapping[str, Any]) -> Line:
    return Line(
        id=row["id"],
        description=row["description"],
        quantity_milli=row["quantity_milli"],
        unit_amount=row["unit_amount"],
        tax_rate_ppm=row["tax_rate_ppm"],
        amounts=billing.LineAmounts(row["amount"], row["discount"], row["tax"]),
        revenue_account_id=row["revenue_account_id"],
        service_start=row["service_start"],
        service_end=row["service_end"],
    )


def invoice_of(
    row: asyncpg.Record, lines: Sequence[Line], entries: Sequence[billing.PostedEntry]
) -> Invoice:
    return Invoice(
        id=row["id"],
        customer_id=row["customer_id"],
        currency=row["currency"],
        status=billing.InvoiceStatus(row["status"]),
        number=row["number"],
        description=row["description"],
        days_until_due=row["days_until_due"],
        issue_date=row["issue_date"],
        due_date=row["due_date"],
        totals=billing.Totals(row["subtotal"], row["total_discount"], row["tax"]),
        amount_paid=row["amount_paid"],
        lines=tuple(lines),
        entries=tuple(entries),
        created_at=row["created_at"],
        finalized_at=row["finalized_at"],
        paid_at=row["paid_at"],
        voided_at=row["voided_at"],
        uncollectible_at=row["uncollectible_at"],
        amount_credited=row["amount_credited"],
        amount_credit_applied=row["amount_credit_applied"],
    )


async def insert_invoice(
    conn: Connection, organization_id: str, invoice: Invoice
) -> datetime.datetime:
    """The draft (without its lines); when the database says it was created."""
    created_at = await conn.fetchval(
        "INSERT INTO invoices (organization_id, id, customer_id, currency, description,"
        " days_until_due, due_date, subtotal, total_discount, tax, total)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING created_at",
        organization_id,
        invoice.id,
        invoice.customer_id,
        invoice.currency,
        invoice.description,
        invoice.days_until_due,
        invoice.due_date,
        invoice.totals.subtotal,
        invoice.totals.discount,
        invoice.totals.tax,
        invoice.totals.total,
    )
    assert isinstance(created_at, datetime.datetime)
    return created_at


def _legacy_basis_points(ppm: int) -> int:
    # tax_rate_bp (0002) stays written while a version that reads it may still run (a
    # rollback target, docs/migrations.md): the rate to the nearest basis point. The
    # amounts that version shows are stored, so exact; only a rate such as 8.875 %
    # reads there as 8.88 %. This version reads tax_rate_ppm alone (0018).
    return billing.round_half_up(ppm, tax_rates.PER_BASIS_POINT)


_INSERT_LINES = """
INSERT INTO invoice_lines (organization_id, invoice_id, currency, id, description,
    quantity_milli, unit_amount, discount, tax_rate_ppm, tax_rate_bp, amount, tax, total,
    revenue_account_id, service_start, service_end, position)
SELECT $1, $2, $3, l.id, l.description, l.quantity_milli, l.unit_amount, l.discount,
       l.tax_rate_ppm, l.tax_rate_bp, l.amount, l.tax, l.total, l.revenue_account_id,
       l.service_start, l.service_end,
       (SELECT coalesce(max(position) + 1, 0) FROM invoice_lines WHERE invoice_id = $2) + l.n - 1
  FROM unnest($4::text[], $5::text[], $6::int8[], $7::int8[], $8::int8[], $9::int4[],
              $10::int4[], $11::int8[], $12::int8[], $13::int8[], $14::text[], $15::date[],
              $16::date[])
       WITH ORDINALITY AS l(id, description, quantity_milli, unit_amount, discount,
                            tax_rate_ppm, tax_rate_bp, amount, tax, total, revenue_account_id,
                            service_start, service_end, n)
"""


async def insert_lines(
    conn: Connection, organization_id: str, invoice_id: str, currency: str, lines: Sequence[Line]
) -> None:
    """The lines after the invoice's last ones, in one statement."""
    await conn.execute(
        _INSERT_LINES,
        organization_id,
        invoice_id,
        currency,
        [line.id for line in lines],
        [line.description for line in lines],
        [line.quantity_milli for line in lines],
        [line.unit_amount for line in lines],
        [line.amounts.discount for line in lines],
        [line.tax_rate_ppm for line in lines],
        [_legacy_basis_points(line.tax_rate_ppm) for line in lines],
        [line.amounts.amount for line in lines],
        [line.amounts.tax for line in lines],
        [line.amounts.total for line in lines],
        [line.revenue_account_id for line in lines],
        [line.service_start for line in lines],
        [line.service_end for line in lines],
    )


async def delete_line(conn: Connection, invoice_id: str, line_id: str) -> bool:
    deleted = await conn.fetchval(
        "WITH gone AS (DELETE FROM invoice_lines WHERE id = $1 AND invoice_id = $2 RETURNING 1)"
        " SELECT count(*) FROM gone",
        line_id,
        invoice_id,
    )
    return bool(deleted)


async def update_totals(conn: Connection, invoice_id: str, totals: billing.Totals) -> None:
    await conn.execute(
        "UPDATE invoices SET subtotal = $2, total_discount = $3, tax = $4, total = $5"
        " WHERE id = $1",
        invoice_id,
        totals.subtotal,
        totals.discount,
        totals.tax,
        totals.total,
    )


async def _details(
    conn: Connection, invoice_ids: list[str]
) -> tuple[dict[str, list[Line]], dict[str, list[billing.PostedEntry]]]:
    lines: dict[str, list[Line]] = {i: [] for i in invoice_ids}
    entries: dict[str, list[billing.PostedEntry]] = {i: [] for i in invoice_ids}
    for row in await conn.fetch(
        f"SELECT {_LINE_COLUMNS} FROM invoice_lines WHERE invoice_id = ANY($1::text[])"
        " ORDER BY invoice_id, position",
        invoice_ids,
    ):
        lines[row["invoice_id"]].append(_line(row))
    for row in await conn.fetch(
        "SELECT invoice_id, kind, journal_entry_id FROM invoice_entries"
        f" WHERE invoice_id = ANY($1::text[]) ORDER BY invoice_id, {_ENTRY_ORDER}",
        invoice_ids,
    ):
        kind = billing.EntryKind(row["kind"])
        entries[row["invoice_id"]].append(billing.PostedEntry(kind, row["journal_entry_id"]))
    return lines, entries


# One round trip: the lines and entries come as arrays of rows.
_ONE_INVOICE = f"""
SELECT {INVOICE_COLUMNS},
       ARRAY(SELECT row({_LINE_COLUMNS}) FROM invoice_lines l WHERE l.invoice_id = i.id
              ORDER BY position) AS invoice_lines,
       ARRAY(SELECT row(kind, journal_entry_id) FROM invoice_entries e
              WHERE e.invoice_id = i.id ORDER BY {_ENTRY_ORDER}) AS invoice_entries
  FROM invoices i WHERE id = $1
"""


async def get_invoice(conn: Connection, invoice_id: str, *, lock: bool = False) -> Invoice | None:
    """With lock, the invoice row is held FOR UPDATE: every change of one invoice (a
    line edit, finalize, void, ...) runs one at a time."""
    # Locked first, then read in a statement of its own: its snapshot is taken after the
    # wait, so it sees the lines a concurrent edit committed meanwhile.
    if lock and not await conn.fetchval(
        "SELECT true FROM invoices WHERE id = $1 FOR UPDATE", invoice_id
    ):
        return None
    row = await conn.fetchrow(_ONE_INVOICE, invoice_id)
    if row is None:
        return None
    lines = [_line(dict(zip(_LINE_NAMES, line, strict=True))) for line in row["invoice_lines"]]
    entries = [
        billing.PostedEntry(billing.EntryKind(kind), entry_id)
        for kind, entry_id in row["invoice_entries"]
    ]
    return invoice_of(row, lines, entries)


async def list_invoices(
    conn: Connection,
    *,
    limit: int,
    before: str | None,
    status: billing.InvoiceStatus | None,
    customer_id: str | None,
) -> list[Invoice]:
    rows = await conn.fetch(
        f"SELECT {INVOICE_COLUMNS} FROM invoices"
        " WHERE organization_id = app_current_org() AND ($1::text IS NULL OR id < $1)"
        "   AND ($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR customer_id = $4)"
        " ORDER BY id DESC LIMIT $2",
        before,
        limit,
        status.value if status else None,
        customer_id,
    )
    lines, entries = await _details(conn, [row["id"] for row in rows])
    return [invoice_of(row, lines[row["id"]], entries[row["id"]]) for row in rows]


async def next_invoice_number(conn: Connection, organization_id: str) -> int:
    """The organization's next invoice number. The counter row stays locked until the
    transaction ends, so concurrent finalizes queue here and a rollback frees the
    number for the next one: numbers are gap-free."""
    number = await conn.fetchval(
        "INSERT INTO invoice_number_counters AS c (organization_id, last_number) VALUES ($1, 1)"
        " ON CONFLICT (organization_id) DO UPDATE SET last_number = c.last_number + 1"
        " RETURNING last_number",
        organization_id,
    )
    return int(number)


async def mark_finalized(
    conn: Connection,
    invoice_id: str,
    *,
    status: billing.InvoiceStatus,
    number: int,
    issue_date: datetime.date,
    due_date: datetime.date,
) -> None:
    await conn.execute(
        "UPDATE invoices SET status = $2, number = $3, issue_date = $4, due_date = $5,"
        " finalized_at = now(), paid_at = CASE WHEN $2 = 'paid' THEN now() END WHERE id = $1",
        invoice_id,
        status.value,
        number,
        issue_date,
        due_date,
    )


_STATUS_STAMP = {
    billing.InvoiceStatus.VOID: "voided_at",
    billing.InvoiceStatus.UNCOLLECTIBLE: "uncollectible_at",
    billing.InvoiceStatus.PAID: "paid_at",
}


async def set_status(conn: Connection, invoice_id: str, status: billing.InvoiceStatus) -> None:
    stamp = _STATUS_STAMP[status]
    await conn.execute(
        f"UPDATE invoices SET status = $2, {stamp} = now() WHERE id = $1", invoice_id, status.value
    )


async def insert_invoice_entries(
    conn: Connection,
    organization_id: str,
    invoice_id: str,
    entries: Sequence[billing.PostedEntry],
) -> None:
    await conn.executemany(
        "INSERT INTO invoice_entries (organization_id, invoice_id, kind, journal_entry_id)"
        " VALUES ($1, $2, $3, $4)",
        [(organization_id, invoice_id, e.kind.value, e.journal_entry_id) for e in entries],
    )
