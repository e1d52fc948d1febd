"""Credit notes by quantity through the API against real PostgreSQL (issue 11, defect 1):
q of the units not credited by quantity yet take that share of what is left of the
line's amount and tax, so the last remaining units take exactly what is left, after
credits by amount as well; over-credits are still 409s."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.billing import assert_problem, customer, finalized, line
from tests.integration.helpers import Tenant, sign_up
from tests.integration.payments import assert_books_agree, credit, credited, invoice

TEN_AT_825 = line(1_000, quantity=3, tax_rate_bps=825)
"""3 x 10.00 at 8.25%: amount 30.00, tax 2.48, total 32.48."""
DISCOUNT_1 = line(3_333, quantity=3, discount=1)
"""3 x 33.33 less 0.01: 99.98."""
DISCOUNT_2 = line(3_334, quantity=3, discount=2)
"""3 x 33.34 less 0.02: 100.00."""


async def one_line_invoice(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> tuple[Tenant, dict[str, Any], str]:
    t = await sign_up(client)
    inv = await finalized(client, t, (await customer(client, t))["id"], body)
    return t, inv, inv["lines"][0]["id"]


def taken(note: dict[str, Any]) -> tuple[int, int, int]:
    [credit_line] = note["lines"]
    return credit_line["amount"], credit_line["tax"], note["amount"]


@pytest.mark.parametrize(
    ("body", "total", "units"),
    [
        pytest.param(
            TEN_AT_825,
            3_248,
            [(1_000, 83, 1_083), (1_000, 83, 1_083), (1_000, 82, 1_082)],
            id="3x10.00-at-8.25%",
        ),
        pytest.param(
            DISCOUNT_1,
            9_998,
            [(3_333, 0, 3_333), (3_333, 0, 3_333), (3_332, 0, 3_332)],
            id="3x33.33-less-0.01",
        ),
        pytest.param(
            DISCOUNT_2,
            10_000,
            [(3_333, 0, 3_333), (3_334, 0, 3_334), (3_333, 0, 3_333)],
            id="3x33.34-less-0.02",
        ),
    ],
)
async def test_crediting_unit_by_unit_ends_at_the_lines_total(
    client: httpx.AsyncClient,
    owner_conn: asyncpg.Connection,
    body: dict[str, Any],
    total: int,
    units: list[tuple[int, int, int]],
) -> None:
    t, inv, line_id = await one_line_invoice(client, body)
    assert inv["total"] == total
    one = [{"line": line_id, "quantity": 1}]
    notes = [await credited(client, t, inv["id"], lines=one) for _ in units]
    assert [taken(note) for note in notes] == units
    now = await invoice(client, t, inv["id"])
    assert (now["amount_credited"], now["amount_remaining"], now["status"]) == (total, 0, "paid")
    assert_problem(
        await credit(client, t, inv["id"], lines=one),
        409,
        "amount_exceeds_creditable",
        "lines[0].quantity",
    )
    assert_problem(
        await credit(client, t, inv["id"], lines=[{"line": line_id, "amount": 1}]),
        409,
        "amount_exceeds_creditable",
        "lines[0].amount",
    )
    await assert_books_agree(owner_conn, t.org_id)


async def test_after_a_credit_by_amount_the_units_share_what_is_left(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    """The example of docs/api.md and domain/credit_notes.py."""
    t, inv, line_id = await one_line_invoice(client, TEN_AT_825)
    allowance = await credited(client, t, inv["id"], amount=1_000)
    assert taken(allowance) == (924, 76, 1_000)
    one = await credited(client, t, inv["id"], lines=[{"line": line_id, "quantity": 1}])
    assert taken(one) == (692, 57, 749)
    assert_problem(
        await credit(client, t, inv["id"], lines=[{"line": line_id, "quantity": 3}]),
        409,
        "amount_exceeds_creditable",
        "lines[0].quantity",
    )
    rest = await credited(client, t, inv["id"], lines=[{"line": line_id, "quantity": 2}])
    assert taken(rest) == (1_384, 115, 1_499)
    now = await invoice(client, t, inv["id"])
    assert (now["amount_credited"], now["amount_remaining"]) == (3_248, 0)
    await assert_books_agree(owner_conn, t.org_id)


async def test_racing_credits_by_quantity_take_each_unit_once(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t, inv, line_id = await one_line_invoice(client, TEN_AT_825)
    one = [{"line": line_id, "quantity": 1}]
    responses = await asyncio.gather(*(credit(client, t, inv["id"], lines=one) for _ in range(5)))
    assert sorted(r.status_code for r in responses) == [201] * 3 + [409] * 2
    amounts = sorted(r.json()["amount"] for r in responses if r.status_code == 201)
    assert amounts == [1_082, 1_083, 1_083]
    assert (await invoice(client, t, inv["id"]))["amount_remaining"] == 0
    await assert_books_agree(owner_conn, t.org_id)
