"""Health of the API's dependencies: healthy, degraded or unhealthy, with response times.

PostgreSQL is critical (unhealthy -> the API is unhealthy). Redis is not: without it
ordinary traffic is served unthrottled, so its loss makes the API degraded.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from accounting_api import redis_connection
from accounting_api.db import migrations
from accounting_api.db.connection import Database

SLOW_SECONDS = 1.0
"""A dependency answering slower than this is degraded."""
CHECK_TIMEOUT_SECONDS = 3.0

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"


@dataclass(frozen=True, slots=True)
class Component:
    name: str
    status: str
    response_time_ms: float
    critical: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    status: str
    components: tuple[Component, ...]
    checked_at: datetime.datetime


def overall(components: tuple[Component, ...]) -> str:
    if any(c.critical and c.status == UNHEALTHY for c in components):
        return UNHEALTHY
    if any(c.status != HEALTHY for c in components):
        return DEGRADED
    return HEALTHY


async def _timed(name: str, critical: bool, probe: Callable[[], Awaitable[object]]) -> Component:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure of the dependency is the finding itself
        elapsed = (time.perf_counter() - started) * 1000
        return Component(name, UNHEALTHY, round(elapsed, 2), critical, type(exc).__name__)
    elapsed = (time.perf_counter() - started) * 1000
    status = DEGRADED if elapsed > SLOW_SECONDS * 1000 else HEALTHY
    return Component(name, status, round(elapsed, 2), critical)


@dataclass(frozen=True)
class Pinger:
    db: Database
    redis: redis_connection.Client

    async def _db(self) -> None:
        async with self.db.pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    async def _redis(self) -> None:
        await self.redis.ping()

    async def health(self) -> Report:
        components = tuple(
            await asyncio.gather(
                _timed("database", True, self._db), _timed("redis", False, self._redis)
            )
        )
        return Report(overall(components), components, datetime.datetime.now(datetime.UTC))

    async def ready(self) -> tuple[bool, str]:
        """Ready when PostgreSQL answers and every migration has been applied."""
        try:
            async with self.db.pool.acquire(timeout=CHECK_TIMEOUT_SECONDS) as conn:
                missing = await migrations.pending(conn)
        except Exception as exc:  # not ready, whatever the reason
            return False, f"database unavailable: {type(exc).__name__}"
        if missing:
            return False, f"migrations pending: {missing}"
        return True, "ready"
