"""Property: any sequence of billing, payment and ledger operations keeps the books whole.

Random sequences of invoice drafts (1-3 lines, random amounts, quantities, discounts, tax,
some deferred), finalize, void, mark uncollectible, payments (partial, full, over; applied
or left to allocate), refunds, credit notes (by amount or by line; partial, full, over),
customer credit applied to invoices, refunds of a credit note's credit, plain journal
entries and their reversals always leave:

- every currency balanced (sum of postings is zero; the trial balance's debits equal its
  credits);
- receivable (1200 and its twins) equal to what open invoices still owe (an uncollectible
  invoice's receivable was written off to 6900, so it does not count);
- customer credits (2300 and its twins) equal to the payments' unapplied, unrefunded parts
  plus the credit notes' unapplied parts, and to the customers' credit balances;
- the AR aging's total, per currency, equal to receivable on the trial balance, as of
  dates before, between and after the documents' (random) dates, and the same on each
  of them once January and February are closed, and once February is reopened.

A bare reversal of a payment's entry is refused (refund instead), and so is a refund of
a payment that would take back what covers a credit note (the database checks at commit
that payments and applied credit cover what credit notes took off every invoice).

A refused operation answers a 4xx problem and changes nothing.

Hypothesis cannot drive async tests, so the test is sync and runs the app on its own event
loop (one app for the test; each example signs up a fresh organization).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from tests.integration import payments
from tests.integration.billing import PROBLEM, customer
from tests.integration.conftest import Harness
from tests.integration.helpers import Tenant, entry, sign_up

AS_OF = "2030-12-31"
ISSUE_DATES = ["2026-01-10", "2026-01-15", "2026-02-05"]
DATES = ["2026-01-12", "2026-01-15", "2026-02-01", "2026-02-20", "2026-03-10"]
"""When payments, refunds, credit, voids and write-offs are dated: some before the invoice."""
AGING_DATES = ["2026-01-09", "2026-01-12", "2026-01-31", "2026-02-10", "2026-02-20", AS_OF]

# --- operations ------------------------------------------------------------------------

Op = tuple[Any, ...]

quantities = st.one_of(st.integers(1, 5), st.sampled_from(["1.5", "0.25", "2.125", "3"]))
lines = st.fixed_dictionaries(
    {
        "description": st.just("Work"),
        "unit_amount": st.integers(0, 50_000),
        "quantity": quantities,
        "discount": st.sampled_from([0, 0, 100, 2_500]),
        "tax_rate_bps": st.sampled_from([0, 825, 1_900]),
    },
    optional={"service_period": st.just({"start": "2026-01-01", "end": "2026-12-31"})},
)
SIZES = ["partial", "full", "over"]
dates = st.sampled_from(DATES)
ops: st.SearchStrategy[Op] = st.one_of(
    st.tuples(
        st.just("create"),
        st.integers(0, 1),
        st.lists(lines, min_size=1, max_size=3),
        st.sampled_from([True, True, False]),  # finalized at once, or left a draft
        st.sampled_from(ISSUE_DATES),
    ),
    st.tuples(st.just("finalize"), st.integers(0, 20), st.sampled_from(ISSUE_DATES)),
    st.tuples(st.sampled_from(["void", "uncollectible"]), st.integers(0, 20), dates),
    st.tuples(st.sampled_from(["void", "uncollectible"]), st.integers(0, 20), dates),
    st.tuples(
        st.just("pay"),
        st.integers(0, 1),
        st.integers(0, 20),
        st.sampled_from(["applied", "auto"]),
        st.sampled_from(["partial", "full", "over"]),
        st.sampled_from([0, 0, 1, 3_000]),
        dates,
    ),
    st.tuples(st.just("refund"), st.integers(0, 20), st.sampled_from(SIZES), dates),
    st.tuples(
        st.just("credit"),
        st.integers(0, 20),
        st.sampled_from(["partial", "full", "over"]),
        st.booleans(),  # by line, or an amount spread over the lines
        dates,
    ),
    st.tuples(st.just("apply_credit"), st.integers(0, 20), st.sampled_from(SIZES), dates),
    st.tuples(st.just("refund_credit"), st.integers(0, 20), st.sampled_from(SIZES), dates),
    st.tuples(st.just("refund_credit"), st.integers(0, 20), st.sampled_from(SIZES), dates),
    st.tuples(st.just("entry"), st.integers(1, 100_000)),
    st.tuples(st.just("reverse"), st.integers(0, 20)),
    st.tuples(st.just("reverse_payment"), st.integers(0, 20)),  # refused: refund instead
)


WORK = {"description": "Work", "unit_amount": 10_000, "quantity": 1, "discount": 0}
GOODS_RETURNED: list[Op] = [
    ("create", 0, [WORK | {"tax_rate_bps": 825}], True, ISSUE_DATES[0]),
    ("pay", 0, 0, "applied", "full", 0, DATES[1]),
    ("credit", 0, "full", False, DATES[1]),
    ("refund", 0, "full", DATES[2]),  # refused: it would reopen the credited invoice
    ("refund_credit", 0, "partial", DATES[2]),
    ("refund_credit", 0, "full", DATES[3]),
    ("refund", 0, "full", DATES[3]),
]
"""Paid, credited in full, then the payment refunded (refused) and the credit refunded."""


# --- running them ----------------------------------------------------------------------


@dataclass
class World:
    client: httpx.AsyncClient
    conn: asyncpg.Connection
    tenant: Tenant
    customers: list[str]
    invoices: list[str] = field(default_factory=list)
    payments: list[str] = field(default_factory=list)
    entries: list[str] = field(default_factory=list)

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.client.get(path, params=params, headers=self.tenant.auth)
        assert response.status_code == 200, response.text
        return response.json()

    async def post(self, path: str, body: dict[str, Any] | None) -> httpx.Response:
        return await self.client.post(path, json=body, headers=self.tenant.auth)


def pick(items: list[str], index: int) -> str | None:
    return items[index % len(items)] if items else None


async def step(w: World, op: Op) -> httpx.Response | None:
    """Perform `op`; None when there is nothing to perform it on."""
    kind = op[0]
    if kind == "create":
        response = await w.post("/v1/invoices", {"customer": w.customers[op[1]], "lines": op[2]})
        if response.status_code != 201:
            return response
        w.invoices.append(response.json()["id"])
        if not op[3]:
            return response
        return await w.post(f"/v1/invoices/{w.invoices[-1]}/finalize", {"issue_date": op[4]})
    if kind in ("finalize", "void", "uncollectible"):
        invoice = pick(w.invoices, op[1])
        if invoice is None:
            return None
        action = "mark-uncollectible" if kind == "uncollectible" else kind
        dated = {"issue_date": op[2]} if kind == "finalize" else {"date": op[2]}
        return await w.post(f"/v1/invoices/{invoice}/{action}", dated)
    if kind == "pay":
        _, who, index, mode, size, extra, date = op
        invoice = pick(w.invoices, index)
        due = 0
        if invoice is not None:
            due = int((await w.get(f"/v1/invoices/{invoice}"))["amount_remaining"])
        applied = {"partial": max(1, due // 2), "full": due, "over": due + 1 + extra}[size]
        body: dict[str, Any] = {
            "customer": w.customers[who],
            "amount": applied + extra,
            "method": "card",
            "date": date,
        }
        if mode == "applied" and invoice is not None:
            body["applied_to"] = [{"invoice": invoice, "amount": applied}]
        response = await w.post("/v1/payments", body)
        if response.status_code == 201:
            w.payments.append(response.json()["id"])
        return response
    if kind == "refund":
        payment = pick(w.payments, op[1])
        if payment is None:
            return None
        found = await w.get(f"/v1/payments/{payment}")
        left = int(found["amount"]) - int(found["amount_refunded"])
        amount = {"partial": max(1, left // 2), "full": left, "over": left + 1}[op[2]]
        refund = {"payment": payment, "amount": amount, "date": op[3]}
        return await w.post("/v1/refunds", refund)
    if kind in ("credit", "apply_credit"):
        return await spend(w, op)
    if kind == "refund_credit":
        return await refund_credit(w, op)
    if kind == "entry":
        accounts = w.tenant.accounts
        response = await w.post(
            "/v1/journal-entries", entry(accounts["1000"], accounts["3000"], op[1])
        )
        if response.status_code == 201:
            w.entries.append(response.json()["id"])
        return response
    if kind == "reverse_payment":
        payment = pick(w.payments, op[1])
        if payment is None:
            return None
        found = await w.get(f"/v1/payments/{payment}")
        return await w.post(f"/v1/journal-entries/{found['journal_entry_id']}/reverse", None)
    assert kind == "reverse"
    original = pick(w.entries, op[1])
    if original is None:
        return None
    return await w.post(f"/v1/journal-entries/{original}/reverse", None)


def sized(size: str, left: int) -> int:
    return {"partial": max(1, left // 3), "full": left, "over": left + 1}[size]


async def spend(w: World, op: Op) -> httpx.Response | None:
    """A credit note of an invoice, or customer credit applied to one."""
    invoice = pick(w.invoices, op[1])
    if invoice is None:
        return None
    found = await w.get(f"/v1/invoices/{invoice}")
    if op[0] == "apply_credit":
        held = (await w.get(f"/v1/customers/{found['customer']}"))["credit_balance"]
        amount = sized(op[2], min(held, found["amount_remaining"]))
        body = {"amount": amount, "date": op[3]}
        return await w.post(f"/v1/invoices/{invoice}/apply-credit", body)
    amount = sized(op[2], found["total"] - found["amount_credited"])
    note: dict[str, Any] = {"invoice": invoice, "date": op[4], "amount": amount}
    if op[3] and found["lines"]:
        first = found["lines"][0]
        note.pop("amount")
        note["lines"] = [{"line": first["id"], "amount": sized(op[2], first["total"])}]
    return await w.post("/v1/credit-notes", note)


async def refund_credit(w: World, op: Op) -> httpx.Response | None:
    """Customer credit a credit note holds, given back as money."""
    holding = [n for n in await listing(w, "/v1/credit-notes") if n["amount_unapplied"]]
    if not holding:
        return None
    note = holding[op[1] % len(holding)]
    body = {"credit_note": note["id"], "amount": sized(op[2], note["amount_unapplied"])}
    body["date"] = op[3]
    return await w.post("/v1/refunds", body)


# --- what must hold --------------------------------------------------------------------


async def listing(w: World, path: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = (await w.get(path, limit=100))["data"]
    assert len(data) < 100
    return data


async def snapshot(w: World) -> tuple[Any, ...]:
    """Everything a refused operation must leave alone."""
    trial = await w.get("/v1/reports/trial-balance", as_of=AS_OF)
    return (
        trial,
        await listing(w, "/v1/invoices"),
        await listing(w, "/v1/payments"),
        await listing(w, "/v1/refunds"),
        await listing(w, "/v1/credit-notes"),
        await listing(w, "/v1/customers"),
        await payments.counts(w.conn, w.tenant.org_id),
        await payments.books(w.conn, w.tenant.org_id),
    )


def nonzero(totals: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in totals.items() if v}


async def assert_books_whole(w: World) -> None:
    # Straight from the postings.
    await payments.assert_books_agree(w.conn, w.tenant.org_id)
    # And as the API reports them.
    trial = await w.get("/v1/reports/trial-balance", as_of=AS_OF)
    receivable: dict[str, int] = defaultdict(int)
    credits: dict[str, int] = defaultdict(int)
    for currency in trial["currencies"]:
        assert currency["total_debit"] == currency["total_credit"], currency
        for line in currency["accounts"]:
            code = line["code"].split(".")[0]
            if code == "1200":
                receivable[currency["currency"]] += line["debit"] - line["credit"]
            elif code == "2300":
                credits[currency["currency"]] += line["credit"] - line["debit"]
    owed: dict[str, int] = defaultdict(int)
    for invoice in await listing(w, "/v1/invoices"):
        if invoice["status"] == "open":
            owed[invoice["currency"]] += invoice["amount_remaining"]
        if invoice["status"] == "paid":
            assert invoice["amount_remaining"] == 0, invoice
    unapplied: dict[str, int] = defaultdict(int)
    for held in (*await listing(w, "/v1/payments"), *await listing(w, "/v1/credit-notes")):
        unapplied[held["currency"]] += held["amount_unapplied"]
    balances: dict[str, int] = defaultdict(int)
    for found in await listing(w, "/v1/customers"):
        balances[found["currency"]] += found["credit_balance"]
    assert nonzero(receivable) == nonzero(owed), (trial, owed)
    assert nonzero(credits) == nonzero(unapplied) == nonzero(balances), (credits, unapplied)
    assert await aging_totals(w, AS_OF) == nonzero(receivable)


async def aging_totals(w: World, as_of: str) -> dict[str, int]:
    aging = await w.get("/v1/reports/ar-aging", as_of=as_of)
    return nonzero({c["currency"]: c["total"]["total"] for c in aging["currencies"]})


async def assert_aging_ties_out(w: World) -> None:
    """On every date, the aging's total is receivable's balance on the trial balance."""
    for as_of in AGING_DATES:
        trial = await w.get("/v1/reports/trial-balance", as_of=as_of)
        receivable: dict[str, int] = defaultdict(int)
        for currency in trial["currencies"]:
            for line in currency["accounts"]:
                if line["code"].split(".")[0] == "1200":
                    receivable[currency["currency"]] += line["debit"] - line["credit"]
        assert await aging_totals(w, as_of) == nonzero(receivable), (as_of, trial)


async def assert_closes_keep_the_aging(w: World) -> None:
    """Closing January and February, then reopening February, changes no aging: the
    reports read the receivable closings (0015) and must say what the rows say."""
    before = [await w.get("/v1/reports/ar-aging", as_of=as_of) for as_of in AGING_DATES]
    for month, action in (("2026-01", "close"), ("2026-02", "close"), ("2026-02", "reopen")):
        response = await w.post(f"/v1/periods/{month}/{action}", None)
        assert response.status_code < 300, response.text
        after = [await w.get("/v1/reports/ar-aging", as_of=as_of) for as_of in AGING_DATES]
        assert after == before, (month, action)


async def run(client: httpx.AsyncClient, conn: asyncpg.Connection, sequence: list[Op]) -> None:
    tenant = await sign_up(client)
    customers = [
        (await customer(client, tenant))["id"],
        (await customer(client, tenant, name="Initech", currency="EUR"))["id"],
    ]
    w = World(client, conn, tenant, customers)
    for op in sequence:
        before = await snapshot(w)
        response = await step(w, op)
        if response is None:
            continue
        event(f"{op[0]} -> {response.status_code}")
        assert response.status_code < 500, (op, response.text)
        if response.status_code >= 400:
            assert response.headers["content-type"] == PROBLEM, (op, response.text)
            assert await snapshot(w) == before, (op, response.text)
        await assert_books_whole(w)
    await assert_aging_ties_out(w)
    await assert_closes_keep_the_aging(w)


# --- the test --------------------------------------------------------------------------


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(ops, min_size=4, max_size=12))
@example(sequence=GOODS_RETURNED)
@example(sequence=[*GOODS_RETURNED[:1], ("pay", 0, 0, "applied", "partial", 0, DATES[1]),
                   *GOODS_RETURNED[2:]])  # fmt: skip
def test_any_sequence_of_operations_keeps_the_books_whole(
    harness: Harness, sequence: list[Op]
) -> None:
    harness.loop.run_until_complete(run(harness.client, harness.conn, sequence))
