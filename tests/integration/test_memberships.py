"""One person, several organizations (docs/memberships.md): an accountant signs in once
per organization with one password, each token sees only its organization, each
membership has its own role and life, a password change ends every token of the person,
and an existing person signs up a new organization by proving their password."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
from starlette.applications import Starlette

from accounting_api.db import migrations
from accounting_api.domain import ids
from tests.integration import conftest
from tests.integration.helpers import PASSWORD, Tenant, insert_legacy_owner, sign_up
from tests.integration.test_contract import assert_documented

NEW_PASSWORD = "another-long-enough-password"
IGNORED_PASSWORD = "a-password-the-admin-chose"


@dataclasses.dataclass(frozen=True)
class Session:
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def sign_in(
    client: httpx.AsyncClient,
    email: str,
    organization_id: str | None = None,
    password: str = PASSWORD,
) -> httpx.Response:
    body = {"email": email, "password": password}
    if organization_id is not None:
        body["organization_id"] = organization_id
    return await client.post("/v1/auth/token", json=body)


async def session(
    client: httpx.AsyncClient, email: str, organization_id: str, password: str = PASSWORD
) -> Session:
    answer = await sign_in(client, email, organization_id, password)
    assert answer.status_code == 200, answer.text
    return Session(answer.json()["access_token"])


async def add(
    client: httpx.AsyncClient, by: Tenant, email: str, role: str = "admin"
) -> httpx.Response:
    return await client.post(
        "/v1/users",
        json={"email": email, "password": IGNORED_PASSWORD, "name": "Adviser", "role": role},
        headers=by.auth,
    )


async def two_organizations(client: httpx.AsyncClient) -> tuple[Tenant, Tenant, str]:
    """Organizations A and B; A's owner is also an admin of B. Returns (A, B, B's user id
    of that person)."""
    a, b = await sign_up(client), await sign_up(client)
    joined = await add(client, b, a.email)
    assert joined.status_code == 201, joined.text
    return a, b, joined.json()["id"]


def problem(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["code"], body["detail"]


async def data(
    client: httpx.AsyncClient, path: str, who: Session | Tenant, **params: str
) -> list[Any]:
    answer = await client.get(path, params={"limit": "100", **params}, headers=who.auth)
    assert answer.status_code == 200, answer.text
    found: list[Any] = answer.json()["data"]
    return found


async def works(client: httpx.AsyncClient, who: Session) -> int:
    return (await client.get("/v1/accounts", headers=who.auth)).status_code


# --- signing in to each organization ---------------------------------------------------------


async def test_a_person_in_two_organizations_signs_in_to_each_and_they_never_mix(
    client: httpx.AsyncClient,
) -> None:
    a, b, _ = await two_organizations(client)
    # Several active memberships and none chosen: the person is asked to choose.
    unchosen = await sign_in(client, a.email)
    assert (unchosen.status_code, unchosen.json()["code"]) == (409, "organization_required")
    listed = {(o["id"], o["role"]) for o in unchosen.json()["organizations"]}
    assert listed == {(a.org_id, "owner"), (b.org_id, "admin")}
    # A stranger without the password learns none of it.
    guessed = await sign_in(client, a.email, password="not-the-password")
    assert guessed.status_code == 401
    assert "organizations" not in guessed.json()
    in_a, in_b = await session(client, a.email, a.org_id), await session(client, a.email, b.org_id)
    # The password the admin of B gave was ignored: the person kept theirs.
    ignored = await sign_in(client, a.email, b.org_id, IGNORED_PASSWORD)
    assert ignored.status_code == 401
    made = await client.post(
        "/v1/accounts",
        json={"code": "9100", "name": "A only", "type": "asset", "currency": "USD"},
        headers=in_a.auth,
    )
    assert made.status_code == 201, made.text
    assert made.json()["id"] in {x["id"] for x in await data(client, "/v1/accounts", in_a)}
    assert made.json()["id"] not in {x["id"] for x in await data(client, "/v1/accounts", in_b)}
    assert (await client.get("/v1/organization", headers=in_b.auth)).json()["id"] == b.org_id
    b_users = {u["email"] for u in await data(client, "/v1/users", in_b)}
    assert b_users == {a.email, b.email}
    for path in ("/v1/users", "/v1/audit-events", "/v1/security-events"):
        seen_a = {x["id"] for x in await data(client, path, in_a)}
        seen_b = {x["id"] for x in await data(client, path, in_b)}
        assert seen_a, path
        assert seen_b, path
        assert seen_a.isdisjoint(seen_b), path
    audit_b = await data(client, "/v1/audit-events", in_b)
    assert made.json()["id"] not in {e["object_id"] for e in audit_b}


async def test_the_person_lists_their_organizations_to_switch(client: httpx.AsyncClient) -> None:
    a, b, b_user = await two_organizations(client)
    in_b = await session(client, a.email, b.org_id)
    mine = await data(client, "/v1/users/me/organizations", in_b)
    assert [(m["organization_id"], m["role"], m["status"]) for m in mine] == [
        (a.org_id, "owner", "active"),
        (b.org_id, "admin", "active"),
    ]
    assert mine[1]["user_id"] == b_user
    assert mine[0]["organization_name"] == "Test Org"
    # B's owner sees only B's side of the person.
    theirs = await data(client, "/v1/users/me/organizations", b)
    assert [m["organization_id"] for m in theirs] == [b.org_id]


async def test_an_organization_the_person_is_not_active_in_gets_the_wrong_password_answer(
    client: httpx.AsyncClient,
) -> None:
    a, b, b_user = await two_organizations(client)
    stranger = await sign_up(client)
    wrong_password = await sign_in(client, a.email, a.org_id, "not-the-password")
    assert problem(await sign_in(client, a.email, stranger.org_id)) == problem(wrong_password)
    assert problem(await sign_in(client, a.email, "org_nonesuch")) == problem(wrong_password)
    off = await client.patch(f"/v1/users/{b_user}", json={"active": False}, headers=b.auth)
    assert off.status_code == 200, off.text
    assert problem(await sign_in(client, a.email, b.org_id)) == problem(wrong_password)
    # Only one active membership left: no choice to make.
    assert (await sign_in(client, a.email)).status_code == 200
    failed = await data(client, "/v1/security-events", a, event="auth.sign_in_failed")
    assert {e["detail"]["reason"] for e in failed} >= {"not_a_member", "wrong_password"}


async def test_the_list_is_as_documented_and_the_app_reads_no_one_elses_people(
    client: httpx.AsyncClient, database: conftest.TestDatabase
) -> None:
    a, _, b_user = await two_organizations(client)
    in_a = await session(client, a.email, a.org_id)
    mine = await client.get("/v1/users/me/organizations", headers=in_a.auth)
    document = (await client.get("/openapi.json")).json()
    assert_documented(document, "/v1/users/me/organizations", "get", mine.json())
    conn = await asyncpg.connect(database.app_url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.organization_id', $1, true)", a.org_id)
            # A user of another organization: the function answers for the caller's own.
            other = await conn.fetch("SELECT * FROM person_memberships($1)", b_user)
            users = await conn.fetch("SELECT DISTINCT organization_id FROM users")
    finally:
        await conn.close()
    assert other == []
    assert [r["organization_id"] for r in users] == [a.org_id]


# --- each membership has its own life -----------------------------------------------------------


async def test_removing_the_membership_in_one_organization_leaves_the_other_working(
    client: httpx.AsyncClient,
) -> None:
    a, b, b_user = await two_organizations(client)
    in_a, in_b = await session(client, a.email, a.org_id), await session(client, a.email, b.org_id)
    changed = await client.patch(f"/v1/users/{b_user}", json={"role": "viewer"}, headers=b.auth)
    assert changed.status_code == 200
    assert (await works(client, in_b), await works(client, in_a)) == (401, 200)
    in_b = await session(client, a.email, b.org_id)
    removed = await client.delete(f"/v1/users/{b_user}", headers=b.auth)
    assert (removed.status_code, removed.json()["status"]) == (200, "removed")
    assert (await works(client, in_b), await works(client, in_a)) == (401, 200)
    assert (await sign_in(client, a.email)).status_code == 200
    assert (await sign_in(client, a.email, b.org_id)).status_code == 401
    kinds = [e["event"] for e in await data(client, "/v1/security-events", b)]
    assert {"user.created", "user.role_changed", "user.removed"} <= set(kinds)
    actions = [e["action"] for e in await data(client, "/v1/audit-events", b)]
    assert {"user.created", "user.role_changed", "user.removed"} <= set(actions)
    # B may add the person again; they come back with their own password.
    assert (await add(client, b, a.email)).status_code == 201
    assert (await sign_in(client, a.email, b.org_id)).status_code == 200


async def test_a_person_is_a_member_of_an_organization_once(client: httpx.AsyncClient) -> None:
    a, b, _ = await two_organizations(client)
    again = await add(client, b, a.email, role="viewer")
    assert (again.status_code, again.json()["code"]) == (409, "already_member")


async def test_a_password_change_ends_the_persons_tokens_in_every_organization(
    client: httpx.AsyncClient,
) -> None:
    a, b, _ = await two_organizations(client)
    in_a, in_b = await session(client, a.email, a.org_id), await session(client, a.email, b.org_id)
    changed = await client.post(
        "/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=in_b.auth,
    )
    assert changed.status_code == 204, changed.text
    assert (await works(client, in_a), await works(client, in_b)) == (401, 401)
    assert (await sign_in(client, a.email, a.org_id)).status_code == 401
    in_a = await session(client, a.email, a.org_id, NEW_PASSWORD)
    # Each organization's trail says so, of its own member.
    for org_id in (a.org_id, b.org_id):
        member = await session(client, a.email, org_id, NEW_PASSWORD)
        (event,) = await data(client, "/v1/security-events", member, event="user.password_changed")
        actions = [e["action"] for e in await data(client, "/v1/audit-events", member)]
        assert "user.password_changed" in actions
        mine = await data(client, "/v1/users/me/organizations", member)
        (me,) = [m["user_id"] for m in mine if m["organization_id"] == org_id]
        assert (event["user"], event["detail"]) == (me, {"by": me})


async def test_two_password_changes_at_once_leave_one_password_everywhere(
    client: httpx.AsyncClient,
) -> None:
    a, b, _ = await two_organizations(client)
    in_a, in_b = await session(client, a.email, a.org_id), await session(client, a.email, b.org_id)
    chosen = {a.org_id: NEW_PASSWORD, b.org_id: "yet-another-long-password"}
    answers = await asyncio.gather(
        *(
            client.post(
                "/v1/users/me/password",
                json={"current_password": PASSWORD, "new_password": chosen[org]},
                headers=who.auth,
            )
            for org, who in ((a.org_id, in_a), (b.org_id, in_b))
        )
    )
    assert [x.status_code for x in answers] == [204, 204], [x.text for x in answers]
    working = {
        (org, password)
        for org in chosen
        for password in chosen.values()
        if (await sign_in(client, a.email, org, password)).status_code == 200
    }
    (password,) = {p for _, p in working}  # the same one password in both organizations
    assert working == {(a.org_id, password), (b.org_id, password)}


# --- signing up as an existing person ----------------------------------------------------------


def sign_up_body(email: str, password: str = PASSWORD, name: str = "Second Client") -> Any:
    return {"name": name, "owner": {"email": email, "password": password, "name": "Adviser"}}


async def test_an_existing_person_signs_up_a_second_organization_with_their_password(
    client: httpx.AsyncClient,
) -> None:
    a = await sign_up(client)
    created = await client.post("/v1/organizations", json=sign_up_body(a.email))
    assert created.status_code == 201, created.text
    second = created.json()
    assert (second["owner"]["email"], second["owner"]["role"]) == (a.email, "owner")
    in_second = await session(client, a.email, second["id"])
    mine = await data(client, "/v1/users/me/organizations", in_second)
    assert [m["organization_id"] for m in mine] == [a.org_id, second["id"]]
    assert (await works(client, in_second), await works(client, Session(a.token))) == (200, 200)


async def test_a_sign_up_with_an_existing_email_and_a_wrong_password_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    a = await sign_up(client)
    name = f"Not Made {secrets.token_hex(4)}"
    refused = await client.post(
        "/v1/organizations", json=sign_up_body(a.email, "not-the-password", name)
    )
    wrong_password = await sign_in(client, a.email, password="not-the-password")
    assert problem(refused) == problem(wrong_password)
    made = "SELECT count(*) FROM organizations WHERE name = $1"
    assert await owner_conn.fetchval(made, name) == 0
    failed = await data(client, "/v1/security-events", a, event="auth.sign_in_failed")
    assert len(failed) == 2  # counted by the brute-force defence as a failed sign-in
    assert (await sign_in(client, a.email)).status_code == 200  # still one organization


# --- the migration ---------------------------------------------------------------------------


async def legacy_person(owner: asyncpg.Connection) -> tuple[str, str, str]:
    """An organization and its owner as the version of 0028 wrote them, by SQL."""
    org_id, user_id = ids.new_id("org"), ids.new_id("user")
    email = f"legacy-{secrets.token_hex(6)}@example.com"
    async with owner.transaction():
        await owner.execute("SELECT set_config('app.organization_id', $1, true)", org_id)
        await insert_legacy_owner(owner, org_id, user_id, email)
    return org_id, user_id, email


async def test_people_from_before_memberships_carry_over(
    make_app: Callable[..., Starlette],
) -> None:
    db = await conftest.create_empty_database("ua_members")
    owner = await asyncpg.connect(db.owner_url)
    app = make_app(database_url=db.app_url, migration_database_url=db.owner_url)
    try:
        await migrations.apply(owner, through=28)
        org_id, user_id, email = await legacy_person(owner)
        await migrations.apply(owner)
        async with conftest.serve(app) as client:
            assert (await sign_in(client, email)).status_code == 200
            other = await sign_up(client)
            joined = await add(client, other, email)
            assert joined.status_code == 201, joined.text
            assert (await sign_in(client, email, other.org_id)).status_code == 200
            # The person's password is one: a change in the new organization holds in the
            # legacy one, where the previous version reads it.
            in_other = await session(client, email, other.org_id)
            changed = await client.post(
                "/v1/users/me/password",
                json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                headers=in_other.auth,
            )
            assert changed.status_code == 204, changed.text
            assert (await sign_in(client, email, org_id, NEW_PASSWORD)).status_code == 200
            # The login the previous version signs in through moves with the person when
            # the membership it named is removed.
            moving = f"moving-{secrets.token_hex(6)}@example.com"
            first = await add(client, other, moving)
            legacy = await session(client, email, org_id, NEW_PASSWORD)
            assert (await add(client, Tenant(org_id, email, legacy.token, {}), moving)).is_success
            left = await client.delete(f"/v1/users/{first.json()['id']}", headers=other.auth)
            assert left.status_code == 200, left.text
            assert (await sign_in(client, moving, password=IGNORED_PASSWORD)).status_code == 200
        logins = await owner.fetch(
            "SELECT email, organization_id, user_id FROM user_logins ORDER BY email"
        )
        assert {(r["email"], r["organization_id"]) for r in logins} >= {
            (email, org_id),
            (moving, org_id),
        }
        assert user_id in {r["user_id"] for r in logins}
    finally:
        await owner.close()
        await conftest.drop_database(db.name)
