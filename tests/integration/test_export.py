"""The journal export in hledger's format: exact text for a small book, and it balances."""

from __future__ import annotations

import collections
import re
from decimal import Decimal

import httpx

from tests.integration.helpers import entry, post_entry, sign_up

EXPORT = "/v1/exports/ledger.journal"


def balances_per_transaction(text: str) -> list[dict[str, Decimal]]:
    """Parse the journal back: per transaction, the sum of its amounts per currency."""
    sums: list[dict[str, Decimal]] = []
    for line in text.splitlines():
        if re.match(r"^\d{4}-\d{2}-\d{2}", line):
            sums.append(collections.defaultdict(Decimal))
        elif line.startswith("    ") and not line.strip().startswith(";"):
            _, amount = line.strip().rsplit("  ", 1)
            number, currency = amount.split(" ")
            sums[-1][currency] += Decimal(number)
    return sums


async def test_a_small_book_exports_exactly_and_balances(client: httpx.AsyncClient) -> None:
    tenant = await sign_up(client)
    cash, sales = tenant.accounts["1000"], tenant.accounts["4000"]
    first = await post_entry(client, tenant, entry(cash, sales, 12345, "2026-01-05", "Sale; #1"))
    second = await post_entry(client, tenant, entry(cash, sales, 5, "2026-01-02", "Small"))
    one, two = first.json()["id"], second.json()["id"]
    reversal = await client.post(
        f"/v1/journal-entries/{one}/reverse",
        json={"date": "2026-01-07", "description": "Undo"},
        headers=tenant.auth,
    )
    three = reversal.json()["id"]
    response = await client.get(EXPORT, headers=tenant.auth)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    header, journal = response.text.split("\n\n2026-01-02", 1)
    assert header.startswith(
        "; journal exported by accounting-api; hledger/ledger-cli plain-text format\n\n"
        "commodity USD\naccount assets:1000 Cash\n"
    )
    assert "\naccount revenues:4000 Sales Revenue\n" in header
    assert "2026-01-02" + journal == (
        f"2026-01-02 Small\n    ; id:{two}\n"
        "    assets:1000 Cash  0.05 USD\n    revenues:4000 Sales Revenue  -0.05 USD\n\n"
        f"2026-01-05 Sale, #1\n    ; id:{one}\n"
        "    assets:1000 Cash  123.45 USD\n    revenues:4000 Sales Revenue  -123.45 USD\n\n"
        f"2026-01-07 Undo\n    ; id:{three}, reverses:{one}\n"
        "    assets:1000 Cash  -123.45 USD\n    revenues:4000 Sales Revenue  123.45 USD\n\n"
    )
    sums = balances_per_transaction(response.text)
    assert len(sums) == 3
    assert all(v == 0 for s in sums for v in s.values())


async def test_a_book_larger_than_a_page_is_exported_whole(client: httpx.AsyncClient) -> None:
    tenant = await sign_up(client, currency="JPY")
    cash = await client.post(
        "/v1/accounts",
        json={"code": "1010", "name": "Yen: cash", "type": "asset", "currency": "JPY"},
        headers=tenant.auth,
    )
    sales = await client.post(
        "/v1/accounts",
        json={"code": "4010", "name": "Yen sales", "type": "revenue", "currency": "JPY"},
        headers=tenant.auth,
    )
    line = entry(cash.json()["id"], sales.json()["id"], 1500)
    batch = await client.post(
        "/v1/journal-entries/batch", json={"entries": [line] * 600}, headers=tenant.auth
    )
    assert batch.status_code == 201, batch.text
    text = (await client.get(EXPORT, headers=tenant.auth)).text
    sums = balances_per_transaction(text)
    assert len(sums) == 600
    assert all(s == {"JPY": 0} for s in sums)
    assert "    assets:1010 Yen- cash  1500 JPY\n" in text
