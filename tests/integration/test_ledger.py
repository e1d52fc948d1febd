"""Posting, reversing and balances through the API, against real PostgreSQL."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from tests.integration.helpers import entry, post_entry, sign_up

CASH, BANK, EQUITY, REVENUE = "1000", "1100", "3000", "4000"


async def test_a_new_organization_gets_the_default_chart(client: httpx.AsyncClient) -> None:
    tenant = await sign_up(client)
    assert {"1000", "1200", "2000", "3000", "4000", "6000"} <= set(tenant.accounts)


async def test_posting_moves_both_balances_on_their_normal_sides(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    response = await post_entry(client, t, entry(t.accounts[CASH], t.accounts[EQUITY], 2500))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("je_")
    assert [p["currency"] for p in body["postings"]] == ["USD", "USD"]
    for code in (CASH, EQUITY):
        balance = await client.get(f"/v1/accounts/{t.accounts[code]}/balance", headers=t.auth)
        assert balance.json()["amount"] == 2500


async def test_balance_as_of_a_date_ignores_later_entries(client: httpx.AsyncClient) -> None:
    t = await sign_up(client)
    await post_entry(client, t, entry(t.accounts[CASH], t.accounts[EQUITY], 100, "2026-01-01"))
    await post_entry(client, t, entry(t.accounts[CASH], t.accounts[EQUITY], 900, "2026-03-01"))
    url = f"/v1/accounts/{t.accounts[CASH]}/balance"
    early = await client.get(url, params={"as_of": "2026-02-01"}, headers=t.auth)
    late = await client.get(url, params={"as_of": "2026-03-01"}, headers=t.auth)
    assert (early.json()["amount"], late.json()["amount"]) == (100, 1000)


async def test_reversal_cancels_the_entry_and_happens_once(client: httpx.AsyncClient) -> None:
    t = await sign_up(client)
    posted = await post_entry(client, t, entry(t.accounts[CASH], t.accounts[REVENUE], 700))
    entry_id = posted.json()["id"]
    reversed_ = await client.post(f"/v1/journal-entries/{entry_id}/reverse", headers=t.auth)
    assert reversed_.status_code == 201, reversed_.text
    assert reversed_.json()["reverses"] == entry_id
    again = await client.post(f"/v1/journal-entries/{entry_id}/reverse", headers=t.auth)
    assert again.status_code == 409
    assert again.json()["code"] == "already_reversed"
    original = await client.get(f"/v1/journal-entries/{entry_id}", headers=t.auth)
    assert original.json()["reversed_by"] == reversed_.json()["id"]
    balance = await client.get(f"/v1/accounts/{t.accounts[CASH]}/balance", headers=t.auth)
    assert balance.json()["amount"] == 0


async def test_concurrent_postings_leave_the_ledger_balanced(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    pairs = [(CASH, REVENUE), (BANK, EQUITY), (CASH, BANK)]
    bodies = [
        entry(t.accounts[pairs[i % 3][0]], t.accounts[pairs[i % 3][1]], 100 + i) for i in range(120)
    ]
    responses = await asyncio.gather(*(post_entry(client, t, b) for b in bodies))
    assert [r.status_code for r in responses] == [201] * 120
    totals = await owner_conn.fetch(
        "SELECT currency, sum(amount) AS total, count(*) AS n FROM postings"
        " WHERE organization_id = $1 GROUP BY currency",
        t.org_id,
    )
    assert [(r["currency"], r["total"], r["n"]) for r in totals] == [("USD", 0, 240)]


async def test_entries_page_newest_first_without_gaps_or_repeats(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    posted = [
        (await post_entry(client, t, entry(t.accounts[CASH], t.accounts[EQUITY], 10 + i))).json()[
            "id"
        ]
        for i in range(7)
    ]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["starting_after"] = cursor
        page = (await client.get("/v1/journal-entries", params=params, headers=t.auth)).json()
        seen += [e["id"] for e in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    assert seen == list(reversed(posted))


async def test_accounts_page_by_code(client: httpx.AsyncClient) -> None:
    t = await sign_up(client)
    first = (await client.get("/v1/accounts", params={"limit": 2}, headers=t.auth)).json()
    after = first["data"][-1]["id"]
    second = await client.get(
        "/v1/accounts", params={"limit": 100, "starting_after": after}, headers=t.auth
    )
    codes = [a["code"] for a in first["data"] + second.json()["data"]]
    assert first["has_more"] is True
    assert second.json()["has_more"] is False
    assert codes == sorted(t.accounts)
