"""The local replica set (hack/services.sh replset-*) and the failover role's privileges:
each right the operator needs works as that role, on a primary and on a promoted replica,
and the role cannot make itself more than that."""

from __future__ import annotations

import secrets

import asyncpg
import pytest

from tests.integration.replica_set_support import ReplicaSet, connection, eventually, services

PRIMARY, R1, R2 = 0, 1, 2


async def test_both_replicas_stream_as_a_synchronous_quorum(replica_set: ReplicaSet) -> None:
    async with connection(replica_set.url("failover", PRIMARY, "postgres")) as conn:
        rows = await conn.fetch(
            "SELECT application_name, state, sync_state FROM pg_stat_replication ORDER BY 1"
        )
    assert [tuple(row) for row in rows] == [
        ("ua_r1", "streaming", "quorum"),
        ("ua_r2", "streaming", "quorum"),
    ]


async def test_a_commit_on_the_primary_is_on_each_replica(replica_set: ReplicaSet) -> None:
    table = f"probe_{secrets.token_hex(4)}"
    async with connection(replica_set.url("owner", PRIMARY)) as conn:
        await conn.execute(f"CREATE TABLE {table} (note text); INSERT INTO {table} VALUES ('x')")
    for replica in (R1, R2):

        async def present(n: int = replica) -> bool:
            query = f"SELECT count(*) = 1 FROM {table}"
            return bool(await replica_set.fetchval("owner", n, query))

        assert await eventually(present)


async def test_the_failover_role_reads_what_failover_decides_from(
    replica_set: ReplicaSet,
) -> None:
    async with connection(replica_set.url("failover", PRIMARY, "postgres")) as primary:
        assert (
            await primary.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            is False
        )
        assert await primary.fetchval("SELECT pg_current_wal_lsn()") is not None
        sent = await primary.fetch(
            "SELECT client_addr, sent_lsn, flush_lsn, replay_lsn FROM pg_stat_replication"
        )
        assert len(sent) == 2
        assert all(None not in tuple(row) for row in sent)
    async with connection(replica_set.url("failover", R1, "postgres")) as replica:
        receiver = await replica.fetchrow(
            "SELECT status, conninfo, sender_host, sender_port, flushed_lsn"
            " FROM pg_stat_wal_receiver"
        )
        assert receiver is not None
        assert (receiver["status"], receiver["sender_port"]) == ("streaming", replica_set.ports[0])
        assert receiver["sender_host"] == "127.0.0.1"
        assert "application_name=ua_r1" in receiver["conninfo"]
        assert "password=********" in receiver["conninfo"]
        assert receiver["flushed_lsn"] is not None
        assert f"port={replica_set.ports[0]}" in await replica.fetchval("SHOW primary_conninfo")
        assert await replica.fetchval("SELECT pg_last_wal_receive_lsn()") is not None
        assert await replica.fetchval("SELECT pg_is_in_recovery()") is True


async def test_the_failover_role_promotes_repoints_and_fences_on_the_new_primary(
    breakable_replica_set: ReplicaSet,
) -> None:
    rs = breakable_replica_set
    rs.kill9(PRIMARY)
    async with connection(rs.url("failover", R1, "postgres")) as new:
        assert await new.fetchval("SELECT pg_promote(wait => true)") is True
        await new.execute("ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (ua_r0, ua_r2)'")
        assert await new.fetchval("SELECT pg_reload_conf()") is True
    await rs.repoint(R2, to=R1)
    async with connection(rs.url("failover", R1, "postgres")) as new:
        app_session = await asyncpg.connect(rs.url("app", R1))
        fenced = await new.fetch("SELECT * FROM accounting_failover.set_application_login(false)")
        assert [row[0] for row in fenced] == ["ua_api"]
        ended = await new.fetchval(
            "SELECT bool_and(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
            " WHERE usename = 'ua_api'"
        )
        assert ended is True
        sessions = "SELECT count(*) FROM pg_stat_activity WHERE usename = 'ua_api'"
        assert await new.fetchval(sessions) == 0
        app_session.terminate()
        with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
            await asyncpg.connect(rs.url("app", R1))
        await new.execute("SELECT accounting_failover.set_application_login(true)")
    assert await rs.fetchval("app", R1, "SELECT 1") == 1


async def test_the_failover_role_cannot_raise_its_own_privileges(
    replica_set: ReplicaSet,
) -> None:
    refused = [
        "GRANT pg_execute_server_program TO ua_failover",
        "ALTER ROLE ua_api NOLOGIN",
        "ALTER SYSTEM SET archive_command = 'true'",
        "CREATE ROLE ua_intruder SUPERUSER",
    ]
    async with connection(replica_set.url("failover", PRIMARY, "postgres")) as conn:
        for statement in refused:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)


async def test_a_restarted_old_primary_is_fenced_without_waiting_for_a_standby(
    breakable_replica_set: ReplicaSet,
) -> None:
    # The old primary still names ua_r1 and ua_r2 as its synchronous standbys, and neither
    # follows it any more: a commit there waits for ever, the fence's ALTER ROLE too,
    # unless the fencing session commits locally.
    rs = breakable_replica_set
    rs.kill9(PRIMARY)
    await rs.promote(R1)
    await rs.repoint(R2, to=R1)
    await rs.start(PRIMARY)
    async with connection(rs.url("failover", PRIMARY, "postgres")) as old:
        assert await old.fetchval("SELECT pg_is_in_recovery()") is False
        await old.execute("SET synchronous_commit = local")
        await old.execute("SELECT accounting_failover.set_application_login(false)")
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        await asyncpg.connect(rs.url("app", PRIMARY))


async def test_reset_brings_back_a_fresh_primary_and_two_replicas(
    breakable_replica_set: ReplicaSet,
) -> None:
    rs = breakable_replica_set
    rs.kill9(PRIMARY)
    await rs.promote(R1)
    await rs.repoint(R2, to=R1)  # a synchronous standby again, so that commits return
    await rs.fetchval("owner", R1, "CREATE TABLE left_behind (x int)")

    services("replset-reset")

    assert [await rs.fetchval("owner", n, "SELECT pg_is_in_recovery()") for n in range(3)] == [
        False,
        True,
        True,
    ]
    assert await rs.fetchval("owner", PRIMARY, "SELECT to_regclass('left_behind')") is None
    await test_both_replicas_stream_as_a_synchronous_quorum(rs)
