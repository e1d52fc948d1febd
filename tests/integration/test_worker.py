"""`accounting-api worker`: background upkeep against the real database."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import sys
from pathlib import Path

import asyncpg
import httpx

from tests import drill_support
from tests.integration import conftest, exposition

CLI = str(Path(sys.executable).with_name("accounting-api"))


async def stored_key(conn: asyncpg.Connection, age_hours: int) -> str:
    key = f"worker-{secrets.token_hex(6)}"
    await conn.execute(
        "INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response_body,"
        " created_at) VALUES ('ip:127.0.0.9', $1, 'h', 201, '{}',"
        " now() - make_interval(hours => $2))",
        key,
        age_hours,
    )
    return key


async def worker(database: conftest.TestDatabase, *args: str) -> asyncio.subprocess.Process:
    env = os.environ | {"DATABASE_URL": database.app_url, "IDEMPOTENCY_TTL_SECONDS": "86400"}
    return await asyncio.create_subprocess_exec(
        CLI, "worker", *args, env=env, stdout=asyncio.subprocess.PIPE
    )


async def test_a_worker_pass_purges_expired_idempotency_keys_only(
    database: conftest.TestDatabase, owner_conn: asyncpg.Connection
) -> None:
    expired = await stored_key(owner_conn, age_hours=25)
    fresh = await stored_key(owner_conn, age_hours=1)
    process = await worker(database, "--once")
    out, _ = await process.communicate()
    assert process.returncode == 0
    assert json.loads(out.decode().splitlines()[-1])["idempotency_keys_purged"] >= 1
    left = await owner_conn.fetch(
        "SELECT key FROM idempotency_keys WHERE key = ANY($1::text[])", [expired, fresh]
    )
    assert [r["key"] for r in left] == [fresh]


async def test_the_worker_stops_cleanly_on_sigterm(database: conftest.TestDatabase) -> None:
    process = await worker(database, "--interval-seconds", "0.2", "--metrics-port", "0")
    assert process.stdout is not None
    first = await asyncio.wait_for(process.stdout.readline(), 30)  # one pass has run
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 30) == 0
    assert json.loads(first)["message"] == "worker pass"


async def worker_metrics(database: conftest.TestDatabase) -> str:
    """The /metrics of a running worker once its first pass is done."""
    port = drill_support.free_port()
    process = await worker(database, "--interval-seconds", "30", "--metrics-port", str(port))
    assert process.stdout is not None
    try:
        while b"worker pass" not in await asyncio.wait_for(process.stdout.readline(), 30):
            continue  # one pass has run
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            return (await http.get("/metrics")).text
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)


async def test_the_worker_serves_its_counters_on_metrics(
    database: conftest.TestDatabase,
) -> None:
    text = await worker_metrics(database)
    assert exposition.sample(text, "accounting_worker_passes_total", result="succeeded") == 1
    assert exposition.sample(text, "accounting_worker_passes_total", result="failed") == 0
    assert (exposition.sample(text, "accounting_worker_last_pass_timestamp_seconds") or 0) > 0
    purged = exposition.sample(text, "accounting_worker_items_total", job="idempotency_keys_purged")
    assert purged is not None
    # Counted by the worker alone (revenue recognition), before anything was recognized too.
    assert "revenue_recognized_amount_total" in exposition.names(text)


async def test_a_metrics_port_in_use_stops_the_worker_and_says_so(
    database: conftest.TestDatabase,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = os.environ | {"DATABASE_URL": database.app_url}
        process = await asyncio.create_subprocess_exec(
            CLI, "worker", "--metrics-port", str(port), env=env, stderr=asyncio.subprocess.PIPE
        )
        _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert f"/metrics on 127.0.0.1:{port}" in err.decode()
