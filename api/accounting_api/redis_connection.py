"""The Redis client: one server, or a Redis Cluster (REDIS_CLUSTER=true).

Everything the API keeps in Redis (rate-limit windows, cached reports) is addressed by
single keys, so it works on either; the rate limiter is the one place that counts
several keys at once, and it sends a Cluster one call per key (a Cluster refuses a
command whose keys hash to different slots: CROSSSLOT).
"""

from __future__ import annotations

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError

from accounting_api.settings import Settings

Client = redis.Redis | RedisCluster

FAILURES = (RedisError, RedisClusterException, OSError, TimeoutError)
"""What a Redis call raises when the server or cluster is unavailable, slow or refusing:
each caller then does without Redis (fails open, or closed for sign-in). A Cluster that
no node answers raises RedisClusterException (RedisClusterUnreachableError), which is
not a RedisError."""


def connect(settings: Settings) -> Client:
    """A client (connections are opened on first use), failing fast on a slow server: a
    call that times out is not sent again. A Cluster's own default would retry it three
    times on a refreshed topology with back-off, about 2 s a call on a hung cluster
    against one timeout; after a failure it refreshes the topology on its next call."""
    timeout = settings.redis_timeout_seconds
    if settings.redis_cluster:
        return RedisCluster.from_url(
            settings.redis_url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
    return redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry_on_timeout=False,
    )


def is_cluster(client: Client) -> bool:
    return isinstance(client, RedisCluster)
