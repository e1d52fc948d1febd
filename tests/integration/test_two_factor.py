"""Two-factor sign-in (docs/two-factor.md): enrol and confirm, then the token endpoint
asks for a code after a correct password; a code works once, a recovery code works once,
a wrong code is refused and counted as a failed sign-in; disabling needs a code; the
organization may require a second factor of owners and admins; secrets are sealed in the
database and no other organization reaches them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pyotp
import pytest
from starlette.applications import Starlette

from accounting_api.domain import two_factor
from tests.integration import conftest
from tests.integration.conftest import serve
from tests.integration.helpers import PASSWORD, Tenant, sign_up, token
from tests.integration.test_rate_limits import fresh_ip
from tests.integration.test_security_events import add_user, events

MakeApp = Callable[..., Starlette]
ME = "/v1/users/me/two-factor"


@dataclass
class Enrolled:
    tenant: Tenant
    secret: str
    recovery_codes: list[str]
    step: int
    """The step of the last code used (the confirmation's)."""

    def next_code(self) -> str:
        """A code of the step after the last one used (within the drift a server
        accepts), so that no code is refused as a replay."""
        self.step += 1
        assert self.step <= two_factor.step_at(time.time()) + 1
        return pyotp.TOTP(self.secret).generate_otp(self.step)


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, **more: str
) -> httpx.Response:
    return await client.post("/v1/auth/token", json={"email": email, "password": password} | more)


async def enrol(client: httpx.AsyncClient, tenant: Tenant) -> Enrolled:
    started = await client.post(ME, headers=tenant.auth)
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["enabled"] is False
    assert body["enrolment_pending"] is True
    step = two_factor.step_at(time.time())
    code = pyotp.TOTP(body["secret"]).generate_otp(step)
    confirmed = await client.post(f"{ME}/confirm", json={"otp": code}, headers=tenant.auth)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["enabled"] is True
    return Enrolled(tenant, body["secret"], confirmed.json()["recovery_codes"], step)


async def enrolled(client: httpx.AsyncClient) -> Enrolled:
    return await enrol(client, await sign_up(client))


def code_of(response: httpx.Response) -> str:
    return str(response.json()["code"])


async def test_enrolment_gives_an_otpauth_uri_and_changes_nothing_until_confirmed(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    started = await client.post(ME, headers=t.auth)
    assert started.status_code == 201
    uri = started.json()["otpauth_uri"]
    assert uri.startswith("otpauth://totp/Universal%20Accounting:")
    assert "issuer=Universal%20Accounting" in uri
    assert started.json()["secret"] in uri
    assert (await sign_in(client, t.email)).status_code == 200  # no code asked yet
    wrong = await client.post(f"{ME}/confirm", json={"otp": "000000"}, headers=t.auth)
    assert (wrong.status_code, code_of(wrong)) == (422, "two_factor_code_incorrect")
    assert (await client.get(ME, headers=t.auth)).json()["enabled"] is False


async def test_after_confirmation_sign_in_needs_a_code_and_a_valid_one_works_once(
    client: httpx.AsyncClient,
) -> None:
    e = await enrolled(client)
    assert len(e.recovery_codes) == 10
    assert len(set(e.recovery_codes)) == 10
    missing = await sign_in(client, e.tenant.email)
    assert (missing.status_code, code_of(missing)) == (401, "two_factor_required")
    stranger = await sign_in(client, e.tenant.email, "not-the-password-at-all")
    assert code_of(stranger) == "unauthenticated"  # nothing said before a correct password
    code = e.next_code()
    signed_in = await sign_in(client, e.tenant.email, otp=code)
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["scope"] == "full"
    replayed = await sign_in(client, e.tenant.email, otp=code)
    assert (replayed.status_code, code_of(replayed)) == (401, "two_factor_code_invalid")
    bearer = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    assert (await client.get("/v1/accounts", headers=bearer)).status_code == 200


async def test_a_wrong_code_is_refused_and_counts_as_a_failed_sign_in(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    e = await enrolled(client)
    app, ip = make_app(auth_failures_per_account_address=2), fresh_ip()
    async with serve(app, client_ip=ip) as http:
        for _ in range(3):
            wrong = await sign_in(http, e.tenant.email, otp="123456")
            assert (wrong.status_code, code_of(wrong)) == (401, "two_factor_code_invalid")
        blocked = await sign_in(http, e.tenant.email, otp=e.next_code())
    assert (blocked.status_code, code_of(blocked)) == (401, "unauthenticated")
    reasons = [
        (x["event"], x["detail"].get("reason"))
        for x in await events(client, e.tenant, severity="warning")
        if x["client_ip"] == ip
    ]
    assert ("auth.sign_in_failed", "two_factor_code_invalid") in reasons
    assert ("auth.sign_ins_blocked", None) in reasons
    assert reasons[0] == ("auth.sign_in_failed", "blocked")


async def test_a_recovery_code_signs_in_once(client: httpx.AsyncClient) -> None:
    e = await enrolled(client)
    code = e.recovery_codes[3]
    first = await sign_in(client, e.tenant.email, recovery_code=code.upper())
    assert first.status_code == 200, first.text
    again = await sign_in(client, e.tenant.email, recovery_code=code)
    assert (again.status_code, code_of(again)) == (401, "two_factor_code_invalid")
    assert (await client.get(ME, headers=e.tenant.auth)).json()["recovery_codes_left"] == 9
    kinds = [x["event"] for x in await events(client, e.tenant)]
    assert "auth.recovery_code_used" in kinds
    assert "user.two_factor_enabled" in kinds


async def test_disabling_needs_a_current_code_then_sign_in_needs_none(
    client: httpx.AsyncClient,
) -> None:
    e = await enrolled(client)
    bare = await client.request("DELETE", ME, headers=e.tenant.auth)
    assert (bare.status_code, code_of(bare)) == (422, "two_factor_code_required")
    wrong = await client.request("DELETE", ME, json={"otp": "999999"}, headers=e.tenant.auth)
    assert (wrong.status_code, code_of(wrong)) == (422, "two_factor_code_incorrect")
    off = await client.request("DELETE", ME, json={"otp": e.next_code()}, headers=e.tenant.auth)
    assert off.status_code == 200, off.text
    assert off.json()["enabled"] is False
    assert (await sign_in(client, e.tenant.email)).status_code == 200
    audit = await client.get("/v1/audit-events", params={"limit": 100}, headers=e.tenant.auth)
    actions = {a["action"] for a in audit.json()["data"]}
    assert {
        "user.two_factor_enrolment_started",
        "user.two_factor_enabled",
        "user.two_factor_code_refused",
        "user.two_factor_disabled",
    } <= actions


async def test_new_recovery_codes_replace_the_old_ones(client: httpx.AsyncClient) -> None:
    e = await enrolled(client)
    made = await client.post(
        f"{ME}/recovery-codes", json={"recovery_code": e.recovery_codes[0]}, headers=e.tenant.auth
    )
    assert made.status_code == 200, made.text
    fresh = made.json()["recovery_codes"]
    old = await sign_in(client, e.tenant.email, recovery_code=e.recovery_codes[1])
    assert code_of(old) == "two_factor_code_invalid"
    assert (await sign_in(client, e.tenant.email, recovery_code=fresh[0])).status_code == 200


async def test_owners_and_admins_must_enrol_when_the_organization_requires_it(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    refused = await client.patch(
        "/v1/organization", json={"two_factor_required_for": "owners_and_admins"}, headers=t.auth
    )
    assert (refused.status_code, code_of(refused)) == (409, "two_factor_not_enabled")
    _, admin = await add_user(client, t, "admin")
    _, accountant = await add_user(client, t, "accountant")
    await enrol(client, t)
    set_ = await client.patch(
        "/v1/organization", json={"two_factor_required_for": "owners_and_admins"}, headers=t.auth
    )
    assert set_.status_code == 200, set_.text
    assert set_.json()["two_factor_required_for"] == "owners_and_admins"

    assert (await sign_in(client, accountant)).json()["scope"] == "full"
    limited = await sign_in(client, admin)
    assert limited.status_code == 200
    assert limited.json()["scope"] == "two_factor_enrolment"
    bearer = {"Authorization": f"Bearer {limited.json()['access_token']}"}
    other = await client.get("/v1/accounts", headers=bearer)
    assert (other.status_code, code_of(other)) == (403, "two_factor_enrolment_required")
    admin_tenant = Tenant(t.org_id, admin, limited.json()["access_token"], {})
    admin_factor = await enrol(client, admin_tenant)
    full = await sign_in(client, admin, otp=admin_factor.next_code())
    assert full.json()["scope"] == "full"
    assert (await client.post("/v1/auth/sign-out", headers=bearer)).status_code == 204

    coverage = await client.get("/v1/organization/two-factor-coverage", headers=t.auth)
    assert coverage.status_code == 200, coverage.text
    found = coverage.json()
    assert (found["owners_and_admins"], found["owners_and_admins_enabled"]) == (2, 2)
    assert (found["members"], found["members_enabled"]) == (3, 2)
    kinds = [x["event"] for x in await events(client, t)]
    assert "organization.two_factor_requirement_changed" in kinds


async def test_secrets_and_codes_are_not_stored_in_the_clear(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    e = await enrolled(client)
    row = await owner_conn.fetchrow("SELECT * FROM second_factors WHERE email = $1", e.tenant.email)
    assert row is not None
    stored = " ".join(str(v) for v in row.values())
    assert e.secret not in stored
    assert e.secret.lower() not in stored
    assert not any(code in stored or code.replace("-", "") in stored for code in e.recovery_codes)
    for table in ("security_events", "audit_events", "idempotency_keys"):
        dump = await owner_conn.fetchval(
            f"SELECT coalesce(string_agg(t::text, ' '), '') FROM {table} t"
        )
        assert e.secret not in dump, table
        assert e.recovery_codes[0] not in dump, table


async def test_no_other_organization_reaches_a_second_factor(
    client: httpx.AsyncClient, database: conftest.TestDatabase
) -> None:
    e = await enrolled(client)
    other = await sign_up(client)
    viewer_id, viewer = await add_user(client, other, "viewer")
    viewer_auth = {"Authorization": f"Bearer {await token(client, viewer)}"}
    own = await client.get(ME, headers=viewer_auth)
    assert own.json()["enabled"] is False
    coverage = await client.get("/v1/organization/two-factor-coverage", headers=other.auth)
    assert e.tenant.email not in coverage.text
    listed = {u["user"] for u in coverage.json()["users"]}
    assert viewer_id in listed
    assert len(listed) == 2
    owner_id = (await client.get("/v1/users", headers=e.tenant.auth)).json()["data"][0]["id"]
    app = await asyncpg.connect(database.app_url)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.fetch("SELECT * FROM second_factors")
        async with app.transaction():
            await app.execute("SELECT set_config('app.organization_id', $1, true)", other.org_id)
            assert await app.fetch("SELECT * FROM second_factor_of($1)", owner_id) == []
            assert await app.fetchval("SELECT second_factor_remove($1)", owner_id) is None
    finally:
        await app.close()
    assert (await client.get(ME, headers=e.tenant.auth)).json()["enabled"] is True


async def test_without_a_key_ring_enrolment_is_refused(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    t = await sign_up(client)
    async with serve(make_app(webhook_secret_keys="")) as http:
        refused = await http.post(ME, headers=t.auth)
    assert (refused.status_code, code_of(refused)) == (503, "two_factor_keys_missing")
    assert (await client.get(ME, headers=t.auth)).json()["enrolment_pending"] is False


async def test_malformed_codes_are_refused_before_anything_is_checked(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    cases: list[dict[str, Any]] = [
        {"otp": "12345"},
        {"otp": "abcdef"},
        {"otp": "123456", "recovery_code": "aaaaa-bbbbb-ccccc-ddddd"},
    ]
    for extra in cases:
        answer = await sign_in(client, t.email, **extra)
        assert answer.status_code == 422, (extra, answer.text)
    assert (await sign_in(client, t.email, otp="123456")).status_code == 200  # none enrolled


async def test_being_asked_for_the_code_does_not_count_against_the_address(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    e = await enrolled(client)
    async with serve(make_app(suspicious_ip_requests=2), client_ip=fresh_ip()) as http:
        for _ in range(4):
            asked = await sign_in(http, e.tenant.email)
            assert code_of(asked) == "two_factor_required"
        assert (await sign_in(http, e.tenant.email, otp=e.next_code())).status_code == 200


async def test_a_replayed_confirmation_returns_its_recovery_codes_kept_sealed(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    secret = (await client.post(ME, headers=t.auth)).json()["secret"]
    code = pyotp.TOTP(secret).generate_otp(two_factor.step_at(time.time()))
    key = f"confirm-{t.org_id}"
    headers = t.auth | {"Idempotency-Key": key}
    first = await client.post(f"{ME}/confirm", json={"otp": code}, headers=headers)
    again = await client.post(f"{ME}/confirm", json={"otp": code}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json()["recovery_codes"] == first.json()["recovery_codes"]
    stored = await owner_conn.fetchrow(
        "SELECT response_body, response_sealed FROM idempotency_keys WHERE key = $1", key
    )
    assert stored is not None
    assert stored["response_sealed"] is not None
    assert first.json()["recovery_codes"][0].encode() not in bytes(stored["response_body"])


async def test_the_compliance_report_counts_owners_and_admins_without_a_second_factor(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    await add_user(client, t, "accountant")  # not counted: neither owner nor admin

    async def control() -> dict[str, Any]:
        body = (await client.get("/v1/compliance-report", headers=t.auth)).json()
        found = [c for g in body["groups"] for c in g["controls"] if c["id"] == "access.two_factor"]
        return dict(found[0])

    before = await control()
    assert before["status"] == "FAIL"
    assert before["details"]["owners_and_admins"] == 1
    e = await enrol(client, t)
    after = await control()
    assert after["status"] == "PASS"
    assert after["details"]["with_two_factor"] == 1
    dropped = await client.request("DELETE", ME, json={"otp": e.next_code()}, headers=t.auth)
    assert dropped.status_code == 200, dropped.text
    assert (await control())["status"] == "FAIL"  # the evidence changed: so does the control


async def test_re_enrolling_needs_a_code_and_replaces_the_secret_once_confirmed(
    client: httpx.AsyncClient,
) -> None:
    e = await enrolled(client)
    email, auth = e.tenant.email, e.tenant.auth
    bare = await client.post(ME, headers=auth)
    assert (bare.status_code, code_of(bare)) == (422, "two_factor_code_required")
    again = await client.post(ME, json={"recovery_code": e.recovery_codes[0]}, headers=auth)
    assert again.status_code == 201, again.text
    new = pyotp.TOTP(again.json()["secret"])
    assert (await sign_in(client, email, otp=e.next_code())).status_code == 200  # not yet
    confirmed = await client.post(
        f"{ME}/confirm",
        json={"otp": new.generate_otp(two_factor.step_at(time.time()))},
        headers=auth,
    )
    assert confirmed.status_code == 200, confirmed.text
    ahead = two_factor.step_at(time.time()) + 1
    old = await sign_in(client, email, otp=pyotp.TOTP(e.secret).generate_otp(ahead))
    assert code_of(old) == "two_factor_code_invalid"
    assert (await sign_in(client, email, otp=new.generate_otp(ahead))).status_code == 200
    stale = await sign_in(client, email, recovery_code=e.recovery_codes[1])
    assert code_of(stale) == "two_factor_code_invalid"


async def test_a_person_in_two_organizations_gets_their_list_only_after_the_code(
    client: httpx.AsyncClient,
) -> None:
    """Memberships and two-factor sign-in together: one factor for the person, asked
    before the organizations they belong to are listed; with it, each organization's
    token works and names that organization only."""
    e = await enrolled(client)
    other = await sign_up(client)
    joined = await client.post(
        "/v1/users",
        json={"email": e.tenant.email, "password": PASSWORD, "name": "Adviser", "role": "admin"},
        headers=other.auth,
    )
    assert joined.status_code == 201, joined.text
    no_code = await sign_in(client, e.tenant.email)
    assert (no_code.status_code, code_of(no_code)) == (401, "two_factor_required")
    assert other.org_id not in no_code.text
    listed = await sign_in(client, e.tenant.email, otp=e.next_code())
    assert (listed.status_code, code_of(listed)) == (409, "organization_required")
    assert other.org_id in listed.text
    recovery = e.recovery_codes[0]  # the next code's step is not due yet
    chosen = await sign_in(
        client, e.tenant.email, recovery_code=recovery, organization_id=other.org_id
    )
    assert chosen.status_code == 200, chosen.text
    bearer = {"Authorization": f"Bearer {chosen.json()['access_token']}"}
    profile = await client.get("/v1/organization", headers=bearer)
    assert profile.json()["id"] == other.org_id
