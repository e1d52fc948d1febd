"""A small book across the 2025 / 2026 year end, and the reports read from it, for the
fiscal-year tests (test_fiscal_year.py, test_fiscal_year_close.py)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.helpers import Tenant, entry, post_entry, sign_up

CASH, EQUITY, RETAINED, REVENUE, OPEX = "1000", "3000", "3900", "4000", "6000"

# The example of docs/api.md (The fiscal year), checked by hand:
# 2025 earns 50,000.00 - 20,000.00 = 30,000.00; 2026 to Feb 28 earns 12,000 - 4,000 = 8,000.00;
# a 5,000.00 distribution is taken from retained earnings on 2026-02-01.
BOOK = [  # debit, credit, amount, date
    (CASH, EQUITY, 10_000_000, "2025-03-10"),
    (CASH, REVENUE, 5_000_000, "2025-06-15"),
    (OPEX, CASH, 2_000_000, "2025-09-20"),
    (CASH, REVENUE, 1_200_000, "2026-01-20"),
    (RETAINED, CASH, 500_000, "2026-02-01"),
    (OPEX, CASH, 400_000, "2026-02-10"),
]


async def book(client: httpx.AsyncClient) -> Tenant:
    t = await sign_up(client)
    for debit, credit, amount, date in BOOK:
        body = entry(t.accounts[debit], t.accounts[credit], amount, date)
        assert (await post_entry(client, t, body)).status_code == 201
    return t


async def report(client: httpx.AsyncClient, t: Tenant, report: str, **params: str) -> Any:
    response = await client.get(f"/v1/reports/{report}", params=params, headers=t.auth)
    assert response.status_code == 200, response.text
    return response.json()


async def sheet(client: httpx.AsyncClient, t: Tenant, as_of: str) -> dict[str, Any]:
    found = await report(client, t, "balance-sheet", as_of=as_of)
    (usd,) = found["currencies"]
    assert usd["total_assets"] == usd["total_liabilities_and_equity"]
    return {
        "year": (found["fiscal_year_starts_on"], found["fiscal_year_ends_on"]),
        "assets": usd["total_assets"],
        "equity": {a["code"]: a["amount"] for a in usd["equity"]["accounts"] if a["amount"]},
        "retained": usd["retained_earnings"],
        "current": usd["current_earnings"],
    }


async def set_year_end(client: httpx.AsyncClient, t: Tenant, month: object) -> httpx.Response:
    body = {"fiscal_year_end_month": month}
    return await client.patch("/v1/organization", json=body, headers=t.auth)
