"""Report cache keys and the cache's behaviour when Redis fails (a fake client, no I/O)."""

from __future__ import annotations

from typing import Any, cast

import pytest
import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError

from accounting_api.services import report_cache


def test_keys_hold_the_tenant_the_report_the_version_and_sorted_parameters() -> None:
    span = {"to": "2026-02-28", "from": "2026-02-01"}
    key = report_cache.key("org_a", "income_statement", 7, span)
    expected = "org_a:income_statement:7:from=2026-02-01&to=2026-02-28"
    assert key == f"{report_cache.KEY_PREFIX}:{expected}"


@pytest.mark.parametrize(
    ("organization_id", "report", "version", "as_of"),
    [
        ("org_b", "trial_balance", 7, "2026-01-31"),
        ("org_a", "balance_sheet", 7, "2026-01-31"),
        ("org_a", "trial_balance", 8, "2026-01-31"),
        ("org_a", "trial_balance", 7, "2026-01-30"),
    ],
)
def test_keys_differ_in_each_part(
    organization_id: str, report: str, version: int, as_of: str
) -> None:
    base = report_cache.key("org_a", "trial_balance", 7, {"as_of": "2026-01-31"})
    assert report_cache.key(organization_id, report, version, {"as_of": as_of}) != base


class FakeRedis:
    def __init__(self, *, fail_get: bool = False, fail_set: bool = False) -> None:
        self.values: dict[str, tuple[bytes, int]] = {}
        self.fail_get, self.fail_set = fail_get, fail_set
        self.sets = 0

    async def get(self, key: str) -> bytes | None:
        if self.fail_get:
            raise RedisConnectionError("down")
        found = self.values.get(key)
        return found[0] if found else None

    async def set(self, key: str, value: bytes, ex: int) -> None:
        self.sets += 1
        if self.fail_set:
            raise RedisConnectionError("down")
        self.values[key] = (value, ex)


def _cache(fake: FakeRedis, ttl: int = 60) -> report_cache.ReportCache:
    return report_cache.ReportCache(cast(redis.Redis, fake), ttl)


class Renderer:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> bytes:
        self.calls += 1
        return b'{"n": %d}' % self.calls


async def test_a_body_is_rendered_once_then_read_back_with_the_ttl() -> None:
    fake, render = FakeRedis(), Renderer()
    cache = _cache(fake)
    assert await cache.get_or_render("trial_balance", "k", render) == b'{"n": 1}'
    assert await cache.get_or_render("trial_balance", "k", render) == b'{"n": 1}'
    assert (render.calls, fake.values["k"]) == (1, (b'{"n": 1}', 60))


@pytest.mark.parametrize(
    ("fake", "sets"),
    [(FakeRedis(fail_get=True), 0), (FakeRedis(fail_set=True), 1)],
    ids=["read fails: no write attempted", "write fails"],
)
async def test_redis_failures_fall_through_to_rendering(fake: FakeRedis, sets: int) -> None:
    render = Renderer()
    cache = _cache(fake)
    results: list[Any] = [await cache.get_or_render("ar_aging", "k", render) for _ in range(2)]
    assert results == [b'{"n": 1}', b'{"n": 2}']
    assert fake.sets == sets * 2


def test_a_ttl_of_zero_disables_the_cache() -> None:
    assert not _cache(FakeRedis(), ttl=0).enabled
    assert _cache(FakeRedis(), ttl=1).enabled
