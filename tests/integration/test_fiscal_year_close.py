"""Closing a fiscal year: closing its last month posts the closing entry (revenue and
expense into retained earnings, dated the year's last day), reopening reverses it, and
the reports and hledger agree across the year end, closed or not."""

from __future__ import annotations

import datetime
import pathlib
import re
from typing import Any

import httpx

from tests.integration import fiscal_books as fb
from tests.integration.books import trial_balance
from tests.integration.helpers import Tenant
from tests.integration.test_hledger import hledger, hledger_balances

UNCLOSED_FEB_2026 = {  # test_fiscal_year's figures without any close, December year end
    "year": ("2026-01-01", "2026-12-31"),
    "assets": 13_300_000,
    "equity": {"3000": 10_000_000},
    "retained": 2_500_000,
    "current": 800_000,
}
UNCLOSED_DEC_2025 = UNCLOSED_FEB_2026 | {
    "year": ("2025-01-01", "2025-12-31"), "assets": 13_000_000, "retained": 0,
    "current": 3_000_000,
}  # fmt: skip


async def _period(client: httpx.AsyncClient, t: Tenant, *steps: str) -> None:
    for step in steps:
        month, action = step.split()
        done = await client.post(f"/v1/periods/{month}/{action}", headers=t.auth)
        assert done.status_code == 200, done.text


async def _trial(client: httpx.AsyncClient, t: Tenant, as_of: str) -> dict[str, int]:
    (usd,) = (await fb.report(client, t, "trial-balance", as_of=as_of))["currencies"]
    return {
        a["code"]: a["debit"] - a["credit"] for a in usd["accounts"] if a["debit"] or a["credit"]
    }


async def _net_income(client: httpx.AsyncClient, t: Tenant, start: str, end: str) -> int:
    statement = await fb.report(client, t, "income-statement", **{"from": start, "to": end})
    return int(statement["currencies"][0]["net_income"])


async def _export(client: httpx.AsyncClient, t: Tenant) -> str:
    response = await client.get("/v1/exports/ledger.journal", headers=t.auth)
    assert response.status_code == 200, response.text
    return response.text


def _write(path: pathlib.Path, text: str) -> pathlib.Path:
    path.write_text(text, encoding="utf-8")
    return path


async def test_closing_december_moves_2025_into_retained_earnings_and_reopening_undoes_it(
    client: httpx.AsyncClient,
) -> None:
    t = await fb.book(client)
    await _period(client, t, "2025-03 close", "2025-06 close", "2025-09 close", "2025-12 close")
    # The trial balance after the closing entry: revenue and expense at zero on 2025-12-31.
    assert await _trial(client, t, "2025-12-31") == {
        "1000": 13_000_000, "3000": -10_000_000, fb.RETAINED: -3_000_000,
    }  # fmt: skip
    assert await _trial(client, t, "2026-02-28") == {
        "1000": 13_300_000, "3000": -10_000_000, fb.RETAINED: -2_500_000,
        fb.REVENUE: -1_200_000, fb.OPEX: 400_000,
    }  # fmt: skip
    # The balance sheet and the income statement are what they were before the close.
    assert await fb.sheet(client, t, "2026-02-28") == UNCLOSED_FEB_2026
    assert await fb.sheet(client, t, "2025-12-31") == UNCLOSED_DEC_2025
    assert await _net_income(client, t, "2025-01-01", "2025-12-31") == 3_000_000
    assert await _net_income(client, t, "2025-12-31", "2026-02-28") == 800_000

    await _period(client, t, "2025-12 reopen")
    assert await _trial(client, t, "2025-12-31") == {
        "1000": 13_000_000, "3000": -10_000_000, fb.REVENUE: -5_000_000, fb.OPEX: 2_000_000,
    }  # fmt: skip
    assert await fb.sheet(client, t, "2026-02-28") == UNCLOSED_FEB_2026
    assert await _net_income(client, t, "2025-01-01", "2025-12-31") == 3_000_000
    await _period(client, t, "2025-12 close")  # closed again: a new closing entry
    assert (await _trial(client, t, "2025-12-31"))[fb.RETAINED] == -3_000_000
    assert await fb.sheet(client, t, "2025-12-31") == UNCLOSED_DEC_2025


async def test_a_closing_entry_is_reversed_only_by_reopening_its_month(
    client: httpx.AsyncClient,
) -> None:
    t = await fb.book(client)
    await _period(client, t, "2025-03 close", "2025-06 close", "2025-09 close", "2025-12 close")
    text = await _export(client, t)
    (closing,) = re.findall(r"id:(je_\w+), closes-fiscal-year:2025-12-31", text)
    shown = (await client.get(f"/v1/journal-entries/{closing}", headers=t.auth)).json()
    assert (shown["date"], shown["closes_fiscal_year"]) == ("2025-12-31", "2025-12-31")
    lines = {(p["account_id"], p["side"], p["amount"]) for p in shown["postings"]}
    assert lines == {
        (t.accounts[fb.REVENUE], "debit", 5_000_000),
        (t.accounts[fb.OPEX], "credit", 2_000_000),
        (t.accounts[fb.RETAINED], "credit", 3_000_000),
    }
    reversed_ = await client.post(
        f"/v1/journal-entries/{closing}/reverse", json={"date": "2026-03-01"}, headers=t.auth
    )
    assert reversed_.status_code == 409, reversed_.text
    assert "closed a fiscal year" in reversed_.json()["detail"], reversed_.text
    assert (await _trial(client, t, "2026-03-01"))[fb.RETAINED] == -2_500_000


async def test_a_june_year_end_is_closed_when_june_is(client: httpx.AsyncClient) -> None:
    t = await fb.book(client)
    body = {"fiscal_year_end_month": 6}
    assert (await client.patch("/v1/organization", json=body, headers=t.auth)).status_code == 200
    before = await fb.sheet(client, t, "2026-02-28")
    at_year_end = await fb.sheet(client, t, "2025-06-30")
    await _period(client, t, "2025-03 close", "2025-06 close")
    # Fiscal year 2025 (2024-07-01 to 2025-06-30) earned the 50,000.00 of revenue.
    assert (await _trial(client, t, "2025-06-30"))[fb.RETAINED] == -5_000_000
    assert fb.REVENUE not in await _trial(client, t, "2025-06-30")
    assert await fb.sheet(client, t, "2026-02-28") == before
    assert (before["retained"], before["current"]) == (4_500_000, -1_200_000)
    assert await fb.sheet(client, t, "2025-06-30") == at_year_end
    assert (at_year_end["retained"], at_year_end["current"]) == (0, 5_000_000)
    await _period(client, t, "2025-09 close", "2025-12 close")  # not a year end: no entry
    assert (await _trial(client, t, "2025-12-31"))[fb.RETAINED] == -5_000_000


async def test_hledger_agrees_across_the_closed_year_end(
    client: httpx.AsyncClient, tmp_path: pathlib.Path
) -> None:
    t = await fb.book(client)
    await _period(client, t, "2025-03 close", "2025-06 close", "2025-09 close", "2025-12 close")
    journal = _write(tmp_path / "books.journal", await _export(client, t))
    hledger(journal, "check", "--strict", "ordereddates", "uniqueleafnames")
    for as_of in (datetime.date(2025, 12, 31), datetime.date(2026, 2, 28)):
        end = (as_of + datetime.timedelta(days=1)).isoformat()
        assert hledger_balances(journal, "-e", end) == await trial_balance(client, t, as_of)
    # The income statement leaves the closing entry out, as `not:tag:` does in hledger.
    earned: dict[str, Any] = hledger_balances(
        journal, "-b", "2025-01-01", "-e", "2026-01-01", "not:tag:closes-fiscal-year",
        "^revenues", "^expenses",
    )  # fmt: skip
    assert -sum(c["USD"] for c in earned.values()) == 3_000_000
    assert await _net_income(client, t, "2025-01-01", "2025-12-31") == 3_000_000


async def test_the_year_end_cannot_change_while_a_year_is_closed_and_reopening_lifts_it(
    client: httpx.AsyncClient,
) -> None:
    closed, never_closed = await fb.book(client), await fb.book(client)
    await _period(
        client, closed, "2025-03 close", "2025-06 close", "2025-09 close", "2025-12 close"
    )
    refused = await fb.set_year_end(client, closed, 6)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "fiscal_year_closed"
    assert "2025-12-31 is closed" in refused.json()["detail"]
    same = await fb.set_year_end(client, closed, 12)  # not a change: nothing to refuse
    assert same.status_code == 200, same.text
    assert await fb.sheet(client, closed, "2026-02-28") == UNCLOSED_FEB_2026

    await _period(client, closed, "2025-12 reopen")
    for t in (closed, never_closed):
        done = await fb.set_year_end(client, t, 6)
        assert done.status_code == 200, done.text
    for as_of in ("2025-06-30", "2025-12-31", "2026-02-28", "2026-07-01"):
        assert await fb.sheet(client, closed, as_of) == await fb.sheet(client, never_closed, as_of)
    assert await _net_income(client, closed, "2025-07-01", "2026-06-30") == -1_200_000
    assert await _net_income(client, never_closed, "2025-07-01", "2026-06-30") == -1_200_000


async def test_a_year_end_close_names_its_closing_entry_and_the_audit_trail_records_both(
    client: httpx.AsyncClient,
) -> None:
    t = await fb.book(client)
    await _period(client, t, "2025-03 close", "2025-06 close", "2025-09 close")
    closed = await client.post("/v1/periods/2025-12/close", headers=t.auth)
    assert closed.status_code == 200, closed.text
    closing = closed.json()["closing_entry_id"]
    shown = (await client.get(f"/v1/journal-entries/{closing}", headers=t.auth)).json()
    assert shown["closes_fiscal_year"] == "2025-12-31"
    listed = (await client.get("/v1/periods", headers=t.auth)).json()["data"]
    assert [(p["period"], p["closing_entry_id"]) for p in listed] == [
        ("2025-12", closing), ("2025-09", None), ("2025-06", None), ("2025-03", None),
    ]  # fmt: skip
    reopened = await client.post("/v1/periods/2025-12/reopen", headers=t.auth)
    assert reopened.status_code == 200, reopened.text
    audited = await client.get("/v1/audit-events", params={"object_id": closing}, headers=t.auth)
    events = [(e["action"], e["object_id"]) for e in audited.json()["data"]]
    assert ("journal_entry.created", closing) in events, events
    shown = (await client.get(f"/v1/journal-entries/{closing}", headers=t.auth)).json()
    reversal = shown["reversed_by"]
    audited = await client.get("/v1/audit-events", params={"object_id": reversal}, headers=t.auth)
    assert [e["action"] for e in audited.json()["data"]] == ["journal_entry.reversal_posted"], (
        audited.text
    )
