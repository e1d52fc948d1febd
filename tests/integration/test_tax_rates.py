"""Tax rates with decimals of a percent through the API (New York City's 8.875 %), the
superseded `tax_rate_bps` billing exactly as before, and migration 0018 moving existing
lines to parts per million without touching an amount."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from accounting_api.db import migrations
from tests.integration import conftest
from tests.integration.billing import act, assert_books_agree, customer, draft, line
from tests.integration.helpers import Tenant, sign_up

ISSUED = "2026-01-15"
# The worked example of docs/api.md and domain/billing.py, at 8.875 %.
NYC = "8.875"
GADGETS = line(1_999, description="Gadgets", quantity=3, discount=500, tax_rate=NYC)
HOURS = line(333, description="Hours", quantity="1.5", tax_rate=NYC)


def figures(invoice: dict[str, Any]) -> tuple[Any, ...]:
    lines = [
        (x["amount"], x["discount"], x["tax_rate"], x["tax_rate_bps"], x["tax"], x["total"])
        for x in invoice["lines"]
    ]
    totals = tuple(invoice[k] for k in ("subtotal", "discount", "tax", "total"))
    return (*lines, totals)


async def posted(client: httpx.AsyncClient, t: Tenant, entry_id: str) -> list[tuple[str, str, int]]:
    entry = (await client.get(f"/v1/journal-entries/{entry_id}", headers=t.auth)).json()
    code = {v: k for k, v in t.accounts.items()}
    return sorted((code[p["account_id"]], p["side"], p["amount"]) for p in entry["postings"])


async def test_a_new_york_city_invoice_taxes_each_line_at_8_875_percent_half_up(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    cus = await customer(client, t)
    invoice = await draft(client, t, cus["id"], GADGETS, HOURS)
    # 59.97 - 5.00 = 54.97; x 8.875 % = 4.8785875 -> 4.88. 1.5 x 3.33 = 4.995 -> 5.00;
    # x 8.875 % = 0.44375 -> 0.44. The invoice: the sums of its lines.
    assert figures(invoice) == (
        (5_997, 500, "8.875", None, 488, 5_985),
        (500, 0, "8.875", None, 44, 544),
        (6_497, 500, 532, 6_529),
    )
    response = await act(client, t, invoice["id"], "finalize", issue_date=ISSUED)
    finalized = response.json()
    assert (response.status_code, figures(finalized)) == (200, figures(invoice))
    entry = next(e for e in finalized["journal_entries"] if e["kind"] == "finalize")
    assert await posted(client, t, entry["journal_entry_id"]) == [
        ("1200", "debit", 6_529),
        ("2100", "credit", 532),
        ("4000", "credit", 500),
        ("4000", "credit", 5_497),
    ]
    stored = await owner_conn.fetch(
        "SELECT tax_rate_ppm, tax_rate_bp FROM invoice_lines WHERE invoice_id = $1"
        " ORDER BY position",
        invoice["id"],
    )
    # tax_rate_bp, for the previous version only: the rate to the nearest basis point.
    assert [tuple(r) for r in stored] == [(88_750, 888), (88_750, 888)]
    await assert_books_agree(owner_conn, t.org_id)


@pytest.mark.parametrize(
    ("rates", "shown"),
    [
        (({"tax_rate_bps": 825}, {"tax_rate_bps": 1_000}), (("8.25", 825), ("10", 1_000))),
        (({"tax_rate": "8.25"}, {"tax_rate": 10}), (("8.25", 825), ("10", 1_000))),
        (({"tax_rate": "8.2500"}, {"tax_rate": "10.0"}), (("8.25", 825), ("10", 1_000))),
    ],
    ids=["bps", "percent", "percent-trailing-zeros"],
)
async def test_tax_rate_bps_bills_as_before_and_equals_the_same_percent(
    client: httpx.AsyncClient, rates: tuple[dict[str, Any], ...], shown: tuple[Any, ...]
) -> None:
    """The figures tests/integration/test_invoices.py has always checked for bps."""
    t = await sign_up(client)
    cus = await customer(client, t)
    consulting = line(333, quantity="1.5") | rates[0]
    licence = line(10_000, quantity=2, discount=1_500) | rates[1]
    invoice = await draft(client, t, cus["id"], consulting, licence)
    (rate0, bps0), (rate1, bps1) = shown
    assert figures(invoice) == (
        (500, 0, rate0, bps0, 41, 541),  # 499.5 -> 500; 41.25 -> 41
        (20_000, 1_500, rate1, bps1, 1_850, 20_350),
        (20_500, 1_500, 1_891, 20_891),
    )


async def test_no_rate_is_zero_and_tiny_taxes_and_free_lines_are_not_refused(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    cus = await customer(client, t)
    invoice = await draft(
        client,
        t,
        cus["id"],
        line(100),
        line(5, tax_rate=NYC),  # 0.05 x 8.875 % = 0.0044375 -> 0: ordinary rounding
        line(0, quantity="0.001", tax_rate=NYC),  # free: its inputs are zero
        line(1, quantity="0.5", tax_rate="0.0001"),  # half a cent -> 0.01, tax -> 0
    )
    assert figures(invoice) == (
        (100, 0, "0", 0, 0, 100),
        (5, 0, "8.875", None, 0, 5),
        (0, 0, "8.875", None, 0, 0),
        (1, 0, "0.0001", None, 0, 1),
        (106, 0, 0, 106),
    )


async def test_a_line_that_rounds_to_nothing_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    cus = await customer(client, t)
    body = {"customer": cus["id"], "lines": [line(100), line(499, quantity="0.001")]}
    refused = await client.post("/v1/invoices", json=body, headers=t.auth)
    problem = refused.json()
    assert (refused.status_code, problem["code"], problem["param"]) == (
        422,
        "line_rounds_to_zero",
        "lines[1].quantity",
    )
    assert "0.001 x 499 rounds to an amount of 0" in problem["detail"]
    listing = await client.get("/v1/invoices", headers=t.auth)
    assert listing.json()["data"] == []


# --- migration 0018 --------------------------------------------------------------------

ORG = "org_taxrates"
PREVIOUS_LINE = (
    "INSERT INTO invoice_lines (organization_id, invoice_id, currency, id, description,"
    " position, quantity_milli, unit_amount, discount, tax_rate_bp, amount, tax, total,"
    " revenue_account_id) VALUES ($1, 'inv_1', 'USD', $2, 'x', $3, $4, $5, $6, $7, $8, $9,"
    " $10, 'acct_rev')"
)
# As the previous version wrote them: (id, position, quantity, unit, discount, bp, amount,
# tax, total). 1.5 x 3.33 at 8.25 %; 2 x 100.00 less 15.00 at 10 %; a free line.
OLD_LINES = [
    ("il_1", 0, 1_500, 333, 0, 825, 500, 41, 541),
    ("il_2", 1, 2_000, 10_000, 1_500, 1_000, 20_000, 1_850, 20_350),
    ("il_3", 2, 1_000, 0, 0, 0, 0, 0, 0),
]


@pytest.fixture
async def before_0018() -> AsyncIterator[asyncpg.Connection]:
    """A database migrated up to 0017 holding a finalized invoice the previous version
    wrote, as its owner (the migration role)."""
    db = await conftest.create_empty_database("ua_taxrates")
    conn = await asyncpg.connect(db.owner_url)
    try:
        await migrations.apply(conn)  # creates schema_migrations, then drop what 0018 did
        await _as_of_0017(conn)
        await conn.execute("SELECT set_config('app.organization_id', $1, false)", ORG)
        await _previous_versions_invoice(conn)
        yield conn
    finally:
        await conn.close()
        await conftest.drop_database(db.name)


async def _as_of_0017(conn: asyncpg.Connection) -> None:
    # A fresh database cannot stop at a version, so 0018 is undone by hand: the test
    # database then holds exactly what 0001-0017 created.
    await conn.execute(
        "DROP TRIGGER invoice_lines_fill_tax_rate_ppm ON invoice_lines;"
        " DROP FUNCTION fill_invoice_line_tax_rate_ppm();"
        " ALTER TABLE invoice_lines DROP COLUMN tax_rate_ppm;"
        " DELETE FROM schema_migrations WHERE version = 18"
    )


async def _previous_versions_invoice(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "INSERT INTO organizations (id, name, base_currency) VALUES ($1, 'Old', 'USD');"
        " INSERT INTO accounts (id, organization_id, code, name, type, currency, normal_balance)"
        " VALUES ('acct_rev', $1, '4000', 'Revenue', 'revenue', 'USD', 'credit');"
        " INSERT INTO customers (id, organization_id, name, currency, tier)"
        " VALUES ('cus_1', $1, 'Old customer', 'USD', 'standard');"
        " INSERT INTO invoices (id, organization_id, customer_id, currency, subtotal,"
        " total_discount, tax, total) VALUES ('inv_1', $1, 'cus_1', 'USD', 20500, 1500, 1891,"
        " 20891)".replace("$1", f"'{ORG}'")
    )
    await conn.executemany(PREVIOUS_LINE, [(ORG, *row) for row in OLD_LINES])
    # Finalized: its lines are fixed from now on (invoice_lines_draft_only).
    await conn.execute(
        "UPDATE invoices SET status = 'open', number = 1, issue_date = '2026-01-15',"
        " due_date = '2026-02-14', finalized_at = now() WHERE id = 'inv_1'"
    )


async def test_0018_moves_existing_rates_to_ppm_and_keeps_every_amount(
    before_0018: asyncpg.Connection,
) -> None:
    conn = before_0018
    amounts = "SELECT id, amount, discount, tax, total, tax_rate_bp FROM invoice_lines ORDER BY id"
    invoice = "SELECT status, subtotal, total_discount, tax, total FROM invoices"
    before = [tuple(r) for r in await conn.fetch(amounts)]
    totals = tuple(await conn.fetchrow(invoice) or ())
    assert [m.version for m in await migrations.apply(conn)] == [18]
    assert [tuple(r) for r in await conn.fetch(amounts)] == before
    assert (
        tuple(await conn.fetchrow(invoice) or ())
        == totals
        == ("open", 20_500, 1_500, 1_891, 20_891)
    )
    rates = await conn.fetch("SELECT id, tax_rate_ppm FROM invoice_lines ORDER BY id")
    assert [tuple(r) for r in rates] == [("il_1", 82_500), ("il_2", 100_000), ("il_3", 0)]
    # The finalized lines are fixed again, and row-level security forced again.
    with pytest.raises(asyncpg.PostgresError, match="its lines are fixed"):
        await conn.execute("UPDATE invoice_lines SET tax_rate_ppm = 1 WHERE id = 'il_1'")
    forced = "SELECT relforcerowsecurity FROM pg_class WHERE relname = 'invoice_lines'"
    assert await conn.fetchval(forced) is True


async def test_after_0018_a_line_the_previous_version_writes_gets_its_rate_in_ppm(
    before_0018: asyncpg.Connection,
) -> None:
    """During a rollout or after a rollback the previous version writes tax_rate_bp alone."""
    conn = before_0018
    await migrations.apply(conn)
    await conn.execute(
        "INSERT INTO invoices (id, organization_id, customer_id, currency)"
        " VALUES ('inv_2', $1, 'cus_1', 'USD')",
        ORG,
    )
    await conn.execute(
        PREVIOUS_LINE.replace("'inv_1'", "'inv_2'"),
        ORG,
        "il_4",
        0,
        1_000,
        10_000,
        0,
        1_900,
        10_000,
        1_900,
        11_900,
    )
    assert await conn.fetchval("SELECT tax_rate_ppm FROM invoice_lines WHERE id = 'il_4'") == (
        190_000
    )
