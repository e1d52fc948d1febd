"""The fiscal year end: the organization's setting, and the balance sheet splitting earnings
into retained (every earlier fiscal year) and current (this fiscal year) on any date."""

from __future__ import annotations

import httpx
import pytest

from tests.integration import fiscal_books as fb
from tests.integration.billing import add_user
from tests.integration.helpers import PASSWORD, sign_up


async def test_retained_earnings_hold_last_years_profit_after_the_year_end(
    client: httpx.AsyncClient,
) -> None:
    t = await fb.book(client)
    assert await fb.sheet(client, t, "2026-02-28") == {
        "year": ("2026-01-01", "2026-12-31"),
        "assets": 13_300_000,
        "equity": {fb.EQUITY: 10_000_000},  # 3900 is shown as retained earnings
        "retained": 2_500_000,  # 2025's 30,000.00 less the 5,000.00 distribution
        "current": 800_000,  # 2026's only
    }
    assert await fb.sheet(client, t, "2025-12-31") == {
        "year": ("2025-01-01", "2025-12-31"),
        "assets": 13_000_000,
        "equity": {fb.EQUITY: 10_000_000},
        "retained": 0,
        "current": 3_000_000,
    }


async def test_the_reports_agree_across_the_year_end(client: httpx.AsyncClient) -> None:
    t = await fb.book(client)
    sheet = await fb.sheet(client, t, "2026-02-28")
    this_year = await fb.report(
        client, t, "income-statement", **{"from": "2026-01-01", "to": "2026-02-28"}
    )
    last_year = await fb.report(
        client, t, "income-statement", **{"from": "2025-01-01", "to": "2025-12-31"}
    )
    assert this_year["currencies"][0]["net_income"] == sheet["current"] == 800_000
    assert last_year["currencies"][0]["net_income"] == 3_000_000
    (tb,) = (await fb.report(client, t, "trial-balance", as_of="2026-02-28"))["currencies"]
    signed = {a["code"]: a["debit"] - a["credit"] for a in tb["accounts"]}
    # No closing entry: the trial balance is the books before closing; retained plus
    # current earnings are 3900's balance plus all revenue less all expenses.
    earned = -signed[fb.REVENUE] - signed[fb.OPEX] - signed[fb.RETAINED]
    assert earned == sheet["retained"] + sheet["current"] == 3_300_000


async def test_a_fiscal_year_ending_in_june(client: httpx.AsyncClient) -> None:
    t = await fb.book(client)
    changed = await fb.set_year_end(client, t, 6)
    assert changed.status_code == 200, changed.text
    assert changed.json()["fiscal_year_end_month"] == 6
    # Fiscal year 2026 runs 2025-07-01 to 2026-06-30. Before it: 50,000.00 of revenue,
    # less the 5,000.00 distribution; in it: -20,000 + 12,000 - 4,000.
    assert await fb.sheet(client, t, "2026-02-28") == {
        "year": ("2025-07-01", "2026-06-30"),
        "assets": 13_300_000,
        "equity": {fb.EQUITY: 10_000_000},
        "retained": 4_500_000,
        "current": -1_200_000,
    }
    after = await fb.sheet(client, t, "2026-07-01")
    assert (after["year"], after["retained"], after["current"]) == (
        ("2026-07-01", "2027-06-30"), 3_300_000, 0,
    )  # fmt: skip


async def test_the_fiscal_year_end_is_set_at_sign_up_and_read_back(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    got = await client.get("/v1/organization", headers=t.auth)
    assert got.status_code == 200, got.text
    assert got.json() | {"id": ""} == {
        "object": "organization", "id": "", "name": "Test Org", "base_currency": "USD",
        "fiscal_year_end_month": 12, "two_factor_required_for": "none",
    }  # fmt: skip
    owner = {"email": f"march-{t.org_id.lower()}@example.com", "password": PASSWORD}
    body: dict[str, object] = {
        "name": "March Co", "fiscal_year_end_month": 3, "owner": owner | {"name": "Owner"},
    }  # fmt: skip
    made = await client.post("/v1/organizations", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["fiscal_year_end_month"] == 3
    body["owner"] = owner | {"name": "Owner", "email": f"bad-{t.org_id.lower()}@example.com"}
    refused = await client.post("/v1/organizations", json=body | {"fiscal_year_end_month": 13})
    assert (refused.status_code, refused.json()["param"]) == (422, "fiscal_year_end_month")


@pytest.mark.parametrize("month", [0, 13, -1, "6", 6.5, None, True])
async def test_a_bad_fiscal_year_end_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, month: object
) -> None:
    t = await sign_up(client)
    refused = await fb.set_year_end(client, t, month)
    assert refused.status_code == 422, refused.text
    assert refused.json()["param"] == "fiscal_year_end_month"
    assert (await client.get("/v1/organization", headers=t.auth)).json()[
        "fiscal_year_end_month"
    ] == 12


async def test_a_fiscal_year_end_needs_one_field_and_an_admin(client: httpx.AsyncClient) -> None:
    t = await sign_up(client)
    missing = await client.patch("/v1/organization", json={}, headers=t.auth)
    assert (missing.status_code, missing.json()["param"]) == (422, "fiscal_year_end_month")
    extra = await client.patch(
        "/v1/organization", json={"fiscal_year_end_month": 6, "name": "x"}, headers=t.auth
    )
    assert (extra.status_code, extra.json()["param"]) == (422, "name")
    accountant = await add_user(client, t, "accountant")
    body = {"fiscal_year_end_month": 6}
    forbidden = await client.patch("/v1/organization", json=body, headers=accountant)
    assert forbidden.status_code == 403, forbidden.text
    admin = await add_user(client, t, "admin")
    assert (await client.patch("/v1/organization", json=body, headers=admin)).status_code == 200
