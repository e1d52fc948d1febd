"""Property, through the API: random sequences of credit notes by quantity, by a line's
amount and by an amount spread over the invoice, then whatever is left credited (all the
units not yet credited by quantity, or the amount left), end at exactly zero on every line:
each line's credit note lines sum to its amount and its tax, the invoice's amount credited
is its total, and the books agree. Over-credits are 409s and change nothing."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import httpx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from accounting_api.domain import billing
from tests.integration.billing import PROBLEM, customer, finalized
from tests.integration.conftest import Harness
from tests.integration.helpers import Tenant, sign_up
from tests.integration.payments import assert_books_agree, credit, invoice

lines = st.fixed_dictionaries(
    {
        "description": st.just("Work"),
        "unit_amount": st.integers(100, 50_000),
        "quantity": st.sampled_from(["1", "2", "3", "5", "1.5", "2.125"]),
        "discount": st.sampled_from([0, 1, 2, 100]),
        "tax_rate_bps": st.sampled_from([0, 825, 1_900]),
    }
)
Op = tuple[str, int, int]
ops: st.SearchStrategy[Op] = st.tuples(
    st.sampled_from(["quantity", "quantity", "amount", "invoice"]),
    st.integers(0, 1),  # which line
    st.integers(1, 5),  # how much of what is left, in quarters (5: one unit or cent too many)
)


@dataclass
class Line:
    id: str
    quantity_milli: int
    amount: int
    tax: int


def invoiced(x: dict[str, Any]) -> Line:
    quantity = billing.parse_quantity(x["quantity"])
    return Line(x["id"], quantity, x["amount"] - x["discount"], x["tax"])


@dataclass
class Credited:
    amount: int = 0
    tax: int = 0
    quantity_milli: int = 0


async def credited_by_line(client: httpx.AsyncClient, t: Tenant, inv: str) -> dict[str, Credited]:
    """What the invoice's credit notes took of each line, as the API lists them."""
    params: dict[str, str | int] = {"invoice": inv, "limit": 100}
    listed = await client.get("/v1/credit-notes", params=params, headers=t.auth)
    took: defaultdict[str, Credited] = defaultdict(Credited)
    for note in listed.json()["data"]:
        for x in note["lines"]:
            c = took[x["line"]]
            c.amount, c.tax = c.amount + x["amount"], c.tax + x["tax"]
            if x["quantity"] is not None:
                c.quantity_milli += billing.parse_quantity(x["quantity"])
    return took


def request(op: Op, line: Line, took: Credited, invoice_left: int) -> dict[str, Any]:
    kind, _, quarters = op
    if kind == "quantity":
        units = line.quantity_milli - took.quantity_milli
        milli = max(1, units * quarters // 4) if quarters < 5 else units + 1
        return {"lines": [{"line": line.id, "quantity": billing.format_quantity(milli)}]}
    if kind == "amount":
        left = line.amount + line.tax - took.amount - took.tax
        amount = max(1, left * quarters // 4) if quarters < 5 else left + 1
        return {"lines": [{"line": line.id, "amount": amount}]}
    return {"amount": max(1, invoice_left * quarters // 4) if quarters < 5 else invoice_left + 1}


async def step(client: httpx.AsyncClient, t: Tenant, inv: dict[str, Any], op: Op) -> None:
    found = [invoiced(x) for x in inv["lines"]]
    line = found[op[1] % len(found)]
    took = await credited_by_line(client, t, inv["id"])
    left = (await invoice(client, t, inv["id"]))["total"] - sum(
        c.amount + c.tax for c in took.values()
    )
    before = {k: c for k, c in took.items() if c != Credited()}
    response = await credit(client, t, inv["id"], **request(op, line, took[line.id], left))
    event(f"{op[0]} {'over' if op[2] == 5 else 'part'} -> {response.status_code}")
    assert response.status_code in (201, 409, 422), response.text
    if response.status_code != 201:
        assert response.headers["content-type"] == PROBLEM
        assert await credited_by_line(client, t, inv["id"]) == before
    after = await credited_by_line(client, t, inv["id"])
    for x in found:
        c = after[x.id]
        assert 0 <= c.amount <= x.amount
        assert 0 <= c.tax <= x.tax
        assert 0 <= c.quantity_milli <= x.quantity_milli
        if c.quantity_milli == x.quantity_milli:
            assert (c.amount, c.tax) == (x.amount, x.tax), "every unit credited, money left"


async def finish(client: httpx.AsyncClient, t: Tenant, inv: dict[str, Any], by_units: bool) -> None:
    """Credit whatever is left of each line: its remaining units, or the amount left."""
    took = await credited_by_line(client, t, inv["id"])
    for x in inv["lines"]:
        c = took[x["id"]]
        units = billing.parse_quantity(x["quantity"]) - c.quantity_milli
        left = x["total"] - c.amount - c.tax
        if by_units and units and left:
            body = {"line": x["id"], "quantity": billing.format_quantity(units)}
        elif left:
            body = {"line": x["id"], "amount": left}
        else:
            continue
        response = await credit(client, t, inv["id"], lines=[body])
        assert response.status_code == 201, response.text


async def run(
    h: Harness, invoice_lines: list[dict[str, Any]], sequence: list[Op], by_units: bool
) -> None:
    t = await sign_up(h.client)
    inv = await finalized(h.client, t, (await customer(h.client, t))["id"], *invoice_lines)
    for op in sequence:
        await step(h.client, t, inv, op)
    await finish(h.client, t, inv, by_units)
    took = await credited_by_line(h.client, t, inv["id"])
    assert {x["id"]: (took[x["id"]].amount, took[x["id"]].tax) for x in inv["lines"]} == {
        x["id"]: (x["amount"] - x["discount"], x["tax"]) for x in inv["lines"]
    }
    now = await invoice(h.client, t, inv["id"])
    assert (now["amount_credited"], now["amount_remaining"]) == (now["total"], 0)
    await assert_books_agree(h.conn, t.org_id)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    invoice_lines=st.lists(lines, min_size=1, max_size=2),
    sequence=st.lists(ops, max_size=6),
    by_units=st.booleans(),
)
def test_any_credits_by_quantity_and_amount_end_at_exactly_zero_per_line(
    harness: Harness, invoice_lines: list[dict[str, Any]], sequence: list[Op], by_units: bool
) -> None:
    harness.loop.run_until_complete(run(harness, invoice_lines, sequence, by_units))
