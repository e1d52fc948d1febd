"""A new password through the API: sign-up and adding a user refuse a common password, or
one built from the e-mail name or the organization's name, and write nothing."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration import conftest
from tests.integration.helpers import PASSWORD, Tenant, sign_up

COMMON = "Password1234"


def new_email() -> str:
    return f"ann-{secrets.token_hex(6)}@example.com"


def sign_up_body(password: str, *, name: str = "Test Org", email: str = "") -> dict[str, Any]:
    owner = {"email": email or new_email(), "password": password, "name": "Ann"}
    return {"name": name, "base_currency": "USD", "owner": owner}


def assert_refused(response: httpx.Response, code: str, param: str, password: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["code"], problem["param"]) == (code, param)
    assert password.lower() not in response.text.lower()


async def users_with(conn: asyncpg.Connection, email: str) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM users WHERE email = $1", email)
    return count


@pytest.fixture(scope="module")
async def tenant(client: httpx.AsyncClient) -> Tenant:
    return await sign_up(client)


@pytest.mark.parametrize(
    ("password", "org_name", "code"),
    [
        (COMMON, "Test Org", "password_too_common"),
        ("qWeRtYuIoP123", "Test Org", "password_too_common"),
        ("books-of-northwind-2026", "Northwind", "password_too_personal"),
    ],
)
async def test_sign_up_refuses_a_weak_password_and_creates_nothing(
    client: httpx.AsyncClient,
    owner_conn: asyncpg.Connection,
    password: str,
    org_name: str,
    code: str,
) -> None:
    organizations = "SELECT count(*) FROM organizations"
    before = await owner_conn.fetchval(organizations)
    body = sign_up_body(password, name=org_name)
    response = await client.post("/v1/organizations", json=body)
    assert_refused(response, code, "owner.password", password)
    assert await owner_conn.fetchval(organizations) == before
    assert await users_with(owner_conn, body["owner"]["email"]) == 0


async def test_sign_up_refuses_a_password_containing_the_email_name(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    email = new_email()
    password = f"{email.partition('@')[0]}-keeps-books"
    response = await client.post("/v1/organizations", json=sign_up_body(password, email=email))
    assert_refused(response, "password_too_personal", "owner.password", password)
    assert await users_with(owner_conn, email) == 0


async def test_a_refused_sign_up_may_be_retried_with_the_same_idempotency_key(
    client: httpx.AsyncClient,
) -> None:
    key = {"Idempotency-Key": secrets.token_hex(8)}
    email = new_email()
    refused = await client.post(
        "/v1/organizations", json=sign_up_body(COMMON, email=email), headers=key
    )
    assert refused.status_code == 422, refused.text
    fixed = await client.post(
        "/v1/organizations", json=sign_up_body(PASSWORD, email=email), headers=key
    )
    assert fixed.status_code == 201, fixed.text


@pytest.mark.parametrize(
    ("password", "code"),
    [
        (COMMON, "password_too_common"),
        ("ILOVEYOU1234", "password_too_common"),
        ("the-test-org-ledger", "password_too_personal"),  # the organization is "Test Org"
    ],
)
async def test_adding_a_user_refuses_a_weak_password_and_adds_nobody(
    client: httpx.AsyncClient,
    owner_conn: asyncpg.Connection,
    tenant: Tenant,
    password: str,
    code: str,
) -> None:
    email = new_email()
    body = {"email": email, "password": password, "name": "Ann", "role": "viewer"}
    response = await client.post("/v1/users", json=body, headers=tenant.auth)
    assert_refused(response, code, "password", password)
    assert await users_with(owner_conn, email) == 0


async def test_adding_a_user_with_an_uncommon_passphrase_works(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    body = {
        "email": new_email(),
        "password": "velvet anchor orbits a quiet pumpkin",
        "name": "Ann",
        "role": "viewer",
    }
    response = await client.post("/v1/users", json=body, headers=tenant.auth)
    assert response.status_code == 201, response.text


async def test_create_org_on_the_command_line_refuses_a_common_password(
    database: conftest.TestDatabase, owner_conn: asyncpg.Connection
) -> None:
    email = new_email()
    command = Path(sys.executable).with_name("accounting-api")
    args = ["create-org", "--name", "Cli Org", "--email", email, "--owner-name", "Ann"]
    env = os.environ | {"DATABASE_URL": database.app_url, "OWNER_PASSWORD": COMMON}
    process = await asyncio.create_subprocess_exec(
        command, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await process.communicate()
    assert process.returncode == 2
    assert "list of commonly used passwords" in stderr.decode()
    assert COMMON.lower() not in stderr.decode().lower()
    assert await users_with(owner_conn, email) == 0


async def create_org(database: conftest.TestDatabase, *args: str) -> tuple[int, str]:
    """`accounting-api create-org` with these arguments: its exit code and its output."""
    command = Path(sys.executable).with_name("accounting-api")
    env = os.environ | {"DATABASE_URL": database.app_url, "OWNER_PASSWORD": PASSWORD}
    process = await asyncio.create_subprocess_exec(
        command, "create-org", *args, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def test_create_org_unless_exists_makes_one_organization_however_often_it_runs(
    database: conftest.TestDatabase, owner_conn: asyncpg.Connection
) -> None:
    """For seeding scripts run more than once (make demo): a second run with the same
    e-mail creates nothing and names the organization the first made; without the flag,
    an existing person would become the owner of one more."""
    email = new_email()
    args = ("--name", "Seeded", "--email", email, "--unless-exists")
    first, second = await create_org(database, *args), await create_org(database, *args)
    assert (first[0], second[0]) == (0, 0)
    made, found = json.loads(first[1]), json.loads(second[1])
    assert (made["created"], found["created"]) == (True, False)
    assert found["organization_id"] == made["organization_id"]
    assert await users_with(owner_conn, email) == 1
    again = await create_org(database, "--name", "Another", "--email", email)
    assert json.loads(again[1])["created"] is True
    assert await users_with(owner_conn, email) == 2


async def test_the_openapi_document_states_the_password_rules(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    for model in ("OwnerIn", "UserIn"):
        password = schemas[model]["properties"]["password"]
        assert password["minLength"] == 12
        assert "password_too_common" in password["description"]
        assert "password_too_personal" in password["description"]
