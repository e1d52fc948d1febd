"""Invoices through the API against real PostgreSQL: every lifecycle path, what each
step posts, gap-free numbers under concurrency, and books that always agree."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY

from tests.integration.billing import (
    act,
    assert_books_agree,
    assert_problem,
    counts,
    customer,
    draft,
    finalized,
    line,
)
from tests.integration.helpers import Tenant, sign_up

ISSUED = "2026-01-15"
# Half up per line: 1.5 x 333 = 499.5 -> 500; 8.25 % of 500 = 41.25 -> 41.
CONSULTING = line(333, quantity="1.5", tax_rate_bps=825)
LICENCE = line(10_000, description="Licence", quantity=2, discount=1_500, tax_rate_bps=1_000)
SUPPORT = line(
    120_000, description="Support 2026", service_period={"start": "2026-01-01", "end": "2026-12-31"}
)
TOTALS = {"subtotal": 140_500, "discount": 1_500, "tax": 1_891, "total": 140_891}
Posted = list[tuple[str, str, int]]


async def codes(client: httpx.AsyncClient, t: Tenant) -> dict[str, str]:
    listing = await client.get("/v1/accounts", params={"limit": 100}, headers=t.auth)
    return {a["id"]: a["code"] for a in listing.json()["data"]}


async def posted(client: httpx.AsyncClient, t: Tenant, entry_id: str) -> Posted:
    entry = (await client.get(f"/v1/journal-entries/{entry_id}", headers=t.auth)).json()
    by_id = await codes(client, t)
    return [(by_id[p["account_id"]], p["side"], p["amount"]) for p in entry["postings"]]


def entries(invoice: dict[str, Any]) -> dict[str, str]:
    return {e["kind"]: e["journal_entry_id"] for e in invoice["journal_entries"]}


async def account_balances(conn: asyncpg.Connection, org_id: str) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT a.code, sum(p.amount) AS total FROM postings p JOIN accounts a"
        " ON a.id = p.account_id WHERE p.organization_id = $1 GROUP BY a.code",
        org_id,
    )
    return {r["code"]: int(r["total"]) for r in rows}


async def test_a_draft_prices_each_line_half_up_and_sums_them(client: httpx.AsyncClient) -> None:
    t = await sign_up(client)
    cus = await customer(client, t)
    invoice = await draft(client, t, cus["id"], CONSULTING, LICENCE, SUPPORT)
    assert invoice["id"].startswith("inv_")
    assert (invoice["status"], invoice["number"], invoice["currency"]) == ("draft", None, "USD")
    assert {k: invoice[k] for k in TOTALS} == TOTALS
    assert invoice["amount_remaining"] == TOTALS["total"]
    lines = [
        (x["quantity"], x["amount"], x["discount"], x["tax"], x["total"]) for x in invoice["lines"]
    ]
    assert lines == [
        ("1.5", 500, 0, 41, 541),
        ("2", 20_000, 1_500, 1_850, 20_350),
        ("1", 120_000, 0, 0, 120_000),
    ]
    assert {x["revenue_account_id"] for x in invoice["lines"]} == {t.accounts["4000"]}
    assert invoice["lines"][2]["service_period"] == {"start": "2026-01-01", "end": "2026-12-31"}
    assert invoice["journal_entries"] == []


async def test_draft_to_open_to_void_posts_then_reverses_everything(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    cus = await customer(client, t)
    invoice = await draft(client, t, cus["id"], CONSULTING, LICENCE, SUPPORT, days_until_due=14)
    opened = await act(client, t, invoice["id"], "finalize", issue_date=ISSUED)
    assert opened.status_code == 200, opened.text
    body = opened.json()
    assert (body["status"], body["number"], body["issue_date"], body["due_date"]) == (
        "open",
        1,
        ISSUED,
        "2026-01-29",
    )
    finalize_entry = entries(body)["finalize"]
    assert await posted(client, t, finalize_entry) == [
        ("1200", "debit", 140_891),
        ("4000", "credit", 500),
        ("4000", "credit", 18_500),
        ("2400", "credit", 120_000),  # the support year is not earned yet
        ("2100", "credit", 1_891),
    ]
    found = await assert_books_agree(owner_conn, t.org_id)
    assert found.receivable == {"USD": 140_891}

    voided = await act(client, t, invoice["id"], "void", date="2026-02-01")
    assert voided.status_code == 200, voided.text
    assert (voided.json()["status"], voided.json()["amount_remaining"]) == ("void", 0)
    void_entry = entries(voided.json())["void"]
    reversal = (await client.get(f"/v1/journal-entries/{void_entry}", headers=t.auth)).json()
    assert (reversal["reverses"], reversal["date"]) == (finalize_entry, "2026-02-01")
    assert await posted(client, t, void_entry) == [
        ("1200", "credit", 140_891),
        ("4000", "debit", 500),
        ("4000", "debit", 18_500),
        ("2400", "debit", 120_000),
        ("2100", "debit", 1_891),
    ]
    assert (await assert_books_agree(owner_conn, t.org_id)).receivable == {}
    assert set((await account_balances(owner_conn, t.org_id)).values()) == {0}


async def test_open_to_uncollectible_to_void_writes_off_then_undoes_both(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    cus = await customer(client, t)
    invoice = await finalized(client, t, cus["id"], LICENCE)
    written_off = await act(client, t, invoice["id"], "mark-uncollectible", date="2026-03-01")
    assert written_off.status_code == 200, written_off.text
    body = written_off.json()
    assert (body["status"], body["amount_remaining"]) == ("uncollectible", 20_350)
    assert body["marked_uncollectible_at"] is not None
    assert await posted(client, t, entries(body)["uncollectible"]) == [
        ("6900", "debit", 20_350),
        ("1200", "credit", 20_350),
    ]
    found = await assert_books_agree(owner_conn, t.org_id)
    assert found.receivable == {}
    assert (await account_balances(owner_conn, t.org_id))["6900"] == 20_350

    voided = await act(client, t, invoice["id"], "void")
    assert voided.status_code == 200, voided.text
    kinds = [e["kind"] for e in voided.json()["journal_entries"]]
    assert kinds == ["finalize", "uncollectible", "void_uncollectible", "void"]
    await assert_books_agree(owner_conn, t.org_id)
    assert set((await account_balances(owner_conn, t.org_id)).values()) == {0}


@pytest.mark.parametrize("key", [None, "reverse-invoice-entry"], ids=["plain", "idempotent"])
async def test_an_invoices_entry_is_reversed_only_by_voiding_the_invoice(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, key: str | None
) -> None:
    t = await sign_up(client)
    invoice = await finalized(client, t, (await customer(client, t))["id"], LICENCE)
    before = await counts(owner_conn, t.org_id)
    url = f"/v1/journal-entries/{entries(invoice)['finalize']}/reverse"
    headers = t.auth | ({"Idempotency-Key": f"{key}-{t.org_id}"} if key else {})
    bare = await client.post(url, headers=headers)
    assert_problem(bare, 409, "conflict", None)
    assert "void the invoice" in bare.json()["detail"]
    assert await counts(owner_conn, t.org_id) == before
    voided = await act(client, t, invoice["id"], "void")
    assert voided.status_code == 200, voided.text
    await assert_books_agree(owner_conn, t.org_id)


async def test_an_invoice_with_nothing_to_collect_is_paid_at_finalize_and_posts_nothing(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    cus = await customer(client, t)
    free = line(500, discount=500, tax_rate_bps=2_000)
    invoice = await finalized(client, t, cus["id"], free)
    assert (invoice["status"], invoice["number"], invoice["total"]) == ("paid", 1, 0)
    assert invoice["paid_at"] is not None
    assert invoice["journal_entries"] == []
    assert (await counts(owner_conn, t.org_id))["entries"] == 0
    refused = await act(client, t, invoice["id"], "void")
    assert_problem(refused, 409, "invoice_paid", "id")


async def test_another_currency_posts_to_twin_accounts_created_once(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    cus = await customer(client, t, currency="EUR")
    first = await finalized(client, t, cus["id"], LICENCE, SUPPORT)
    accounts = (await counts(owner_conn, t.org_id))["accounts"]
    second = await finalized(client, t, cus["id"], CONSULTING)
    assert (await counts(owner_conn, t.org_id))["accounts"] == accounts
    assert [first["currency"], first["number"], second["number"]] == ["EUR", 1, 2]
    assert await posted(client, t, entries(first)["finalize"]) == [
        ("1200.EUR", "debit", 140_350),
        ("4000.EUR", "credit", 18_500),
        ("2400.EUR", "credit", 120_000),
        ("2100.EUR", "credit", 1_850),
    ]
    await act(client, t, second["id"], "mark-uncollectible")
    found = await assert_books_agree(owner_conn, t.org_id)
    assert found.receivable == {"EUR": 140_350}
    usd = await client.get(f"/v1/accounts/{t.accounts['1200']}/balance", headers=t.auth)
    assert usd.json()["amount"] == 0


async def test_twenty_concurrent_finalizes_take_numbers_one_to_twenty(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    cus = await customer(client, t)
    drafts = [await draft(client, t, cus["id"], line(100 + i)) for i in range(20)]
    responses = await asyncio.gather(*(act(client, t, d["id"], "finalize") for d in drafts))
    assert [r.status_code for r in responses] == [200] * 20
    assert sorted(r.json()["number"] for r in responses) == list(range(1, 21))
    assert (await counts(owner_conn, t.org_id))["last_number"] == 20
    await assert_books_agree(owner_conn, t.org_id)


async def test_a_failed_finalize_leaves_no_gap(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    cus = await customer(client, t)
    await finalized(client, t, cus["id"])
    late = await draft(client, t, cus["id"], due_date="2026-01-01")
    refused = await act(client, t, late["id"], "finalize", issue_date=ISSUED)
    assert_problem(refused, 422, "validation_error", "due_date")
    after = await finalized(client, t, cus["id"])
    assert after["number"] == 2


async def test_finalizing_twice_at_once_succeeds_exactly_once(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    cus = await customer(client, t)
    invoice = await draft(client, t, cus["id"], LICENCE)
    responses = await asyncio.gather(*(act(client, t, invoice["id"], "finalize") for _ in range(5)))
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409, 409]
    for r in responses:
        if r.status_code == 409:
            assert_problem(r, 409, "invoice_already_finalized", "id")
    state = await counts(owner_conn, t.org_id)
    assert (state["entries"], state["invoice_entries"], state["last_number"]) == (1, 1, 1)
    await assert_books_agree(owner_conn, t.org_id)


async def test_a_line_racing_a_finalize_is_either_posted_or_refused(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    cus = await customer(client, t)
    invoice = await draft(client, t, cus["id"], line(1_000))
    url = f"/v1/invoices/{invoice['id']}/lines"
    added, done = await asyncio.gather(
        client.post(url, json=line(7), headers=t.auth), act(client, t, invoice["id"], "finalize")
    )
    assert done.status_code == 200, done.text
    if added.status_code == 200:
        assert done.json()["total"] == 1_007
    else:
        assert_problem(added, 409, "invoice_not_draft", "id")
        assert done.json()["total"] == 1_000
    found = await assert_books_agree(owner_conn, t.org_id)
    assert found.receivable == {"USD": done.json()["total"]}


async def test_a_draft_is_edited_line_by_line(client: httpx.AsyncClient) -> None:
    t = await sign_up(client)
    cus = await customer(client, t)
    invoice = await draft(client, t, cus["id"], line(1_000))
    url = f"/v1/invoices/{invoice['id']}/lines"
    added = await client.post(url, json=line(250, quantity="0.5"), headers=t.auth)
    assert added.status_code == 200, added.text
    assert (added.json()["total"], len(added.json()["lines"])) == (1_125, 2)
    first = added.json()["lines"][0]["id"]
    removed = await client.delete(f"{url}/{first}", headers=t.auth)
    assert removed.status_code == 200, removed.text
    assert (removed.json()["total"], removed.json()["lines"][0]["quantity"]) == (125, "0.5")
    gone = await client.delete(f"{url}/{first}", headers=t.auth)
    assert_problem(gone, 404, "not_found", "line_id")


async def test_finalize_is_idempotent_with_a_key(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    cus = await customer(client, t)
    invoice = await draft(client, t, cus["id"])
    headers = t.auth | {"Idempotency-Key": f"fin-{invoice['id']}"}
    url = f"/v1/invoices/{invoice['id']}/finalize"
    first = await client.post(url, headers=headers)
    second = await client.post(url, headers=headers)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.headers.get("idempotent-replayed") == "true"
    assert second.json() == first.json()
    assert (await counts(owner_conn, t.org_id))["entries"] == 1


async def test_invoices_page_newest_first_and_filter(client: httpx.AsyncClient) -> None:
    t = await sign_up(client)
    a, b = await customer(client, t), await customer(client, t)
    made = [await draft(client, t, c["id"]) for c in (a, b, a)]
    await act(client, t, made[0]["id"], "finalize")
    page = await client.get("/v1/invoices", params={"limit": 2}, headers=t.auth)
    rest = await client.get(
        "/v1/invoices", params={"starting_after": page.json()["data"][-1]["id"]}, headers=t.auth
    )
    seen = [i["id"] for i in page.json()["data"] + rest.json()["data"]]
    assert (seen, page.json()["has_more"]) == ([m["id"] for m in reversed(made)], True)
    of_a = await client.get("/v1/invoices", params={"customer": a["id"]}, headers=t.auth)
    assert [i["id"] for i in of_a.json()["data"]] == [made[2]["id"], made[0]["id"]]
    opened = await client.get("/v1/invoices", params={"status": "open"}, headers=t.auth)
    assert [i["id"] for i in opened.json()["data"]] == [made[0]["id"]]


def created_total(tier: str) -> float:
    value = REGISTRY.get_sample_value("invoices_created_total", {"customer_tier": tier})
    return value or 0.0


async def test_creating_invoices_counts_them_by_customer_tier(client: httpx.AsyncClient) -> None:
    t = await sign_up(client)
    cus = await customer(client, t, tier="premium")
    before = created_total("premium")
    await draft(client, t, cus["id"])
    await draft(client, t, cus["id"])
    assert created_total("premium") == before + 2
    metrics = (await client.get("/metrics")).text
    assert 'invoices_created_total{customer_tier="premium"}' in metrics
    samples = [m for m in metrics.splitlines() if m.startswith("invoices_created_total{")]
    assert samples
    assert all("organization" not in sample for sample in samples)
