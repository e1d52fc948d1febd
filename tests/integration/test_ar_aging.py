"""The AR aging as of a date: what each customer owed on that day, tying out to the
receivable accounts on the trial balance of that day, whatever was recorded later."""

from __future__ import annotations

from collections import defaultdict
from importlib import resources
from typing import Any

import asyncpg
import httpx

from tests.integration.billing import act, assert_problem, customer, issued
from tests.integration.helpers import Tenant, entry, post_entry, sign_up
from tests.integration.payments import apply_credit, credited, paid, refund

MONTH_END = "2026-03-31"
DATES = ["2026-02-28", "2026-03-01", "2026-03-20", MONTH_END, "2026-04-01", "2026-04-05",
         "2026-04-06", "2026-04-15", "2026-04-30", "2026-12-31"]  # fmt: skip


async def report(client: httpx.AsyncClient, t: Tenant, name: str, as_of: str) -> Any:
    response = await client.get(f"/v1/reports/{name}", params={"as_of": as_of}, headers=t.auth)
    assert response.status_code == 200, response.text
    return response.json()


async def aging_totals(client: httpx.AsyncClient, t: Tenant, as_of: str) -> dict[str, int]:
    body = await report(client, t, "ar-aging", as_of)
    return {c["currency"]: c["total"]["total"] for c in body["currencies"]}


async def receivable(client: httpx.AsyncClient, t: Tenant, as_of: str) -> dict[str, int]:
    """Receivable (1200 and its twins) per currency on the trial balance, when not zero."""
    found: defaultdict[str, int] = defaultdict(int)
    for block in (await report(client, t, "trial-balance", as_of))["currencies"]:
        for a in block["accounts"]:
            if a["code"].split(".")[0] == "1200":
                found[block["currency"]] += a["debit"] - a["credit"]
    return {currency: amount for currency, amount in found.items() if amount}


async def assert_ties_out(client: httpx.AsyncClient, t: Tenant, dates: list[str]) -> None:
    for as_of in dates:
        assert await aging_totals(client, t, as_of) == await receivable(client, t, as_of), as_of


async def owed(client: httpx.AsyncClient, t: Tenant, as_of: str) -> dict[str, int]:
    """Customer name -> total owed on as_of."""
    (usd,) = (await report(client, t, "ar-aging", as_of))["currencies"] or [{"customers": []}]
    return {row["customer_name"]: row["total"] for row in usd["customers"]}


async def _story(client: httpx.AsyncClient, t: Tenant) -> None:
    ids = {n: (await customer(client, t, name=n))["id"] for n in ("Paid", "Void", "Cred", "Bad")}
    paid_late = await issued(client, t, ids["Paid"], 10_000, "2026-03-01")
    voided = await issued(client, t, ids["Void"], 6_000, "2026-03-10")
    corrected = await issued(client, t, ids["Cred"], 8_000, "2026-03-05")
    bad = await issued(client, t, ids["Bad"], 4_000, "2026-03-15")
    await credited(client, t, corrected, amount=3_000, date="2026-03-20")
    # Paid before the invoice was issued: held as the customer's credit.
    held = await paid(client, t, ids["Cred"], 2_000, date="2026-03-02")
    assert held["amount_applied"] == 0
    partial = await paid(client, t, ids["Bad"], 1_000, date="2026-03-25")
    assert partial["amount_applied"] == 1_000
    # After month-end: paid (2,000 over, left as credit), voided, credit applied, the
    # partial payment refunded and the invoice written off.
    applied = [{"invoice": paid_late, "amount": 10_000}]
    await paid(client, t, ids["Paid"], 12_000, date="2026-04-05", applied_to=applied)
    assert (await act(client, t, voided, "void", date="2026-04-02")).status_code == 200
    assert (await apply_credit(client, t, corrected, 2_000, date="2026-04-06")).status_code == 200
    assert (await refund(client, t, partial["id"], 1_000, date="2026-04-10")).status_code == 201
    written_off = await act(client, t, bad, "mark-uncollectible", date="2026-04-20")
    assert written_off.status_code == 200, written_off.text


async def test_the_month_end_aging_lists_what_was_owed_at_month_end(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    await _story(client, t)
    assert await owed(client, t, "2026-02-28") == {}
    # Paid and voided after month-end: in full. Credited before: reduced.
    assert await owed(client, t, MONTH_END) == {
        "Paid": 10_000, "Void": 6_000, "Cred": 5_000, "Bad": 3_000,
    }  # fmt: skip
    assert await owed(client, t, "2026-04-15") == {"Cred": 3_000, "Bad": 4_000}
    assert await owed(client, t, "2026-04-30") == {"Cred": 3_000}
    (usd,) = (await report(client, t, "ar-aging", MONTH_END))["currencies"]
    assert usd["total"]["current"] == 24_000  # all due in April
    await assert_ties_out(client, t, DATES)


async def test_an_euro_invoice_ties_out_in_its_currency(client: httpx.AsyncClient) -> None:
    t = await sign_up(client)
    euro = (await customer(client, t, name="Euro GmbH", currency="EUR"))["id"]
    invoice = await issued(client, t, euro, 7_000, "2026-03-03")
    await paid(client, t, euro, 2_500, currency="EUR", date="2026-04-03")
    assert await aging_totals(client, t, MONTH_END) == {"EUR": 7_000}
    assert await aging_totals(client, t, "2026-04-30") == {"EUR": 4_500}
    await assert_ties_out(client, t, DATES)
    assert invoice.startswith("inv_")


async def test_reversing_a_payments_entry_by_hand_is_refused(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    who = (await customer(client, t))["id"]
    await issued(client, t, who, 5_000, "2026-03-03")
    payment = await paid(client, t, who, 5_000, date="2026-03-04")
    back = await client.post(
        f"/v1/journal-entries/{payment['journal_entry_id']}/reverse",
        json={"date": "2026-03-05"},
        headers=t.auth,
    )
    assert back.status_code == 409, back.text
    assert "refund, credit or void" in back.json()["detail"]
    # A manual entry to receivable is outside the sub-ledger, and refused nothing.
    manual = entry(t.accounts["1000"], t.accounts["4000"], 10, "2026-03-06")
    assert (await post_entry(client, t, manual)).status_code == 201
    rows = await owner_conn.fetchval(
        "SELECT count(*) FROM receivable_entries WHERE organization_id = $1", t.org_id
    )
    assert rows == 2


async def test_a_written_off_invoice_whose_payment_was_refunded_is_credited_not_voided(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    who = (await customer(client, t))["id"]
    invoice = await issued(client, t, who, 10_000, "2026-03-01")
    payment = await paid(client, t, who, 3_000, date="2026-03-02")
    written_off = await act(client, t, invoice, "mark-uncollectible", date="2026-03-03")
    assert written_off.status_code == 200, written_off.text
    assert (await refund(client, t, payment["id"], 3_000, date="2026-03-04")).status_code == 201
    # Reversing its entries would leave the 3,000 paid before the write-off in receivable.
    voided = await act(client, t, invoice, "void", date="2026-03-05")
    assert_problem(voided, 409, "invoice_receivable_not_cleared", "id")
    await credited(client, t, invoice, amount=10_000, date="2026-03-05")
    assert await receivable(client, t, "2026-12-31") == {}
    assert await aging_totals(client, t, "2026-03-02") == {"USD": 7_000}
    await assert_ties_out(client, t, [*DATES, "2026-03-02", "2026-03-04"])


def _backfill_sql() -> str:
    text = (resources.files("accounting_api.migrations") / "0011_receivables.sql").read_text()
    return text.split("-- backfill:begin\n")[1].split("-- backfill:end\n")[0]


async def test_the_migrations_backfill_rebuilds_the_rows_the_code_wrote(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    await _story(client, t)
    sql = (
        "SELECT invoice_id, journal_entry_id, entry_date, account_id, amount"
        " FROM receivable_entries WHERE organization_id = $1 ORDER BY 1, 2"
    )
    written = await owner_conn.fetch(sql, t.org_id)
    assert len(written) == 11
    # Rebuilt from nothing, in a transaction rolled back: the rows stay as written.
    transaction = owner_conn.transaction()
    await transaction.start()
    try:
        await owner_conn.execute(
            "ALTER TABLE receivable_entries DISABLE TRIGGER receivable_entries_immutable;"
            # Other tests' organizations closed periods: history predates their closes.
            " ALTER TABLE receivable_entries DISABLE TRIGGER receivable_entries_period_open;"
            " DELETE FROM receivable_entries"
        )
        await owner_conn.execute(_backfill_sql())
        rebuilt = await owner_conn.fetch(sql, t.org_id)
    finally:
        await transaction.rollback()
    assert rebuilt == written
    assert await owner_conn.fetch(sql, t.org_id) == written
