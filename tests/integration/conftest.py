"""A fresh database per test session, migrated, and the app served in-process over ASGI."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from accounting_api.app import create_app
from accounting_api.db import migrations
from accounting_api.settings import Settings
from tests.integration.replica_set_support import ReplicaSet, services


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@dataclasses.dataclass(frozen=True)
class TestDatabase:
    name: str
    owner_url: str
    app_url: str


async def create_empty_database(prefix: str = "ua_test") -> TestDatabase:
    name = f"{prefix}_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(os.environ["MIGRATION_DATABASE_URL"])
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return TestDatabase(
        name,
        with_database(os.environ["MIGRATION_DATABASE_URL"], name),
        with_database(os.environ["DATABASE_URL"], name),
    )


async def create_database() -> TestDatabase:
    db = await create_empty_database()
    conn = await asyncpg.connect(db.owner_url)
    try:
        await migrations.apply(conn)
    finally:
        await conn.close()
    return db


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(os.environ["MIGRATION_DATABASE_URL"])
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def database() -> AsyncIterator[TestDatabase]:
    db = await create_database()
    yield db
    await drop_database(db.name)


@pytest.fixture(scope="session")
def settings(database: TestDatabase) -> Settings:
    return Settings(
        database_url=database.app_url,
        redis_url=os.environ["REDIS_URL"],
        jwt_secret="test-secret-" + "x" * 40,
        migration_database_url=database.owner_url,
        rate_limit_max=1_000_000,
        auth_rate_limit_max=1_000_000,
        # The session's client is one address that many tests refuse on purpose.
        suspicious_ip_requests=1_000_000,
        # Every test's failed sign-ins count for the platform; organizations call and
        # export a lot (the contract fuzz): the responses' own tests lower these.
        platform_failed_signins=1_000_000,
        org_api_calls_per_minute=1_000_000,
        org_export_bytes_per_hour=1_000_000_000_000,
        sign_up_attempts_per_address=1_000_000,  # every test signs up from this address
        db_pool_max=40,
        webhook_allow_insecure=True,  # the webhook receivers of the tests are on 127.0.0.1
        webhook_secret_keys=os.environ["WEBHOOK_SECRET_KEYS"],
    )


@asynccontextmanager
async def serve(app: Starlette, client_ip: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan run, and an HTTP client speaking to it over ASGI."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client_ip, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            yield client


@dataclasses.dataclass
class Harness:
    """The app and an owner connection on an event loop of their own, for hypothesis
    (which cannot drive async tests): run coroutines with `loop.run_until_complete`."""

    loop: asyncio.AbstractEventLoop
    client: httpx.AsyncClient
    conn: asyncpg.Connection


@pytest.fixture(scope="module")
def harness(settings: Settings, database: TestDatabase) -> Iterator[Harness]:
    loop = asyncio.new_event_loop()
    stack = AsyncExitStack()
    try:
        client = loop.run_until_complete(stack.enter_async_context(serve(create_app(settings))))
        conn = loop.run_until_complete(asyncpg.connect(database.owner_url))
        stack.push_async_callback(conn.close)
        yield Harness(loop, client, conn)
    finally:
        loop.run_until_complete(stack.aclose())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


@pytest.fixture(scope="session")
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(settings)) as http:
        yield http


@pytest.fixture
def make_app(settings: Settings) -> Callable[..., Starlette]:
    """An app with some settings changed (e.g. low rate limits)."""

    def build(**changes: Any) -> Starlette:
        return create_app(dataclasses.replace(settings, **changes))

    return build


@pytest.fixture(scope="session")
async def owner_conn(database: TestDatabase) -> AsyncIterator[asyncpg.Connection]:
    """A superuser/owner connection, for reading or tampering behind the API's back."""
    conn = await asyncpg.connect(database.owner_url)
    yield conn
    await conn.close()


@pytest.fixture(scope="session")
def replica_set() -> Iterator[ReplicaSet]:
    """The local primary and two replicas, fresh (hack/services.sh replset-reset: created on
    first use, about 6 s; 1.3 s after), stopped after the session."""
    services("replset-reset")
    yield ReplicaSet.from_script()
    services("replset-stop")


@pytest.fixture
def breakable_replica_set(replica_set: ReplicaSet) -> Iterator[ReplicaSet]:
    """The replica set for a test that kills or promotes servers: reset after it (pg0
    primary, pg1 and pg2 streaming from it, no data), so every test finds a fresh set."""
    yield replica_set
    services("replset-reset")
