"""Bad credit note and apply-credit requests: each gets a precise problem+json, and
nothing is written, in either tenant."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from accounting_api.domain import money
from tests.integration.bad_requests import Bad, Build, Ids, Shop, assert_refused, resolved
from tests.integration.billing import (
    act,
    add_user,
    assert_problem,
    customer,
    draft,
    finalized,
    line,
)
from tests.integration.helpers import sign_up
from tests.integration.payments import PAID_ON, paid

V, MISSING, OVER = "validation_error", "resource_missing", "amount_exceeds_creditable"
RA = "refund_amount"
OVER_MAX = money.MAX_AMOUNT + 1


@pytest.fixture(scope="module")
async def shop(client: httpx.AsyncClient) -> Shop:
    t, other = await sign_up(client), await sign_up(client)
    usd, theirs = (await customer(client, t))["id"], (await customer(client, other))["id"]
    ids = {"usd": usd, "draft": (await draft(client, t, usd))["id"]}
    ids["their_invoice"] = (await finalized(client, other, theirs))["id"]
    for state in ("open", "void", "paid", "second"):
        ids[state] = (await finalized(client, t, usd, line(5_000, quantity=2)))["id"]
    ids["small"] = (await finalized(client, t, usd, line(1_000)))["id"]
    await act(client, t, ids["void"], "void")
    applied = [{"invoice": ids["paid"], "amount": 10_000}]
    await paid(client, t, usd, 13_000, applied_to=applied)  # 3,000 of credit
    invoices = {
        k: (await client.get(f"/v1/invoices/{ids[k]}", headers=t.auth)).json()
        for k in ("open", "second")
    }
    ids["line"] = invoices["open"]["lines"][0]["id"]
    ids["second_line"] = invoices["second"]["lines"][0]["id"]
    return Shop(t, other, await add_user(client, t, "viewer"), ids)


def note(*lines: dict[str, Any], **fields: Any) -> Build:
    """A credit note of the open invoice (1,000 by default, or the lines given)."""

    def build(i: Ids) -> dict[str, Any]:
        body: dict[str, Any] = {"invoice": i["open"], "date": PAID_ON}
        if lines:
            body["lines"] = [resolved(i, item) for item in lines]
        else:
            body["amount"] = 1_000
        # A None field is left out (e.g. neither amount nor lines).
        return {k: v for k, v in (body | resolved(i, fields)).items() if v is not None}

    return build


def spend(**fields: Any) -> Build:
    return lambda i: {"amount": 1_000, "date": PAID_ON} | resolved(i, fields)


def N(id: str, body: Build, status: int, code: str, param: str | None) -> Bad:
    return Bad(id, "/v1/credit-notes", body, status, code, param)


def A(id: str, target: str, body: Build, status: int, code: str, param: str | None) -> Bad:
    return Bad(id, f"/v1/invoices/{{{target}}}/apply-credit", body, status, code, param)


LINE = {"line": "@line", "quantity": 1}
CASES = [
    # --- amounts ---
    N("zero", note(amount=0), 422, V, "amount"),
    N("negative", note(amount=-1), 422, V, "amount"),
    N("float", note(amount=10.5), 422, V, "amount"),
    N("over-the-maximum", note(amount=OVER_MAX), 422, V, "amount"),
    N("neither-amount-nor-lines", note(amount=None), 422, V, "amount"),
    N("amount-and-lines", note(LINE, amount=1_000), 422, V, "amount"),
    N("over-the-invoice", note(amount=10_001), 409, OVER, "amount"),
    # --- lines ---
    N("empty-lines", note(lines=[]), 422, V, "lines"),
    N("line-quantity-and-amount", note(LINE | {"amount": 5}), 422, V, "lines[0].quantity"),
    N("line-neither", note({"line": "@line"}), 422, V, "lines[0].quantity"),
    N("line-zero-quantity", note({"line": "@line", "quantity": 0}), 422, V, "lines[0].quantity"),
    N("line-zero-amount", note({"line": "@line", "amount": 0}), 422, V, "lines[0].amount"),
    N(
        "line-amount-over-the-maximum",
        note({"line": "@line", "amount": OVER_MAX}),
        422,
        V,
        "lines[0].amount",
    ),
    N("unknown-line", note({"line": "il_nope", "quantity": 1}), 422, MISSING, "lines[0].line"),
    N(
        "another-invoices-line",
        note({"line": "@second_line", "quantity": 1}),
        422,
        MISSING,
        "lines[0].line",
    ),
    N("line-twice", note(LINE, LINE), 422, V, "lines[1].line"),
    N("line-over-quantity", note({"line": "@line", "quantity": 3}), 409, OVER, "lines[0].quantity"),
    N("line-over-amount", note({"line": "@line", "amount": 10_001}), 409, OVER, "lines[0].amount"),
    # --- the invoice ---
    N("draft", note(invoice="@draft"), 409, "invoice_not_finalized", "invoice"),
    N("void", note(invoice="@void"), 409, "invoice_already_void", "invoice"),
    N("their-invoice", note(invoice="@their_invoice"), 422, MISSING, "invoice"),
    N("no-invoice", note(invoice="inv_nope"), 422, MISSING, "invoice"),
    N("currency-mismatch", note(currency="EUR"), 422, "currency_mismatch", "currency"),
    N("not-a-currency", note(currency="usd"), 422, V, "currency"),
    N("before-issue", note(date="2026-01-01"), 422, V, "date"),
    N("bad-reason", note(reason="changed_mind"), 422, V, "reason"),
    N("long-memo", note(memo="x" * 1_001), 422, V, "memo"),
    N("unknown-field", note(refund=True), 422, V, "refund"),
    N("negative-refund-amount", note(refund_amount=-1), 422, V, RA),
    N("refund-amount-over-the-maximum", note(refund_amount=OVER_MAX), 422, V, RA),
    N("refund-amount-of-unpaid", note(refund_amount=1), 409, "refund_exceeds_credit", RA),
    N("refund-amount-not-a-number", note(refund_amount="all"), 422, V, RA),
    # --- applying credit ---
    A("spend-zero", "open", spend(amount=0), 422, V, "amount"),
    A("spend-negative", "open", spend(amount=-1), 422, V, "amount"),
    A("spend-over-the-maximum", "open", spend(amount=OVER_MAX), 422, V, "amount"),
    A("spend-more-than-held", "open", spend(amount=3_001), 409, "insufficient_credit", "amount"),
    A(
        "spend-more-than-due",
        "small",
        spend(amount=1_001),
        409,
        "amount_exceeds_amount_due",
        "amount",
    ),
    A("spend-on-draft", "draft", spend(), 409, "invoice_not_finalized", "id"),
    A("spend-on-void", "void", spend(), 409, "invoice_already_void", "id"),
    A("spend-on-paid", "paid", spend(), 409, "invoice_paid", "id"),
    A("spend-before-issue", "open", spend(date="2026-01-01"), 422, V, "date"),
    A("spend-on-theirs", "their_invoice", spend(), 404, "not_found", "id"),
    A("spend-unknown-field", "open", spend(currency="USD"), 422, V, "currency"),
    # --- a viewer reads but never writes ---
    Bad("viewer-credits", "/v1/credit-notes", note(), 403, "forbidden", None, "viewer"),
    Bad(
        "viewer-spends",
        "/v1/invoices/{open}/apply-credit",
        spend(),
        403,
        "forbidden",
        None,
        "viewer",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_a_bad_credit_request_gets_a_precise_problem_and_writes_nothing(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, shop: Shop, case: Bad
) -> None:
    await assert_refused(client, owner_conn, shop, case)


@pytest.mark.parametrize("path", ["/v1/credit-notes/cn_nope", "/v1/credit-notes/inv_nope"])
async def test_unknown_credit_notes_are_not_found(
    client: httpx.AsyncClient, shop: Shop, path: str
) -> None:
    assert_problem(await client.get(path, headers=shop.tenant.auth), 404, "not_found", "id")
