"""A refusal's records (the failed attempt's security event, the block it sets off, its
audit event) outlive the refused request's rollback, written on the request's one pool
connection: with a pool of one, concurrent wrong two-factor codes, wrong passwords at the
sign-up of an existing e-mail and wrong codes at sign-in each get their 4xx (never a 503
for a connection that never comes free), and each attempt is recorded and counted."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tests.integration.conftest import serve
from tests.integration.helpers import Tenant, entry, sign_up
from tests.integration.test_rate_limits import fresh_ip
from tests.integration.test_security_events import events
from tests.integration.test_two_factor import ME, code_of, enrolled, sign_in

MakeApp = Callable[..., Starlette]
CONCURRENT = 4
FLOOD = 40
"""Concurrent sign-ins of the flood."""


def one_connection(make_app: MakeApp, **changes: Any) -> Starlette:
    """An app whose write pool has one connection: a request waiting for a second one
    while it holds it would wait out the acquire timeout and answer 503."""
    return make_app(db_pool_min=1, db_pool_max=1, db_pool_acquire_timeout_seconds=5.0, **changes)


async def at_once(request: Callable[[], Awaitable[httpx.Response]]) -> list[httpx.Response]:
    return list(await asyncio.gather(*(request() for _ in range(CONCURRENT))))


def answers(responses: list[httpx.Response]) -> list[tuple[int, str]]:
    return [(r.status_code, code_of(r)) for r in responses]


async def test_concurrent_wrong_codes_on_a_pool_of_one_are_each_refused_recorded_and_counted(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    e = await enrolled(client)
    ip = fresh_ip()
    app = one_connection(make_app, auth_failures_per_account_address=CONCURRENT - 1)
    async with serve(app, client_ip=ip) as http:
        wrong = await at_once(
            lambda: http.request("DELETE", ME, json={"otp": "000000"}, headers=e.tenant.auth)
        )
        held = await http.request("DELETE", ME, json={"otp": e.next_code()}, headers=e.tenant.auth)
    assert answers(wrong) == [(422, "two_factor_code_incorrect")] * CONCURRENT
    assert (held.status_code, code_of(held)) == (429, "rate_limited")  # counted: blocked
    mine = [x["event"] for x in await events(client, e.tenant) if x["client_ip"] == ip]
    assert mine.count("auth.two_factor_failed") == CONCURRENT
    assert mine.count("auth.sign_ins_blocked") == 1
    audit = await client.get("/v1/audit-events", params={"limit": 100}, headers=e.tenant.auth)
    actions = [a["action"] for a in audit.json()["data"]]
    assert actions.count("user.two_factor_code_refused") == CONCURRENT
    assert (await client.get(ME, headers=e.tenant.auth)).json()["enabled"] is True


async def test_concurrent_sign_ups_of_an_existing_email_with_a_wrong_password_on_a_pool_of_one(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    a = await sign_up(client)
    owner = {"email": a.email, "password": "not-the-password", "name": "Adviser"}
    body = {"name": f"Not Made {secrets.token_hex(4)}", "owner": owner}
    async with serve(one_connection(make_app), client_ip=fresh_ip()) as http:
        refused = await at_once(lambda: http.post("/v1/organizations", json=body))
    assert answers(refused) == [(401, "unauthenticated")] * CONCURRENT
    failed = await events(client, a, event="auth.sign_in_failed")
    assert [x["detail"]["reason"] for x in failed] == ["wrong_password"] * CONCURRENT
    assert (await sign_in(client, a.email)).status_code == 200  # still one organization


async def test_concurrent_wrong_codes_at_sign_in_on_a_pool_of_one_are_each_recorded(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    e = await enrolled(client)
    ip = fresh_ip()
    async with serve(one_connection(make_app), client_ip=ip) as http:
        wrong = await at_once(lambda: sign_in(http, e.tenant.email, otp="000000"))
        right = await sign_in(http, e.tenant.email, otp=e.next_code())
    assert answers(wrong) == [(401, "two_factor_code_invalid")] * CONCURRENT
    assert right.status_code == 200, right.text
    reasons = [
        x["detail"].get("reason")
        for x in await events(client, e.tenant, event="auth.sign_in_failed")
        if x["client_ip"] == ip
    ]
    assert reasons == ["two_factor_code_invalid"] * CONCURRENT


async def test_a_wrong_code_sent_with_an_idempotency_key_is_recorded_once_and_replayed(
    client: httpx.AsyncClient,
) -> None:
    # The refused use case is undone alone (its savepoint) and the stored answer
    # commits: its records are kept after that commit as after a rollback.
    e = await enrolled(client)
    key = {"Idempotency-Key": secrets.token_hex(8)}
    url, proof = f"{ME}/recovery-codes", {"otp": "000000"}
    first = await client.post(url, json=proof, headers=e.tenant.auth | key)
    again = await client.post(url, json=proof, headers=e.tenant.auth | key)
    assert (first.status_code, code_of(first)) == (422, "two_factor_code_incorrect")
    assert (again.status_code, again.content) == (422, first.content)
    assert len(await events(client, e.tenant, event="auth.two_factor_failed")) == 1
    assert (await sign_in(client, e.tenant.email, recovery_code=e.recovery_codes[0])).is_success


@dataclasses.dataclass
class Flooded:
    """What ten writes got while clients flooded the API with one kind of request."""

    writes: list[httpx.Response]
    in_flight: list[int]
    """The flood's requests in flight at each write's answer."""
    answers: list[int]
    """The flood's answers (status codes)."""


async def writes_during_a_flood(
    app: Starlette, t: Tenant, clients: int, send: Callable[[httpx.AsyncClient], Awaitable[int]]
) -> Flooded:
    """`clients` clients each `send` requests one after another while the owner of `t`
    posts ten journal entries, one after another."""
    stop = asyncio.Event()
    flooded = Flooded([], [], [])
    in_flight = 0

    async def flood(http: httpx.AsyncClient) -> None:
        nonlocal in_flight
        while not stop.is_set():
            in_flight += 1
            try:
                flooded.answers.append(await send(http))
            finally:
                in_flight -= 1

    async with serve(app, client_ip=fresh_ip()) as http:
        flooding = [asyncio.create_task(flood(http)) for _ in range(clients)]
        await asyncio.sleep(0.5)
        for _ in range(10):
            body = entry(t.accounts["1000"], t.accounts["3000"], 100)
            flooded.writes.append(await http.post("/v1/journal-entries", json=body, headers=t.auth))
            flooded.in_flight.append(in_flight)
        stop.set()
        await asyncio.gather(*flooding)
    return flooded


async def test_a_flood_of_sign_ins_leaves_the_write_pool_to_writes(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    """A sign-in holds no pool connection through its password check (argon2 waits for a
    thread): under a flood of wrong passwords on a pool of two, every write still gets a
    connection within a short acquire timeout."""
    t = await sign_up(client)
    app = make_app(db_pool_min=1, db_pool_max=2, db_pool_acquire_timeout_seconds=0.5)

    async def sign_in(http: httpx.AsyncClient) -> int:
        email = f"nobody-{secrets.token_hex(4)}@example.com"
        answer = await http.post("/v1/auth/token", json={"email": email, "password": "x" * 12})
        return answer.status_code

    flooded = await writes_during_a_flood(app, t, FLOOD, sign_in)
    assert [p.status_code for p in flooded.writes] == [201] * 10, flooded.writes[-1].text
    # The flood went on while each write was made (sign-ins were in flight at its answer).
    assert min(flooded.in_flight) > 0
    assert len(flooded.answers) >= FLOOD


@pytest.mark.parametrize("who", ["new people", "a member with a wrong password"])
async def test_a_flood_of_sign_ups_leaves_the_write_pool_to_writes(
    client: httpx.AsyncClient, make_app: MakeApp, who: str
) -> None:
    """A sign-up hashes a new owner's password, or verifies an existing person's (argon2,
    a third of a second here), before its unit of work takes a pool connection: under a
    flood of sign-ups on a pool of two, every write still gets a connection within a
    short acquire timeout, and each sign-up gets its answer (created; or the wrong
    password's 401)."""
    t = await sign_up(client)
    limits = {"sign_up_attempts_per_address": 10_000, "sign_up_attempts_per_email": 10_000}
    app = make_app(db_pool_min=1, db_pool_max=2, db_pool_acquire_timeout_seconds=0.5, **limits)

    async def sign_up_once(http: httpx.AsyncClient) -> int:
        if who == "new people":
            email = f"new-{secrets.token_hex(4)}@example.com"
            owner = {"email": email, "name": "New", "password": "a-new-long-passphrase"}
        else:
            owner = {"email": t.email, "name": "Owner", "password": "not-the-password-at-all"}
        answer = await http.post("/v1/organizations", json={"name": "Flood", "owner": owner})
        return answer.status_code

    flooded = await writes_during_a_flood(app, t, 8, sign_up_once)
    assert [p.status_code for p in flooded.writes] == [201] * 10, flooded.writes[-1].text
    assert min(flooded.in_flight) > 0
    assert flooded.answers
    assert set(flooded.answers) == ({201} if who == "new people" else {401})
