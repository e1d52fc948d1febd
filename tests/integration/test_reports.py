"""Reports on hand-checked books, and closing balances never changing a report."""

from __future__ import annotations

import datetime
import random
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.billing import act, add_user, customer, draft
from tests.integration.helpers import Tenant, entry, post_entry, sign_up

CASH, AR, EQUIPMENT, AP, EQUITY, REVENUE, OPEX = (
    "1000", "1200", "1500", "2000", "3000", "4000", "6000",
)  # fmt: skip

BOOK = [  # debit, credit, amount, date
    (CASH, EQUITY, 100_000, "2026-01-05"),
    (CASH, REVENUE, 30_000, "2026-01-20"),
    (OPEX, CASH, 12_000, "2026-02-10"),
    (EQUIPMENT, AP, 50_000, "2026-03-03"),
    (AR, REVENUE, 8_000, "2026-03-15"),
]


async def _report(client: httpx.AsyncClient, t: Tenant, name: str, **params: str) -> dict[str, Any]:
    response = await client.get(f"/v1/reports/{name}", params=params, headers=t.auth)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def _book(client: httpx.AsyncClient) -> Tenant:
    t = await sign_up(client)
    for debit, credit, amount, date in BOOK:
        body = entry(t.accounts[debit], t.accounts[credit], amount, date)
        assert (await post_entry(client, t, body)).status_code == 201
    return t


def _nonzero(lines: list[dict[str, Any]], *fields: str) -> dict[str, tuple[int, ...]]:
    return {
        line["code"]: tuple(line[f] for f in fields)
        for line in lines
        if any(line[f] for f in fields)
    }


async def test_trial_balance_of_a_hand_checked_book(client: httpx.AsyncClient) -> None:
    t = await _book(client)
    (usd,) = (await _report(client, t, "trial-balance", as_of="2026-03-31"))["currencies"]
    assert _nonzero(usd["accounts"], "debit", "credit") == {
        CASH: (118_000, 0),
        AR: (8_000, 0),
        EQUIPMENT: (50_000, 0),
        AP: (0, 50_000),
        EQUITY: (0, 100_000),
        REVENUE: (0, 38_000),
        OPEX: (12_000, 0),
    }
    assert (usd["currency"], usd["total_debit"], usd["total_credit"]) == ("USD", 188_000, 188_000)
    assert len(usd["accounts"]) == len(t.accounts)  # every account, even at zero


async def test_balance_sheet_balances_with_current_earnings(client: httpx.AsyncClient) -> None:
    t = await _book(client)
    (usd,) = (await _report(client, t, "balance-sheet", as_of="2026-03-31"))["currencies"]
    totals = {k: usd[k]["total"] for k in ("assets", "liabilities", "equity")}
    assert totals == {"assets": 176_000, "liabilities": 50_000, "equity": 100_000}
    assert usd["current_earnings"] == 26_000
    assert usd["total_assets"] == usd["total_liabilities_and_equity"] == 176_000
    early = (await _report(client, t, "balance-sheet", as_of="2026-01-31"))["currencies"][0]
    assert (early["total_assets"], early["current_earnings"]) == (130_000, 30_000)


async def test_income_statement_covers_its_dates_only(client: httpx.AsyncClient) -> None:
    t = await _book(client)
    body = await _report(
        client, t, "income-statement", **{"from": "2026-02-01", "to": "2026-03-31"}
    )
    (usd,) = body["currencies"]
    assert (body["from"], body["to"]) == ("2026-02-01", "2026-03-31")
    assert (usd["revenue"]["total"], usd["expenses"]["total"], usd["net_income"]) == (
        8_000,
        12_000,
        -4_000,
    )
    assert _nonzero(usd["revenue"]["accounts"], "amount") == {REVENUE: (8_000,)}
    backwards = await client.get(
        "/v1/reports/income-statement",
        params={"from": "2026-03-01", "to": "2026-02-01"},
        headers=t.auth,
    )
    assert (backwards.status_code, backwards.json()["param"]) == (422, "to")


async def test_currencies_are_reported_apart(client: httpx.AsyncClient) -> None:
    t = await _book(client)
    ids = {}
    for code, type_ in (("1010", "asset"), ("3010", "equity")):
        body = {"code": code, "name": f"EUR {type_}", "type": type_, "currency": "EUR"}
        made = await client.post("/v1/accounts", json=body, headers=t.auth)
        ids[code] = made.json()["id"]
    await post_entry(client, t, entry(ids["1010"], ids["3010"], 5_000, "2026-02-01"))
    report = await _report(client, t, "trial-balance", as_of="2026-03-31")
    totals = [(c["currency"], c["total_debit"], c["total_credit"]) for c in report["currencies"]]
    assert totals == [("EUR", 5_000, 5_000), ("USD", 188_000, 188_000)]


async def _from_scratch(
    conn: asyncpg.Connection, org_id: str, as_of: datetime.date
) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT a.code, coalesce(sum(p.amount), 0) AS total FROM accounts a"
        " LEFT JOIN postings p ON p.account_id = a.id AND p.entry_date <= $2"
        " WHERE a.organization_id = $1 GROUP BY a.code",
        org_id,
        as_of,
    )
    return {r["code"]: int(r["total"]) for r in rows}


async def _trial(client: httpx.AsyncClient, t: Tenant, as_of: datetime.date) -> dict[str, int]:
    body = await _report(client, t, "trial-balance", as_of=as_of.isoformat())
    lines = [line for c in body["currencies"] for line in c["accounts"]]
    for c in body["currencies"]:
        assert c["total_debit"] == c["total_credit"]
    return {line["code"]: line["debit"] - line["credit"] for line in lines}


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_closing_balances_never_change_a_report(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, seed: int
) -> None:
    rng = random.Random(seed)
    t = await sign_up(client)
    codes = sorted(t.accounts)
    for _ in range(40):
        debit, credit = rng.sample(codes, 2)
        date = datetime.date(2026, 1, 1) + datetime.timedelta(days=rng.randrange(120))
        body = entry(
            t.accounts[debit], t.accounts[credit], rng.randrange(1, 10**6), date.isoformat()
        )
        assert (await post_entry(client, t, body)).status_code == 201
    dates = [datetime.date(2025, 12, 31)] + [
        datetime.date(2026, 1, 1) + datetime.timedelta(days=d) for d in range(0, 125, 9)
    ]
    expected = {d: await _from_scratch(owner_conn, t.org_id, d) for d in dates}
    assert {d: await _trial(client, t, d) for d in dates} == expected
    for month in ("2026-01", "2026-02", "2026-03"):
        closed = await client.post(f"/v1/periods/{month}/close", headers=t.auth)
        assert closed.status_code == 200, closed.text
        assert {d: await _trial(client, t, d) for d in dates} == expected
    assert (await client.post("/v1/periods/2026-03/reopen", headers=t.auth)).status_code == 200
    assert {d: await _trial(client, t, d) for d in dates} == expected


async def _invoice(
    client: httpx.AsyncClient, t: Tenant, who: str, amount: int, issued: str, days: int
) -> str:
    invoice = await draft(
        client, t, who, {"description": "Work", "unit_amount": amount}, days_until_due=days
    )
    done = await act(client, t, invoice["id"], "finalize", issue_date=issued)
    assert done.status_code == 200, done.text
    return str(invoice["id"])


async def test_ar_aging_buckets_by_days_past_due(client: httpx.AsyncClient) -> None:
    t = await sign_up(client)
    x = (await customer(client, t, name="Xylo"))["id"]
    y = (await customer(client, t, name="Yarrow"))["id"]
    await _invoice(client, t, x, 10_000, "2026-06-01", 30)  # due 07-01: current
    await _invoice(client, t, x, 20_000, "2026-05-01", 30)  # due 05-31: 30 days late
    await _invoice(client, t, y, 5_000, "2026-03-01", 30)  # due 03-31: 91 days late
    late = await _invoice(client, t, y, 7_000, "2026-04-15", 30)  # due 05-15: 46 days
    bad = await _invoice(client, t, y, 8_000, "2026-04-15", 30)  # written off: not receivable
    void = await _invoice(client, t, y, 9_000, "2026-04-01", 0)  # voided: not owed
    await _invoice(client, t, y, 4_000, "2026-07-05", 0)  # issued after as_of
    assert (await act(client, t, bad, "mark-uncollectible", date="2026-06-10")).status_code == 200
    assert (await act(client, t, void, "void", date="2026-06-30")).status_code == 200
    # Dated after as_of: the invoice was still owed in full on as_of.
    assert (await act(client, t, late, "mark-uncollectible", date="2026-07-01")).status_code == 200
    (usd,) = (await _report(client, t, "ar-aging", as_of="2026-06-30"))["currencies"]
    buckets = ("current", "days_1_30", "days_31_60", "days_61_90", "days_over_90", "total")
    rows = {r["customer_name"]: tuple(r[b] for b in buckets) for r in usd["customers"]}
    assert rows == {
        "Xylo": (10_000, 20_000, 0, 0, 0, 30_000),
        "Yarrow": (0, 0, 7_000, 0, 5_000, 12_000),
    }
    assert tuple(usd["total"][b] for b in buckets) == (10_000, 20_000, 7_000, 0, 5_000, 42_000)


async def test_reports_see_only_their_organization(client: httpx.AsyncClient) -> None:
    a = await _book(client)
    b = await sign_up(client)
    viewer = await add_user(client, b, "viewer")
    body = (await client.get("/v1/reports/trial-balance", headers=viewer)).json()
    (usd,) = body["currencies"]
    assert (usd["total_debit"], usd["total_credit"]) == (0, 0)
    assert {line["account_id"] for line in usd["accounts"]} == set(b.accounts.values())
    assert not set(a.accounts.values()) & {line["account_id"] for line in usd["accounts"]}
