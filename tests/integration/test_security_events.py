"""Security events: recorded per organization, read by owners and admins, one JSON log
line each, never visible to another organization."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import httpx
import pytest

from tests.integration.helpers import PASSWORD, Tenant, sign_up, token

EVENTS = "/v1/security-events"


async def events(client: httpx.AsyncClient, tenant: Tenant, **params: str) -> list[dict[str, Any]]:
    answer = await client.get(EVENTS, params={"limit": "100", **params}, headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


async def add_user(client: httpx.AsyncClient, tenant: Tenant, role: str) -> tuple[str, str]:
    email = f"{role}-{secrets.token_hex(6)}@example.com"
    created = await client.post(
        "/v1/users",
        json={"email": email, "password": PASSWORD, "name": role, "role": role},
        headers=tenant.auth,
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], email


async def test_sign_ins_are_recorded_with_their_outcome(client: httpx.AsyncClient) -> None:
    tenant = await sign_up(client)
    user_id, email = await add_user(client, tenant, "viewer")
    wrong = await client.post("/v1/auth/token", json={"email": email, "password": "x" * 12})
    assert wrong.status_code == 401
    await token(client, email)
    found = await events(client, tenant, user=user_id)
    assert [(e["event"], e["severity"], e["detail"].get("reason")) for e in found] == [
        ("auth.sign_in_succeeded", "info", None),
        ("auth.sign_in_failed", "warning", "wrong_password"),
        ("user.created", "info", None),
    ]
    assert all(e["client_ip"] == "127.0.0.1" and e["request_id"] for e in found)
    assert "x" * 12 not in str(found)  # the password tried is never kept


async def test_changes_of_access_are_recorded_with_who_made_them(
    client: httpx.AsyncClient,
) -> None:
    tenant = await sign_up(client)
    user_id, _ = await add_user(client, tenant, "accountant")
    changed = await client.patch(
        f"/v1/users/{user_id}", json={"role": "viewer"}, headers=tenant.auth
    )
    assert changed.status_code == 200
    (event,) = await events(client, tenant, event="user.role_changed")
    owner = (await client.get("/v1/users", headers=tenant.auth)).json()["data"]
    (owner_id,) = [u["id"] for u in owner if u["email"] == tenant.email]
    assert (event["user"], event["severity"]) == (user_id, "warning")
    assert event["detail"] == {"role": "viewer", "previous_role": "accountant", "by": owner_id}


async def test_a_request_with_an_ended_token_is_recorded(client: httpx.AsyncClient) -> None:
    tenant = await sign_up(client)
    _, email = await add_user(client, tenant, "viewer")
    ended = {"Authorization": f"Bearer {await token(client, email)}"}
    assert (await client.post("/v1/auth/sign-out", headers=ended)).status_code == 204
    assert (await client.get("/v1/accounts", headers=ended)).status_code == 401
    kinds = [e["event"] for e in await events(client, tenant, severity="warning")]
    assert kinds[0] == "auth.token_ended"
    assert "user.signed_out" in [e["event"] for e in await events(client, tenant)]


async def test_another_organization_sees_none_of_them(client: httpx.AsyncClient) -> None:
    a, b = await sign_up(client), await sign_up(client)
    await add_user(client, a, "viewer")
    seen_by_a = {e["id"] for e in await events(client, a)}
    seen_by_b = {e["id"] for e in await events(client, b)}
    assert seen_by_a
    assert seen_by_b  # b's own owner signed in
    assert seen_by_a.isdisjoint(seen_by_b)


async def test_only_owners_and_admins_read_them(client: httpx.AsyncClient) -> None:
    tenant = await sign_up(client)
    _, admin = await add_user(client, tenant, "admin")
    _, accountant = await add_user(client, tenant, "accountant")
    for email, status in ((admin, 200), (accountant, 403)):
        auth = {"Authorization": f"Bearer {await token(client, email)}"}
        assert (await client.get(EVENTS, headers=auth)).status_code == status


async def test_pages_and_filters(client: httpx.AsyncClient) -> None:
    tenant = await sign_up(client)
    for _ in range(3):
        await add_user(client, tenant, "viewer")
    first = await client.get(EVENTS, params={"limit": "2"}, headers=tenant.auth)
    assert (len(first.json()["data"]), first.json()["has_more"]) == (2, True)
    after = first.json()["data"][-1]["id"]
    rest = await events(client, tenant, starting_after=after)
    assert len(rest) >= 1
    assert {e["id"] for e in rest}.isdisjoint(e["id"] for e in first.json()["data"])
    bad = await client.get(EVENTS, params={"event": "no.such_event"}, headers=tenant.auth)
    assert (bad.status_code, bad.json()["param"]) == (422, "event")


async def test_each_event_is_one_json_log_line(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = await sign_up(client)
    with caplog.at_level(logging.INFO, logger="accounting_api.security"):
        await add_user(client, tenant, "viewer")
    (line,) = [r for r in caplog.records if r.name == "accounting_api.security"]
    assert (line.event, line.severity, line.organization_id) == (  # type: ignore[attr-defined]
        "user.created",
        "info",
        tenant.org_id,
    )
