"""Brute-force defence: failed sign-ins of one account from one address block that pair
(longer for repeat offenders), failures from many addresses lock the account until an
admin unlocks it, and an address with too many failed requests is blocked; a block or a
lock is answered exactly as a wrong password is. Each test uses fresh accounts and fresh
client addresses, so no count is shared with another test or an earlier run."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio.cluster import RedisCluster
from starlette.applications import Starlette

from accounting_api.domain import lockout
from tests.integration.conftest import serve
from tests.integration.helpers import PASSWORD, Tenant, sign_up
from tests.integration.test_account_life import Member, add_member
from tests.integration.test_rate_limits import DEAD_REDIS, fresh_ip, new_tenant
from tests.integration.test_security_events import events

MakeApp = Callable[..., Starlette]
WRONG = "not-the-password-at-all"
FAST = {
    "auth_failures_per_account_address": 2,
    "auth_failure_window_seconds": 5,
    "auth_block_seconds": 3,
}
"""Two failures allowed per pair in a 5 s window; the first block 3 s, the next 6 s: for
the tests of what ends. The others keep the 15-minute window and block, so no slow run
sees a count or a block end early."""
TWO = {"auth_failures_per_account_address": 2}


async def attempt(app: Starlette, email: str, password: str, ip: str) -> httpx.Response:
    async with serve(app, client_ip=ip) as http:
        return await http.post("/v1/auth/token", json={"email": email, "password": password})


async def fail(app: Starlette, email: str, ip: str, times: int) -> None:
    for _ in range(times):
        assert (await attempt(app, email, WRONG, ip)).status_code == 401


async def scene(
    client: httpx.AsyncClient, make_app: MakeApp, **changes: Any
) -> tuple[Tenant, str, Starlette]:
    """A new account, a new client address, and an app with these settings changed."""
    return await new_tenant(client), fresh_ip(), make_app(**changes)


def answer(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    """Everything a client sees but the request id and the caller's own rate-limit count."""
    request_id = response.headers["x-request-id"].encode()
    varying = {"x-request-id", "ratelimit-remaining", "ratelimit-reset"}
    headers = {k: v for k, v in response.headers.items() if k not in varying}
    return response.status_code, headers, response.content.replace(request_id, b"")


# --- one account from one address -----------------------------------------------------------


async def test_five_failures_from_one_address_leave_the_right_password_working(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    tenant, ip, app = await scene(client, make_app)
    await fail(app, tenant.email, ip, 5)
    assert (await attempt(app, tenant.email, PASSWORD, ip)).status_code == 200


async def test_the_sixth_failure_blocks_the_pair_with_the_wrong_password_answer(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    tenant, ip, app = await scene(client, make_app)
    await fail(app, tenant.email, ip, 6)
    blocked = await attempt(app, tenant.email, PASSWORD, ip)
    wrong = await attempt(app, tenant.email, WRONG, fresh_ip())
    elsewhere = await attempt(app, tenant.email, PASSWORD, fresh_ip())
    assert answer(blocked) == answer(wrong)
    assert blocked.json()["code"] == "unauthenticated"
    assert elsewhere.status_code == 200  # the block is of that address only
    reasons = [
        (e["event"], e["detail"].get("reason"))
        for e in await events(client, tenant, severity="warning")
        if e["client_ip"] == ip
    ]
    assert reasons[:3] == [
        ("auth.sign_in_failed", "blocked"),
        ("auth.sign_ins_blocked", None),
        ("auth.sign_in_failed", "wrong_password"),
    ]


async def test_an_unknown_email_is_blocked_with_the_same_answer_as_a_known_one(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    tenant, ip, app = await scene(client, make_app, **TWO)
    unknown = f"nobody-{ip}@example.com"
    await fail(app, tenant.email, ip, 3)
    await fail(app, unknown, ip, 3)
    known_blocked = await attempt(app, tenant.email, PASSWORD, ip)
    unknown_blocked = await attempt(app, unknown, PASSWORD, ip)
    assert answer(known_blocked) == answer(unknown_blocked)
    assert known_blocked.status_code == 401


async def test_a_failure_count_ends_with_its_window(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    tenant, ip, app = await scene(client, make_app, **FAST)
    await fail(app, tenant.email, ip, 2)
    await asyncio.sleep(FAST["auth_failure_window_seconds"] + 0.2)
    await fail(app, tenant.email, ip, 1)  # three failures, but two have left the window
    assert (await attempt(app, tenant.email, PASSWORD, ip)).status_code == 200


async def test_a_success_elsewhere_does_not_erase_an_attackers_failures(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    tenant, attacker = await new_tenant(client), fresh_ip()
    app = make_app(**TWO)
    await fail(app, tenant.email, attacker, 2)
    assert (await attempt(app, tenant.email, PASSWORD, fresh_ip())).status_code == 200
    await fail(app, tenant.email, attacker, 1)
    assert (await attempt(app, tenant.email, PASSWORD, attacker)).status_code == 401


async def test_a_block_ends_and_doubles_for_a_repeat_offender(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    tenant, ip, app = await scene(client, make_app, **FAST)
    first = FAST["auth_block_seconds"] + 0.2
    await fail(app, tenant.email, ip, 3)
    await asyncio.sleep(first)
    after_first = await attempt(app, tenant.email, PASSWORD, ip)
    await fail(app, tenant.email, ip, 3)
    await asyncio.sleep(first)
    within_second = await attempt(app, tenant.email, PASSWORD, ip)
    await asyncio.sleep(first)
    after_second = await attempt(app, tenant.email, PASSWORD, ip)
    statuses = [r.status_code for r in (after_first, within_second, after_second)]
    assert statuses == [200, 401, 200]
    blocks = await events(client, tenant, event="auth.sign_ins_blocked")
    assert [e["detail"] for e in reversed(blocks)] == [
        {"seconds": 3, "strikes": 1},
        {"seconds": 6, "strikes": 2},
    ]
    assert {e["client_ip"] for e in blocks} == {ip}


# --- one account from many addresses ----------------------------------------------------------

LOCKING = {"auth_failures_per_account_address": 2, "auth_failures_per_account": 4}


async def locked_member(client: httpx.AsyncClient, app: Starlette) -> tuple[Tenant, Member]:
    """A viewer whose account five failures from three addresses have locked."""
    tenant = await sign_up(client)
    member = await add_member(client, tenant, "viewer")
    for times in (2, 2, 1):
        await fail(app, member.email, fresh_ip(), times)
    return tenant, member


async def test_four_failures_across_addresses_leave_the_account_open(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    tenant = await new_tenant(client)
    app = make_app(**LOCKING)
    for _ in range(2):
        await fail(app, tenant.email, fresh_ip(), 2)
    assert (await attempt(app, tenant.email, PASSWORD, fresh_ip())).status_code == 200


async def test_a_locked_account_gets_the_wrong_password_answer_from_everywhere(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    app = make_app(**LOCKING)
    tenant, member = await locked_member(client, app)
    locked = await attempt(app, member.email, PASSWORD, fresh_ip())
    wrong = await attempt(app, tenant.email, WRONG, fresh_ip())
    assert answer(locked) == answer(wrong)
    (event,) = await events(client, tenant, event="user.locked")
    assert (event["user"], event["severity"], event["detail"]) == (
        member.id,
        "critical",
        {"seconds": 3600},
    )
    audit = await client.get(
        "/v1/audit-events", params={"action": "user.locked"}, headers=tenant.auth
    )
    assert [(e["object_id"], e["actor"]) for e in audit.json()["data"]] == [(member.id, None)]


async def test_an_admin_unlocks_an_account_and_a_viewer_may_not(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    app = make_app(**LOCKING)
    tenant, member = await locked_member(client, app)
    viewer, admin = [await add_member(client, tenant, role) for role in ("viewer", "admin")]
    path = f"/v1/users/{member.id}/unlock"
    refused = await client.post(path, headers=viewer.auth)
    still_locked = await attempt(app, member.email, PASSWORD, fresh_ip())
    unlocked = await client.post(path, headers=admin.auth)
    signed_in = await attempt(app, member.email, PASSWORD, fresh_ip())
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert still_locked.status_code == 401
    assert (unlocked.status_code, unlocked.json()["id"]) == (200, member.id)
    assert signed_in.status_code == 200
    (event,) = await events(client, tenant, event="user.unlocked")
    assert (event["user"], event["severity"], event["detail"]) == (
        member.id,
        "warning",
        {"by": admin.id},
    )
    audit = await client.get(
        "/v1/audit-events", params={"action": "user.unlocked"}, headers=tenant.auth
    )
    assert [e["object_id"] for e in audit.json()["data"]] == [member.id]


async def test_a_lock_expires(client: httpx.AsyncClient, make_app: MakeApp) -> None:
    app = make_app(**LOCKING, auth_lock_seconds=1)
    _, member = await locked_member(client, app)
    await asyncio.sleep(1.2)
    assert (await attempt(app, member.email, PASSWORD, fresh_ip())).status_code == 200


# --- one address, every failed request ------------------------------------------------------

SUSPICIOUS = {"suspicious_ip_requests": 3, "suspicious_ip_block_seconds": 3}


async def test_an_address_past_its_failed_requests_is_blocked_but_for_operations(
    client: httpx.AsyncClient, make_app: MakeApp, owner_conn: asyncpg.Connection
) -> None:
    tenant, ip = await new_tenant(client), fresh_ip()
    login = {"email": tenant.email, "password": PASSWORD}
    async with serve(make_app(**SUSPICIOUS), client_ip=ip) as http:
        failed = [await http.get("/v1/accounts") for _ in range(4)]
        blocked = await http.get("/v1/accounts", headers=tenant.auth)
        sign_in = await http.post("/v1/auth/token", json=login)
        operations = [await http.get(path) for path in ("/health", "/ready", "/metrics")]
        await asyncio.sleep(SUSPICIOUS["suspicious_ip_block_seconds"] + 0.2)
        after = await http.get("/v1/accounts", headers=tenant.auth)
    assert [r.status_code for r in failed] == [401, 401, 401, 401]
    assert (blocked.status_code, blocked.json()["code"]) == (429, "rate_limited")
    assert 1 <= int(blocked.headers["retry-after"]) <= 3
    assert sign_in.status_code == 429
    assert [r.status_code for r in operations] == [200, 200, 200]
    assert after.status_code == 200
    found = await owner_conn.fetch(
        "SELECT severity, organization_id FROM security_events"
        " WHERE event = 'auth.address_blocked' AND client_ip = $1",
        ip,
    )
    assert [tuple(row) for row in found] == [("warning", None)]


async def test_three_failed_requests_leave_the_address_open(make_app: MakeApp) -> None:
    async with serve(make_app(**SUSPICIOUS), client_ip=fresh_ip()) as http:
        failed = [await http.get("/v1/accounts") for _ in range(3)]
        health = await http.get("/v1/accounts")
    assert [r.status_code for r in (*failed, health)] == [401, 401, 401, 401]


# --- where the counts live -----------------------------------------------------------------


async def test_without_redis_a_pair_is_still_blocked(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    tenant, ip, app = await scene(client, make_app, redis_url=DEAD_REDIS, **TWO)
    await fail(app, tenant.email, ip, 3)
    assert (await attempt(app, tenant.email, PASSWORD, ip)).status_code == 401
    assert (await attempt(app, tenant.email, PASSWORD, fresh_ip())).status_code == 200


async def test_without_redis_an_address_is_still_blocked(make_app: MakeApp) -> None:
    async with serve(make_app(redis_url=DEAD_REDIS, **SUSPICIOUS), client_ip=fresh_ip()) as http:
        statuses = [(await http.get("/v1/accounts")).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 429]


@pytest.fixture
async def cluster() -> Any:
    client = RedisCluster.from_url(os.environ["REDIS_CLUSTER_TEST_URL"])
    yield client
    await client.aclose()


async def test_on_a_redis_cluster_a_pair_is_blocked_and_an_account_locked(
    client: httpx.AsyncClient, make_app: MakeApp, cluster: RedisCluster
) -> None:
    on_cluster = {"redis_url": os.environ["REDIS_CLUSTER_TEST_URL"], "redis_cluster": True}
    tenant, ip, app = await scene(client, make_app, **on_cluster, **LOCKING)
    await fail(app, tenant.email, ip, 3)
    await fail(app, tenant.email, fresh_ip(), 2)
    keys = lockout.account_keys(tenant.email, ip)
    assert await cluster.pttl(keys.pair_block) > 0
    assert await cluster.pttl(keys.lock) > 0
    assert (await attempt(app, tenant.email, PASSWORD, fresh_ip())).status_code == 401
