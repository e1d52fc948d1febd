"""PostgreSQL unavailable under a running API (the replica set's primary, never the shared
test server): every request is answered 503 with Retry-After and the stable code, none
500; /ready and /health say so, /health/live does not; the log says once that the
database went away and once that it is back; the same API process serves again when the
database is back. And a request cut off at its COMMIT, sent again with its
Idempotency-Key, takes effect exactly once whether or not that COMMIT happened."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from accounting_api.db import failures as db_failures
from accounting_api.db import migrations
from tests import drill_support
from tests.integration import conftest, write_load
from tests.integration.helpers import PASSWORD, Tenant, entry, sign_up
from tests.integration.replica_set_support import ReplicaSet, connection, eventually

PRIMARY = 0
DOWN = "database unavailable"
BACK = "database available again"


@pytest.fixture
async def migrated(breakable_replica_set: ReplicaSet) -> ReplicaSet:
    async with connection(breakable_replica_set.owner_url) as conn:
        await migrations.apply(conn)
    return breakable_replica_set


def api_on(rs: ReplicaSet, tmp_path: Path) -> drill_support.ApiProcess:
    return drill_support.ApiProcess(drill_support.api_settings(rs.app_url), tmp_path / "api.log")


async def every_kind_of_request(http: httpx.AsyncClient, t: Tenant) -> list[httpx.Response]:
    """Reads, writes with and without an Idempotency-Key, a sign-in and a sign-up."""
    body = entry(t.accounts["1000"], t.accounts["3000"], 100)
    key = {"Idempotency-Key": secrets.token_hex(8)}
    owner = {"email": f"o-{secrets.token_hex(4)}@example.com", "password": PASSWORD, "name": "O"}
    return [
        await http.get("/v1/accounts", headers=t.auth),
        await http.get("/v1/journal-entries", headers=t.auth),
        await http.get("/v1/reports/trial-balance", headers=t.auth),
        await http.post("/v1/journal-entries", json=body, headers=t.auth),
        await http.post("/v1/journal-entries", json=body, headers=t.auth | key),
        await http.post("/v1/auth/token", json={"email": t.email, "password": PASSWORD}),
        await http.post("/v1/organizations", json={"name": "New", "owner": owner}),
    ]


async def not_ready(http: httpx.AsyncClient) -> bool:
    return (await http.get("/ready")).status_code == 503


OUTAGES: dict[str, Callable[[ReplicaSet], Awaitable[None]]] = {
    "stopped (pg_ctl stop -m fast: 57P01 to every session)": lambda rs: rs.stop(PRIMARY),
    "killed (kill -9 of the postmaster)": lambda rs: asyncio.to_thread(rs.kill9, PRIMARY),
}


@pytest.mark.parametrize("outage", OUTAGES, ids=["stopped", "killed"])
async def test_while_postgresql_is_down_every_request_is_a_503_to_retry_and_then_it_serves_again(
    migrated: ReplicaSet, tmp_path: Path, outage: str
) -> None:
    api = api_on(migrated, tmp_path)
    async with drill_support.running(api) as http:
        async with write_load.WriteLoad(http, clients=3) as load:
            await load.answered_since(20)
            await OUTAGES[outage](migrated)
            await eventually(lambda: not_ready(http))
            answers = await every_kind_of_request(http, load.clients[0].tenant)
            health, live = await http.get("/health"), await http.get("/health/live")
            await migrated.start(PRIMARY)
            await load.answered_since(20)  # the same API process serves again
        problems = await write_load.problems(http, migrated.url("owner", PRIMARY), load)
    summary = load.summary(f"postgresql {outage}")
    assert [(a.status_code, a.json()["code"], a.headers["retry-after"]) for a in answers] == [
        (503, "service_unavailable", "1")
    ] * len(answers)
    components = {c["name"]: c["status"] for c in health.json()["components"]}
    assert (health.status_code, components["database"], live.status_code) == (503, "unhealthy", 200)
    assert problems == []
    assert set(summary["statuses"]) <= {"200", "201", "503"}
    logged = api.log_messages()
    assert api.tracebacks() == 0
    # One line when it went away and one when it came back, not one per 503. After kill -9
    # of the postmaster its backends serve on for a moment, so the database may be seen
    # back and gone again once: each change is still one line, never one per request.
    said = [DOWN if m.startswith(DOWN) else BACK for m in logged if m.startswith((DOWN, BACK))]
    assert said in ([DOWN, BACK], [DOWN, BACK, DOWN, BACK]), said
    assert len(said) < len(answers) + summary["statuses"].get("503", 0)


# --- a COMMIT cut off ---------------------------------------------------------------------

HOLD_COMMIT = "ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (no_such_standby)'"
"""Every COMMIT then waits for a standby that never answers: committed on the primary,
not acknowledged (the connection lost there leaves a client not knowing)."""
RELEASE_COMMIT = "ALTER SYSTEM RESET synchronous_standby_names"
WAITING = "SELECT pid FROM pg_stat_activity WHERE usename = 'ua_api' AND wait_event = $1 LIMIT 1"


@pytest.mark.parametrize(
    ("hold", "release", "wait_event", "committed"),
    [
        (HOLD_COMMIT, RELEASE_COMMIT, "SyncRep", True),
        ("BEGIN; LOCK TABLE journal_entries IN SHARE MODE", "ROLLBACK", "relation", False),
    ],
    ids=["lost-after-the-commit", "lost-before-the-commit"],
)
async def test_a_request_cut_off_at_its_commit_takes_effect_once_when_sent_again_with_its_key(
    migrated: ReplicaSet,
    tmp_path: Path,
    hold: str,
    release: str,
    wait_event: str,
    committed: bool,
) -> None:
    api = api_on(migrated, tmp_path)
    owner_url = migrated.url("owner", PRIMARY)
    async with (
        drill_support.running(api) as http,
        connection(owner_url) as holder,
        connection(owner_url) as owner,
    ):
        t = await sign_up(http)
        key = f"cut-{secrets.token_hex(8)}"
        body = entry(t.accounts["1000"], t.accounts["3000"], 4_200, description=key)
        headers = t.auth | {"Idempotency-Key": key}
        await holder.execute(hold)
        await owner.execute("SELECT pg_reload_conf()")
        sent = asyncio.create_task(http.post("/v1/journal-entries", json=body, headers=headers))
        backend = await eventually(lambda: owner.fetchval(WAITING, wait_event))
        await owner.fetchval("SELECT pg_terminate_backend($1)", backend)  # 57P01 to the API
        cut_off = await sent
        await holder.execute(release)
        await owner.execute("SELECT pg_reload_conf()")
        again = await http.post("/v1/journal-entries", json=body, headers=headers)
        query = "SELECT array_agg(id) FROM journal_entries WHERE description = $1"
        in_books = await owner.fetchval(query, key)
    detail = db_failures.OUTCOME_UNKNOWN_DETAIL if committed else db_failures.UNAVAILABLE_DETAIL
    assert (cut_off.status_code, cut_off.headers["retry-after"]) == (503, "1")
    assert cut_off.json()["detail"] == detail
    assert again.status_code == 201, again.text
    assert (again.headers.get("idempotent-replayed") == "true") is committed
    assert in_books == [again.json()["id"]]
    assert api.tracebacks() == 0


async def test_when_every_database_connection_is_busy_a_request_answers_503_instead_of_waiting(
    make_app: Callable[..., Starlette], owner_conn: asyncpg.Connection
) -> None:
    """A write pool of one connection, held by a write that waits on a lock: the next
    write gets 503 with Retry-After once the acquire timeout passes, with nothing written;
    the first then completes."""
    app = make_app(db_pool_min=1, db_pool_max=1, db_pool_acquire_timeout_seconds=0.3)
    async with conftest.serve(app) as client:
        t = await sign_up(client)
        async with owner_conn.transaction():
            await owner_conn.execute("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
            account = {"code": "1999", "name": "Held", "type": "asset", "currency": "USD"}
            held = asyncio.create_task(client.post("/v1/accounts", json=account, headers=t.auth))
            await eventually(lambda: locked_waiters(owner_conn), within=10)
            busy = await client.post("/v1/customers", json={"name": "Busy"}, headers=t.auth)
        assert (await held).status_code == 201
    assert busy.status_code == 503, busy.text
    assert busy.json()["code"] == "service_unavailable"
    assert busy.headers["Retry-After"] == "1"
    assert "no database connection became free" in busy.json()["detail"]
    customers = await owner_conn.fetchval(
        "SELECT count(*) FROM customers WHERE organization_id = $1", t.org_id
    )
    assert customers == 0


async def locked_waiters(owner_conn: asyncpg.Connection) -> bool:
    """Whether a backend is waiting for a lock (the held request's query)."""
    return bool(
        await owner_conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
    )


async def test_a_statement_past_the_statement_timeout_answers_503_and_writes_nothing(
    make_app: Callable[..., Starlette], owner_conn: asyncpg.Connection
) -> None:
    """DB_STATEMENT_TIMEOUT_MS: a write held on a lock past it is cancelled by PostgreSQL
    and answers 503 with Retry-After, naming the timeout, with nothing written; the same
    write sent again once the lock is gone is created."""
    app = make_app(db_statement_timeout_ms=300)
    async with conftest.serve(app) as client:
        t = await sign_up(client)
        account = {"code": "1998", "name": "Slow", "type": "asset", "currency": "USD"}
        async with owner_conn.transaction():
            await owner_conn.execute("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
            slow = await client.post("/v1/accounts", json=account, headers=t.auth)
            written = await owner_conn.fetchval(
                "SELECT count(*) FROM accounts WHERE organization_id = $1 AND code = '1998'",
                t.org_id,
            )
        again = await client.post("/v1/accounts", json=account, headers=t.auth)
    assert (slow.status_code, slow.headers.get("Retry-After")) == (503, "1"), slow.text
    assert slow.json()["code"] == "service_unavailable"
    assert "DB_STATEMENT_TIMEOUT_MS" in slow.json()["detail"]
    assert written == 0
    assert again.status_code == 201, again.text
