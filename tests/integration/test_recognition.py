"""Revenue recognition by the worker, and the overdue mark: exactly once, stopped by void."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import asyncpg
import httpx
from prometheus_client import REGISTRY

from accounting_api.db.connection import Database
from accounting_api.services import maintenance
from tests.integration import conftest
from tests.integration.billing import (
    act,
    assert_books_agree,
    assert_problem,
    customer,
    draft,
    finalized,
    line,
)
from tests.integration.helpers import Tenant, sign_up

SUPPORT = line(
    120_000, description="Support 2026", service_period={"start": "2026-01-01", "end": "2026-12-31"}
)
d = datetime.date


async def run_worker(database: conftest.TestDatabase, today: datetime.date) -> dict[str, int]:
    db = Database(database.app_url, min_size=1, max_size=2)
    await db.open()
    try:
        return await maintenance.Worker(db, 1, 86400).run_once(today)
    finally:
        await db.close()


async def balances(conn: asyncpg.Connection, org_id: str) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT a.code, sum(p.amount) AS total FROM postings p JOIN accounts a"
        " ON a.id = p.account_id WHERE p.organization_id = $1 GROUP BY a.code",
        org_id,
    )
    return {r["code"]: int(r["total"]) for r in rows}


async def schedule(conn: asyncpg.Connection, invoice_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT r.recognize_on, r.amount, r.status, r.journal_entry_id, e.entry_date"
        " FROM revenue_recognitions r LEFT JOIN journal_entries e ON e.id = r.journal_entry_id"
        " WHERE r.invoice_id = $1 ORDER BY r.recognize_on",
        invoice_id,
    )


async def support_invoice(client: httpx.AsyncClient) -> tuple[Tenant, dict[str, Any]]:
    t = await sign_up(client)
    cus = await customer(client, t)
    return t, await finalized(client, t, cus["id"], SUPPORT, line(5_000))


def recognized_metric(currency: str) -> float:
    value = REGISTRY.get_sample_value("revenue_recognized_amount_total", {"currency": currency})
    return value or 0.0


async def test_finalize_schedules_the_deferred_line_month_by_month_summing_exactly(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    _, invoice = await support_invoice(client)
    rows = await schedule(owner_conn, invoice["id"])
    assert [r["recognize_on"] for r in rows][:3] == [d(2026, 1, 31), d(2026, 2, 28), d(2026, 3, 31)]
    assert len(rows) == 12
    assert sum(r["amount"] for r in rows) == 120_000
    assert rows[0]["amount"] == 10_192  # 120000 x 31 / 365, rounded by largest remainder
    assert {r["status"] for r in rows} == {"pending"}


async def test_the_worker_recognizes_what_is_due_once_even_when_run_again(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, database: conftest.TestDatabase
) -> None:
    t, invoice = await support_invoice(client)
    before = recognized_metric("USD")
    await run_worker(database, d(2026, 3, 31))
    await run_worker(database, d(2026, 3, 31))
    rows = await schedule(owner_conn, invoice["id"])
    done = [r for r in rows if r["status"] == "recognized"]
    assert [r["entry_date"] for r in done] == [d(2026, 1, 31), d(2026, 2, 28), d(2026, 3, 31)]
    earned = sum(r["amount"] for r in done)
    books = await balances(owner_conn, t.org_id)
    assert (books["2400"], books["4000"]) == (-(120_000 - earned), -(5_000 + earned))
    assert recognized_metric("USD") - before >= earned
    await assert_books_agree(owner_conn, t.org_id)


async def test_two_workers_at_once_post_each_piece_exactly_once(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, database: conftest.TestDatabase
) -> None:
    made = [await support_invoice(client) for _ in range(3)]
    await asyncio.gather(*(run_worker(database, d(2026, 12, 31)) for _ in range(2)))
    for t, invoice in made:
        rows = await schedule(owner_conn, invoice["id"])
        assert {r["status"] for r in rows} == {"recognized"}
        assert len({r["journal_entry_id"] for r in rows}) == 12
        entries = await owner_conn.fetchval(
            "SELECT count(*) FROM journal_entries WHERE organization_id = $1"
            " AND description LIKE 'Revenue recognition:%'",
            t.org_id,
        )
        assert entries == 12
        books = await balances(owner_conn, t.org_id)
        assert (books.get("2400", 0), books["4000"]) == (0, -125_000)


async def test_voiding_stops_recognition_and_reverses_what_was_recognized(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, database: conftest.TestDatabase
) -> None:
    t, invoice = await support_invoice(client)
    await run_worker(database, d(2026, 2, 28))
    voided = await act(client, t, invoice["id"], "void", date="2026-03-05")
    assert voided.status_code == 200, voided.text
    await run_worker(database, d(2026, 12, 31))
    statuses = [r["status"] for r in await schedule(owner_conn, invoice["id"])]
    assert statuses == ["reversed"] * 2 + ["cancelled"] * 10
    books = await balances(owner_conn, t.org_id)
    assert (books.get("2400", 0), books.get("4000", 0)) == (0, 0)
    await assert_books_agree(owner_conn, t.org_id)


async def test_a_recognition_entry_is_reversed_only_by_voiding_the_invoice(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, database: conftest.TestDatabase
) -> None:
    t, invoice = await support_invoice(client)
    await run_worker(database, d(2026, 1, 31))
    entry_id = (await schedule(owner_conn, invoice["id"]))[0]["journal_entry_id"]
    refused = await client.post(f"/v1/journal-entries/{entry_id}/reverse", headers=t.auth)
    assert_problem(refused, 409, "conflict", None)
    await assert_books_agree(owner_conn, t.org_id)


async def test_closing_a_month_recognizes_its_pending_pieces_at_their_own_dates(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, database: conftest.TestDatabase
) -> None:
    t, invoice = await support_invoice(client)
    closed = await client.post("/v1/periods/2026-01/close", headers=t.auth)
    assert closed.status_code == 200, closed.text
    first, second = (await schedule(owner_conn, invoice["id"]))[:2]
    assert (first["status"], first["entry_date"]) == ("recognized", d(2026, 1, 31))
    assert second["status"] == "pending"
    await run_worker(database, d(2026, 2, 10))
    again = (await schedule(owner_conn, invoice["id"]))[0]
    assert again["journal_entry_id"] == first["journal_entry_id"]
    await assert_books_agree(owner_conn, t.org_id)


async def test_the_worker_marks_open_invoices_past_due_as_overdue_once(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, database: conftest.TestDatabase
) -> None:
    t = await sign_up(client)
    cus = await customer(client, t)
    late = await finalized(client, t, cus["id"], due_date="2026-02-01")
    on_time = await finalized(client, t, cus["id"], due_date="2026-03-01")
    unfinished = await draft(client, t, cus["id"], due_date="2026-02-01")
    await run_worker(database, d(2026, 2, 2))
    rows = await owner_conn.fetch(
        "SELECT id, status, overdue_at FROM invoices WHERE organization_id = $1", t.org_id
    )
    marked = {r["id"]: r["overdue_at"] for r in rows}
    assert marked[late["id"]] is not None
    assert marked[on_time["id"]] is None
    assert marked[unfinished["id"]] is None
    assert {r["status"] for r in rows if r["id"] == late["id"]} == {"open"}
    watched = await owner_conn.fetch(
        "SELECT invoice_id FROM invoice_due_watch WHERE organization_id = $1", t.org_id
    )
    assert [r["invoice_id"] for r in watched] == [on_time["id"]]
    await run_worker(database, d(2026, 2, 3))
    again = await owner_conn.fetchval("SELECT overdue_at FROM invoices WHERE id = $1", late["id"])
    assert again == marked[late["id"]]
