"""A realistic book built through the API, and its trial balance by exported account name.

Several currencies (USD, EUR, JPY with no decimals, BHD with three), free text that
hledger gives a meaning to, a reversal, invoices finalized, paid (over and in part),
voided and written off, a refund, deferred revenue, and January closed.
"""

from __future__ import annotations

import datetime
from typing import Any

import httpx

from accounting_api.domain import journal_export
from tests.integration.billing import act, customer, draft, finalized, line
from tests.integration.helpers import Tenant, entry, post_entry, sign_up
from tests.integration.payments import paid, refund

Balances = dict[str, dict[str, int]]
"""Exported account name -> currency -> signed (debit-positive) balance."""


async def add_account(
    client: httpx.AsyncClient, t: Tenant, code: str, name: str, type_: str, currency: str
) -> str:
    body = {"code": code, "name": name, "type": type_, "currency": currency}
    response = await client.post("/v1/accounts", json=body, headers=t.auth)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def posted(client: httpx.AsyncClient, t: Tenant, body: dict[str, Any]) -> str:
    response = await post_entry(client, t, body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _journal_entries(client: httpx.AsyncClient, t: Tenant) -> None:
    usd = t.accounts
    eur_cash = await add_account(client, t, "1010", "Cash: Paris  office", "asset", "EUR")
    eur_sales = await add_account(client, t, "4010", "Sales; EU", "revenue", "EUR")
    yen_cash = await add_account(client, t, "1020", "Yen float", "asset", "JPY")
    yen_fees = await add_account(client, t, "6010", "(Bank) fees", "expense", "JPY")
    dinar_cash = await add_account(client, t, "1030", "Manama cash", "asset", "BHD")
    dinar_capital = await add_account(client, t, "3010", "Capital", "equity", "BHD")
    await posted(client, t, entry(usd["1000"], usd["3000"], 5_000_000, "2026-01-02", "Capital"))
    sale = await posted(client, t, entry(eur_cash, eur_sales, 123_456, "2026-01-05", "(unclosed"))
    await posted(client, t, entry(eur_cash, eur_sales, 99, "2026-01-06", "* starred; sale"))
    await posted(client, t, entry(yen_fees, yen_cash, 1_500, "2026-01-10", "! fee\nline two"))
    fx_yen = await add_account(client, t, "1090", "FX clearing", "asset", "JPY")
    await posted(client, t, _yen_bought(t, yen_cash, yen_fees, fx_yen))
    await posted(client, t, entry(dinar_cash, dinar_capital, 1_001, "2026-02-03", "(FX) in"))
    back = {"date": "2026-02-10", "description": "Undo the Paris sale"}
    reversal = await client.post(f"/v1/journal-entries/{sale}/reverse", json=back, headers=t.auth)
    assert reversal.status_code == 201, reversal.text


def _yen_bought(t: Tenant, yen_cash: str, yen_fees: str, fx_yen: str) -> dict[str, Any]:
    """Yen bought with dollars: one entry balanced in each of its two currencies."""
    return {
        "date": "2026-01-11",
        "description": "Buy yen",
        "postings": [
            {"account_id": yen_cash, "side": "debit", "amount": 200_000},
            {"account_id": yen_fees, "side": "debit", "amount": 500},
            {"account_id": fx_yen, "side": "credit", "amount": 200_500},
            {"account_id": t.accounts["6000"], "side": "debit", "amount": 130_000},
            {"account_id": t.accounts["1000"], "side": "credit", "amount": 130_000},
        ],
    }


async def _billing(client: httpx.AsyncClient, t: Tenant) -> None:
    acme = (await customer(client, t, name="Acme"))["id"]
    taxed = line(25_000, quantity=2, discount=1_000, tax_rate_bps=825)
    deferred = line(12_000, service_period={"start": "2026-01-15", "end": "2026-06-30"})
    first = await finalized(client, t, acme, taxed, deferred)
    await paid(client, t, acme, first["total"] + 5_000, date="2026-02-01")
    second = await finalized(client, t, acme, line(40_000))
    payment = await paid(client, t, acme, 15_000, date="2026-02-02")
    assert (await refund(client, t, payment["id"], 2_500, date="2026-02-05")).status_code == 201
    voided = await finalized(client, t, acme, line(7_700))
    assert (await act(client, t, voided["id"], "void", date="2026-02-06")).status_code == 200
    written_off = await act(client, t, second["id"], "mark-uncollectible", date="2026-02-07")
    assert written_off.status_code == 200, written_off.text
    await draft(client, t, acme, line(1))  # a draft posts nothing
    euro = (await customer(client, t, name="Euro GmbH", currency="EUR"))["id"]
    invoice = await finalized(client, t, euro, line(80_000))
    await paid(client, t, euro, invoice["total"], currency="EUR", date="2026-02-08")


async def build_book(client: httpx.AsyncClient) -> Tenant:
    t = await sign_up(client)
    await _journal_entries(client, t)
    await _billing(client, t)
    closed = await client.post("/v1/periods/2026-01/close", headers=t.auth)
    assert closed.status_code == 200, closed.text
    await posted(client, t, entry(t.accounts["6100"], t.accounts["1100"], 420_000, "2026-03-31"))
    return t


async def trial_balance(client: httpx.AsyncClient, t: Tenant, as_of: datetime.date) -> Balances:
    """The API's trial balance, keeping the accounts whose balance is not zero."""
    response = await client.get(
        "/v1/reports/trial-balance", params={"as_of": as_of.isoformat()}, headers=t.auth
    )
    assert response.status_code == 200, response.text
    found: Balances = {}
    for block in response.json()["currencies"]:
        for a in block["accounts"]:
            signed = a["debit"] - a["credit"]
            if signed:
                account = journal_export.Account(a["type"], a["code"], a["name"], block["currency"])
                found.setdefault(journal_export.account_name(account), {})[block["currency"]] = (
                    signed
                )
    return found
