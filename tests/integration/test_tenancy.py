"""Tenant isolation: through every endpoint, and in PostgreSQL's row-level security."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from tests.integration import conftest
from tests.integration.helpers import Tenant, entry, post_entry, sign_up

TABLES = ("organizations", "users", "accounts", "journal_entries", "postings")
TENANT_COLUMN = {"organizations": "id"}


@dataclasses.dataclass(frozen=True)
class Pair:
    a: Tenant
    b: Tenant
    a_entry: str
    b_entry: str


@pytest.fixture(scope="module")
async def pair(client: httpx.AsyncClient) -> Pair:
    a, b = await sign_up(client), await sign_up(client, "EUR")
    posted = []
    for t in (a, b):
        response = await post_entry(client, t, entry(t.accounts["1000"], t.accounts["4000"], 50))
        assert response.status_code == 201, response.text
        posted.append(response.json()["id"])
    return Pair(a, b, posted[0], posted[1])


async def counts(conn: asyncpg.Connection, org_id: str) -> tuple[int, ...]:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM accounts WHERE organization_id = $1),"
        " (SELECT count(*) FROM journal_entries WHERE organization_id = $1),"
        " (SELECT count(*) FROM postings WHERE organization_id = $1)",
        org_id,
    )
    assert row is not None
    return tuple(row)


# --- through the API ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/v1/accounts/{account}", "/v1/accounts/{account}/balance", "/v1/journal-entries/{entry}"],
    ids=["account", "balance", "entry"],
)
async def test_another_tenants_object_is_not_found(
    client: httpx.AsyncClient, pair: Pair, path: str
) -> None:
    url = path.format(account=pair.a.accounts["1000"], entry=pair.a_entry)
    response = await client.get(url, headers=pair.b.auth)
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "not_found"
    assert (await client.get(url, headers=pair.a.auth)).status_code == 200


async def test_lists_show_only_the_tenants_own_data(client: httpx.AsyncClient, pair: Pair) -> None:
    params = {"limit": 100}
    accounts = await client.get("/v1/accounts", params=params, headers=pair.b.auth)
    assert {a["id"] for a in accounts.json()["data"]} == set(pair.b.accounts.values())
    assert {a["currency"] for a in accounts.json()["data"]} == {"EUR"}
    entries = await client.get("/v1/journal-entries", params=params, headers=pair.b.auth)
    assert [e["id"] for e in entries.json()["data"]] == [pair.b_entry]
    users = await client.get("/v1/users", params=params, headers=pair.b.auth)
    assert [u["email"] for u in users.json()["data"]] == [pair.b.email]


@pytest.mark.parametrize("path", ["/v1/accounts", "/v1/journal-entries"])
async def test_another_tenants_id_as_cursor_reveals_nothing(
    client: httpx.AsyncClient, pair: Pair, path: str
) -> None:
    after = pair.a.accounts["1000"] if path == "/v1/accounts" else pair.a_entry
    response = await client.get(path, params={"starting_after": after}, headers=pair.b.auth)
    assert response.status_code < 500, response.text
    own = set(pair.b.accounts.values()) | {pair.b_entry}
    assert {item["id"] for item in response.json().get("data", [])} <= own


@pytest.mark.parametrize("line", [0, 1], ids=["debit-to-a", "credit-to-a"])
async def test_posting_to_another_tenants_account_is_resource_missing(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, pair: Pair, line: int
) -> None:
    before = [await counts(owner_conn, t.org_id) for t in (pair.a, pair.b)]
    accounts = [pair.b.accounts["1000"], pair.b.accounts["4000"]]
    accounts[line] = pair.a.accounts["1000" if line == 0 else "4000"]
    response = await post_entry(client, pair.b, entry(accounts[0], accounts[1], 5))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert (problem["code"], problem["param"]) == (
        "resource_missing",
        f"postings[{line}].account_id",
    )
    assert [await counts(owner_conn, t.org_id) for t in (pair.a, pair.b)] == before


async def test_reversing_another_tenants_entry_is_not_found(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, pair: Pair
) -> None:
    before = [await counts(owner_conn, t.org_id) for t in (pair.a, pair.b)]
    url = f"/v1/journal-entries/{pair.a_entry}/reverse"
    response = await client.post(url, headers=pair.b.auth)
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "not_found"
    original = await client.get(f"/v1/journal-entries/{pair.a_entry}", headers=pair.a.auth)
    assert original.json()["reversed_by"] is None
    assert [await counts(owner_conn, t.org_id) for t in (pair.a, pair.b)] == before


async def test_account_codes_are_per_tenant(client: httpx.AsyncClient, pair: Pair) -> None:
    body = {"code": f"X{secrets.token_hex(4)}", "name": "Side", "type": "asset", "currency": "USD"}
    made = [await client.post("/v1/accounts", json=body, headers=t.auth) for t in (pair.a, pair.b)]
    assert [r.status_code for r in made] == [201, 201]
    assert made[0].json()["id"] != made[1].json()["id"]


async def test_an_idempotency_key_is_never_replayed_to_another_tenant(
    client: httpx.AsyncClient, pair: Pair
) -> None:
    body = {"code": f"I{secrets.token_hex(4)}", "name": "Idem", "type": "asset", "currency": "USD"}
    key = {"Idempotency-Key": f"shared-{secrets.token_hex(8)}"}
    first = await client.post("/v1/accounts", json=body, headers=pair.a.auth | key)
    second = await client.post("/v1/accounts", json=body, headers=pair.b.auth | key)
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert "idempotent-replayed" not in second.headers
    assert second.json()["id"] != first.json()["id"]
    fetched = await client.get(f"/v1/accounts/{second.json()['id']}", headers=pair.b.auth)
    assert fetched.status_code == 200


# --- in the database, as the app role ---------------------------------------------------


@pytest.fixture
async def app_conn(database: conftest.TestDatabase) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database.app_url)
    yield conn
    await conn.close()


async def set_tenant(conn: asyncpg.Connection, org_id: str) -> None:
    await conn.execute("SELECT set_config('app.organization_id', $1, false)", org_id)


@pytest.mark.parametrize("table", TABLES)
async def test_without_a_tenant_the_app_role_sees_no_rows(
    app_conn: asyncpg.Connection, owner_conn: asyncpg.Connection, pair: Pair, table: str
) -> None:
    assert await owner_conn.fetchval(f"SELECT count(*) FROM {table}") > 0
    assert await app_conn.fetchval(f"SELECT count(*) FROM {table}") == 0


@pytest.mark.parametrize("table", TABLES)
async def test_with_a_tenant_the_app_role_sees_only_its_rows(
    app_conn: asyncpg.Connection, owner_conn: asyncpg.Connection, pair: Pair, table: str
) -> None:
    column = TENANT_COLUMN.get(table, "organization_id")
    await set_tenant(app_conn, pair.a.org_id)
    seen = await app_conn.fetch(f"SELECT {column} AS org FROM {table}")
    expected = await owner_conn.fetchval(
        f"SELECT count(*) FROM {table} WHERE {column} = $1", pair.a.org_id
    )
    assert [r["org"] for r in seen] == [pair.a.org_id] * expected
    assert expected > 0


async def test_the_app_role_cannot_write_a_row_for_another_tenant(
    app_conn: asyncpg.Connection, owner_conn: asyncpg.Connection, pair: Pair
) -> None:
    await set_tenant(app_conn, pair.a.org_id)
    before = await counts(owner_conn, pair.b.org_id)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        await app_conn.execute(
            "INSERT INTO accounts (id, organization_id, code, name, type, currency,"
            " normal_balance) VALUES ($1, $2, 'Z1', 'Planted', 'asset', 'EUR', 'debit')",
            f"acct_planted{secrets.token_hex(4)}",
            pair.b.org_id,
        )
    assert await counts(owner_conn, pair.b.org_id) == before


async def test_the_app_role_cannot_read_the_login_directory(
    app_conn: asyncpg.Connection, pair: Pair
) -> None:
    await set_tenant(app_conn, pair.a.org_id)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_conn.fetch("SELECT email FROM user_logins")


# --- the policies of the SECURITY DEFINER functions ----------------------------------------

# Tables whose policies let the SECURITY DEFINER functions (maintenance, the worker's
# discovery, the audit trail, the version bump, the period check) past the tenant.
DEFINER_TABLES = (
    "idempotency_keys",
    "audit_events",
    "webhook_endpoints",
    "webhook_deliveries",
    "revenue_recognitions",
    "invoice_due_watch",
    "accounting_periods",
    "ledger_versions",
    "users",
)


@pytest.fixture(scope="module")
async def b_secrets(client: httpx.AsyncClient, pair: Pair) -> None:
    """Rows of b's that a look at another tenant would reveal: a stored idempotent answer
    and a webhook endpoint with its signing secret."""
    posted = await post_entry(
        client,
        pair.b,
        entry(pair.b.accounts["1000"], pair.b.accounts["4000"], 7),
        **{"Idempotency-Key": f"secret-{secrets.token_hex(4)}"},
    )
    assert posted.status_code == 201, posted.text
    hook = await client.post(
        "/v1/webhook-endpoints",
        json={"url": "https://hooks.example.com/books"},
        headers=pair.b.auth,
    )
    assert hook.status_code == 201, hook.text


@pytest.mark.parametrize("table", DEFINER_TABLES)
async def test_set_role_to_the_group_role_shows_no_other_tenants_rows(
    app_conn: asyncpg.Connection,
    owner_conn: asyncpg.Connection,
    pair: Pair,
    b_secrets: None,
    table: str,
) -> None:
    # The login role is a member of accounting_app; becoming it must not match the
    # policies meant for the functions' owner.
    await set_tenant(app_conn, pair.a.org_id)
    await app_conn.execute("SET ROLE accounting_app")
    try:
        seen = await app_conn.fetch(f"SELECT DISTINCT organization_id FROM {table}")
    finally:
        await app_conn.execute("RESET ROLE")
    assert {r["organization_id"] for r in seen} <= {pair.a.org_id}


async def test_b_has_rows_in_the_tables_a_must_not_see(
    owner_conn: asyncpg.Connection, pair: Pair, b_secrets: None
) -> None:
    for table in ("idempotency_keys", "audit_events", "webhook_endpoints", "ledger_versions"):
        found = await owner_conn.fetchval(
            f"SELECT count(*) FROM {table} WHERE organization_id = $1", pair.b.org_id
        )
        assert found > 0, table


async def test_set_role_cannot_rewrite_another_tenants_stored_answer(
    app_conn: asyncpg.Connection, owner_conn: asyncpg.Connection, pair: Pair, b_secrets: None
) -> None:
    stored = (
        "SELECT md5(string_agg(status_code || encode(response_body, 'hex'), ',' ORDER BY key))"
        " FROM idempotency_keys"
    )
    before = await owner_conn.fetchval(f"{stored} WHERE organization_id = $1", pair.b.org_id)
    await set_tenant(app_conn, pair.a.org_id)
    await app_conn.execute("SET ROLE accounting_app")
    try:
        changed = await app_conn.execute(
            "UPDATE idempotency_keys SET status_code = 200 WHERE organization_id = $1",
            pair.b.org_id,
        )
    finally:
        await app_conn.execute("RESET ROLE")
    assert changed == "UPDATE 0"
    after = await owner_conn.fetchval(f"{stored} WHERE organization_id = $1", pair.b.org_id)
    assert after == before


async def test_no_policy_admits_a_role_by_comparing_it_with_the_session_user(
    owner_conn: asyncpg.Connection,
) -> None:
    loose = await owner_conn.fetch(
        "SELECT tablename, policyname FROM pg_policies WHERE schemaname = 'public'"
        " AND (qual ILIKE '%session_user%' OR with_check ILIKE '%session_user%')"
    )
    assert [tuple(r) for r in loose] == []
