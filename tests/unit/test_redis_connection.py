"""The Redis client's configuration: a call that times out is not sent again, on one
server as on a Cluster (whose default retries would make a hung cluster cost each call
about 2 s instead of REDIS_TIMEOUT_SECONDS)."""

from __future__ import annotations

import pytest
from redis.asyncio.cluster import RedisCluster

from accounting_api import redis_connection
from accounting_api.settings import Settings

BASE = {"DATABASE_URL": "postgresql://app@db/accounting", "JWT_SECRET": "x" * 32}


@pytest.mark.parametrize("cluster", ["false", "true"])
async def test_a_timed_out_call_is_not_sent_again(cluster: str) -> None:
    env = BASE | {"REDIS_URL": "redis://127.0.0.1:1", "REDIS_CLUSTER": cluster}
    env["REDIS_TIMEOUT_SECONDS"] = "0.3"
    client = redis_connection.connect(Settings.from_env(env))
    try:
        if isinstance(client, RedisCluster):
            assert client.retry.get_retries() == 0
            options = client.connection_kwargs
        else:
            options = client.connection_pool.connection_kwargs
            assert options["retry_on_timeout"] is False
        assert (options["socket_timeout"], options["socket_connect_timeout"]) == (0.3, 0.3)
    finally:
        await client.aclose()
    assert isinstance(client, RedisCluster) == (cluster == "true")
