"""SQL for payments, their applications to invoices, and refunds.

Inserting an application or a refund moves the running amounts (invoice amount paid,
payment amount applied and refunded) through the triggers of migration 0003.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import asyncpg

from accounting_api.db import posting
from accounting_api.db.connection import Connection
from accounting_api.domain import ledger, payments, receivables
from accounting_api.domain.billing import InvoiceStatus
from accounting_api.domain.payments import Application, Due, Payment, Refund

_PAYMENT_COLUMNS = (
    "id, customer_id, currency, amount, method, received_on, description, amount_applied,"
    " amount_refunded, status, journal_entry_id, created_at"
)
_REFUND_COLUMNS = (
    "id, payment_id, credit_note_id, currency, amount, from_credit, refunded_on, reason,"
    " journal_entry_id, created_at"
)


def _payment(row: asyncpg.Record, applications: Sequence[Application]) -> Payment:
    return Payment(
        id=row["id"],
        customer_id=row["customer_id"],
        currency=row["currency"],
        amount=row["amount"],
        method=payments.Method(row["method"]),
        received_on=row["received_on"],
        description=row["description"],
        amount_applied=row["amount_applied"],
        amount_refunded=row["amount_refunded"],
        status=payments.PaymentStatus(row["status"]),
        applications=tuple(applications),
        journal_entry_id=row["journal_entry_id"],
        created_at=row["created_at"],
    )


def _refund(row: asyncpg.Record) -> Refund:
    return Refund(**dict(row.items()))


# --- invoices as payments see them ---------------------------------------------------


_DUE = (
    "SELECT id, status, total - amount_paid - amount_credit_applied AS amount_due,"
    " amount_paid + amount_credit_applied - amount_credited AS refundable,"
    " uncollectible_at IS NOT NULL AS written_off, customer_id, currency, issue_date,"
    " due_date, number FROM invoices"
)


async def lock_invoices(conn: Connection, invoice_ids: Sequence[str]) -> dict[str, asyncpg.Record]:
    """The invoices, held FOR UPDATE and locked in id order, so that two payments
    naming the same invoices in another order never deadlock."""
    rows = await conn.fetch(
        f"{_DUE} WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE", list(set(invoice_ids))
    )
    return {row["id"]: row for row in rows}


async def lock_open_invoices(
    conn: Connection, customer_id: str, currency: str, on_or_before: datetime.date
) -> list[Due]:
    """The customer's open invoices issued by `on_or_before`, locked in id order and
    returned oldest (due date, number) first. A row paid meanwhile is re-checked after
    the wait and left out."""
    rows = await conn.fetch(
        f"{_DUE} WHERE customer_id = $1 AND currency = $2 AND status = 'open'"
        " AND issue_date <= $3 ORDER BY id FOR UPDATE",
        customer_id,
        currency,
        on_or_before,
    )
    oldest = sorted(rows, key=lambda r: (r["due_date"], r["number"]))
    return [Due(r["id"], r["amount_due"], r["written_off"]) for r in oldest if r["amount_due"] > 0]


async def set_invoice_status(conn: Connection, invoice_id: str, status: InvoiceStatus) -> None:
    """Paid when fully covered, or back to open or uncollectible when a refund makes
    it owed again."""
    await conn.execute(
        "UPDATE invoices SET status = $2, paid_at = CASE WHEN $2 = 'paid' THEN now() END"
        " WHERE id = $1 AND status <> $2",
        invoice_id,
        status.value,
    )


async def invoice_state(conn: Connection, invoice_ids: Sequence[str]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, status, total, amount_paid + amount_credit_applied AS amount_settled,"
        " uncollectible_at IS NOT NULL AS written_off"
        " FROM invoices WHERE id = ANY($1::text[]) ORDER BY id",
        list(invoice_ids),
    )


# --- payments ------------------------------------------------------------------------


_RECORD = f"""
WITH {posting.entries()},
payment AS (
  INSERT INTO payments (organization_id, id, customer_id, currency, amount, method,
                        received_on, description, journal_entry_id)
  VALUES ($1, $14, $15, $16, $17, $18, $19, $20, $4[1])
), applications AS (
  INSERT INTO payment_applications (organization_id, payment_id, invoice_id, currency,
                                    position, amount)
  SELECT $1, $14, a.invoice_id, $16, a.position - 1, a.amount
    FROM unnest($21::text[], $22::int8[]) WITH ORDINALITY AS a(invoice_id, amount, position)
), {posting.moves(23)}
SELECT 1
"""


async def record_payment(
    conn: Connection,
    organization_id: str,
    payment: Payment,
    entry: ledger.NewEntry,
    moved: receivables.Entry,
    *,
    created_by: str | None,
    request_id: str | None,
) -> None:
    """The payment, its journal entry (payment.journal_entry_id), its applications and
    what they move on receivable, in one statement. The applications' trigger moves the
    invoices' amounts paid and the payment's amount applied at its end."""
    await conn.execute(
        _RECORD,
        *posting.entry_args(organization_id, [entry], created_by=created_by, request_id=request_id),
        payment.id,
        payment.customer_id,
        payment.currency,
        payment.amount,
        payment.method.value,
        payment.received_on,
        payment.description,
        [a.invoice_id for a in payment.applications],
        [a.amount for a in payment.applications],
        *posting.move_args([moved]),
    )


_SETTLED = f"""
WITH paid AS (
  UPDATE invoices SET status = 'paid', paid_at = now()
   WHERE id = ANY($2::text[]) AND status <> 'paid'
     AND amount_paid + amount_credit_applied = total
)
SELECT {_PAYMENT_COLUMNS} FROM payments WHERE id = $1
"""


async def settle_payment(conn: Connection, payment: Payment) -> Payment:
    """Mark paid the invoices the recorded payment covered in full (the others it went to
    keep their status); the payment as it is now."""
    row = await conn.fetchrow(_SETTLED, payment.id, [a.invoice_id for a in payment.applications])
    assert row is not None
    return _payment(row, payment.applications)


async def _applications(
    conn: Connection, payment_ids: Sequence[str]
) -> dict[str, list[Application]]:
    found: dict[str, list[Application]] = {p: [] for p in payment_ids}
    for row in await conn.fetch(
        "SELECT payment_id, invoice_id, amount, amount_refunded FROM payment_applications"
        " WHERE payment_id = ANY($1::text[]) ORDER BY payment_id, position",
        list(payment_ids),
    ):
        found[row["payment_id"]].append(
            Application(row["invoice_id"], row["amount"], row["amount_refunded"])
        )
    return found


async def get_payment(conn: Connection, payment_id: str, *, lock: bool = False) -> Payment | None:
    """With lock, FOR UPDATE: refunds of one payment run one at a time."""
    row = await conn.fetchrow(
        f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE id = $1" + (" FOR UPDATE" if lock else ""),
        payment_id,
    )
    if row is None:
        return None
    return _payment(row, (await _applications(conn, [payment_id]))[payment_id])


async def list_payments(
    conn: Connection, *, limit: int, before: str | None, customer_id: str | None
) -> list[Payment]:
    rows = await conn.fetch(
        f"SELECT {_PAYMENT_COLUMNS} FROM payments"
        " WHERE organization_id = app_current_org() AND ($1::text IS NULL OR id < $1)"
        "   AND ($3::text IS NULL OR customer_id = $3)"
        " ORDER BY id DESC LIMIT $2",
        before,
        limit,
        customer_id,
    )
    applications = await _applications(conn, [row["id"] for row in rows])
    return [_payment(row, applications[row["id"]]) for row in rows]


# --- refunds -------------------------------------------------------------------------


async def insert_refund(
    conn: Connection, organization_id: str, refund: Refund, taken: Sequence[Application]
) -> None:
    """The applications give their part back first, so the payment's applied plus
    refunded amounts never exceed it, even between the two statements."""
    await conn.executemany(
        "UPDATE payment_applications SET amount_refunded = amount_refunded + $3"
        " WHERE payment_id = $1 AND invoice_id = $2",
        [(refund.payment_id, a.invoice_id, a.amount) for a in taken],
    )
    await conn.execute(
        "INSERT INTO refunds (organization_id, id, payment_id, credit_note_id, currency, amount,"
        " from_credit, refunded_on, reason, journal_entry_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        organization_id,
        refund.id,
        refund.payment_id,
        refund.credit_note_id,
        refund.currency,
        refund.amount,
        refund.from_credit,
        refund.refunded_on,
        refund.reason,
        refund.journal_entry_id,
    )


async def get_refund(conn: Connection, refund_id: str) -> Refund | None:
    row = await conn.fetchrow(f"SELECT {_REFUND_COLUMNS} FROM refunds WHERE id = $1", refund_id)
    return _refund(row) if row else None


async def list_refunds(
    conn: Connection,
    *,
    limit: int,
    before: str | None,
    payment_id: str | None,
    credit_note_id: str | None,
) -> list[Refund]:
    rows = await conn.fetch(
        f"SELECT {_REFUND_COLUMNS} FROM refunds"
        " WHERE organization_id = app_current_org() AND ($1::text IS NULL OR id < $1)"
        "   AND ($3::text IS NULL OR payment_id = $3)"
        "   AND ($4::text IS NULL OR credit_note_id = $4)"
        " ORDER BY id DESC LIMIT $2",
        before,
        limit,
        payment_id,
        credit_note_id,
    )
    return [_refund(row) for row in rows]
