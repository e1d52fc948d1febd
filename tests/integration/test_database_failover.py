"""The API's pool on the real replica set: after kill -9 of the primary and a promotion it
writes to the new primary, and it never writes to a restarted former primary once it
knows the new timeline (seen, or rendered as DATABASE_MIN_TIMELINE)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from prometheus_client import REGISTRY

from accounting_api.db.connection import Database
from accounting_api.db.servers import TIMELINE_SQL
from accounting_api.domain import errors
from tests.integration.replica_set_support import ReplicaSet, connection, eventually

PRIMARY, R1, R2 = 0, 1, 2
SECRET = "ua_api_local_only"  # the app role's password: never in a log line


@asynccontextmanager
async def opened(dsn: str, min_timeline: int = 0) -> AsyncIterator[Database]:
    db = Database(dsn, min_size=1, max_size=4, min_timeline=min_timeline)
    await db.open()
    try:
        yield db
    finally:
        await db.close()


async def create_probe(rs: ReplicaSet) -> None:
    async with connection(rs.url("owner", PRIMARY)) as conn:
        await conn.execute(
            "CREATE TABLE probe (id bigserial PRIMARY KEY, note text NOT NULL);"
            " GRANT SELECT, INSERT ON probe TO accounting_app;"
            " GRANT USAGE ON SEQUENCE probe_id_seq TO accounting_app"
        )


async def write(db: Database, note: str) -> int | None:
    """The port of the server that took the write; None while the database is unavailable."""
    try:
        async with db.transaction(None) as conn:
            port: int = await conn.fetchval(
                "INSERT INTO probe (note) VALUES ($1) RETURNING inet_server_port()", note
            )
            return port
    except errors.ServiceUnavailable:
        return None


async def fail_over(rs: ReplicaSet) -> None:
    """What the operator does after kill -9 of pg0: promote pg1, point pg2 at it."""
    rs.kill9(PRIMARY)
    await rs.promote(R1)
    await rs.repoint(R2, to=R1)


def refused(reason: str) -> float:
    return (
        REGISTRY.get_sample_value("accounting_db_servers_refused_total", {"reason": reason}) or 0.0
    )


async def test_after_kill9_and_a_promotion_the_pool_writes_to_the_new_primary(
    breakable_replica_set: ReplicaSet, caplog: pytest.LogCaptureFixture
) -> None:
    rs = breakable_replica_set
    await create_probe(rs)
    async with opened(rs.app_url) as db:
        assert await write(db, "before") == rs.ports[PRIMARY]
        assert db.timeline.value == 1
        rs.kill9(PRIMARY)

        async def refused_while_no_server_is_read_write() -> bool:
            # The killed postmaster's backends may take one more write before they notice.
            return await write(db, "while the old backends exit") is None

        await eventually(refused_while_no_server_is_read_write)
        await rs.promote(R1)
        # The new timeline is readable by the app role the moment pg_promote returns
        # (pg_control_checkpoint() may still say 1 until the next checkpoint).
        assert await rs.fetchval("app", R1, TIMELINE_SQL) == 2
        await rs.repoint(R2, to=R1)
        with caplog.at_level(logging.INFO, "accounting_api.db.servers"):
            assert await eventually(lambda: write(db, "after")) == rs.ports[R1]
        assert db.timeline.value == 2
    notes = await rs.fetchval("owner", R1, "SELECT array_agg(note ORDER BY id) FROM probe")
    assert (notes[0], notes[-1]) == ("before", "after")
    assert SECRET not in caplog.text


async def test_a_restarted_former_primary_is_refused_by_a_pool_that_knows_the_new_timeline(
    breakable_replica_set: ReplicaSet, caplog: pytest.LogCaptureFixture
) -> None:
    rs = breakable_replica_set
    await create_probe(rs)
    old_order = rs.app_url_in_order(PRIMARY, R1, R2)
    async with opened(old_order) as seen:
        assert await write(seen, "before") == rs.ports[PRIMARY]
        await fail_over(rs)
        assert await eventually(lambda: write(seen, "after the failover")) == rs.ports[R1]

        await rs.start(PRIMARY)  # read-write again, on the old timeline
        assert await rs.fetchval("app", PRIMARY, TIMELINE_SQL) == 1
        stale_before = refused("stale_timeline")
        await seen.pool.expire_connections()  # every connection from here on is a new one
        with caplog.at_level(logging.WARNING, "accounting_api.db.servers"):
            ports = {await write(seen, f"new connection {i}") for i in range(3)}
        assert ports == {rs.ports[R1]}
        assert refused("stale_timeline") > stale_before
        assert f"refused database server 127.0.0.1:{rs.ports[PRIMARY]}" in caplog.text
        assert SECRET not in caplog.text

    async with opened(old_order, min_timeline=2) as floored:  # a new pod, rendered config
        assert await write(floored, "with the floor") == rs.ports[R1]


async def test_the_remaining_window_a_new_pool_without_the_floor_reaches_the_old_primary(
    breakable_replica_set: ReplicaSet,
) -> None:
    # The stated window (docs/database-servers.md): a process that has not seen the new
    # timeline and has no floor, with the old order, while the restarted former primary is
    # not fenced yet. Its commit there is not acknowledged: no standby follows that server.
    rs = breakable_replica_set
    await create_probe(rs)
    await fail_over(rs)
    await rs.start(PRIMARY)
    async with opened(rs.app_url_in_order(PRIMARY, R1, R2)) as unaware:
        async with unaware.pool.acquire() as conn:
            assert await conn.fetchval("SELECT inet_server_port()") == rs.ports[PRIMARY]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(write(unaware, "on the former primary"), timeout=2)

        # The operator's fence closes the window: the next connection goes to pg1.
        async with connection(rs.url("failover", PRIMARY, "postgres")) as old:
            await old.execute("SET synchronous_commit = local")
            await old.execute("SELECT accounting_failover.set_application_login(false)")
            await old.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                " WHERE usename = 'ua_api'"
            )
        assert await eventually(lambda: write(unaware, "after the fence")) == rs.ports[R1]
    notes = await rs.fetchval("owner", R1, "SELECT array_agg(note) FROM probe")
    assert notes == ["after the fence"]
