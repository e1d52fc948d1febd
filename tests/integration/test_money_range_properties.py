"""Property: amounts at and near the documented maximum never make a read fail, and every
report and list says exactly what a Python model of the books says.

Random sequences of journal entries (one posting a side, or up to 250 postings a side at
the maximum), invoices (one or two lines at or near the maximum, some taxed at 10 %:
refused with `amount_too_large` when a line's or the invoice's total passes the maximum)
and payments at or near the maximum (applied to the customer's oldest open invoices
first, the rest kept as credit). After each sequence the trial balance, balance sheet,
income statement, AR aging, account balances and the customer, invoice and payment lists
answer 200 with the model's exact figures, and again once January is closed (the reports
then read the closing balances).

Hypothesis cannot drive async tests: the test is sync and runs the app on its own event
loop (tests/integration/conftest.py, `harness`); each example signs up a fresh organization.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from accounting_api.domain import money
from tests.integration.billing import customer
from tests.integration.conftest import Harness
from tests.integration.helpers import Tenant, sign_up

MAX = money.MAX_AMOUNT
AS_OF = "2026-06-30"
ISSUED, PAID, BOOKED = "2026-01-15", "2026-02-01", "2026-01-20"
TAX_BPS = 1_000
CREDIT_NORMAL = {"2100", "2300", "3000", "4000"}

Op = tuple[Any, ...]

amounts = st.one_of(
    st.just(MAX), st.integers(MAX - 1_000, MAX), st.integers(MAX // 2 - 10, MAX // 2 + 10)
)
lines = st.lists(st.tuples(amounts, st.booleans()), min_size=1, max_size=2)
ops: st.SearchStrategy[Op] = st.one_of(
    st.tuples(st.just("entry"), st.sampled_from([("1000", "4000"), ("6000", "1000")]), amounts),
    st.tuples(st.just("wide"), st.integers(1, 250)),
    st.tuples(st.just("invoice"), st.integers(0, 1), lines),
    st.tuples(st.just("pay"), st.integers(0, 1), amounts),
)


def tax(unit_amount: int, taxed: bool) -> int:
    """10 % of the line, rounded half up (docs/api.md, Rounding)."""
    return (unit_amount + 5) // 10 if taxed else 0


@dataclass
class Model:
    """What the books must say: signed (debit-positive) balances by account code, what
    each invoice still owes (in finalize order) and each customer's credit."""

    balances: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    owed: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    credit: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def post(self, debit: str, credit: str, amount: int) -> None:
        self.balances[debit] += amount
        self.balances[credit] -= amount

    def invoice(self, who: str, priced: list[tuple[int, bool]]) -> bool:
        """Whether the invoice is accepted; if so, finalized into the books."""
        totals = [unit + tax(unit, taxed) for unit, taxed in priced]
        if max(totals) > MAX or sum(totals) > MAX:
            return False
        self.post("1200", "4000", sum(unit for unit, _ in priced))
        self.post("1200", "2100", sum(tax(unit, taxed) for unit, taxed in priced))
        self.owed[who].append(sum(totals))
        return True

    def pay(self, who: str, amount: int) -> None:
        left = amount
        for i, due in enumerate(self.owed[who]):
            part = min(due, left)
            self.owed[who][i] -= part
            self.post("1000", "1200", part)
            left -= part
        self.post("1000", "2300", left)
        self.credit[who] += left


@dataclass
class World:
    client: httpx.AsyncClient
    tenant: Tenant
    customers: list[str]
    model: Model = field(default_factory=Model)

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.client.get(path, params=params, headers=self.tenant.auth)
        assert response.status_code == 200, (path, response.text)
        return response.json()

    async def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return await self.client.post(path, json=body, headers=self.tenant.auth)

    def account(self, code: str) -> str:
        return self.tenant.accounts[code]


async def step(w: World, op: Op) -> None:
    kind = op[0]
    if kind == "entry":
        debit, credit = op[1]
        await entry(w, debit, credit, op[2], per_side=1)
    elif kind == "wide":
        await entry(w, "1000", "4000", MAX, per_side=op[1])
    elif kind == "invoice":
        await invoice(w, w.customers[op[1]], op[2])
    else:
        who = w.customers[op[1]]
        body = {"customer": who, "amount": op[2], "method": "bank_transfer", "date": PAID}
        response = await w.post("/v1/payments", body)
        assert response.status_code == 201, response.text
        w.model.pay(who, op[2])
    event(kind)


async def entry(w: World, debit: str, credit: str, amount: int, *, per_side: int) -> None:
    postings = [
        {"account_id": w.account(code), "side": side, "amount": amount}
        for code, side in ((debit, "debit"), (credit, "credit"))
        for _ in range(per_side)
    ]
    body = {"date": BOOKED, "description": "At the maximum", "postings": postings}
    response = await w.post("/v1/journal-entries", body)
    assert response.status_code == 201, response.text
    w.model.post(debit, credit, amount * per_side)


async def invoice(w: World, who: str, priced: list[tuple[int, bool]]) -> None:
    body = {
        "customer": who,
        "lines": [
            {"description": "Work", "unit_amount": unit, "tax_rate_bps": TAX_BPS if taxed else 0}
            for unit, taxed in priced
        ],
    }
    made = await w.post("/v1/invoices", body)
    if not w.model.invoice(who, priced):
        assert made.status_code == 422, made.text
        assert made.json()["code"] == "amount_too_large"
        event("invoice over the maximum")
        return
    assert made.status_code == 201, made.text
    done = await w.post(f"/v1/invoices/{made.json()['id']}/finalize", {"issue_date": ISSUED})
    assert done.status_code == 200, done.text


def normal(code: str, signed: int) -> int:
    return -signed if code in CREDIT_NORMAL else signed


async def assert_reports_agree(w: World) -> None:
    b = dict(w.model.balances)
    trial = (await w.get("/v1/reports/trial-balance", as_of=AS_OF))["currencies"]
    found = {a["code"]: a["debit"] - a["credit"] for c in trial for a in c["accounts"]}
    assert {k: v for k, v in found.items() if v} == {k: v for k, v in b.items() if v}
    debits = sum(v for v in b.values() if v > 0)
    assert [(c["total_debit"], c["total_credit"]) for c in trial] == [(debits, debits)]
    earnings = -(b.get("4000", 0) + b.get("6000", 0))
    sheet = (await w.get("/v1/reports/balance-sheet", as_of=AS_OF))["currencies"][0]
    assets = sum(b.get(code, 0) for code in ("1000", "1200"))
    assert (sheet["total_assets"], sheet["current_earnings"]) == (assets, earnings)
    assert sheet["total_liabilities_and_equity"] == assets
    income = await w.get("/v1/reports/income-statement", **{"from": "2026-01-01", "to": AS_OF})
    block = income["currencies"][0]
    assert (block["revenue"]["total"], block["net_income"]) == (-b.get("4000", 0), earnings)
    for code in ("1000", "1200", "4000"):
        balance = await w.get(f"/v1/accounts/{w.account(code)}/balance", as_of=AS_OF)
        assert balance["amount"] == normal(code, b.get(code, 0)), code
    await assert_receivables_agree(w)


async def assert_receivables_agree(w: World) -> None:
    owed = sum(sum(dues) for dues in w.model.owed.values())
    aging = (await w.get("/v1/reports/ar-aging", as_of=AS_OF))["currencies"]
    assert [c["total"]["total"] for c in aging] == ([owed] if owed else [])
    listed = (await w.get("/v1/customers", limit=100))["data"]
    assert {c["id"]: c["credit_balance"] for c in listed} == {
        who: w.model.credit[who] for who in w.customers
    }
    invoices = (await w.get("/v1/invoices", limit=100))["data"]
    remaining = sorted(i["amount_remaining"] for i in invoices)
    assert remaining == sorted(due for dues in w.model.owed.values() for due in dues)
    payments = (await w.get("/v1/payments", limit=100))["data"]
    assert sum(p["amount_unapplied"] for p in payments) == sum(w.model.credit.values())


async def run(client: httpx.AsyncClient, sequence: list[Op]) -> None:
    tenant = await sign_up(client)
    customers = [(await customer(client, tenant, name=name))["id"] for name in ("A", "B")]
    w = World(client, tenant, customers)
    for op in sequence:
        await step(w, op)
    await assert_reports_agree(w)
    closed = await w.post("/v1/periods/2026-01/close")
    assert closed.status_code == 200, closed.text
    await assert_reports_agree(w)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(ops, min_size=1, max_size=10))
def test_amounts_at_the_maximum_always_read_exactly(harness: Harness, sequence: list[Op]) -> None:
    harness.loop.run_until_complete(run(harness.client, sequence))
