"""Sign-up as an existing person with two-factor sign-in proves what a sign-in proves: the
password and then a code (or a recovery code) of their second factor, before anything is
created. Without one, or with a wrong one, it gets the token endpoint's answer and no
organization is made."""

from __future__ import annotations

import asyncpg
import httpx
import pyotp

from tests.integration.helpers import PASSWORD
from tests.integration.test_security_events import events
from tests.integration.test_two_factor import Enrolled, code_of, enrolled


async def sign_up_as(client: httpx.AsyncClient, e: Enrolled, **owner: str) -> httpx.Response:
    person = {"email": e.tenant.email, "password": PASSWORD, "name": "Owner"}
    body = {"name": "Second Org", "owner": person | owner}
    return await client.post("/v1/organizations", json=body)


async def organizations_of(conn: asyncpg.Connection, email: str) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM users WHERE email = $1", email)
    return count


async def test_a_sign_up_without_the_code_is_refused_as_a_sign_in_is(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    e = await enrolled(client)
    refused = await sign_up_as(client, e)
    assert (refused.status_code, code_of(refused)) == (401, "two_factor_required")
    assert await organizations_of(owner_conn, e.tenant.email) == 1


async def test_a_wrong_code_is_refused_and_recorded_as_a_failed_sign_in(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    e = await enrolled(client)
    used = pyotp.TOTP(e.secret).generate_otp(e.step)  # the confirmation's, used up
    refused = await sign_up_as(client, e, otp=used)
    assert (refused.status_code, code_of(refused)) == (401, "two_factor_code_invalid")
    assert await organizations_of(owner_conn, e.tenant.email) == 1
    failed = await events(client, e.tenant, event="auth.sign_in_failed")
    assert len(failed) == 1


async def test_with_a_code_or_a_recovery_code_the_person_owns_a_new_organization(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    e = await enrolled(client)
    with_code = await sign_up_as(client, e, otp=e.next_code())
    assert with_code.status_code == 201, with_code.text
    with_recovery = await sign_up_as(client, e, recovery_code=e.recovery_codes[0])
    assert with_recovery.status_code == 201, with_recovery.text
    assert await organizations_of(owner_conn, e.tenant.email) == 3
    again = await sign_up_as(client, e, recovery_code=e.recovery_codes[0])
    assert (again.status_code, code_of(again)) == (401, "two_factor_code_invalid")


async def test_both_a_code_and_a_recovery_code_is_a_validation_error(
    client: httpx.AsyncClient,
) -> None:
    e = await enrolled(client)
    both = await sign_up_as(client, e, otp=e.next_code(), recovery_code=e.recovery_codes[0])
    assert (both.status_code, code_of(both)) == (422, "validation_error")
