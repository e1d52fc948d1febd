"""The billing benchmark's raw limit: the rows of a fully paid invoice, straight through asyncpg.

What the API writes for create + finalize + pay (the draft invoice and its two lines, the
invoice number, the finalize entry and its postings, the invoice's entry link, both
receivable sub-ledger rows, the payment, its entry and postings, its application, the
paid status, one audit event per request), written as the app role with the tenant set,
in three transactions as the API's three requests are (each BEGIN with the tenant set,
one or two statements, COMMIT), so that every trigger, foreign key, deferred check and
row-level-security policy the API's rows pass runs here too. Amounts, accounts and ids
are worked out by the client once per run or per invoice, as cheaply as possible; each
client keeps one connection.

rows_written counts what one sequence adds per table, to check that both paths write the
same rows.
"""

from __future__ import annotations

import datetime
import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from accounting_api.db.connection import Connection
from accounting_api.domain import billing, ids, tax_rates
from accounting_api.services.billing import LineInput

Write = Callable[[str], Awaitable[None]]
"""One create + finalize + pay for this customer."""

_CREATE_INVOICE = """
INSERT INTO invoices (organization_id, id, customer_id, currency, description, subtotal,
                      total_discount, tax, total)
VALUES ($1, $2, $3, $4, '', $5, $6, $7, $8)
"""

# The lines' trigger reads the invoice, so they follow it in a statement of their own.
_CREATE_LINES = """
WITH lines AS (
  INSERT INTO invoice_lines (organization_id, invoice_id, currency, id, description,
      quantity_milli, unit_amount, discount, tax_rate_ppm, tax_rate_bp, amount, tax, total,
      revenue_account_id, position)
  SELECT $1, $2, $3, * FROM unnest($4::text[], $5::text[], $6::int8[], $7::int8[], $8::int8[],
      $9::int4[], $10::int4[], $11::int8[], $12::int8[], $13::int8[], $14::text[], $15::int4[])
)
SELECT record_audit_events($1, $16, $17, now(), ARRAY[$18], ARRAY['invoice.created'],
                           ARRAY['invoice'], ARRAY[$2], ARRAY[NULL], ARRAY[$19])
"""

_FINALIZE = """
WITH counter AS (
  INSERT INTO invoice_number_counters AS c (organization_id, last_number) VALUES ($1, 1)
  ON CONFLICT (organization_id) DO UPDATE SET last_number = c.last_number + 1
  RETURNING last_number
), invoice AS (
  UPDATE invoices SET status = 'open', number = (SELECT last_number FROM counter),
         issue_date = $3, due_date = $4, finalized_at = now()
   WHERE id = $2 RETURNING number
), entry AS (
  INSERT INTO journal_entries (organization_id, created_by, request_id, id, entry_date,
                               description)
  SELECT $1, $5, $6, $7, $3, 'Invoice #' || number || ' (' || $2 || ')' FROM invoice
), postings AS (
  INSERT INTO postings (organization_id, journal_entry_id, line, account_id, currency, amount,
                        entry_date)
  SELECT $1, $7, line - 1, account_id, $8, amount, $3
    FROM unnest($9::text[], $10::int8[]) WITH ORDINALITY AS p(account_id, amount, line)
), link AS (
  INSERT INTO invoice_entries (organization_id, invoice_id, kind, journal_entry_id)
  VALUES ($1, $2, 'finalize', $7)
), receivable AS (
  INSERT INTO receivable_entries (organization_id, invoice_id, journal_entry_id, entry_date,
                                  account_id, currency, amount)
  VALUES ($1, $2, $7, $3, $9[1], $8, $10[1])
)
SELECT record_audit_events($1, $5, $6, now(), ARRAY[$11], ARRAY['invoice.finalized'],
                           ARRAY['invoice'], ARRAY[$2], ARRAY[NULL], ARRAY[$12])
"""

# The application's trigger moves the invoice's amount paid at the end of this
# statement; the paid status follows in the next one.
_PAY = """
WITH entry AS (
  INSERT INTO journal_entries (organization_id, created_by, request_id, id, entry_date,
                               description)
  VALUES ($1, $2, $3, $4, $5, 'Payment ' || $6 || ' from customer ' || $7 || ' (card)')
), postings AS (
  INSERT INTO postings (organization_id, journal_entry_id, line, account_id, currency, amount,
                        entry_date)
  VALUES ($1, $4, 0, $9, $8, $11, $5), ($1, $4, 1, $10, $8, -$11, $5)
), payment AS (
  INSERT INTO payments (organization_id, id, customer_id, currency, amount, method,
                        received_on, description, journal_entry_id)
  VALUES ($1, $6, $7, $8, $11, 'card', $5, '', $4)
), application AS (
  INSERT INTO payment_applications (organization_id, payment_id, invoice_id, currency,
                                    position, amount)
  VALUES ($1, $6, $12, $8, 0, $11)
)
INSERT INTO receivable_entries (organization_id, invoice_id, journal_entry_id, entry_date,
                                account_id, currency, amount)
VALUES ($1, $12, $4, $5, $10, $8, -$11)
"""

_PAID = """
WITH paid AS (
  UPDATE invoices SET status = 'paid', paid_at = now() WHERE id = $2 AND status <> 'paid'
)
SELECT record_audit_events($1, $3, $4, now(), ARRAY[$5], ARRAY['payment.created'],
                           ARRAY['payment'], ARRAY[$6], ARRAY[NULL], ARRAY[$7])
"""


@dataclass(frozen=True, slots=True)
class Books:
    """What the raw client looks up once per run: the tenant and its accounts."""

    organization_id: str
    user_id: str
    currency: str
    cash: str
    receivable: str
    revenue: str
    tax_payable: str


async def books(conn: Connection, organization_id: str) -> Books:
    """The tenant's owner and the default chart's accounts the invoices post to."""
    await conn.execute("SELECT set_config('app.organization_id', $1, false)", organization_id)
    user_id = await conn.fetchval("SELECT id FROM users ORDER BY created_at LIMIT 1")
    currency = await conn.fetchval("SELECT base_currency FROM organizations")
    rows = await conn.fetch(
        "SELECT code, id FROM accounts WHERE code = ANY($1::text[])",
        ["1000", "1200", "4000", "2100"],
    )
    by_code = {row["code"]: row["id"] for row in rows}
    return Books(
        organization_id,
        user_id,
        currency,
        by_code["1000"],
        by_code["1200"],
        by_code["4000"],
        by_code["2100"],
    )


def _sha() -> str:
    """An audit event's after_sha256 (the API's: of the object's state)."""
    return secrets.token_hex(32)


def _line_columns(
    book: Books, lines: Sequence[tuple[LineInput, billing.LineAmounts]]
) -> list[list[object]]:
    rows = [
        (
            ids.new_id("il"),
            line.description,
            line.quantity_milli,
            line.unit_amount,
            amounts.discount,
            line.tax_rate_ppm,
            billing.round_half_up(line.tax_rate_ppm, tax_rates.PER_BASIS_POINT),
            amounts.amount,
            amounts.tax,
            amounts.total,
            book.revenue,
            position,
        )
        for position, (line, amounts) in enumerate(lines)
    ]
    return [list(column) for column in zip(*rows, strict=True)]


def sequence(connections: dict[str, Connection], book: Books, inputs: Sequence[LineInput]) -> Write:
    """Create + finalize + pay one invoice for this customer, on its client's connection."""
    lines = [
        (i, billing.price_line(i.quantity_milli, i.unit_amount, i.discount, i.tax_rate_ppm))
        for i in inputs
    ]
    totals = billing.totals(amounts for _, amounts in lines)
    accounts = [book.receivable] + [book.revenue for _ in lines] + [book.tax_payable]
    amounts = [totals.total] + [-a.net for _, a in lines] + [-totals.tax]
    begin = f"BEGIN; SELECT set_config('app.organization_id', '{book.organization_id}', true)"
    org, user, currency = book.organization_id, book.user_id, book.currency

    async def run(customer_id: str) -> None:
        conn = connections[customer_id]
        invoice_id, request_id = ids.new_id("inv"), f"req_{uuid.uuid4().hex}"
        today = datetime.datetime.now(datetime.UTC).date()
        await conn.execute(begin)
        await conn.execute(
            _CREATE_INVOICE, org, invoice_id, customer_id, currency, *_totals(totals)
        )
        await conn.execute(
            _CREATE_LINES,
            org,
            invoice_id,
            currency,
            *_line_columns(book, lines),
            user,
            request_id,
            ids.new_id("aud"),
            _sha(),
        )
        await conn.execute("COMMIT")
        await conn.execute(begin)
        await conn.execute(
            _FINALIZE,
            org,
            invoice_id,
            today,
            billing.due_date(today, None, None),
            user,
            request_id,
            ids.new_id("je"),
            currency,
            accounts,
            amounts,
            ids.new_id("aud"),
            _sha(),
        )
        await conn.execute("COMMIT")
        payment_id, entry_id = ids.new_id("pay"), ids.new_id("je")
        await conn.execute(begin)
        await conn.execute(
            _PAY,
            org,
            user,
            request_id,
            entry_id,
            today,
            payment_id,
            customer_id,
            currency,
            book.cash,
            book.receivable,
            totals.total,
            invoice_id,
        )
        await conn.execute(
            _PAID, org, invoice_id, user, request_id, ids.new_id("aud"), payment_id, _sha()
        )
        await conn.execute("COMMIT")

    return run


def _totals(totals: billing.Totals) -> tuple[int, int, int, int]:
    return totals.subtotal, totals.discount, totals.tax, totals.total


TABLES = (
    "audit_events",
    "customers",
    "idempotency_keys",
    "invoice_due_watch",
    "invoice_entries",
    "invoice_lines",
    "invoices",
    "journal_entries",
    "outbox_events",
    "payment_applications",
    "payments",
    "postings",
    "receivable_entries",
    "revenue_recognitions",
    "webhook_deliveries",
)
"""The tenant's tables a paid invoice may add rows to (not the upserted counters: the
invoice number's, the ledger version's)."""


async def row_counts(conn: Connection, organization_id: str) -> dict[str, int]:
    """Rows per table the tenant sees (the app role under row-level security)."""
    await conn.execute("SELECT set_config('app.organization_id', $1, false)", organization_id)
    counts = {}
    for table in TABLES:
        counts[table] = int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    return counts


async def rows_written(
    conn: Connection, organization_id: str, write: Callable[[], Awaitable[None]]
) -> dict[str, int]:
    """What `write` adds per table (tables it adds nothing to are left out)."""
    before = await row_counts(conn, organization_id)
    await write()
    after = await row_counts(conn, organization_id)
    return {t: after[t] - before[t] for t in TABLES if after[t] != before[t]}
