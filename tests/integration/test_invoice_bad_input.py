"""Bad invoice requests and state-machine violations: each gets a precise problem+json,
and nothing is written, in either tenant."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

import asyncpg
import httpx
import pytest

from accounting_api.domain import money
from tests.integration.billing import (
    act,
    add_user,
    assert_problem,
    counts,
    customer,
    draft,
    finalized,
    line,
)
from tests.integration.helpers import Tenant, sign_up

MAX = money.MAX_AMOUNT
V, MISSING, MISMATCH = "validation_error", "resource_missing", "currency_mismatch"
Ids = dict[str, str]
Build = Callable[[Ids], Any]


@dataclasses.dataclass(frozen=True)
class Shop:
    tenant: Tenant
    other: Tenant
    viewer: dict[str, str]
    ids: Ids
    """Names used in paths and bodies -> ids (usd, draft, open, void, ...)."""

    def headers(self, who: str) -> dict[str, str]:
        return {"owner": self.tenant.auth, "other": self.other.auth, "viewer": self.viewer}[who]


@dataclasses.dataclass(frozen=True)
class Bad:
    id: str
    path: str
    body: Build | None
    status: int
    code: str
    param: str | None
    method: str = "POST"
    who: Literal["owner", "other", "viewer"] = "owner"


async def revenue_account(client: httpx.AsyncClient, t: Tenant, code: str, currency: str) -> str:
    body = {"code": code, "name": f"Revenue {currency}", "type": "revenue", "currency": currency}
    made = await client.post("/v1/accounts", json=body, headers=t.auth)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


@pytest.fixture(scope="module")
async def shop(client: httpx.AsyncClient) -> Shop:
    t, other = await sign_up(client), await sign_up(client, "EUR")
    usd = (await customer(client, t))["id"]
    ids = {
        "usd": usd,
        "eur": (await customer(client, t, currency="EUR"))["id"],
        "archived": (await customer(client, t))["id"],
        "theirs": (await customer(client, other))["id"],
        "their_revenue": other.accounts["4000"],
        "eur_revenue": await revenue_account(client, t, "4010", "EUR"),
        "cash": t.accounts["1000"],
        "draft": (made := await draft(client, t, usd))["id"],
        "draft_line": made["lines"][0]["id"],
        "empty": (await draft(client, t, usd, lines=[]))["id"],
    }
    await client.post(f"/v1/customers/{ids['archived']}/archive", headers=t.auth)
    for state in ("open", "void", "uncollectible"):
        invoice = await finalized(client, t, usd)
        ids[state], ids[f"{state}_line"] = invoice["id"], invoice["lines"][0]["id"]
    ids["paid"] = (await finalized(client, t, usd, line(0)))["id"]
    ids["their_invoice"] = (await finalized(client, other, ids["theirs"]))["id"]
    await act(client, t, ids["void"], "void")
    await act(client, t, ids["uncollectible"], "mark-uncollectible")
    return Shop(t, other, await add_user(client, t, "viewer"), ids)


def invoice(customer: str = "usd", *lines: dict[str, Any], **fields: Any) -> Build:
    return lambda i: (
        {"customer": i.get(customer, customer), "lines": list(lines) or [line()]}
        | {k: i.get(v, v) if isinstance(v, str) else v for k, v in fields.items()}
    )


def with_line(**fields: Any) -> Build:
    """An invoice for the USD customer whose second line has `fields` (ids by name)."""
    return lambda i: invoice("usd", line(), one_line(**fields)(i))(i)


def one_line(**fields: Any) -> Build:
    """A line with `fields`; string values naming a fixture id are replaced by the id."""

    def build(i: Ids) -> dict[str, Any]:
        resolved: dict[str, Any] = {
            k: i.get(v, v) if isinstance(v, str) else v for k, v in fields.items()
        }
        return line(**resolved)

    return build


def I(id: str, build: Build, status: int, code: str, param: str | None) -> Bad:  # noqa: E743
    return Bad(id, "/v1/invoices", build, status, code, param)


def state(action: str, invoice: str, code: str, body: Build | None = None, **more: Any) -> Bad:
    status, param = more.pop("status", 409), more.pop("param", "id")
    return Bad(
        f"{action}-{invoice}-{code}-{more.get('who', 'owner')}",
        f"/v1/invoices/{{{invoice}}}/{action}",
        body,
        status,
        code,
        param,
        **more,
    )


L1 = "lines[1]."
PERIOD_BACKWARDS = {"start": "2026-02-01", "end": "2026-01-31"}
TOO_MANY = [line()] * 251
ADD, FIN, VOID, UNC = "lines", "finalize", "void", "mark-uncollectible"
CASES = [
    # --- lines: quantities are positive integers or decimal text, never floats ---
    I("quantity-negative", with_line(quantity=-1), 422, V, f"{L1}quantity"),
    I("quantity-zero", with_line(quantity=0), 422, V, f"{L1}quantity"),
    I("quantity-negative-text", with_line(quantity="-2"), 422, V, f"{L1}quantity"),
    I("quantity-float", with_line(quantity=1.5), 422, V, f"{L1}quantity"),
    I("quantity-four-decimals", with_line(quantity="1.2345"), 422, V, f"{L1}quantity"),
    I("quantity-over-a-billion", with_line(quantity=10**9 + 1), 422, V, f"{L1}quantity"),
    I("quantity-boolean", with_line(quantity=True), 422, V, f"{L1}quantity"),
    I("unit-amount-negative", with_line(unit_amount=-1), 422, V, f"{L1}unit_amount"),
    I("unit-amount-text", with_line(unit_amount="100"), 422, V, f"{L1}unit_amount"),
    I("unit-amount-over-the-maximum", with_line(unit_amount=MAX + 1), 422, V, f"{L1}unit_amount"),
    I("discount-over-the-maximum", with_line(discount=MAX + 1), 422, V, f"{L1}discount"),
    I("discount-negative", with_line(discount=-5), 422, V, f"{L1}discount"),
    I("tax-rate-over-100%", with_line(tax_rate_bps=10_001), 422, V, f"{L1}tax_rate_bps"),
    # --- tax_rate: percent text with up to 4 decimals (or an integer), never a float ---
    I("rate-over-100%", with_line(tax_rate="100.0001"), 422, V, f"{L1}tax_rate"),
    I("rate-five-decimals", with_line(tax_rate="8.87501"), 422, V, f"{L1}tax_rate"),
    I("rate-float", with_line(tax_rate=8.875), 422, V, f"{L1}tax_rate"),
    I("rate-negative", with_line(tax_rate=-1), 422, V, f"{L1}tax_rate"),
    I("rate-percent-sign", with_line(tax_rate="8.875%"), 422, V, f"{L1}tax_rate"),
    I("rate-boolean", with_line(tax_rate=True), 422, V, f"{L1}tax_rate"),
    I("rate-null-bps", with_line(tax_rate_bps=None), 422, V, f"{L1}tax_rate_bps"),
    I(
        "rate-and-bps",
        with_line(tax_rate="8.875", tax_rate_bps=888),
        422,
        V,
        f"{L1}tax_rate_bps",
    ),
    I(
        "rate-and-bps-zero",
        with_line(tax_rate="0", tax_rate_bps=0),
        422,
        V,
        f"{L1}tax_rate_bps",
    ),
    # --- a line that would bill nothing though it has a price and a quantity ---
    I(
        "line-rounds-to-zero",
        with_line(quantity="0.001", unit_amount=499, tax_rate="8.875"),
        422,
        "line_rounds_to_zero",
        f"{L1}quantity",
    ),
    I("description-empty", with_line(description=""), 422, V, f"{L1}description"),
    I(
        "period-half",
        with_line(service_period={"start": "2026-01-01"}),
        422,
        V,
        f"{L1}service_period.end",
    ),
    I(
        "period-backwards",
        with_line(service_period=PERIOD_BACKWARDS),
        422,
        V,
        f"{L1}service_period.end",
    ),
    I(
        "discount-over-amount",
        with_line(discount=10_001),
        422,
        "discount_exceeds_amount",
        f"{L1}discount",
    ),
    I(
        "line-amount-over-the-maximum",
        with_line(quantity=2, unit_amount=MAX // 2 + 1),
        422,
        "amount_too_large",
        f"{L1}unit_amount",
    ),
    I(
        "line-total-with-tax-over-the-maximum",
        with_line(unit_amount=MAX, tax_rate="0.0001"),
        422,
        "amount_too_large",
        f"{L1}tax_rate",
    ),
    I(
        "total-over-the-maximum",
        invoice("usd", line(MAX // 2 + 1), line(MAX // 2 + 1)),
        422,
        "amount_too_large",
        "lines",
    ),
    I("251-lines", invoice("usd", *TOO_MANY), 422, V, "lines"),
    # --- revenue accounts: this organization's, revenue, in the invoice's currency ---
    I(
        "revenue-unknown",
        with_line(revenue_account_id="acct_nope"),
        422,
        MISSING,
        f"{L1}revenue_account_id",
    ),
    I(
        "revenue-theirs",
        with_line(revenue_account_id="their_revenue"),
        422,
        MISSING,
        f"{L1}revenue_account_id",
    ),
    I(
        "revenue-is-cash",
        with_line(revenue_account_id="cash"),
        422,
        "invalid_account",
        f"{L1}revenue_account_id",
    ),
    I(
        "revenue-in-eur",
        with_line(revenue_account_id="eur_revenue"),
        422,
        MISMATCH,
        f"{L1}revenue_account_id",
    ),
    # --- the customer ---
    I("customer-unknown", invoice("cus_nope"), 422, MISSING, "customer"),
    I("customer-of-another-tenant", invoice("theirs"), 422, MISSING, "customer"),
    I("customer-is-an-account-id", invoice("cash"), 422, MISSING, "customer"),
    I("customer-archived", invoice("archived"), 409, "customer_archived", "customer"),
    I("currency-not-the-customers", invoice("usd", currency="EUR"), 422, MISMATCH, "currency"),
    I("eur-customer-usd-invoice", invoice("eur", currency="USD"), 422, MISMATCH, "currency"),
    I("no-customer", lambda i: {"lines": []}, 422, V, "customer"),
    # --- dates ---
    I(
        "due-date-and-days",
        invoice(due_date="2026-03-01", days_until_due=10),
        422,
        V,
        "days_until_due",
    ),
    I("days-until-due-negative", invoice(days_until_due=-1), 422, V, "days_until_due"),
    I("extra-key", invoice(memo="x"), 422, V, "memo"),
    # --- editing: drafts only ---
    state(ADD, "draft", V, one_line(quantity=-3), status=422, param="quantity"),
    state(
        ADD,
        "draft",
        "discount_exceeds_amount",
        one_line(discount=10**6),
        status=422,
        param="discount",
    ),
    state(
        ADD,
        "draft",
        MISMATCH,
        one_line(revenue_account_id="eur_revenue"),
        status=422,
        param="revenue_account_id",
    ),
    state(
        ADD,
        "draft",
        V,
        one_line(tax_rate="8.875", tax_rate_bps=825),
        status=422,
        param="tax_rate_bps",
    ),
    state(
        ADD,
        "draft",
        "line_rounds_to_zero",
        one_line(quantity="0.001", unit_amount=1),
        status=422,
        param="quantity",
    ),
    state(ADD, "open", "invoice_not_draft", one_line()),
    state(ADD, "void", "invoice_not_draft", one_line()),
    state(ADD, "their_invoice", "not_found", one_line(), status=404),
    Bad(
        "delete-line-of-open",
        "/v1/invoices/{open}/lines/{open_line}",
        None,
        409,
        "invoice_not_draft",
        "id",
        "DELETE",
    ),
    Bad(
        "delete-line-elsewhere",
        "/v1/invoices/{draft}/lines/{open_line}",
        None,
        404,
        "not_found",
        "line_id",
        "DELETE",
    ),
    Bad(
        "delete-line-bad-id",
        "/v1/invoices/{draft}/lines/acct_x",
        None,
        404,
        "not_found",
        "line_id",
        "DELETE",
    ),
    # --- the state machine ---
    *(
        state(FIN, s, "invoice_already_finalized")
        for s in ("open", "paid", "void", "uncollectible")
    ),
    state(FIN, "empty", "invoice_empty", status=422, param="lines"),
    state(FIN, "draft", V, lambda i: {"issue_date": "soon"}, status=422, param="issue_date"),
    state(VOID, "draft", "invoice_not_finalized"),
    state(VOID, "void", "invoice_already_void"),
    state(VOID, "paid", "invoice_paid"),
    state(VOID, "open", V, lambda i: {"date": "2026-01-14"}, status=422, param="date"),
    state(UNC, "draft", "invoice_not_finalized"),
    state(UNC, "uncollectible", "invoice_already_uncollectible"),
    state(UNC, "void", "invoice_already_void"),
    state(UNC, "paid", "invoice_paid"),
    state(UNC, "open", V, lambda i: {"date": "2025-12-31"}, status=422, param="date"),
    # --- another tenant's invoices do not exist ---
    *(state(a, "their_invoice", "not_found", status=404) for a in (FIN, VOID, UNC)),
    *(state(a, "open", "not_found", status=404, who="other") for a in (VOID, UNC)),
    state(FIN, "draft", "not_found", status=404, who="other"),
    # --- a viewer reads but never writes ---
    *(
        state(a, s, "forbidden", status=403, param=None, who="viewer")
        for a, s in ((FIN, "draft"), (VOID, "open"), (UNC, "open"))
    ),
    state(ADD, "draft", "forbidden", one_line(), status=403, param=None, who="viewer"),
    Bad(
        "viewer-deletes-line",
        "/v1/invoices/{draft}/lines/{draft_line}",
        None,
        403,
        "forbidden",
        None,
        "DELETE",
        "viewer",
    ),
    Bad("viewer-creates", "/v1/invoices", invoice(), 403, "forbidden", None, who="viewer"),
]


async def both(conn: asyncpg.Connection, shop: Shop) -> list[dict[str, int]]:
    return [await counts(conn, t.org_id) for t in (shop.tenant, shop.other)]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_a_bad_invoice_request_gets_a_precise_problem_and_writes_nothing(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, shop: Shop, case: Bad
) -> None:
    before = await both(owner_conn, shop)
    json = case.body(shop.ids) if case.body else None
    path = case.path.format(**shop.ids)
    response = await client.request(case.method, path, json=json, headers=shop.headers(case.who))
    assert_problem(response, case.status, case.code, case.param)
    assert await both(owner_conn, shop) == before


async def test_every_invoice_in_the_fixture_is_where_the_cases_expect(
    client: httpx.AsyncClient, shop: Shop
) -> None:
    expected = {"draft", "open", "paid", "void", "uncollectible"}
    found = {
        (await client.get(f"/v1/invoices/{shop.ids[s]}", headers=shop.viewer)).json()["status"]
        for s in expected
    }
    assert found == expected


async def test_another_tenants_invoices_are_invisible(
    client: httpx.AsyncClient, shop: Shop
) -> None:
    url = f"/v1/invoices/{shop.ids['open']}"
    assert_problem(await client.get(url, headers=shop.other.auth), 404, "not_found", "id")
    listed = await client.get("/v1/invoices", params={"limit": 100}, headers=shop.other.auth)
    assert [i["id"] for i in listed.json()["data"]] == [shop.ids["their_invoice"]]
    mine = await client.get(
        "/v1/invoices", params={"customer": shop.ids["theirs"]}, headers=shop.tenant.auth
    )
    assert mine.json()["data"] == []
