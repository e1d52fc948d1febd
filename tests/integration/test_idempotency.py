"""Idempotency-Key on POST: one effect per key, replayed responses, per-tenant scope."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.billing import add_user
from tests.integration.helpers import PASSWORD, Tenant, entry, post_entry, sign_up

CASH, EQUITY, REVENUE = "1000", "3000", "4000"
REPLAYED = "idempotent-replayed"


def new_key() -> str:
    return f"key-{secrets.token_hex(8)}"


async def entries_of(conn: asyncpg.Connection, org_id: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM journal_entries WHERE organization_id = $1", org_id
        )
    )


async def keys_of(conn: asyncpg.Connection, org_id: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM idempotency_keys WHERE organization_id = $1", org_id
        )
    )


def cash_sale(t: Tenant, amount: int = 500, description: str = "sale") -> dict[str, Any]:
    return entry(t.accounts[CASH], t.accounts[REVENUE], amount, description=description)


def unbalanced(t: Tenant) -> dict[str, Any]:
    body = cash_sale(t)
    body["postings"][1]["amount"] = 499
    return body


async def test_a_retry_is_replayed_and_writes_nothing_more(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    key = new_key()
    first = await post_entry(client, t, cash_sale(t), **{"Idempotency-Key": key})
    second = await post_entry(client, t, cash_sale(t), **{"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    assert REPLAYED not in first.headers
    assert (second.status_code, second.content) == (first.status_code, first.content)
    assert second.headers[REPLAYED] == "true"
    assert second.headers["content-type"] == first.headers["content-type"]
    assert await entries_of(owner_conn, t.org_id) == 1
    balance = await client.get(f"/v1/accounts/{t.accounts[CASH]}/balance", headers=t.auth)
    assert balance.json()["amount"] == 500


@pytest.mark.parametrize("change", ["amount", "description", "endpoint"])
async def test_the_same_key_for_a_different_request_is_refused(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, change: str
) -> None:
    t = await sign_up(client)
    key = {"Idempotency-Key": new_key()}
    first = await post_entry(client, t, cash_sale(t), **key)
    assert first.status_code == 201, first.text
    if change == "endpoint":
        other = await client.post(
            "/v1/journal-entries/batch", json={"entries": [cash_sale(t)]}, headers=t.auth | key
        )
    else:
        body = cash_sale(t, 900) if change == "amount" else cash_sale(t, description="other")
        other = await post_entry(client, t, body, **key)
    assert other.status_code == 422, other.text
    assert other.headers["content-type"].startswith("application/problem+json")
    assert other.json()["code"] == "idempotency_key_reused"
    assert other.json()["param"] == "Idempotency-Key"
    assert await entries_of(owner_conn, t.org_id) == 1


async def test_concurrent_requests_with_one_key_post_one_entry(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    key = new_key()
    responses = await asyncio.gather(
        *(post_entry(client, t, cash_sale(t), **{"Idempotency-Key": key}) for _ in range(10))
    )
    created = [r for r in responses if r.status_code == 201]
    in_use = [r for r in responses if r.status_code == 409]
    assert len(created) + len(in_use) == 10, [r.text for r in responses]
    assert [r.headers.get(REPLAYED) for r in created].count(None) == 1
    assert len({r.content for r in created}) == 1
    assert {r.json()["code"] for r in in_use} <= {"idempotency_key_in_use"}
    assert await entries_of(owner_conn, t.org_id) == 1
    retry = await post_entry(client, t, cash_sale(t), **{"Idempotency-Key": key})
    assert (retry.status_code, retry.content) == (201, created[0].content)


async def test_keys_are_scoped_per_organization(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    a, b = await sign_up(client), await sign_up(client)
    key = {"Idempotency-Key": new_key()}
    for_a = await post_entry(client, a, cash_sale(a, 100), **key)
    for_b = await post_entry(client, b, cash_sale(b, 200), **key)
    assert (for_a.status_code, for_b.status_code) == (201, 201), for_b.text
    assert REPLAYED not in for_b.headers
    assert for_b.json()["id"] != for_a.json()["id"]
    assert for_b.json()["postings"][0]["account_id"] == b.accounts[CASH]
    assert (await entries_of(owner_conn, a.org_id), await entries_of(owner_conn, b.org_id)) == (
        1,
        1,
    )


async def test_a_validation_error_is_not_stored_so_the_fixed_request_succeeds(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    key = {"Idempotency-Key": new_key()}
    broken = cash_sale(t)
    broken["postings"][0]["amount"] = 0
    refused = await post_entry(client, t, broken, **key)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "validation_error"
    fixed = await post_entry(client, t, cash_sale(t), **key)
    assert fixed.status_code == 201, fixed.text
    assert REPLAYED not in fixed.headers
    assert await entries_of(owner_conn, t.org_id) == 1


async def test_a_business_error_is_stored_and_replayed(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    key = {"Idempotency-Key": new_key()}
    first = await post_entry(client, t, unbalanced(t), **key)
    assert first.status_code == 422, first.text
    assert first.json()["code"] == "unbalanced_entry"
    again = await post_entry(client, t, unbalanced(t), **key)
    assert (again.status_code, again.content) == (422, first.content)
    assert again.headers[REPLAYED] == "true"
    assert again.headers["content-type"].startswith("application/problem+json")
    # The key now stands for that failed request: a corrected body needs a new key.
    corrected = await post_entry(client, t, cash_sale(t), **key)
    assert corrected.json()["code"] == "idempotency_key_reused"
    assert await entries_of(owner_conn, t.org_id) == 0


@pytest.mark.parametrize(
    ("length", "status"), [(0, 400), (256, 400), (1000, 400), (255, 201), (1, 201)]
)
async def test_key_length_is_limited_to_255(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection, length: int, status: int
) -> None:
    t = await sign_up(client)
    key = secrets.token_hex(length)[:length]
    response = await post_entry(client, t, cash_sale(t), **{"Idempotency-Key": key})
    assert response.status_code == status, response.text
    if status == 400:
        assert response.json()["code"] == "invalid_request"
        assert response.json()["param"] == "Idempotency-Key"
    assert await entries_of(owner_conn, t.org_id) == (1 if status == 201 else 0)
    assert await keys_of(owner_conn, t.org_id) == (1 if status == 201 else 0)


async def test_sign_up_with_a_key_creates_one_organization(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    email = f"owner-{secrets.token_hex(6)}@example.com"
    body = {"name": "Keyed Org", "owner": {"email": email, "password": PASSWORD, "name": "Kay"}}
    key = {"Idempotency-Key": new_key()}
    first = await client.post("/v1/organizations", json=body, headers=key)
    second = await client.post("/v1/organizations", json=body, headers=key)
    assert first.status_code == 201, first.text
    assert (second.status_code, second.content) == (201, first.content)
    assert second.headers[REPLAYED] == "true"
    orgs = await owner_conn.fetch(
        "SELECT o.id FROM organizations o JOIN users u ON u.organization_id = o.id"
        " WHERE u.email = $1",
        email,
    )
    assert [r["id"] for r in orgs] == [first.json()["id"]]


async def test_a_reversal_with_a_key_is_replayed_not_refused(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    posted = await post_entry(client, t, entry(t.accounts[CASH], t.accounts[EQUITY], 300))
    url = f"/v1/journal-entries/{posted.json()['id']}/reverse"
    key = {"Idempotency-Key": new_key()}
    first = await client.post(url, headers=t.auth | key)
    second = await client.post(url, headers=t.auth | key)
    assert first.status_code == 201, first.text
    assert (second.status_code, second.content) == (201, first.content)
    assert second.headers[REPLAYED] == "true"
    assert await entries_of(owner_conn, t.org_id) == 2
    unkeyed = await client.post(url, headers=t.auth)
    assert unkeyed.json()["code"] == "already_reversed"


async def test_a_token_response_is_never_stored(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    key = new_key()
    response = await client.post(
        "/v1/auth/token",
        json={"email": t.email, "password": PASSWORD},
        headers={"Idempotency-Key": key},
    )
    assert response.status_code == 200, response.text
    assert REPLAYED not in response.headers
    stored = await owner_conn.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = $1", key)
    assert stored == 0


async def test_another_users_key_is_not_replayed_and_a_viewer_is_refused_before_any_replay(
    client: httpx.AsyncClient,
) -> None:
    # Regression: a viewer sending the admin's key and body got the admin's 201 replayed,
    # webhook signing secret included.
    t = await sign_up(client)
    viewer = await add_user(client, t, "viewer")
    key = new_key()
    body = {"url": "https://hooks.example.com/books"}
    made = await client.post(
        "/v1/webhook-endpoints", json=body, headers=t.auth | {"Idempotency-Key": key}
    )
    assert made.status_code == 201, made.text
    assert made.json()["secret"]
    refused = await client.post(
        "/v1/webhook-endpoints", json=body, headers=viewer | {"Idempotency-Key": key}
    )
    assert refused.status_code == 403, refused.text
    assert REPLAYED not in refused.headers
    assert "secret" not in refused.text


async def test_a_key_belongs_to_the_user_who_used_it(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    accountant = await add_user(client, t, "accountant")
    key = new_key()
    first = await post_entry(client, t, cash_sale(t), **{"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    own = await client.post(
        "/v1/journal-entries", json=cash_sale(t), headers=accountant | {"Idempotency-Key": key}
    )
    assert own.status_code == 201, own.text
    assert REPLAYED not in own.headers
    assert own.json()["id"] != first.json()["id"]
    assert await entries_of(owner_conn, t.org_id) == 2
