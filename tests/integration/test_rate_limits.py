"""Rate limits per organization and per client IP, shared by replicas through Redis.

Tenants sign up through the session client (whose limits are huge); the limited apps
are then called from a fresh client address per test, so no counter is shared with
another test or an earlier run. The window is an hour so that a test never straddles
a window boundary (the windows are fixed and aligned to the epoch).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from starlette.applications import Starlette

from tests import drill_support
from tests.integration.conftest import serve
from tests.integration.helpers import PASSWORD, Tenant, entry, sign_up, token

MakeApp = Callable[..., Starlette]
WINDOW = 3600
DEAD_REDIS = "redis://127.0.0.1:1/0"


def fresh_ip() -> str:
    return f"127.{secrets.randbelow(250) + 1}.{secrets.randbelow(256)}.{secrets.randbelow(256)}"


async def new_tenant(client: httpx.AsyncClient) -> Tenant:
    """A tenant whose organization has made no authenticated request yet."""
    email = f"owner-{secrets.token_hex(6)}@example.com"
    owner = {"email": email, "password": PASSWORD, "name": "Owner"}
    response = await client.post("/v1/organizations", json={"name": "Org", "owner": owner})
    assert response.status_code == 201, response.text
    return Tenant(response.json()["id"], email, await token(client, email), {})


def limited(make_app: MakeApp, maximum: int, **changes: Any) -> Starlette:
    return make_app(rate_limit_max=maximum, rate_limit_window_seconds=WINDOW, **changes)


async def accounts(http: httpx.AsyncClient, tenant: Tenant) -> httpx.Response:
    return await http.get("/v1/accounts", headers=tenant.auth)


class RedisServer:
    """A redis-server of one test's own on a free loopback port, to kill and start again
    (never the shared one other tests use)."""

    def __init__(self, directory: Path) -> None:
        self.port = drill_support.free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = directory
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self._directory),
            stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)
        try:
            for _ in range(100):
                try:
                    if await client.ping():
                        return
                except redis.ConnectionError:
                    await asyncio.sleep(0.05)
        finally:
            await client.aclose()
        raise AssertionError(f"redis-server on port {self.port} did not start")

    async def kill(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path)
    await server.start()
    yield server
    await server.kill()


async def test_the_request_past_the_limit_is_refused_with_retry_headers(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    t = await new_tenant(client)
    async with serve(limited(make_app, 3), client_ip=fresh_ip()) as http:
        allowed = [await accounts(http, t) for _ in range(3)]
        refused = await accounts(http, t)
    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert [r.headers["ratelimit-remaining"] for r in allowed] == ["2", "1", "0"]
    assert {r.headers["ratelimit-limit"] for r in allowed} == {"3"}
    assert all(0 <= int(r.headers["ratelimit-reset"]) <= WINDOW for r in allowed)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "rate_limited"
    assert refused.headers["ratelimit-limit"] == "3"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert 0 < int(refused.headers["retry-after"]) <= WINDOW
    assert 0 <= int(refused.headers["ratelimit-reset"]) <= WINDOW
    assert "x-request-id" in refused.headers


async def test_two_organizations_from_one_ip_share_the_ip_limit(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    a, b = await new_tenant(client), await new_tenant(client)
    async with serve(limited(make_app, 3), client_ip=fresh_ip()) as http:
        statuses = [(await accounts(http, t)).status_code for t in (a, a, b, b)]
    # b has made only two requests: its fourth-from-this-IP one is refused for the IP.
    assert statuses == [200, 200, 200, 429]


async def test_one_organization_from_two_ips_shares_the_organization_limit(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    t = await new_tenant(client)
    app = limited(make_app, 3)
    async with (
        serve(app, client_ip=fresh_ip()) as first,
        serve(app, client_ip=fresh_ip()) as second,
    ):
        statuses = [
            (await accounts(http, t)).status_code for http in (first, first, second, second)
        ]
    # The second IP has made only two requests: the refusal is the organization's limit.
    assert statuses == [200, 200, 200, 429]


async def test_unauthenticated_requests_are_limited_per_ip(make_app: MakeApp) -> None:
    async with serve(limited(make_app, 2), client_ip=fresh_ip()) as http:
        responses = [await http.get("/v1/accounts") for _ in range(3)]
    assert [r.status_code for r in responses] == [401, 401, 429]


async def test_two_replicas_share_one_counter(client: httpx.AsyncClient, make_app: MakeApp) -> None:
    t = await new_tenant(client)
    ip = fresh_ip()
    async with (
        serve(limited(make_app, 3), client_ip=ip) as one,
        serve(limited(make_app, 3), client_ip=ip) as two,
    ):
        statuses = [(await accounts(http, t)).status_code for http in (one, two, one, two)]
    assert statuses == [200, 200, 200, 429]


async def test_operations_endpoints_are_never_limited(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    t = await new_tenant(client)
    async with serve(limited(make_app, 1), client_ip=fresh_ip()) as http:
        for path in ("/health", "/ready", "/metrics") * 3:
            response = await http.get(path)
            assert response.status_code == 200, (path, response.text)
            assert "ratelimit-limit" not in response.headers
        # None of them used up the IP's single request.
        first = await accounts(http, t)
        assert (first.status_code, first.headers["ratelimit-remaining"]) == (200, "0")
        assert (await accounts(http, t)).status_code == 429


async def test_without_redis_ordinary_requests_are_served(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    t = await sign_up(client)  # the chart is needed to post
    app = limited(make_app, 1, redis_url=DEAD_REDIS)
    body = entry(t.accounts["1000"], t.accounts["3000"], 100)
    async with serve(app, client_ip=fresh_ip()) as http:
        reads = [(await accounts(http, t)).status_code for _ in range(3)]
        writes = [
            (await http.post("/v1/journal-entries", json=body, headers=t.auth)).status_code
            for _ in range(2)
        ]
    assert reads == [200, 200, 200]
    assert writes == [201, 201]


async def test_without_redis_health_is_degraded_but_serving(make_app: MakeApp) -> None:
    async with serve(make_app(redis_url=DEAD_REDIS), client_ip=fresh_ip()) as http:
        response = await http.get("/health")
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "degraded"
    components = {c["name"]: c for c in report["components"]}
    assert components["redis"]["status"] == "unhealthy"
    assert components["database"]["status"] == "healthy"


async def test_redis_going_away_mid_traffic_fails_no_request_and_limits_return_with_it(
    client: httpx.AsyncClient, make_app: MakeApp, own_redis: RedisServer
) -> None:
    t = await sign_up(client)
    app = limited(make_app, 100, redis_url=own_redis.url)
    body = entry(t.accounts["1000"], t.accounts["3000"], 100)
    async with serve(app, client_ip=fresh_ip()) as http:
        before = await accounts(http, t)
        await own_redis.kill()
        during = [
            await accounts(http, t),
            await http.post("/v1/journal-entries", json=body, headers=t.auth),
            await http.get("/v1/reports/trial-balance", headers=t.auth),  # its cache is Redis
        ]
        degraded = await http.get("/health")
        await own_redis.start()  # empty: every window starts again
        after = [await accounts(http, t) for _ in range(3)]
        healthy = await http.get("/health")
    assert (before.status_code, before.headers["ratelimit-remaining"]) == (200, "99")
    assert [r.status_code for r in during] == [200, 201, 200]
    assert not [r for r in during if "ratelimit-limit" in r.headers]  # served unthrottled
    components = {c["name"]: c["status"] for c in degraded.json()["components"]}
    assert (degraded.status_code, degraded.json()["status"]) == (200, "degraded")
    assert components == {"database": "healthy", "redis": "unhealthy"}
    # The first request after the return may find its pooled connection broken.
    assert [r.status_code for r in after] == [200, 200, 200]
    assert after[-1].headers["ratelimit-limit"] == "100"
    assert (healthy.status_code, healthy.json()["status"]) == (200, "healthy")


async def test_without_redis_the_token_endpoint_stays_limited(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    t = await new_tenant(client)
    app = make_app(redis_url=DEAD_REDIS, auth_rate_limit_max=2)
    login = {"email": t.email, "password": PASSWORD}
    async with serve(app, client_ip=fresh_ip()) as http:
        responses = [await http.post("/v1/auth/token", json=login) for _ in range(3)]
        # Ordinary traffic from the same IP still fails open.
        other = await accounts(http, t)
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[2].json()["code"] == "rate_limited"
    assert int(responses[2].headers["retry-after"]) > 0
    assert other.status_code == 200


async def test_the_token_endpoint_has_its_own_tighter_limit(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    t = await new_tenant(client)
    app = make_app(auth_rate_limit_max=2, auth_rate_limit_window_seconds=WINDOW)
    wrong = {"email": t.email, "password": "not-the-password"}
    async with serve(app, client_ip=fresh_ip()) as http:
        responses = [await http.post("/v1/auth/token", json=wrong) for _ in range(3)]
        listing = await accounts(http, t)
    assert [r.status_code for r in responses] == [401, 401, 429]
    assert responses[2].headers["ratelimit-limit"] == "2"
    assert listing.status_code == 200


async def test_behind_a_proxy_a_spoofed_forwarded_for_does_not_evade_the_limit(
    make_app: MakeApp,
) -> None:
    # The proxy (the peer) appends the address it saw; a client rotating the entries it
    # writes itself on the left stays one client.
    seen = fresh_ip()
    app = limited(make_app, 2, trust_forwarded_for=True, trusted_proxies=1)
    async with serve(app, client_ip="10.0.0.2") as http:
        responses = [
            await http.get("/v1/accounts", headers={"X-Forwarded-For": f"{fresh_ip()}, {seen}"})
            for _ in range(3)
        ]
        other = await http.get("/v1/accounts", headers={"X-Forwarded-For": fresh_ip()})
    assert [r.status_code for r in responses] == [401, 401, 429]
    assert other.status_code == 401
