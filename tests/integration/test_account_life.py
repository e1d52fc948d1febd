"""The life of an account: role changes, deactivation, removal, password changes and
sign-out, each ending the user's tokens at once; the last owner never goes."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets

import httpx
import pytest

from tests.integration.helpers import PASSWORD, Tenant, sign_up, token

NEW_PASSWORD = "another-long-enough-password"


@dataclasses.dataclass(frozen=True)
class Member:
    id: str
    email: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def add_member(client: httpx.AsyncClient, by: Tenant | Member, role: str) -> Member:
    email = f"{role}-{secrets.token_hex(6)}@example.com"
    created = await client.post(
        "/v1/users",
        json={"email": email, "password": PASSWORD, "name": role.title(), "role": role},
        headers=by.auth,
    )
    assert created.status_code == 201, created.text
    return Member(created.json()["id"], email, await token(client, email))


async def owner_of(client: httpx.AsyncClient, tenant: Tenant) -> Member:
    users = (await client.get("/v1/users", headers=tenant.auth)).json()["data"]
    (owner,) = [u for u in users if u["email"] == tenant.email]
    return Member(owner["id"], tenant.email, tenant.token)


async def patch(
    client: httpx.AsyncClient, by: Tenant | Member, user_id: str, **change: object
) -> httpx.Response:
    return await client.patch(f"/v1/users/{user_id}", json=change, headers=by.auth)


async def works(client: httpx.AsyncClient, member: Member) -> int:
    return (await client.get("/v1/accounts", headers=member.auth)).status_code


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post("/v1/auth/token", json={"email": email, "password": password})


def problem(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["code"], body["detail"]


# --- tokens end at once ---------------------------------------------------------------------


async def test_a_role_change_ends_the_users_tokens_at_once(client: httpx.AsyncClient) -> None:
    tenant = await sign_up(client)
    member = await add_member(client, tenant, "accountant")
    assert await works(client, member) == 200
    changed = await patch(client, tenant, member.id, role="viewer")
    assert (changed.status_code, changed.json()["role"]) == (200, "viewer")
    read = await client.get("/v1/accounts", headers=member.auth)
    write = await client.post(
        "/v1/accounts",
        json={"code": "9100", "name": "Old role", "type": "asset", "currency": "USD"},
        headers=member.auth,
    )
    assert [read.status_code, write.status_code] == [401, 401]
    assert read.json()["code"] == "unauthenticated"
    assert "sign in again" in read.json()["detail"]
    # Signed in again, the user acts with the new role.
    fresh = Member(member.id, member.email, await token(client, member.email))
    refused = await client.post(
        "/v1/accounts",
        json={"code": "9100", "name": "New role", "type": "asset", "currency": "USD"},
        headers=fresh.auth,
    )
    assert refused.status_code == 403


async def test_an_ended_token_is_refused_where_no_data_is_read(client: httpx.AsyncClient) -> None:
    tenant = await sign_up(client)
    member = await add_member(client, tenant, "viewer")
    assert (await client.post("/v1/auth/sign-out", headers=member.auth)).status_code == 204
    # A malformed id is refused before any query: the ended token still answers 401.
    answer = await client.get("/v1/accounts/not-an-id", headers=member.auth)
    assert answer.status_code == 401


async def test_sign_out_ends_every_token_of_the_user(client: httpx.AsyncClient) -> None:
    tenant = await sign_up(client)
    member = await add_member(client, tenant, "viewer")
    second = Member(member.id, member.email, await token(client, member.email))
    assert (await client.post("/v1/auth/sign-out", headers=member.auth)).status_code == 204
    assert [await works(client, member), await works(client, second)] == [401, 401]
    again = Member(member.id, member.email, await token(client, member.email))
    assert await works(client, again) == 200


async def test_a_password_change_needs_the_current_one_and_ends_every_token(
    client: httpx.AsyncClient,
) -> None:
    tenant = await sign_up(client)
    member = await add_member(client, tenant, "viewer")
    path = "/v1/users/me/password"
    wrong = await client.post(
        path,
        json={"current_password": "not-the-password", "new_password": NEW_PASSWORD},
        headers=member.auth,
    )
    assert wrong.status_code == 422
    assert (wrong.json()["code"], wrong.json()["param"]) == (
        "current_password_incorrect",
        "current_password",
    )
    assert await works(client, member) == 200  # a wrong attempt changes nothing
    short = await client.post(
        path, json={"current_password": PASSWORD, "new_password": "short"}, headers=member.auth
    )
    assert short.status_code == 422
    common = await client.post(
        path,
        json={"current_password": PASSWORD, "new_password": "password1234"},
        headers=member.auth,
    )
    assert (common.status_code, common.json()["code"], common.json()["param"]) == (
        422,
        "password_too_common",
        "new_password",
    )
    changed = await client.post(
        path, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=member.auth
    )
    assert changed.status_code == 204
    assert await works(client, member) == 401
    assert (await sign_in(client, member.email)).status_code == 401
    assert (await sign_in(client, member.email, NEW_PASSWORD)).status_code == 200


# --- deactivation and removal -------------------------------------------------------------


async def test_a_deactivated_user_cannot_sign_in_until_reactivated(
    client: httpx.AsyncClient,
) -> None:
    tenant = await sign_up(client)
    member = await add_member(client, tenant, "accountant")
    off = await patch(client, tenant, member.id, active=False)
    assert (off.status_code, off.json()["status"]) == (200, "deactivated")
    assert await works(client, member) == 401
    refused = await sign_in(client, member.email)
    wrong_password = await sign_in(client, member.email, "not-the-password")
    # A stranger cannot tell a deactivated account from a wrong password.
    assert problem(refused) == problem(wrong_password)
    on = await patch(client, tenant, member.id, active=True)
    assert (on.status_code, on.json()["status"]) == (200, "active")
    assert (await sign_in(client, member.email)).status_code == 200


async def test_a_removed_user_is_gone_but_kept_for_the_trail(client: httpx.AsyncClient) -> None:
    tenant = await sign_up(client)
    member = await add_member(client, tenant, "accountant")
    removed = await client.delete(f"/v1/users/{member.id}", headers=tenant.auth)
    assert (removed.status_code, removed.json()["status"]) == (200, "removed")
    assert await works(client, member) == 401
    unknown = await sign_in(client, f"nobody-{secrets.token_hex(6)}@example.com")
    assert problem(await sign_in(client, member.email)) == problem(unknown)
    shown = await client.get(f"/v1/users/{member.id}", headers=tenant.auth)
    assert (shown.status_code, shown.json()["status"]) == (200, "removed")
    again = await patch(client, tenant, member.id, active=True)
    assert (again.status_code, again.json()["code"]) == (409, "user_removed")
    # The e-mail is free again.
    readded = await client.post(
        "/v1/users",
        json={"email": member.email, "password": PASSWORD, "name": "Back", "role": "viewer"},
        headers=tenant.auth,
    )
    assert readded.status_code == 201, readded.text
    assert (await sign_in(client, member.email)).status_code == 200


# --- who may change whom --------------------------------------------------------------------


async def test_the_last_active_owner_never_goes(client: httpx.AsyncClient) -> None:
    tenant = await sign_up(client)
    owner = await owner_of(client, tenant)
    for answer in (
        await patch(client, tenant, owner.id, role="admin"),
        await patch(client, tenant, owner.id, active=False),
        await client.delete(f"/v1/users/{owner.id}", headers=tenant.auth),
    ):
        assert (answer.status_code, answer.json()["code"]) == (409, "last_owner")
    assert await works(client, owner) == 200
    second = await add_member(client, tenant, "owner")
    demoted = await patch(client, second, owner.id, role="admin")
    assert (demoted.status_code, demoted.json()["role"]) == (200, "admin")


async def test_two_owners_demoting_each_other_at_once_leave_one_owner(
    client: httpx.AsyncClient,
) -> None:
    tenant = await sign_up(client)
    first = await owner_of(client, tenant)
    second = await add_member(client, tenant, "owner")
    answers = await asyncio.gather(
        patch(client, first, second.id, role="viewer"),
        patch(client, second, first.id, role="viewer"),
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses[0] == 200, [a.text for a in answers]
    # The other finds it is now the last owner, or that its own token has ended.
    assert statuses[1] in (401, 409), [a.text for a in answers]
    # Any member may list the users: the first owner, whatever its role now.
    listing = {"Authorization": f"Bearer {await token(client, tenant.email)}"}
    users = (await client.get("/v1/users", headers=listing)).json()["data"]
    owners = [u for u in users if u["role"] == "owner" and u["status"] == "active"]
    assert len(owners) == 1


@pytest.mark.parametrize(
    ("target_role", "change"),
    [
        ("accountant", {"role": "owner"}),
        ("owner", {"role": "viewer"}),
        ("owner", {"active": False}),
    ],
    ids=["make-owner", "change-owner", "deactivate-owner"],
)
async def test_an_admin_never_makes_or_unmakes_an_owner(
    client: httpx.AsyncClient, target_role: str, change: dict[str, object]
) -> None:
    tenant = await sign_up(client)
    admin = await add_member(client, tenant, "admin")
    target = await add_member(client, tenant, target_role)
    answer = await patch(client, admin, target.id, **change)
    assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")
    removal = await client.delete(f"/v1/users/{target.id}", headers=admin.auth)
    assert removal.status_code == (403 if target_role == "owner" else 200)


async def test_a_viewer_changes_no_one(client: httpx.AsyncClient) -> None:
    tenant = await sign_up(client)
    viewer = await add_member(client, tenant, "viewer")
    other = await add_member(client, tenant, "accountant")
    answer = await patch(client, viewer, other.id, role="viewer")
    assert answer.status_code == 403
    assert await works(client, other) == 200


async def test_a_change_must_name_something(client: httpx.AsyncClient) -> None:
    tenant = await sign_up(client)
    member = await add_member(client, tenant, "viewer")
    answer = await patch(client, tenant, member.id)
    assert answer.status_code == 422
    assert await works(client, member) == 200


# --- the trail --------------------------------------------------------------------------------


async def test_every_change_of_an_account_is_audited(client: httpx.AsyncClient) -> None:
    tenant = await sign_up(client)
    member = await add_member(client, tenant, "accountant")
    await patch(client, tenant, member.id, role="viewer")
    await patch(client, tenant, member.id, active=False)
    await patch(client, tenant, member.id, active=True)
    member = Member(member.id, member.email, await token(client, member.email))
    await client.post(
        "/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=member.auth,
    )
    member = Member(member.id, member.email, await token(client, member.email, NEW_PASSWORD))
    await client.post("/v1/auth/sign-out", headers=member.auth)
    await client.delete(f"/v1/users/{member.id}", headers=tenant.auth)
    events = await client.get("/v1/audit-events", params={"limit": 100}, headers=tenant.auth)
    actions = [e["action"] for e in reversed(events.json()["data"]) if e["object_id"] == member.id]
    assert actions == [
        "user.created",
        "user.role_changed",
        "user.deactivated",
        "user.reactivated",
        "user.password_changed",
        "user.signed_out",
        "user.removed",
    ]
