"""Credit notes split revenue and deferred revenue by their own date (issue 11, defect 2),
and closing a month recognizes what is due in it first (gap 4): the books as of any date,
read through the reports, are what an accountant computes, whether the worker has run
before the credit note or not."""

from __future__ import annotations

import datetime
from typing import Any

import asyncpg
import httpx

from tests.integration import conftest
from tests.integration.billing import act, assert_books_agree, customer, draft
from tests.integration.helpers import Tenant, sign_up
from tests.integration.payments import credited
from tests.integration.test_recognition import run_worker

d = datetime.date
SUMMER = {
    "description": "Summer season",
    "unit_amount": 92_000,
    "service_period": {"start": "2026-06-01", "end": "2026-08-31"},
}
"""300.00 (June), 310.00 (July), 310.00 (August) by day count."""
SPRING = {
    "description": "Spring season",
    "unit_amount": 55_000,
    "service_period": {"start": "2026-02-01", "end": "2026-07-31"},
}
"""85.08 (February), then 94.20, 91.16, 94.20, 91.16, 94.20."""


async def _issued(client: httpx.AsyncClient, t: Tenant, item: dict[str, Any], on: str) -> str:
    cus = await customer(client, t)
    invoice = await draft(client, t, cus["id"], item)
    response = await act(client, t, invoice["id"], "finalize", issue_date=on)
    assert response.status_code == 200, response.text
    invoice_id: str = invoice["id"]
    return invoice_id


async def _get(client: httpx.AsyncClient, t: Tenant, name: str, **params: str) -> dict[str, Any]:
    response = await client.get(f"/v1/reports/{name}", params=params, headers=t.auth)
    assert response.status_code == 200, response.text
    (usd,) = response.json()["currencies"]
    result: dict[str, Any] = usd
    return result


async def revenue(client: httpx.AsyncClient, t: Tenant, year: int, month: int) -> int:
    start = d(year, month, 1)
    end = (start.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    end -= datetime.timedelta(days=1)
    usd = await _get(client, t, "income-statement", **{"from": str(start), "to": str(end)})
    total: int = usd["revenue"]["total"]
    return total


async def deferred(client: httpx.AsyncClient, t: Tenant, as_of: str) -> int:
    usd = await _get(client, t, "balance-sheet", as_of=as_of)
    return sum(a["amount"] for a in usd["liabilities"]["accounts"] if a["code"] == "2400")


async def test_a_credit_dated_after_every_piece_is_revenue_even_before_the_worker_runs(
    client: httpx.AsyncClient, database: conftest.TestDatabase
) -> None:
    t = await sign_up(client)
    invoice_id = await _issued(client, t, SUMMER, "2026-05-20")
    note = await credited(client, t, invoice_id, amount=31_000, date="2026-11-10")
    assert note["lines"][0]["deferred"] == 0
    await run_worker(database, d(2026, 12, 1))
    months = [await revenue(client, t, 2026, m) for m in (6, 7, 8, 11)]
    assert months == [30_000, 31_000, 31_000, -31_000]
    assert await deferred(client, t, "2026-08-31") == 0


async def test_a_credit_dated_early_takes_later_posted_pieces_from_deferred_revenue(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, database: conftest.TestDatabase
) -> None:
    t = await sign_up(client)
    invoice_id = await _issued(client, t, SPRING, "2026-01-20")
    await run_worker(database, d(2026, 8, 1))
    note = await credited(client, t, invoice_id, amount=55_000, date="2026-03-01")
    assert note["lines"][0]["deferred"] == 46_492
    assert await deferred(client, t, "2026-02-28") == 46_492
    assert await deferred(client, t, "2026-03-01") == 0
    months = [await revenue(client, t, 2026, m) for m in range(2, 8)]
    assert months == [8_508, -8_508, 0, 0, 0, 0]
    await assert_books_agree(owner_conn, t.org_id)


async def test_the_same_credit_before_the_worker_runs_gives_the_same_books(
    client: httpx.AsyncClient, database: conftest.TestDatabase
) -> None:
    t = await sign_up(client)
    invoice_id = await _issued(client, t, SPRING, "2026-01-20")
    note = await credited(client, t, invoice_id, amount=55_000, date="2026-03-01")
    assert note["lines"][0]["deferred"] == 46_492
    await run_worker(database, d(2026, 8, 1))
    assert await deferred(client, t, "2026-03-01") == 0
    months = [await revenue(client, t, 2026, m) for m in range(2, 8)]
    assert months == [8_508, -8_508, 0, 0, 0, 0]


async def test_after_closed_months_each_posted_piece_is_taken_back_at_its_own_date(
    client: httpx.AsyncClient, database: conftest.TestDatabase
) -> None:
    t = await sign_up(client)
    invoice_id = await _issued(client, t, SPRING, "2026-01-20")
    await run_worker(database, d(2026, 8, 1))
    for month in ("2026-01", "2026-02", "2026-03"):
        closed = await client.post(f"/v1/periods/{month}/close", headers=t.auth)
        assert closed.status_code == 200, closed.text
    # 310.00 dated in April takes the pieces of July (94.20), June (91.16), May (94.20)
    # and 30.44 of April's; April is open, so each reversal keeps its own date.
    note = await credited(client, t, invoice_id, amount=31_000, date="2026-04-01")
    assert note["lines"][0]["deferred"] == 31_000
    assert [await revenue(client, t, 2026, m) for m in (4, 5, 6, 7)] == [9_116 - 3_044, 0, 0, 0]
    assert await deferred(client, t, "2026-04-01") == 55_000 - 8_508 - 9_420 - 31_000


async def test_closing_a_month_recognizes_what_is_due_in_it_first(
    client: httpx.AsyncClient, database: conftest.TestDatabase
) -> None:
    t = await sign_up(client)
    await _issued(client, t, SPRING, "2026-01-20")
    for month in ("2026-01", "2026-02"):
        closed = await client.post(f"/v1/periods/{month}/close", headers=t.auth)
        assert closed.status_code == 200, closed.text
    assert await revenue(client, t, 2026, 2) == 8_508
    assert await deferred(client, t, "2026-02-28") == 55_000 - 8_508
    await run_worker(database, d(2026, 3, 31))
    assert [await revenue(client, t, 2026, m) for m in (2, 3)] == [8_508, 9_420]
