"""A corpus of bad requests: each gets a precise problem+json, and nothing is written."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from accounting_api.domain import money
from tests.integration.conftest import serve
from tests.integration.helpers import PASSWORD, Tenant, entry, sign_up, token

PROBLEM = "application/problem+json"
MAX = money.MAX_AMOUNT
V, UNBALANCED, MISSING = "validation_error", "unbalanced_entry", "resource_missing"
A0 = "postings[0].amount"


@dataclasses.dataclass(frozen=True)
class Ledger:
    """One tenant with USD and EUR accounts, a posted entry and a viewer."""

    tenant: Tenant
    ids: dict[str, str]
    """Names used in case paths and bodies -> ids (cash, equity, eur_cash, entry, ...)."""
    viewer_token: str

    def headers(self, who: str) -> dict[str, str]:
        if who == "none":
            return {}
        bearer = self.tenant.token if who == "owner" else self.viewer_token
        return {"Authorization": f"Bearer {bearer}"}


Build = Callable[[dict[str, str]], Any]


@dataclasses.dataclass(frozen=True)
class Bad:
    id: str
    path: str
    body: Build | bytes | None
    status: int
    code: str
    param: str | None = None
    method: str = "POST"
    who: Literal["owner", "viewer", "none"] = "owner"
    content_type: str | None = "application/json"
    """None: the body is sent without a Content-Type."""


def usd(i: dict[str, str], amount: Any = 100, **extra: Any) -> dict[str, Any]:
    return entry(i["cash"], i["equity"], amount) | extra


def amount(value: Any) -> Build:
    return lambda i: usd(i, value)


def fields(**extra: Any) -> Build:
    return lambda i: usd(i, **extra)


def posting(line: int, **changes: Any) -> Build:
    def build(i: dict[str, str]) -> dict[str, Any]:
        body = usd(i)
        body["postings"][line] |= changes
        return body

    return build


def drop(*path: str | int) -> Build:
    def build(i: dict[str, str]) -> dict[str, Any]:
        body = usd(i)
        target: Any = body
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]
        return body

    return build


def lines(*postings: tuple[str, str, int]) -> Build:
    return lambda i: {
        "date": "2026-01-15",
        "postings": [{"account_id": i[a], "side": s, "amount": n} for a, s, n in postings],
    }


def batch(*entries: Build) -> Build:
    return lambda i: {"entries": [make(i) for make in entries]}


def account(**changes: Any) -> Build:
    body = {"code": "7000", "name": "New", "type": "expense", "currency": "USD"} | changes
    return lambda i: body


def signup(currency: str, password: str = PASSWORD) -> Build:
    owner = {"email": "new-owner@example.com", "password": password, "name": "N"}
    return lambda i: {"name": "Org", "base_currency": currency, "owner": owner}


ENTRIES, ACCOUNTS, ORGS = "/v1/journal-entries", "/v1/accounts", "/v1/organizations"
BATCH, BALANCE, REVERSE = f"{ENTRIES}/batch", f"{ACCOUNTS}/{{cash}}/balance", "{entry}/reverse"
V, UNBALANCED, MISSING = "validation_error", "unbalanced_entry", "resource_missing"
A0, P = "postings[0].amount", "postings"
GOOD = lines(("cash", "debit", 100), ("equity", "credit", 100))
UNEVEN = lines(("cash", "debit", 100), ("equity", "credit", 99))


def E(id: str, body: Build | bytes | None, code: str, param: str | None, **more: Any) -> Bad:
    """A POST to `path` (a journal entry by default), answered 422 unless `status` says not."""
    return Bad(id, more.pop("path", ENTRIES), body, more.pop("status", 422), code, param, **more)


def Q(id: str, path: str, param: str) -> Bad:
    """A GET whose query string is refused."""
    return Bad(id, path, None, 422, V, param, "GET")


def viewer(id: str, path: str, body: Build | None) -> Bad:
    return Bad(id, path, body, 403, "forbidden", None, who="viewer")


UNSUPPORTED, FORM = "unsupported_media_type", "application/x-www-form-urlencoded"
EUR_USD = lines(("eur_cash", "debit", 1), ("equity", "credit", 1))
EUR_UNEVEN = lines(
    ("cash", "debit", 5),
    ("equity", "credit", 5),
    ("eur_cash", "debit", 7),
    ("eur_equity", "credit", 6),
)
NOPE = posting(1, account_id="acct_nope")

CASES = [
    # --- the body is not JSON, or not an object ---
    E("malformed-json", b'{"date": "2026-01-15",', "invalid_json", None, status=400),
    E("not-utf8", b"\xff\xfe{}", "invalid_json", None, status=400),
    E("body-is-a-list", lambda i: [], V, None),
    E("text-plain", GOOD, UNSUPPORTED, None, status=415, content_type="text/plain"),
    E("form-encoded", b"a=1", UNSUPPORTED, None, status=415, content_type=FORM),
    E("untyped-json", GOOD, UNSUPPORTED, None, status=415, content_type=None),
    E("untyped-batch", batch(GOOD), UNSUPPORTED, None, status=415, content_type=None, path=BATCH),
    # --- wrong types: amounts are JSON integers, never strings, floats or booleans ---
    E("amount-string", amount("100"), V, A0),
    E("amount-float", amount(10.5), V, A0),
    E("amount-integral-float", amount(100.0), V, A0),
    E("amount-boolean", amount(True), V, A0),
    E("side-unknown", posting(1, side="left"), V, "postings[1].side"),
    E("date-impossible", fields(date="2026-02-30"), V, "date"),
    # --- unknown and missing fields ---
    E("extra-key-in-body", fields(memo="x"), V, "memo"),
    E("extra-key-in-posting", posting(1, memo="x"), V, "postings[1].memo"),
    E("no-postings", drop("postings"), V, P),
    E("no-date", drop("date"), V, "date"),
    E("posting-without-side", drop("postings", 0, "side"), V, "postings[0].side"),
    E("description-too-long", fields(description="d" * 1001), V, "description"),
    # --- amounts out of range ---
    E("amount-zero", amount(0), V, A0),
    E("amount-negative", amount(-100), V, A0),
    E("amount-over-the-maximum", amount(MAX + 1), V, A0),
    E("amount-2**63-over-bigint", amount(2**63), V, A0),
    # --- double entry ---
    E("one-posting", lines(("cash", "debit", 100)), V, P),
    E("501-postings", lines(*[("cash", "debit", 1)] * 501), V, P),
    E("unbalanced-usd", UNEVEN, UNBALANCED, P),
    E("eur-debit-usd-credit", EUR_USD, UNBALANCED, P),
    E("usd-balanced-eur-not", EUR_UNEVEN, UNBALANCED, P),
    E("unknown-account", NOPE, MISSING, "postings[1].account_id"),
    # --- batches are all or nothing, and name the bad entry ---
    E("batch-unbalanced", batch(GOOD, GOOD, UNEVEN), UNBALANCED, "entries[2].postings", path=BATCH),
    E(
        "batch-unknown-account",
        batch(GOOD, NOPE),
        MISSING,
        "entries[1].postings[1].account_id",
        path=BATCH,
    ),
    E("batch-bad-amount", batch(GOOD, amount(0)), V, "entries[1].postings[0].amount", path=BATCH),
    E("batch-1001-entries", batch(*[GOOD] * 1001), V, "entries", path=BATCH),
    E("batch-empty", batch(), V, "entries", path=BATCH),
    # --- reversals ---
    E("reverse-bad-date", lambda i: {"date": "soon"}, V, "date", path=f"{ENTRIES}/{REVERSE}"),
    E("reverse-unknown", None, "not_found", "id", status=404, path=f"{ENTRIES}/je_no/reverse"),
    # --- the chart of accounts ---
    E("currency-ZZZ", account(currency="ZZZ"), V, "currency", path=ACCOUNTS),
    E("currency-lowercase-usd", account(currency="usd"), V, "currency", path=ACCOUNTS),
    E("currency-XAU-no-minor-unit", account(currency="XAU"), V, "currency", path=ACCOUNTS),
    E("account-type-unknown", account(type="income"), V, "type", path=ACCOUNTS),
    E("account-code-with-space", account(code="70 00"), V, "code", path=ACCOUNTS),
    E("duplicate-code", account(code="1000"), "conflict", "code", status=409, path=ACCOUNTS),
    # --- sign-up ---
    E("signup-currency-ZZZ", signup("ZZZ"), V, "base_currency", path=ORGS, who="none"),
    E("signup-currency-XAU", signup("XAU"), V, "base_currency", path=ORGS, who="none"),
    E("signup-short-password", signup("USD", "short"), V, "owner.password", path=ORGS, who="none"),
    # --- query parameters ---
    Q("limit-0", f"{ACCOUNTS}?limit=0", "limit"),
    Q("limit-101", f"{ENTRIES}?limit=101", "limit"),
    Q("limit-abc", "/v1/users?limit=abc", "limit"),
    Q("limit-twice", f"{ACCOUNTS}?limit=1&limit=2", "limit"),
    Q("unknown-query-param", f"{ENTRIES}?page=2", "page"),
    Q("as_of-not-a-date", f"{BALANCE}?as_of=not-a-date", "as_of"),
    Q("as_of-month-13", f"{BALANCE}?as_of=2026-13-01", "as_of"),
    # --- roles: a viewer reads but never writes ---
    viewer("viewer-posts-entry", ENTRIES, GOOD),
    viewer("viewer-posts-batch", BATCH, batch(GOOD)),
    viewer("viewer-creates-account", ACCOUNTS, account()),
    viewer("viewer-reverses-entry", f"{ENTRIES}/{REVERSE}", None),
]

# Text PostgreSQL cannot store (NUL): refused as input (any code), never a 500.
NUL_CASES = [
    E("description", fields(description="a\x00b"), "", "description"),
    E("account-name", account(name="Petty\x00cash"), "", "name", path=ACCOUNTS),
    E("posting-account-id", posting(0, account_id="acct_\x00"), "", "postings[0].account_id"),
    Q("starting_after", f"{ACCOUNTS}?starting_after=%00", "starting_after"),
    E("account-id-in-path", None, "", "id", status=404, method="GET", path=f"{ACCOUNTS}/a%00"),
    E(
        "token-email",
        lambda i: {"email": "a\x00@x.io", "password": "p"},
        "",
        "email",
        status=422,
        who="none",
        path="/v1/auth/token",
    ),
]


@pytest.fixture(scope="module")
async def ledger(client: httpx.AsyncClient) -> Ledger:
    tenant = await sign_up(client)
    ids = {"cash": tenant.accounts["1000"], "equity": tenant.accounts["3000"]}
    for name, code, kind in (("eur_cash", "1010", "asset"), ("eur_equity", "3010", "equity")):
        body = {"code": code, "name": name, "type": kind, "currency": "EUR"}
        created = await client.post(ACCOUNTS, json=body, headers=tenant.auth)
        assert created.status_code == 201, created.text
        ids[name] = created.json()["id"]
    posted = await client.post(ENTRIES, json=usd(ids), headers=tenant.auth)
    assert posted.status_code == 201, posted.text
    ids["entry"] = posted.json()["id"]
    viewer = {
        "email": f"viewer-{tenant.org_id}@example.com",
        "password": PASSWORD,
        "name": "V",
        "role": "viewer",
    }
    made = await client.post("/v1/users", json=viewer, headers=tenant.auth)
    assert made.status_code == 201, made.text
    return Ledger(tenant, ids, await token(client, viewer["email"]))


async def counts(conn: asyncpg.Connection, org_id: str) -> dict[str, int]:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM accounts WHERE organization_id = $1) AS accounts,"
        " (SELECT count(*) FROM journal_entries WHERE organization_id = $1) AS entries,"
        " (SELECT count(*) FROM postings WHERE organization_id = $1) AS postings,"
        " (SELECT count(*) FROM users WHERE organization_id = $1) AS users,"
        " (SELECT count(*) FROM organizations) AS organizations",
        org_id,
    )
    assert row is not None
    return dict(row)


async def send(client: httpx.AsyncClient, ledger: Ledger, case: Bad) -> httpx.Response:
    if case.body is None:
        content = b""
    elif isinstance(case.body, bytes):
        content = case.body
    else:
        content = json.dumps(case.body(ledger.ids)).encode()
    typed = {"Content-Type": case.content_type} if content and case.content_type else {}
    headers = ledger.headers(case.who) | typed
    path = case.path.format(**ledger.ids)
    return await client.request(case.method, path, content=content, headers=headers)


def assert_problem(response: httpx.Response, status: int, code: str, param: str | None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status
    if code:
        assert problem["code"] == code, problem
    assert problem.get("param") == param, problem
    assert problem["detail"]


@pytest.mark.parametrize("case", CASES + NUL_CASES, ids=[c.id for c in CASES + NUL_CASES])
async def test_bad_request_gets_a_precise_problem_and_writes_nothing(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, ledger: Ledger, case: Bad
) -> None:
    before = await counts(owner_conn, ledger.tenant.org_id)
    response = await send(client, ledger, case)
    assert_problem(response, case.status, case.code, case.param)
    assert await counts(owner_conn, ledger.tenant.org_id) == before


async def streamed(size: int) -> AsyncIterator[bytes]:
    for _ in range(size // 64):
        yield b" " * 64


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_oversized_body_is_refused_with_413(
    make_app: Callable[..., Starlette],
    owner_conn: asyncpg.Connection,
    ledger: Ledger,
    declared: bool,
) -> None:
    before = await counts(owner_conn, ledger.tenant.org_id)
    big = json.dumps(usd(ledger.ids, description="d" * 900)).encode()
    async with serve(make_app(max_body_bytes=512)) as small:
        headers = ledger.tenant.auth | {"Content-Type": "application/json"}
        content: bytes | AsyncIterator[bytes] = big if declared else streamed(4096)
        response = await small.post(ENTRIES, content=content, headers=headers)
        fits = await small.post(ENTRIES, json=usd(ledger.ids), headers=ledger.tenant.auth)
    assert_problem(response, 413, "payload_too_large", None)
    assert fits.status_code == 201, fits.text
    after = await counts(owner_conn, ledger.tenant.org_id)
    assert (after["entries"], after["postings"]) == (before["entries"] + 1, before["postings"] + 2)


async def test_the_largest_amount_is_accepted_when_balanced(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    body = entry(t.accounts["1000"], t.accounts["3000"], MAX)
    posted = await client.post(ENTRIES, json=body, headers=t.auth)
    assert posted.status_code == 201, posted.text
    fetched = await client.get(f"{ENTRIES}/{posted.json()['id']}", headers=t.auth)
    assert [p["amount"] for p in fetched.json()["postings"]] == [MAX, MAX]
    twice = await client.post(ENTRIES, json=body, headers=t.auth)
    assert twice.status_code == 201, twice.text
    balance = await client.get(f"/v1/accounts/{t.accounts['1000']}/balance", headers=t.auth)
    assert balance.json()["amount"] == 2 * MAX


async def test_two_currencies_each_balanced_are_one_valid_entry(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    body = lines(
        ("cash", "debit", 5),
        ("equity", "credit", 5),
        ("eur_cash", "debit", 7),
        ("eur_equity", "credit", 7),
    )(ledger.ids)
    posted = await client.post(ENTRIES, json=body, headers=ledger.tenant.auth)
    assert posted.status_code == 201, posted.text
    currencies = [p["currency"] for p in posted.json()["postings"]]
    assert currencies == ["USD", "USD", "EUR", "EUR"]
