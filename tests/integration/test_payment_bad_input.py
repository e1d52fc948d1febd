"""Bad payment and refund requests: each gets a precise problem+json, and nothing is
written, in either tenant."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from accounting_api.domain import money
from tests.integration.bad_requests import Bad, Build, Ids, Shop, assert_refused, resolved
from tests.integration.billing import act, add_user, assert_problem, customer, draft, finalized
from tests.integration.helpers import sign_up
from tests.integration.payments import PAID_ON, credited, paid

V, MISSING = "validation_error", "resource_missing"
OVER_MAX = money.MAX_AMOUNT + 1


@pytest.fixture(scope="module")
async def shop(client: httpx.AsyncClient) -> Shop:
    t, other = await sign_up(client), await sign_up(client)
    usd, theirs = (await customer(client, t))["id"], (await customer(client, other))["id"]
    ids = {
        "usd": usd,
        "second": (await customer(client, t, name="Initech"))["id"],
        "theirs": theirs,
        "draft": (await draft(client, t, usd))["id"],
        "their_invoice": (await finalized(client, other, theirs))["id"],
    }
    for state in ("open", "void", "paid", "other_open"):
        ids[state] = (await finalized(client, t, usd))["id"]
    ids["second_open"] = (await finalized(client, t, ids["second"]))["id"]
    await act(client, t, ids["void"], "void")
    applied = [{"invoice": ids["paid"], "amount": 10_000}]
    ids["payment"] = (await paid(client, t, usd, 10_000, applied_to=applied))["id"]
    ids["their_payment"] = (await paid(client, other, theirs, 500))["id"]
    # Paid in full, then 4,000 of it credited back as the customer's credit.
    ids["credited"] = (await finalized(client, t, usd))["id"]
    applied = [{"invoice": ids["credited"], "amount": 10_000}]
    ids["credited_payment"] = (await paid(client, t, usd, 10_000, applied_to=applied))["id"]
    ids["note"] = (await credited(client, t, ids["credited"], amount=4_000))["id"]
    their_paid = (await finalized(client, other, theirs))["id"]
    applied = [{"invoice": their_paid, "amount": 10_000}]
    await paid(client, other, theirs, 10_000, applied_to=applied)
    ids["their_note"] = (await credited(client, other, their_paid, amount=100))["id"]
    return Shop(t, other, await add_user(client, t, "viewer"), ids)


def payment(*applied: tuple[str, int], **fields: Any) -> Build:
    def build(i: Ids) -> dict[str, Any]:
        body = {"customer": i["usd"], "amount": 1_000, "method": "card", "date": PAID_ON}
        if applied:
            body["applied_to"] = [{"invoice": i[name], "amount": a} for name, a in applied]
        return body | resolved(i, fields)

    return build


def refund(**fields: Any) -> Build:
    def build(i: Ids) -> dict[str, Any]:
        body = {"payment": i["payment"], "amount": 1_000, "date": PAID_ON}
        return body | resolved(i, fields)

    return build


def P(id: str, body: Build, status: int, code: str, param: str | None) -> Bad:
    return Bad(id, "/v1/payments", body, status, code, param)


def R(id: str, body: Build, status: int, code: str, param: str | None) -> Bad:
    return Bad(id, "/v1/refunds", body, status, code, param)


APPLIED = "applied_to[0].invoice"
REOPENS = "refund_reopens_credited_invoice"
CASES = [
    # --- amounts ---
    P("zero", payment(amount=0), 422, V, "amount"),
    P("negative", payment(amount=-5), 422, V, "amount"),
    P("float", payment(amount=10.5), 422, V, "amount"),
    P("over-the-maximum", payment(amount=OVER_MAX), 422, V, "amount"),
    P("applied-over-the-maximum", payment(("open", OVER_MAX)), 422, V, "applied_to[0].amount"),
    P("applied-zero", payment(("open", 0)), 422, V, "applied_to[0].amount"),
    P("applied-negative", payment(("open", -1)), 422, V, "applied_to[0].amount"),
    P("empty-applied", payment(applied_to=[]), 422, V, "applied_to"),
    P("bad-method", payment(method="bitcoin"), 422, V, "method"),
    P("unknown-field", payment(tip=1), 422, V, "tip"),
    # --- what may be paid, and how much ---
    P(
        "more-than-due",
        payment(("open", 10_001), amount=20_000),
        409,
        "amount_exceeds_amount_due",
        "applied_to[0].amount",
    ),
    P(
        "applied-beyond-payment",
        payment(("open", 600), ("other_open", 600)),
        422,
        "applied_exceeds_payment",
        "applied_to",
    ),
    P("same-invoice-twice", payment(("open", 100), ("open", 100)), 422, V, "applied_to[1].invoice"),
    P("draft", payment(("draft", 100)), 409, "invoice_not_finalized", APPLIED),
    P("void", payment(("void", 100)), 409, "invoice_already_void", APPLIED),
    P("paid", payment(("paid", 100)), 409, "invoice_paid", APPLIED),
    P(
        "another-customers-invoice",
        payment(("second_open", 100)),
        422,
        "invoice_customer_mismatch",
        APPLIED,
    ),
    P("before-issue", payment(("open", 100), date="2026-01-01"), 422, V, "date"),
    P(
        "currency-mismatch",
        payment(("open", 100), currency="EUR"),
        422,
        "currency_mismatch",
        "currency",
    ),
    P("not-a-currency", payment(currency="usd"), 422, V, "currency"),
    # --- another tenant's objects do not exist here ---
    P("their-invoice", payment(("their_invoice", 100)), 422, MISSING, APPLIED),
    P("their-customer", payment(customer="@theirs"), 422, MISSING, "customer"),
    P("no-customer", payment(customer="cus_nope"), 422, MISSING, "customer"),
    # --- refunds ---
    R("refund-more-than-paid", refund(amount=10_001), 409, "refund_exceeds_payment", "amount"),
    R("refund-zero", refund(amount=0), 422, V, "amount"),
    R("refund-negative", refund(amount=-1), 422, V, "amount"),
    R("refund-over-the-maximum", refund(amount=OVER_MAX), 422, V, "amount"),
    R("refund-before-payment", refund(date="2026-01-31"), 422, V, "date"),
    R(
        "refund-credited-invoice",
        refund(payment="@credited_payment", amount=10_000),
        409,
        REOPENS,
        "amount",
    ),
    R(
        "refund-credited-part",
        refund(payment="@credited_payment", amount=6_001),
        409,
        REOPENS,
        "amount",
    ),
    R("refund-both", refund(credit_note="@note"), 422, V, "payment"),
    R("refund-neither", refund(payment=None), 422, V, "payment"),
    R(
        "refund-more-credit-than-held",
        refund(payment=None, credit_note="@note", amount=4_001),
        409,
        "refund_exceeds_credit",
        "amount",
    ),
    R(
        "refund-credit-before-note",
        refund(payment=None, credit_note="@note", date="2026-01-31"),
        422,
        V,
        "date",
    ),
    R(
        "refund-their-note",
        refund(payment=None, credit_note="@their_note"),
        422,
        MISSING,
        "credit_note",
    ),
    R("refund-their-payment", refund(payment="@their_payment"), 422, MISSING, "payment"),
    # --- a viewer reads but never writes ---
    Bad("viewer-pays", "/v1/payments", payment(), 403, "forbidden", None, "viewer"),
    Bad("viewer-refunds", "/v1/refunds", refund(), 403, "forbidden", None, "viewer"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_a_bad_payment_request_gets_a_precise_problem_and_writes_nothing(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, shop: Shop, case: Bad
) -> None:
    await assert_refused(client, owner_conn, shop, case)


@pytest.mark.parametrize("path", ["/v1/payments/{their_payment}", "/v1/refunds/re_nope"])
async def test_another_tenants_payments_are_invisible(
    client: httpx.AsyncClient, shop: Shop, path: str
) -> None:
    response = await client.get(path.format(**shop.ids), headers=shop.tenant.auth)
    assert_problem(response, 404, "not_found", "id")
    listed = await client.get("/v1/payments", params={"limit": 100}, headers=shop.tenant.auth)
    assert shop.ids["their_payment"] not in {p["id"] for p in listed.json()["data"]}
