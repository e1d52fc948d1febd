"""Crash drills: under a steady write load (tests/integration/write_load.py), the API
process killed with SIGKILL and started again; PostgreSQL's primary killed with SIGKILL
and started again, crash-restarting after one of its backends was killed, or restarted.
Afterwards every acknowledged request is in the books, none partly, each request cut off
and sent again with its Idempotency-Key took effect exactly once, every trial balance is
zero and every audit chain verifies; no request was answered 500."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from accounting_api.db import migrations
from tests import drill_support
from tests.integration import conftest, write_load
from tests.integration.replica_set_support import ReplicaSet, connection

PRIMARY = 0
BEFORE, AFTER = 40, 40
"""Requests answered 2xx before the crash, and after the restart, before the load stops."""


async def test_the_api_killed_under_load_and_restarted_loses_and_doubles_nothing(
    database: conftest.TestDatabase, tmp_path: Path
) -> None:
    settings = drill_support.api_settings(database.app_url)
    api = drill_support.ApiProcess(settings, tmp_path / "api.log")
    async with drill_support.running(api) as http:
        async with write_load.WriteLoad(http) as load:
            await load.answered_since(BEFORE)
            await asyncio.to_thread(api.kill)
            await asyncio.to_thread(api.start)  # the same port and settings
            await load.answered_since(AFTER)
        problems = await write_load.problems(http, database.owner_url, load)
    summary = load.summary("the API killed with SIGKILL, then started")
    assert problems == []
    assert (summary["statuses"].get("500", 0), api.tracebacks()) == (0, 0)
    assert summary["cut_off"], "the kill cut no request off: the drill drilled nothing"


async def kill_and_start(rs: ReplicaSet) -> None:
    rs.kill9(PRIMARY)
    await rs.start(PRIMARY)


async def kill_a_backend(rs: ReplicaSet) -> None:
    """One of the API's backends killed: the server ends every session (57P02), recovers
    from the crash refusing logins (57P03) and comes back by itself."""
    query = "SELECT pid FROM pg_stat_activity WHERE usename = 'ua_api' LIMIT 1"
    os.kill(await rs.fetchval("owner", PRIMARY, query), signal.SIGKILL)


async def restart(rs: ReplicaSet) -> None:
    await rs.restart(PRIMARY)


CRASHES: dict[str, Callable[[ReplicaSet], Awaitable[None]]] = {
    "the primary killed with SIGKILL, then started": kill_and_start,
    "a backend killed: the primary crash-restarts": kill_a_backend,
    "the primary restarted (pg_ctl restart -m fast)": restart,
}


@pytest.mark.parametrize("crash", CRASHES, ids=["kill9", "backend-kill9", "restart"])
async def test_postgresql_crashing_under_load_loses_and_doubles_nothing_and_answers_no_500(
    breakable_replica_set: ReplicaSet, tmp_path: Path, crash: str
) -> None:
    rs = breakable_replica_set
    async with connection(rs.owner_url) as conn:
        await migrations.apply(conn)
    api = drill_support.ApiProcess(drill_support.api_settings(rs.app_url), tmp_path / "api.log")
    async with drill_support.running(api) as http:
        async with write_load.WriteLoad(http) as load:
            await load.answered_since(BEFORE)
            await CRASHES[crash](rs)
            await load.answered_since(AFTER)  # the same API process: no restart
        problems = await write_load.problems(http, rs.url("owner", PRIMARY), load)
    summary = load.summary(crash)
    assert problems == []
    assert set(summary["statuses"]) <= {"200", "201", "503"}
    assert api.tracebacks() == 0
    assert summary["cut_off"], "the crash cut no request off: the drill drilled nothing"
