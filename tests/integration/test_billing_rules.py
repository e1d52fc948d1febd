"""Billing rules PostgreSQL enforces by itself, whatever SQL the app (or a person) sends:
the invoice state machine, draft-only lines, currencies, privileges, tenant isolation."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from tests.integration import conftest
from tests.integration.billing import customer, draft, finalized
from tests.integration.helpers import Tenant, sign_up

TABLES = ["customers", "invoices", "invoice_lines", "invoice_number_counters", "invoice_entries"]


@dataclasses.dataclass(frozen=True)
class Pair:
    a: Tenant
    b: Tenant
    draft: str
    open: str
    open_line: str
    eur_revenue: str


@pytest.fixture(scope="module")
async def pair(client: httpx.AsyncClient) -> Pair:
    a, b = await sign_up(client), await sign_up(client, "EUR")
    for t in (a, b):
        await finalized(client, t, (await customer(client, t))["id"])
    cus = (await customer(client, a))["id"]
    opened = await finalized(client, a, cus)
    body = {"code": "4010", "name": "Revenue EUR", "type": "revenue", "currency": "EUR"}
    eur = await client.post("/v1/accounts", json=body, headers=a.auth)
    return Pair(
        a,
        b,
        (await draft(client, a, cus))["id"],
        opened["id"],
        opened["lines"][0]["id"],
        eur.json()["id"],
    )


@pytest.fixture
async def app_conn(
    database: conftest.TestDatabase, pair: Pair
) -> AsyncIterator[asyncpg.Connection]:
    """The app role, acting for tenant a."""
    conn = await asyncpg.connect(database.app_url)
    await conn.execute("SELECT set_config('app.organization_id', $1, false)", pair.a.org_id)
    yield conn
    await conn.close()


async def line_row(
    conn: asyncpg.Connection, pair: Pair, invoice_id: str, **changes: object
) -> None:
    """Copy the open invoice's line into `invoice_id`, with changes (as the caller's role)."""
    values = {"id": "il_copy", "invoice_id": invoice_id, "position": 99} | changes
    await conn.execute(
        "INSERT INTO invoice_lines (organization_id, invoice_id, position, currency, id,"
        " description, quantity_milli, unit_amount, amount, tax, total, revenue_account_id)"
        " SELECT organization_id, $2, $3, coalesce($5, currency), $1, description,"
        " quantity_milli, unit_amount, amount, tax, total, coalesce($6, revenue_account_id)"
        " FROM invoice_lines WHERE id = $4",
        values["id"],
        values["invoice_id"],
        values["position"],
        pair.open_line,
        changes.get("currency"),
        changes.get("revenue_account_id"),
    )


# --- a finalized invoice is never edited ------------------------------------------------------

FIXED = "object_not_in_prerequisite_state"
APP_STATEMENTS = [
    ("delete-line", "DELETE FROM invoice_lines WHERE invoice_id = $1", FIXED),
    ("update-line", "UPDATE invoice_lines SET unit_amount = 1 WHERE invoice_id = $1", "denied"),
    ("change-total", "UPDATE invoices SET tax = tax + 1, total = total + 1 WHERE id = $1", FIXED),
    ("renumber", "UPDATE invoices SET number = number + 100 WHERE id = $1", FIXED),
    ("back-to-draft", "UPDATE invoices SET status = 'draft', number = NULL WHERE id = $1", FIXED),
    ("legal-transition", "UPDATE invoices SET status = 'uncollectible' WHERE id = $1", None),
    ("change-customer", "UPDATE invoices SET customer_id = 'cus_x' WHERE id = $1", "denied"),
    ("delete-invoice", "DELETE FROM invoices WHERE id = $1", "denied"),
    ("delete-entries", "DELETE FROM invoice_entries WHERE invoice_id = $1", "denied"),
    ("delete-counter", "DELETE FROM invoice_number_counters WHERE $1 <> ''", "denied"),
]


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [(s, r) for _, s, r in APP_STATEMENTS],
    ids=[name for name, _, _ in APP_STATEMENTS],
)
async def test_the_app_role_cannot_edit_a_finalized_invoice(
    app_conn: asyncpg.Connection,
    owner_conn: asyncpg.Connection,
    pair: Pair,
    statement: str,
    refusal: str | None,
) -> None:
    before = await owner_conn.fetchrow("SELECT * FROM invoices WHERE id = $1", pair.open)
    transaction = app_conn.transaction()
    await transaction.start()
    try:
        if refusal is None:  # a legal transition passes the trigger (and is rolled back)
            await app_conn.execute(statement, pair.open)
        elif refusal == "denied":
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                await app_conn.execute(statement, pair.open)
        else:
            with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError):
                await app_conn.execute(statement, pair.open)
    finally:
        await transaction.rollback()
    assert await owner_conn.fetchrow("SELECT * FROM invoices WHERE id = $1", pair.open) == before


async def test_a_line_cannot_be_added_to_a_finalized_invoice(
    app_conn: asyncpg.Connection, pair: Pair
) -> None:
    with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError, match="lines are fixed"):
        await line_row(app_conn, pair, pair.open)


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM invoice_lines WHERE invoice_id = $1",
        "UPDATE invoice_lines SET unit_amount = unit_amount + 1 WHERE invoice_id = $1",
    ],
    ids=["delete-line", "update-line"],
)
async def test_even_the_owner_cannot_change_a_finalized_invoices_lines(
    owner_conn: asyncpg.Connection, pair: Pair, statement: str
) -> None:
    with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError, match="lines are fixed"):
        await owner_conn.execute(statement, pair.open)


async def test_a_drafts_lines_stay_in_the_invoices_currency(
    app_conn: asyncpg.Connection, pair: Pair
) -> None:
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await line_row(app_conn, pair, pair.draft, revenue_account_id=pair.eur_revenue)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await line_row(
            app_conn, pair, pair.draft, currency="EUR", revenue_account_id=pair.eur_revenue
        )


async def test_an_invoice_is_in_its_customers_currency(
    app_conn: asyncpg.Connection, owner_conn: asyncpg.Connection, pair: Pair
) -> None:
    cus = await owner_conn.fetchval("SELECT customer_id FROM invoices WHERE id = $1", pair.draft)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await app_conn.execute(
            "INSERT INTO invoices (organization_id, id, customer_id, currency)"
            " VALUES ($1, 'inv_eur', $2, 'EUR')",
            pair.a.org_id,
            cus,
        )


# --- tenant isolation -------------------------------------------------------------------------


@pytest.mark.parametrize("table", TABLES)
async def test_without_a_tenant_the_app_role_sees_no_billing_rows(
    database: conftest.TestDatabase, owner_conn: asyncpg.Connection, pair: Pair, table: str
) -> None:
    assert await owner_conn.fetchval(f"SELECT count(*) FROM {table}") > 0
    conn = await asyncpg.connect(database.app_url)
    try:
        assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0
    finally:
        await conn.close()


@pytest.mark.parametrize("table", TABLES)
async def test_with_a_tenant_the_app_role_sees_only_its_billing_rows(
    app_conn: asyncpg.Connection, owner_conn: asyncpg.Connection, pair: Pair, table: str
) -> None:
    seen = await app_conn.fetch(f"SELECT organization_id FROM {table}")
    expected = await owner_conn.fetchval(
        f"SELECT count(*) FROM {table} WHERE organization_id = $1", pair.a.org_id
    )
    assert expected > 0
    assert [r["organization_id"] for r in seen] == [pair.a.org_id] * expected


async def test_the_app_role_cannot_take_another_tenants_invoice_number(
    app_conn: asyncpg.Connection, owner_conn: asyncpg.Connection, pair: Pair
) -> None:
    before = await owner_conn.fetchval(
        "SELECT last_number FROM invoice_number_counters WHERE organization_id = $1", pair.b.org_id
    )
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        await app_conn.execute(
            "INSERT INTO invoice_number_counters AS c (organization_id, last_number)"
            " VALUES ($1, 1) ON CONFLICT (organization_id) DO UPDATE"
            " SET last_number = c.last_number + 1",
            pair.b.org_id,
        )
    after = await owner_conn.fetchval(
        "SELECT last_number FROM invoice_number_counters WHERE organization_id = $1", pair.b.org_id
    )
    assert after == before
