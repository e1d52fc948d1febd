"""Reports and lists read from the local streaming replicas (hack/services.sh replset):
a client that sends back the Consistency-Token of its last write always sees that write,
under concurrent load and while a replica is killed; with no replica usable, reads come
from the primary."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as redis
from prometheus_client import REGISTRY

from accounting_api.app import create_app
from accounting_api.db import migrations, replicas
from accounting_api.http.consistency import ReadFloors
from accounting_api.settings import Settings
from tests.integration.conftest import serve
from tests.integration.helpers import PASSWORD, entry
from tests.integration.replica_set_support import ReplicaSet, connection, eventually

R1, R2 = 1, 2
HEADER = "Consistency-Token"
CLIENTS = 6
ROUNDS = 15


@pytest.fixture(scope="module")
async def migrated(replica_set: ReplicaSet) -> ReplicaSet:
    async with connection(replica_set.owner_url) as conn:
        await migrations.apply(conn)
    return replica_set


def settings_for(rs: ReplicaSet, replicas: str) -> Settings:
    return Settings(
        database_url=rs.app_url,
        migration_database_url=rs.owner_url,
        redis_url=os.environ["REDIS_URL"],
        jwt_secret="test-secret-" + "x" * 40,
        rate_limit_max=1_000_000,
        auth_rate_limit_max=1_000_000,
        org_api_calls_per_minute=1_000_000,
        sign_up_attempts_per_address=1_000_000,  # every test signs up from 127.0.0.1
        database_replicas=replicas,
        # Long enough that a busy machine's replay still lands within it most of the time;
        # a read that does not find its write on a replica in time reads from the primary.
        database_replica_wait_ms=200,
    )


def replica_list(rs: ReplicaSet) -> str:
    return ",".join(f"127.0.0.1:{rs.ports[n]}" for n in (R1, R2))


@pytest.fixture
async def client(migrated: ReplicaSet) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(settings_for(migrated, replica_list(migrated)))) as http:
        yield http


@dataclasses.dataclass
class Session:
    """A client that carries the Consistency-Token of its last write into its reads."""

    http: httpx.AsyncClient
    bearer: str = ""
    token: str | None = None

    def headers(self) -> dict[str, str]:
        found = {"Authorization": f"Bearer {self.bearer}"} if self.bearer else {}
        return found | ({HEADER: self.token} if self.token else {})

    async def post(self, path: str, body: object) -> httpx.Response:
        response = await self.http.post(path, json=body, headers=self.headers())
        assert response.status_code in (200, 201), response.text
        self.token = response.headers[HEADER]
        return response

    async def get(self, path: str, **params: str | int) -> httpx.Response:
        response = await self.http.get(path, params=params, headers=self.headers())
        assert response.status_code == 200, response.text
        return response


async def signed_up(http: httpx.AsyncClient) -> Session:
    session = Session(http)
    email = f"owner-{secrets.token_hex(6)}@example.com"
    owner = {"email": email, "password": PASSWORD, "name": "Owner"}
    await session.post("/v1/organizations", {"name": "Replica Org", "owner": owner})
    token = await session.post("/v1/auth/token", {"email": email, "password": PASSWORD})
    session.bearer = token.json()["access_token"]
    return session


async def own_account(session: Session, code: str) -> str:
    body = {"code": code, "name": f"Cash {code}", "type": "asset", "currency": "USD"}
    created = await session.post("/v1/accounts", body)
    return str(created.json()["id"])


async def revenue_account(session: Session) -> str:
    listing = await session.get("/v1/accounts", limit=100)
    return str(next(a["id"] for a in listing.json()["data"] if a["type"] == "revenue"))


async def write_then_read(
    session: Session, account: str, revenue: str, rounds: int, done: int = 0
) -> None:
    """Each round posts 1 to `account` (which has `done` already), then reads it back
    through a balance, the trial balance and the list of entries: each shows the write."""
    for n in range(done + 1, done + rounds + 1):
        posted = await session.post("/v1/journal-entries", entry(account, revenue, 1))
        balance = await session.get(f"/v1/accounts/{account}/balance", as_of="2026-12-31")
        assert balance.json()["amount"] == n
        report = await session.get("/v1/reports/trial-balance", as_of="2026-12-31")
        lines = report.json()["currencies"][0]["accounts"]
        assert next(line["debit"] for line in lines if line["account_id"] == account) == n
        listing = await session.get("/v1/journal-entries", limit=100)
        assert posted.json()["id"] in {e["id"] for e in listing.json()["data"]}


def reads(role: str, server: str) -> float:
    labels = {"role": role, "server": server}
    return REGISTRY.get_sample_value("accounting_db_reads_total", labels) or 0.0


def fallbacks(reason: str) -> float:
    return REGISTRY.get_sample_value("accounting_db_read_fallbacks_total", {"reason": reason}) or 0


async def clients(http: httpx.AsyncClient, count: int) -> list[tuple[Session, str, str]]:
    """`count` sessions of one organization, each with an account of its own."""
    first = await signed_up(http)
    revenue = await revenue_account(first)
    found = []
    for n in range(count):
        session = Session(http, first.bearer, first.token)
        found.append((session, await own_account(session, f"19{n:02d}"), revenue))
    return found


async def test_reads_carrying_the_token_of_a_write_see_it_under_concurrent_load(
    client: httpx.AsyncClient, migrated: ReplicaSet
) -> None:
    servers = [f"127.0.0.1:{migrated.ports[n]}" for n in (R1, R2)]
    before = sum(reads("replica", s) for s in servers)
    sessions = await clients(client, CLIENTS)
    await asyncio.gather(*(write_then_read(*s, ROUNDS) for s in sessions))
    # The reads scaled out: most of them were answered by the replicas.
    assert sum(reads("replica", s) for s in servers) - before > CLIENTS * ROUNDS


async def test_a_read_without_a_token_is_answered_and_a_malformed_token_is_refused(
    client: httpx.AsyncClient,
) -> None:
    session = await signed_up(client)
    session.token = None
    listing = await session.get("/v1/accounts")
    assert listing.json()["object"] == "list"
    refused = await client.get(
        "/v1/accounts", headers=session.headers() | {HEADER: "not-a-position"}
    )
    assert refused.status_code == 400
    assert refused.json()["param"] == HEADER


async def replay(rs: ReplicaSet, action: str) -> None:
    for n in (R1, R2):
        await rs.fetchval("owner", n, f"SELECT pg_wal_replay_{action}()")


async def test_a_client_that_sends_no_token_still_reads_the_organizations_last_write(
    client: httpx.AsyncClient, migrated: ReplicaSet
) -> None:
    """Both replicas' replay paused (healthy, within the lag limit, but behind the write
    that just committed): a read without a Consistency-Token, from the writer or from
    another client of the organization, reads at or past the organization's read floor,
    so from the primary, and shows the write."""
    (session, account, revenue), *_ = await clients(client, 1)
    await replay(migrated, "pause")
    try:
        posted = await session.post("/v1/journal-entries", entry(account, revenue, 7))
        session.token = None  # a client that does not carry the header
        balance = await session.get(f"/v1/accounts/{account}/balance", as_of="2026-12-31")
        assert balance.json()["amount"] == 7
        other = Session(client, session.bearer)  # another client of the organization
        listing = await other.get("/v1/journal-entries", limit=100)
        assert posted.json()["id"] in {e["id"] for e in listing.json()["data"]}
    finally:
        await replay(migrated, "resume")
    # Caught up, the replicas serve token-less reads again.
    servers = [f"127.0.0.1:{migrated.ports[n]}" for n in (R1, R2)]
    before = sum(reads("replica", s) for s in servers)

    async def replicas_serve() -> bool:
        await session.get("/v1/journal-entries", limit=1)
        return sum(reads("replica", s) for s in servers) > before

    await eventually(replicas_serve)


async def test_a_read_floor_is_only_ever_raised() -> None:
    floors = ReadFloors(redis.Redis.from_url(os.environ["REDIS_URL"]))
    org = f"org_floor_{secrets.token_hex(4)}"
    assert await floors.of(org) is None
    for position, floor in ((0x9, 0x9), (0x1_0000_0010, 0x1_0000_0010), (0x10, 0x1_0000_0010)):
        await floors.raise_to(org, position)
        assert await floors.of(org) == floor
    await floors.client.delete(ReadFloors.key(org))
    await floors.client.aclose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_with_no_replica_reachable_reads_come_from_the_primary(
    migrated: ReplicaSet,
) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    before = (reads("primary", "primary"), fallbacks("no_replica"))
    async with serve(create_app(settings_for(migrated, nowhere))) as http:
        (session, account, revenue), *_ = await clients(http, 1)
        await write_then_read(session, account, revenue, 3)
    assert reads("primary", "primary") > before[0]
    assert fallbacks("no_replica") > before[1]
    assert reads("replica", nowhere) == 0


async def test_reads_whose_replica_connections_were_dropped_are_answered_all_the_same(
    client: httpx.AsyncClient, migrated: ReplicaSet
) -> None:
    (session, account, revenue), *_ = await clients(client, 1)
    await write_then_read(session, account, revenue, 2)  # the read pools hold connections
    drop = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1"
    )
    for n in (R1, R2):
        await migrated.fetchval("owner", n, drop, replicas.READ_APPLICATION)
    await write_then_read(session, account, revenue, 3, done=2)


async def test_a_replica_killed_under_load_changes_nothing_a_client_sees(
    client: httpx.AsyncClient, breakable_replica_set: ReplicaSet
) -> None:
    rs = breakable_replica_set
    sessions = await clients(client, CLIENTS)
    load = asyncio.gather(*(write_then_read(*s, ROUNDS * 2) for s in sessions))
    served = f"127.0.0.1:{rs.ports[R1]}"

    async def r1_serves_reads() -> bool:
        return reads("replica", served) > 0

    await eventually(r1_serves_reads)
    # The synchronous standby list names both replicas (ANY 1): the other keeps commits going.
    rs.kill9(R1)
    await load
    await rs.start(R1)
    before = reads("replica", served)
    done = ROUNDS * 2

    async def r1_serves_again() -> bool:
        nonlocal done
        await write_then_read(*sessions[0], 1, done)
        done += 1
        return reads("replica", served) > before

    await eventually(r1_serves_again)
