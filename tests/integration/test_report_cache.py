"""Reports cached in Redis under the organization's ledger version (0009_report_cache.sql):
served from the cache while the books are unchanged, fresh after any change a report can
see, never across tenants, and correct without Redis."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as redis
from prometheus_client import REGISTRY
from starlette.applications import Starlette

from tests.integration.billing import act, customer, draft, finalized, line
from tests.integration.conftest import serve
from tests.integration.helpers import Tenant, entry, post_entry, sign_up
from tests.integration.payments import paid

DEAD_REDIS = "redis://127.0.0.1:1/0"
TRIAL = ("trial-balance", "trial_balance", {"as_of": "2026-11-30"})
AGING = ("ar-aging", "ar_aging", {"as_of": "2026-11-30"})


@dataclasses.dataclass(frozen=True)
class Served:
    body: dict[str, Any]
    hits: float
    misses: float
    failures: float


def _count(name: str, report: str) -> float:
    return REGISTRY.get_sample_value(name, {"report": report}) or 0.0


async def served(
    client: httpx.AsyncClient, t: Tenant, report: tuple[str, str, dict[str, str]]
) -> Served:
    """The report, and how many hits, misses and Redis failures it added to the metrics."""
    path, kind, params = report
    names = ("report_cache_hits_total", "report_cache_misses_total")
    before = [_count(n, kind) for n in (*names, "report_cache_backend_failures_total")]
    response = await client.get(f"/v1/reports/{path}", params=params, headers=t.auth)
    assert response.status_code == 200, response.text
    after = [_count(n, kind) for n in (*names, "report_cache_backend_failures_total")]
    hits, misses, failures = (a - b for a, b in zip(after, before, strict=True))
    return Served(response.json(), hits, misses, failures)


@pytest.fixture
async def cache() -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    yield client
    await client.aclose()


async def test_a_report_is_served_from_the_cache_for_its_ttl(
    client: httpx.AsyncClient, cache: redis.Redis
) -> None:
    t = await sign_up(client)
    await post_entry(client, t, entry(t.accounts["1000"], t.accounts["4000"], 700))
    first, second = await served(client, t, TRIAL), await served(client, t, TRIAL)
    assert (first.misses, first.hits, second.misses, second.hits) == (1, 0, 0, 1)
    assert first.body == second.body
    assert first.body["currencies"][0]["total_debit"] == 700
    keys = [k async for k in cache.scan_iter(match=f"report:*:{t.org_id}:trial_balance:*")]
    assert len(keys) == 1
    assert 0 < await cache.ttl(keys[0]) <= 300


async def _journal_entry(client: httpx.AsyncClient, t: Tenant) -> None:
    response = await post_entry(client, t, entry(t.accounts["6000"], t.accounts["1000"], 5))
    assert response.status_code == 201, response.text


async def _reversal(client: httpx.AsyncClient, t: Tenant) -> None:
    posted = await post_entry(client, t, entry(t.accounts["6000"], t.accounts["1000"], 5))
    undo = f"/v1/journal-entries/{posted.json()['id']}/reverse"
    assert (await client.post(undo, headers=t.auth)).status_code == 201


async def _new_account(client: httpx.AsyncClient, t: Tenant) -> None:
    body = {"code": "1999", "name": "Petty cash", "type": "asset", "currency": "USD"}
    assert (await client.post("/v1/accounts", json=body, headers=t.auth)).status_code == 201


async def _finalize(client: httpx.AsyncClient, t: Tenant) -> None:
    await finalized(client, t, (await customer(client, t))["id"], line(3_000))


async def _payment(client: httpx.AsyncClient, t: Tenant) -> None:
    await paid(client, t, (await customer(client, t))["id"], 1_000)


async def _close(client: httpx.AsyncClient, t: Tenant) -> None:
    assert (await client.post("/v1/periods/2026-01/close", headers=t.auth)).status_code == 200


async def _reopen(client: httpx.AsyncClient, t: Tenant) -> None:
    assert (await client.post("/v1/periods/2026-01/reopen", headers=t.auth)).status_code == 200


Change = Callable[[httpx.AsyncClient, Tenant], Awaitable[None]]


@pytest.mark.parametrize(
    "change",
    [_journal_entry, _reversal, _new_account, _finalize, _payment, _close, _reopen],
    ids=lambda f: f.__name__.strip("_"),
)
async def test_any_change_to_the_books_makes_the_next_report_fresh(
    client: httpx.AsyncClient, change: Change
) -> None:
    t = await sign_up(client)
    await post_entry(client, t, entry(t.accounts["1000"], t.accounts["3000"], 9_000, "2026-01-02"))
    if change is _reopen:
        await _close(client, t)
    await served(client, t, TRIAL)
    assert (await served(client, t, TRIAL)).hits == 1
    await change(client, t)
    after = await served(client, t, TRIAL)
    assert (after.misses, after.hits) == (1, 0)
    assert (await served(client, t, TRIAL)).hits == 1


async def _aging_total(client: httpx.AsyncClient, t: Tenant) -> tuple[int, Served]:
    result = await served(client, t, AGING)
    return sum(c["total"]["total"] for c in result.body["currencies"]), result


async def test_the_aging_follows_invoices_finalized_paid_and_voided(
    client: httpx.AsyncClient,
) -> None:
    t = await sign_up(client)
    acme = (await customer(client, t))["id"]
    invoice = await finalized(client, t, acme, line(4_000))
    assert (await _aging_total(client, t))[0] == 4_000
    await draft(client, t, acme, line(99))  # a draft changes no report: still cached
    assert (await _aging_total(client, t))[1].hits == 1
    await paid(client, t, acme, 1_500)
    assert (await _aging_total(client, t))[0] == 2_500
    await paid(client, t, acme, 2_500)
    assert (await _aging_total(client, t))[0] == 0
    other = await finalized(client, t, acme, line(600))
    assert (await _aging_total(client, t))[0] == 600
    assert (await act(client, t, other["id"], "void", date="2026-02-01")).status_code == 200
    total, result = await _aging_total(client, t)
    assert (total, result.misses) == (0, 1)
    assert invoice["status"] == "open"


async def test_tenants_never_share_a_cached_report(
    client: httpx.AsyncClient, cache: redis.Redis
) -> None:
    first, second = await sign_up(client), await sign_up(client)
    await post_entry(client, first, entry(first.accounts["1000"], first.accounts["4000"], 111))
    await post_entry(client, second, entry(second.accounts["1000"], second.accounts["4000"], 222))
    mine = await served(client, first, TRIAL)
    assert (await served(client, first, TRIAL)).hits == 1
    theirs = await served(client, second, TRIAL)
    assert (theirs.misses, theirs.hits) == (1, 0)
    assert mine.body["currencies"][0]["total_debit"] == 111
    assert theirs.body["currencies"][0]["total_debit"] == 222
    ids = {a["account_id"] for a in theirs.body["currencies"][0]["accounts"]}
    assert ids == set(second.accounts.values())
    for t in (first, second):
        assert [k async for k in cache.scan_iter(match=f"report:*:{t.org_id}:*")]


async def _report_with(app: Starlette, t: Tenant) -> list[Served]:
    async with serve(app) as http:
        return [await served(http, t, TRIAL) for _ in range(2)]


async def test_reports_are_right_without_redis_and_counted_as_failures(
    client: httpx.AsyncClient, make_app: Callable[..., Starlette]
) -> None:
    t = await sign_up(client)
    await post_entry(client, t, entry(t.accounts["1000"], t.accounts["4000"], 1_234))
    healthy = await served(client, t, TRIAL)
    without = await _report_with(make_app(redis_url=DEAD_REDIS), t)
    assert [s.body for s in without] == [healthy.body, healthy.body]
    assert [(s.misses, s.hits, s.failures) for s in without] == [(1, 0, 1), (1, 0, 1)]


async def test_a_ttl_of_zero_turns_the_cache_off(
    client: httpx.AsyncClient, make_app: Callable[..., Starlette]
) -> None:
    t = await sign_up(client)
    await post_entry(client, t, entry(t.accounts["1000"], t.accounts["4000"], 42))
    uncached = await _report_with(make_app(report_cache_ttl_seconds=0), t)
    assert [(s.misses, s.hits) for s in uncached] == [(0, 0), (0, 0)]
    assert uncached[0].body == (await served(client, t, TRIAL)).body


async def _version(conn: asyncpg.Connection, org_id: str) -> int:
    value = await conn.fetchval(
        "SELECT coalesce(sum(version), 0) FROM ledger_versions WHERE organization_id = $1", org_id
    )
    return int(value)


async def test_the_version_moves_with_committed_postings_only(
    client: httpx.AsyncClient, owner_conn: asyncpg.Connection
) -> None:
    t = await sign_up(client)
    start = await _version(owner_conn, t.org_id)
    assert start > 0  # the default chart's accounts
    body = {"entries": [entry(t.accounts["1000"], t.accounts["4000"], 1)] * 50}
    assert (await client.post("/v1/journal-entries/batch", json=body, headers=t.auth)).is_success
    assert await _version(owner_conn, t.org_id) == start + 1  # once per statement
    unbalanced = entry(t.accounts["1000"], t.accounts["4000"], 1)
    unbalanced["postings"][1]["amount"] = 2
    assert (await post_entry(client, t, unbalanced)).status_code == 422
    assert await _version(owner_conn, t.org_id) == start + 1


async def test_the_app_role_may_only_read_its_own_versions(
    client: httpx.AsyncClient, settings: Any
) -> None:
    t = await sign_up(client)
    conn = await asyncpg.connect(settings.database_url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.organization_id', $1, true)", t.org_id)
            assert await conn.fetchval("SELECT count(*) FROM ledger_versions") > 0
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("UPDATE ledger_versions SET version = 1")
        assert await conn.fetchval("SELECT count(*) FROM ledger_versions") == 0
    finally:
        await conn.close()
