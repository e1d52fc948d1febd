"""Migrations on fresh databases: idempotent, safe from many replicas at once, tamper-evident."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from starlette.applications import Starlette

from accounting_api.db import migrations
from tests.integration import conftest

CLI = str(Path(sys.executable).with_name("accounting-api"))
VERSIONS = [m.version for m in migrations.load()]
NAMES = [f"{m.version:04d}_{m.name}" for m in migrations.load()]


@pytest.fixture
async def fresh() -> AsyncIterator[conftest.TestDatabase]:
    """An empty database (no migration applied), dropped afterwards."""
    db = await conftest.create_empty_database("ua_migrate")
    yield db
    await conftest.drop_database(db.name)


@pytest.fixture
async def owner(fresh: conftest.TestDatabase) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(fresh.owner_url)
    yield conn
    await conn.close()


async def recorded(conn: asyncpg.Connection) -> list[int]:
    rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    return [row["version"] for row in rows]


async def cli_migrate(db: conftest.TestDatabase) -> tuple[int, str, str]:
    env = os.environ | {"MIGRATION_DATABASE_URL": db.owner_url, "DATABASE_URL": db.app_url}
    process = await asyncio.create_subprocess_exec(
        CLI, "migrate", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def last_json(text: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(text.strip().splitlines()[-1])
    return result


async def test_applying_twice_is_a_no_op(owner: asyncpg.Connection) -> None:
    first = await migrations.apply(owner)
    assert [m.version for m in first] == VERSIONS
    assert await migrations.apply(owner) == []
    assert await recorded(owner) == VERSIONS
    assert await migrations.pending(owner) == []


async def test_concurrent_replicas_apply_each_migration_exactly_once(
    fresh: conftest.TestDatabase,
) -> None:
    conns = [await asyncpg.connect(fresh.owner_url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrations.apply(conn) for conn in conns))
        applied = sorted(m.version for result in results for m in result)
        assert applied == VERSIONS
        assert sorted(len(result) for result in results)[:-1] == [0, 0, 0]
        assert await recorded(conns[0]) == VERSIONS
        tables = await conns[0].fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = ANY($1)",
            ["organizations", "accounts", "journal_entries", "postings"],
        )
        assert tables == 4
    finally:
        for conn in conns:
            await conn.close()


async def test_cli_migrate_reports_what_it_applied_then_up_to_date(
    fresh: conftest.TestDatabase,
) -> None:
    code, out, err = await cli_migrate(fresh)
    assert code == 0, err
    assert last_json(out) == {"applied": NAMES, "up_to_date": False}
    code, out, err = await cli_migrate(fresh)
    assert code == 0, err
    assert last_json(out) == {"applied": [], "up_to_date": True}


async def test_a_changed_applied_migration_is_refused(
    fresh: conftest.TestDatabase, owner: asyncpg.Connection
) -> None:
    await migrations.apply(owner)
    await owner.execute(
        "UPDATE schema_migrations SET checksum = 'x' WHERE version = $1", VERSIONS[0]
    )
    with pytest.raises(migrations.MigrationError, match=NAMES[0]):
        await migrations.apply(owner)
    # The failed run let go of the advisory lock: another replica gets the same answer.
    other = await asyncpg.connect(fresh.owner_url)
    try:
        with pytest.raises(migrations.MigrationError):
            await asyncio.wait_for(migrations.apply(other), timeout=30)
    finally:
        await other.close()
    code, out, err = await cli_migrate(fresh)
    assert code == 2
    assert NAMES[0] in err
    assert out == ""


async def test_the_api_is_ready_only_once_migrated(
    fresh: conftest.TestDatabase, owner: asyncpg.Connection, make_app: Callable[..., Starlette]
) -> None:
    app = make_app(database_url=fresh.app_url, migration_database_url=fresh.owner_url)
    async with conftest.serve(app) as client:
        before = await client.get("/ready")
        await migrations.apply(owner)
        after = await client.get("/ready")
    assert before.status_code == 503
    assert before.json()["status"] == "not_ready"
    assert "migrations pending" in before.json()["reason"]
    assert (after.status_code, after.json()["status"]) == (200, "ready")
