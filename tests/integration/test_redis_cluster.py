"""The API on a Redis Cluster (REDIS_CLUSTER=true): rate limits and the report cache work
although a request's rate-limit keys hash to different slots, which a Cluster refuses
in one command (CROSSSLOT). The cluster is the local three-node one hack/services.sh
starts."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ResponseError
from starlette.applications import Starlette

from tests.integration.conftest import serve
from tests.integration.helpers import entry, post_entry, sign_up
from tests.integration.test_rate_limits import accounts, fresh_ip, new_tenant
from tests.integration.test_report_cache import TRIAL, served

MakeApp = Callable[..., Starlette]
CLUSTER = os.environ["REDIS_CLUSTER_TEST_URL"]


@pytest.fixture
async def cluster() -> AsyncIterator[RedisCluster]:
    client = RedisCluster.from_url(CLUSTER)
    yield client
    await client.aclose()


def on_cluster(make_app: MakeApp, **changes: object) -> Starlette:
    return make_app(redis_url=CLUSTER, redis_cluster=True, **changes)


async def test_a_request_counts_against_keys_a_cluster_will_not_take_in_one_command(
    cluster: RedisCluster,
) -> None:
    keys = ["rl:general:org:org_a:0", "rl:general:ip:127.0.0.1:0"]
    assert key_slot(keys[0].encode()) != key_slot(keys[1].encode())
    with pytest.raises(ResponseError, match="hash to the same slot"):
        await cluster.execute_command("MGET", *keys, target_nodes=RedisCluster.RANDOM)


async def test_rate_limits_hold_on_a_cluster(client: httpx.AsyncClient, make_app: MakeApp) -> None:
    t = await new_tenant(client)
    app = on_cluster(make_app, rate_limit_max=3, rate_limit_window_seconds=3600)
    async with serve(app, client_ip=fresh_ip()) as http:
        allowed = [await accounts(http, t) for _ in range(3)]
        refused = await accounts(http, t)
        health = (await http.get("/health")).json()
    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert [r.headers["ratelimit-remaining"] for r in allowed] == ["2", "1", "0"]
    assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited")
    components = {c["name"]: c["status"] for c in health["components"]}
    assert components["redis"] == "healthy"


async def test_reports_are_cached_on_a_cluster(
    client: httpx.AsyncClient, make_app: MakeApp
) -> None:
    t = await sign_up(client)
    await post_entry(client, t, entry(t.accounts["1000"], t.accounts["4000"], 900))
    async with serve(on_cluster(make_app), client_ip=fresh_ip()) as http:
        first, second = await served(http, t, TRIAL), await served(http, t, TRIAL)
        await post_entry(http, t, entry(t.accounts["1000"], t.accounts["4000"], 100))
        fresh = await served(http, t, TRIAL)
    assert (first.misses, second.hits, fresh.misses) == (1, 1, 1)
    assert first.body == second.body
    assert fresh.body["currencies"][0]["total_debit"] == 1000


async def test_a_cluster_that_stops_answering_costs_no_request_a_server_error(
    client: httpx.AsyncClient, make_app: MakeApp, cluster: RedisCluster
) -> None:
    """Every node paused, again and again, past the client's timeout while requests
    arrive: each is answered (the limits fall back to the worker's own window), none
    with a 500, and a request after the pauses finds the cluster again. Two failures
    answered 500 before: redis-py 8.1 handing a request a connection another was closing
    (AttributeError), and a cluster no node answers (RedisClusterException, which is not
    a RedisError)."""
    t = await new_tenant(client)
    statuses: list[int] = []
    async with serve(on_cluster(make_app), client_ip=fresh_ip()) as http:

        async def caller() -> None:
            for _ in range(25):
                statuses.append((await accounts(http, t)).status_code)
                await asyncio.sleep(secrets.randbelow(20) / 1000)

        async def pauser() -> None:
            for _ in range(8):
                await asyncio.sleep(secrets.randbelow(300) / 1000)
                pause = 150 + secrets.randbelow(250)
                await cluster.client_pause(pause, target_nodes=RedisCluster.ALL_NODES)

        await asyncio.gather(pauser(), *(caller() for _ in range(12)))
        await asyncio.sleep(0.5)
        after = await accounts(http, t)
        health = (await http.get("/health")).json()
    assert len(statuses) == 300
    assert set(statuses) == {200}
    assert after.status_code == 200
    assert {c["name"]: c["status"] for c in health["components"]}["redis"] == "healthy"
