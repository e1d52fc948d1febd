"""Small client-side helpers: sign up a tenant, authenticate, post entries."""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

import asyncpg
import httpx

from accounting_api.services import auth

PASSWORD = "a-long-enough-password"


@dataclasses.dataclass
class Tenant:
    org_id: str
    email: str
    token: str
    accounts: dict[str, str]
    """Account code -> id, from the default chart."""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def token(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await client.post("/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def sign_up(client: httpx.AsyncClient, currency: str = "USD") -> Tenant:
    email = f"owner-{secrets.token_hex(6)}@example.com"
    response = await client.post(
        "/v1/organizations",
        json={
            "name": "Test Org",
            "base_currency": currency,
            "owner": {"email": email, "password": PASSWORD, "name": "Owner"},
        },
    )
    assert response.status_code == 201, response.text
    org_id = response.json()["id"]
    bearer = await token(client, email)
    listing = await client.get(
        "/v1/accounts", params={"limit": 100}, headers={"Authorization": f"Bearer {bearer}"}
    )
    accounts = {a["code"]: a["id"] for a in listing.json()["data"]}
    return Tenant(org_id, email, bearer, accounts)


def entry(
    debit: str, credit: str, amount: int, date: str = "2026-01-15", description: str = "test"
) -> dict[str, Any]:
    return {
        "date": date,
        "description": description,
        "postings": [
            {"account_id": debit, "side": "debit", "amount": amount},
            {"account_id": credit, "side": "credit", "amount": amount},
        ],
    }


async def post_entry(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], **headers: str
) -> httpx.Response:
    return await client.post("/v1/journal-entries", json=body, headers=tenant.auth | headers)


async def insert_legacy_owner(
    owner: asyncpg.Connection, org_id: str, user_id: str, email: str
) -> None:
    """An organization, its owner and the owner's login, by SQL as every version before
    memberships (0029) wrote them; in the caller's transaction, tenant set."""
    await owner.execute(
        "INSERT INTO organizations (id, name, base_currency) VALUES ($1, 'Legacy', 'USD')",
        org_id,
    )
    await owner.execute(
        "INSERT INTO users (id, organization_id, email, name, role, password_hash)"
        " VALUES ($1, $2, $3, 'O', 'owner', $4)",
        user_id,
        org_id,
        email,
        await auth.hash_password(PASSWORD),
    )
    await owner.execute(
        "INSERT INTO user_logins (email, organization_id, user_id) VALUES ($1, $2, $3)",
        email,
        org_id,
        user_id,
    )
