"""Automatic security responses: failed sign-ins across the platform halve the token
endpoint's rate limit until they age out, an organization past its calls per minute is
refused (one security event per minute, not one per request), an organization past its
export bytes per hour exports again only with a fresh token, and owners see whether an
account is locked. Counts in Redis (a server of the test's own where the count is the
platform's, so no other test's failures count), on the Redis Cluster, and in memory
without Redis."""

from __future__ import annotations

import asyncio
import datetime
import os
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from starlette.applications import Starlette

from accounting_api.settings import Settings
from tests.integration import test_rate_limits
from tests.integration.conftest import serve
from tests.integration.helpers import PASSWORD, Tenant, sign_up, token
from tests.integration.test_account_life import add_member
from tests.integration.test_brute_force import LOCKING, WRONG, locked_member
from tests.integration.test_rate_limits import (
    DEAD_REDIS,
    RedisServer,
    fresh_ip,
    new_tenant,
)
from tests.integration.test_security_events import events

MakeApp = Callable[..., Starlette]
redis_server = test_rate_limits.own_redis
"""A redis-server of the test's own: the platform's count is one key, that other tests'
failures would fill."""
TOKEN = "/v1/auth/token"
PLATFORM = {
    "platform_failed_signins": 2,
    "platform_failed_signins_window_seconds": 6,
    "auth_rate_limit_max": 4,
    "auth_rate_limit_window_seconds": 3600,
}
"""Two failed sign-ins allowed across the platform in 6 s (sign-ins hash passwords: a few
of them take a second on a busy machine); four sign-ins per address."""


async def sign_ins(app: Starlette, tenant: Tenant, password: str, times: int) -> list[int]:
    """The statuses of `times` sign-ins from one new address."""
    login = {"email": tenant.email, "password": password}
    async with serve(app, client_ip=fresh_ip()) as http:
        return [(await http.post(TOKEN, json=login)).status_code for _ in range(times)]


async def platform_events(conn: asyncpg.Connection, since: datetime.datetime) -> list[Any]:
    rows = await conn.fetch(
        "SELECT event, severity, organization_id, detail::text FROM security_events"
        " WHERE event LIKE 'platform.%' AND occurred_at >= $1 ORDER BY occurred_at",
        since,
    )
    return [tuple(row) for row in rows]


# --- failed sign-ins across the platform -----------------------------------------------------


async def test_two_failed_sign_ins_leave_the_token_limit_whole(
    client: httpx.AsyncClient, make_app: MakeApp, redis_server: RedisServer
) -> None:
    tenant = await new_tenant(client)
    app = make_app(redis_url=redis_server.url, **PLATFORM)
    assert await sign_ins(app, tenant, WRONG, 2) == [401, 401]
    assert await sign_ins(app, tenant, PASSWORD, 5) == [200, 200, 200, 200, 429]


async def test_failed_sign_ins_past_the_platform_threshold_halve_the_token_limit_until_they_age_out(
    client: httpx.AsyncClient,
    make_app: MakeApp,
    redis_server: RedisServer,
    owner_conn: asyncpg.Connection,
) -> None:
    tenant, since = await new_tenant(client), datetime.datetime.now(datetime.UTC)
    app = make_app(redis_url=redis_server.url, **PLATFORM)
    assert await sign_ins(app, tenant, WRONG, 3) == [401, 401, 401]  # from one address
    halved = await sign_ins(app, tenant, PASSWORD, 3)  # from another
    async with serve(app, client_ip=fresh_ip()) as http:
        alarm = (await http.get("/metrics")).text
        limit = (await http.post(TOKEN, json={"email": tenant.email, "password": WRONG})).headers
    await asyncio.sleep(PLATFORM["platform_failed_signins_window_seconds"] + 0.3)
    restored = await sign_ins(app, tenant, PASSWORD, 5)
    assert halved == [200, 200, 429]
    assert limit["ratelimit-limit"] == "2"
    assert "accounting_platform_failed_sign_ins_alarm 1.0" in alarm
    assert restored == [200, 200, 200, 200, 429]
    detail = '{"threshold": 2, "window_seconds": 6}'
    assert await platform_events(owner_conn, since) == [
        ("platform.failed_sign_ins_high", "critical", None, detail),
        ("platform.failed_sign_ins_normal", "info", None, detail),
    ]


async def test_failed_sign_ins_of_unknown_e_mails_count_for_the_platform_as_known_ones_do(
    client: httpx.AsyncClient, make_app: MakeApp, redis_server: RedisServer
) -> None:
    tenant = await new_tenant(client)
    app = make_app(redis_url=redis_server.url, **PLATFORM)
    unknown = Tenant(tenant.org_id, f"nobody-{fresh_ip()}@example.com", "", {})
    assert await sign_ins(app, unknown, WRONG, 3) == [401, 401, 401]
    assert await sign_ins(app, tenant, PASSWORD, 3) == [200, 200, 429]


async def test_without_redis_the_platform_count_still_halves_the_token_limit(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    tenant = await new_tenant(client)
    app = make_app(redis_url=DEAD_REDIS, **PLATFORM)
    assert await sign_ins(app, tenant, WRONG, 3) == [401, 401, 401]
    assert await sign_ins(app, tenant, PASSWORD, 3) == [200, 200, 429]


# --- calls of one organization per minute ----------------------------------------------------

ORG = {"org_api_calls_per_minute": 3}
CLUSTER = {"redis_url": os.environ["REDIS_CLUSTER_TEST_URL"], "redis_cluster": True}


@pytest.fixture(params=["redis", "cluster"])
def where(request: pytest.FixtureRequest) -> dict[str, Any]:
    return CLUSTER if request.param == "cluster" else {}


async def test_an_organization_within_its_calls_per_minute_is_served(
    client: httpx.AsyncClient, make_app: MakeApp, where: dict[str, Any]
) -> None:
    tenant = await new_tenant(client)
    async with serve(make_app(**ORG, **where), client_ip=fresh_ip()) as http:
        statuses = [
            (await http.get("/v1/accounts", headers=tenant.auth)).status_code for _ in "abc"
        ]
    assert statuses == [200, 200, 200]


async def test_an_organization_past_its_calls_per_minute_is_refused_with_one_event(
    client: httpx.AsyncClient, make_app: MakeApp, where: dict[str, Any]
) -> None:
    tenant, other = await new_tenant(client), await new_tenant(client)
    async with serve(make_app(**ORG, **where), client_ip=fresh_ip()) as http:
        served = [await http.get("/v1/accounts", headers=tenant.auth) for _ in range(3)]
        refused = [await http.get("/v1/accounts", headers=tenant.auth) for _ in range(3)]
        others = await http.get("/v1/accounts", headers=other.auth)
    assert [r.status_code for r in served] == [200, 200, 200]
    assert [(r.status_code, r.json()["code"]) for r in refused] == [
        (429, "organization_rate_limited")
    ] * 3
    assert all(1 <= int(r.headers["retry-after"]) <= 60 for r in refused)
    assert others.status_code == 200  # the same address, another organization
    (event,) = await events(client, tenant, event="organization.throttled")
    assert (event["severity"], event["detail"]) == (
        "warning",
        {"threshold": 3, "window_seconds": 60},
    )
    audit = await client.get(
        "/v1/audit-events", params={"action": "organization.throttled"}, headers=tenant.auth
    )
    assert [e["object_id"] for e in audit.json()["data"]] == [tenant.org_id]


async def test_without_redis_an_organization_is_still_throttled(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    tenant = await new_tenant(client)
    async with serve(make_app(redis_url=DEAD_REDIS, **ORG), client_ip=fresh_ip()) as http:
        statuses = [
            (await http.get("/v1/accounts", headers=tenant.auth)).status_code for _ in "abcd"
        ]
    assert statuses == [200, 200, 200, 429]


# --- export bytes of one organization per hour ---------------------------------------------

EXPORT = "/v1/exports/ledger.journal"


def aged(bearer: str, settings: Settings, seconds: int) -> dict[str, str]:
    """The same token as if issued `seconds` ago (same user, version and expiry)."""
    claims = jwt.decode(bearer, options={"verify_signature": False})
    old = jwt.encode(claims | {"iat": claims["iat"] - seconds}, settings.jwt_secret, "HS256")
    return {"Authorization": f"Bearer {old}"}


async def test_exports_within_the_hourly_bytes_need_no_fresh_token(
    client: httpx.AsyncClient, make_app: MakeApp, settings: Settings
) -> None:
    tenant = await sign_up(client)
    old = aged(tenant.token, settings, 600)
    async with serve(make_app(org_export_bytes_per_hour=1_000_000)) as http:
        statuses = [(await http.get(EXPORT, headers=old)).status_code for _ in range(2)]
    assert statuses == [200, 200]
    assert await events(client, tenant, event="organization.data_exfiltration") == []


async def test_exports_past_the_hourly_bytes_need_a_token_from_the_last_five_minutes(
    client: httpx.AsyncClient, make_app: MakeApp, settings: Settings, where: dict[str, Any]
) -> None:
    tenant = await sign_up(client)
    old = aged(tenant.token, settings, 301)
    async with serve(make_app(org_export_bytes_per_hour=200, **where)) as http:
        first = await http.get(EXPORT, headers=old)
        refused = await http.get(EXPORT, headers=old)
        fresh = {"Authorization": f"Bearer {await token(http, tenant.email)}"}
        again = [await http.get(EXPORT, headers=fresh) for _ in range(2)]
    assert (first.status_code, len(first.content) > 200) == (200, True)
    assert (refused.status_code, refused.json()["code"]) == (403, "reauthentication_required")
    assert [r.status_code for r in again] == [200, 200]
    assert again[0].content == first.content
    (event,) = await events(client, tenant, event="organization.data_exfiltration")
    assert (event["severity"], event["detail"]) == (
        "critical",
        {"bytes": len(first.content), "threshold": 200, "window_seconds": 3600},
    )
    audit = await client.get(
        "/v1/audit-events", params={"action": "organization.data_exfiltration"},
        headers=tenant.auth,
    )  # fmt: skip
    assert [e["object_id"] for e in audit.json()["data"]] == [tenant.org_id]


# --- a locked account, as owners see it -------------------------------------------------------


async def test_an_owner_sees_that_and_until_when_an_account_is_locked(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    tenant, member = await locked_member(client, make_app(**LOCKING))
    viewer = await add_member(client, tenant, "viewer")
    path = f"/v1/users/{member.id}"
    as_owner = (await client.get(path, headers=tenant.auth)).json()
    as_viewer = (await client.get(path, headers=viewer.auth)).json()
    await client.post(f"{path}/unlock", headers=tenant.auth)
    unlocked = (await client.get(path, headers=tenant.auth)).json()
    until = datetime.datetime.fromisoformat(as_owner["locked_until"])
    left = until.timestamp() - time.time()
    assert as_owner["locked"] is True
    assert 3590 <= left <= 3600
    assert (as_viewer["locked"], as_viewer["locked_until"]) == (None, None)
    assert (unlocked["locked"], unlocked["locked_until"]) == (False, None)


# --- each check's off switch ------------------------------------------------------------------


async def test_zero_switches_the_address_block_and_the_organizations_limit_off(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    tenant = await new_tenant(client)
    app = make_app(suspicious_ip_requests=0, org_api_calls_per_minute=0)
    async with serve(app, client_ip=fresh_ip()) as http:
        refused = [(await http.get("/v1/accounts")).status_code for _ in range(3)]
        served = [(await http.get("/v1/accounts", headers=tenant.auth)).status_code for _ in "ab"]
    assert (refused, served) == ([401, 401, 401], [200, 200])
