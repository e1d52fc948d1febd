"""Where a read goes: a streaming replica that has the client's last write, else the primary.

Reports and lists read through a `Reader`, one per request. Its first transaction picks
the server: a healthy replica (in recovery, at most `max_lag_bytes` behind the primary)
that has replayed the request's WAL position (its Consistency-Token, http/consistency.py);
if none has, the most advanced one is asked again on its own connection for at most
`wait_seconds`; then the primary. The request's later transactions stay on that server,
so a report's ledger version is never newer than the books it reads (the report cache's
rule, services/report_cache.py); the primary, never behind a replica, is the one move
allowed. Health and replay positions come from a background poll (one query per replica
and one on the primary every `poll_seconds`), not from a round trip per read.

Reads on the primary use a pool of their own (application_name accounting-api-read), so
reads never take the connections writes need, and their cost can be told apart.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

import asyncpg

from accounting_api import metrics
from accounting_api.db import connection, failures, servers, unit_of_work
from accounting_api.db.connection import Connection
from accounting_api.domain.roles import Session

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Pooled: TypeAlias = PoolConnectionProxy[asyncpg.Record]

log = logging.getLogger(__name__)

READ_APPLICATION = "accounting-api-read"
"""application_name of every read connection (primary and replicas)."""
PRIMARY = "primary"
"""The `server` label of reads served by the primary (whichever server that is now)."""

# A WAL position as a number of bytes (pg_lsn minus 0/0), so Python compares it.
POSITION_SQL = "SELECT (pg_current_wal_lsn() - '0/0')::bigint"
REPLAYED_SQL = "SELECT (pg_last_wal_replay_lsn() - '0/0')::bigint"
PROBE_SQL = "SELECT pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0')::bigint"

PROBE_TIMEOUT_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 2.0
"""A replica that does not answer a login within this is down (not a pool wait: that one
is the pool's size)."""
_REPLICA_FAILURES = (*failures.UNAVAILABLE, asyncpg.PostgresError, asyncpg.InterfaceError)
"""What ends a read on a replica: it went away (stopped, restarted, promoted, fenced) or
cancelled the query (a conflict with recovery). The request is answered from the primary."""


def format_position(position: int) -> str:
    """A WAL position in PostgreSQL's pg_lsn text form, e.g. 0/3000148."""
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def parse_position(text: str) -> int:
    """The pg_lsn text form back to bytes; ValueError if it is not one."""
    high, sep, low = text.partition("/")
    if not sep or not _hex32(high) or not _hex32(low):
        raise ValueError(f"not a WAL position: {text!r}")
    return int(high, 16) << 32 | int(low, 16)


def _hex32(text: str) -> bool:
    return 1 <= len(text) <= 8 and all(c in "0123456789abcdefABCDEF" for c in text)


@dataclass(frozen=True, slots=True)
class Policy:
    """Which replica may serve a read."""

    max_lag_bytes: int = 16 * 1024 * 1024
    """A replica further behind the primary serves no read (bounded staleness)."""
    wait_seconds: float = 0.1
    """How long a read carrying a position waits for a replica to replay it."""
    poll_seconds: float = 0.5
    """How often each replica's replay position and the primary's WAL position are read."""


@dataclass(eq=False, slots=True)
class Replica:
    address: servers.Address
    pool: asyncpg.Pool[asyncpg.Record]
    replayed: int = 0
    """WAL replayed (bytes), as last seen: a lower bound, replay only moves forward."""
    up: bool = False
    """It answered the last poll as a streaming replica (in recovery)."""
    lag: int = 0
    """How far behind the primary it was at the last poll (bytes)."""

    def down(self) -> None:
        self.up = False
        metrics.DB_REPLICA_UP.labels(str(self.address)).set(0)


@dataclass
class _Pools:
    primary: asyncpg.Pool[asyncpg.Record]
    replicas: list[Replica] = field(default_factory=list)


class ReadRouter:
    """The read pools (the primary's and one per replica) and the poll that keeps each
    replica's health and replay position."""

    def __init__(
        self,
        db: connection.Database,
        dsn: str,
        replicas: Sequence[servers.Address],
        policy: Policy,
        *,
        pool_max: int = 10,
        statement_timeout_ms: int = 30_000,
    ) -> None:
        self._db = db
        self._dsn = dsn
        self._addresses = list(replicas)
        self.policy = policy
        self._pool_max = pool_max
        self._statement_timeout_ms = statement_timeout_ms
        self._pools: _Pools | None = None
        self._poller: asyncio.Task[None] | None = None
        self._turn = itertools.count()

    @property
    def has_replicas(self) -> bool:
        return bool(self._addresses)

    @property
    def pools(self) -> _Pools:
        if self._pools is None:
            raise RuntimeError("ReadRouter.open() has not been awaited")
        return self._pools

    async def open(self) -> None:
        """Open the pools empty (a server that is down fails no start-up); poll at once."""
        connector = servers.Connector(
            self._dsn, self._db.timeline, self._expire_primary, self._db.availability
        )
        primary = await self._pool(connect=connector)
        self._pools = _Pools(primary)
        for address in self._addresses:
            pool = await self._pool(
                host=address.host,
                port=address.port,
                target_session_attrs="standby",
                timeout=CONNECT_TIMEOUT_SECONDS,
            )
            self._pools.replicas.append(Replica(address, pool))
        if self._addresses:
            await self.poll()
            self._poller = asyncio.create_task(self._poll_forever(), name="replica-poll")

    async def _pool(self, **connect: object) -> asyncpg.Pool[asyncpg.Record]:
        return await connection.create_pool(
            self._dsn,
            min_size=0,
            max_size=self._pool_max,
            statement_timeout_ms=self._statement_timeout_ms,
            application_name=READ_APPLICATION,
            **connect,
        )

    def primary_lost(self, exc: BaseException) -> None:
        """A read on the primary found it unavailable (logged once per outage)."""
        self._db.availability.lost(exc)

    async def _expire_primary(self) -> None:
        await self.pools.primary.expire_connections()

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with suppress(asyncio.CancelledError):
                await self._poller
        if self._pools is not None:
            pools = [self._pools.primary, *(r.pool for r in self._pools.replicas)]
            await asyncio.gather(*(pool.close() for pool in pools))
            self._pools = None

    def reader(
        self,
        position: int | None,
        *,
        primary_only: bool = False,
        session: Session | None = None,
    ) -> Reader:
        """The reads of one request that must see at least WAL `position` (None: any
        healthy replica will do), checking the caller's `session` first."""
        return Reader(self, position, primary_only=primary_only, session=session)

    async def primary_position(self) -> int | None:
        """The primary's WAL position now (None if it cannot be read): asked after a
        commit, it is at or past that commit."""
        try:
            async with self._db.pool.acquire() as conn:
                position: int = await conn.fetchval(POSITION_SQL)
                return position
        except (*failures.UNAVAILABLE, asyncpg.InterfaceError) as exc:
            if not failures.unavailable(exc):
                raise
            return None

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.policy.poll_seconds)
            try:
                await self.poll()
            except Exception:  # the poll must outlive any one failure
                log.exception("replica poll failed")

    async def poll(self) -> None:
        """Each replica's health and replay position, and its lag behind the primary."""
        replicas = self.pools.replicas
        primary, *_ = await asyncio.gather(
            self._read_position(), *(self._probe(r) for r in replicas)
        )
        for replica in replicas:
            replica.lag = max(0, primary - replica.replayed) if primary is not None else 0
            metrics.DB_REPLICA_LAG.labels(str(replica.address)).set(replica.lag)

    async def _read_position(self) -> int | None:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
                async with self.pools.primary.acquire() as conn:
                    position: int = await conn.fetchval(POSITION_SQL)
                    return position
        except (*_REPLICA_FAILURES, TimeoutError):
            return None

    async def _probe(self, replica: Replica) -> None:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
                async with replica.pool.acquire() as conn:
                    row = await conn.fetchrow(PROBE_SQL)
        except (*_REPLICA_FAILURES, TimeoutError) as exc:
            if replica.up:
                log.warning("replica %s stopped answering: %s", replica.address, type(exc).__name__)
            replica.down()
            return
        in_recovery, replayed = row if row is not None else (False, None)
        if not in_recovery or replayed is None:  # promoted, or a restarted former primary
            replica.down()
            return
        replica.up, replica.replayed = True, int(replayed)
        metrics.DB_REPLICA_UP.labels(str(replica.address)).set(1)

    def candidates(self, position: int | None) -> list[Replica]:
        """Replicas a read may go to, best first: those that have `position`, taken in
        turn; else the one closest to it (worth a short wait)."""
        usable = [r for r in self.pools.replicas if r.up and r.lag <= self.policy.max_lag_bytes]
        if usable:
            turn = next(self._turn) % len(usable)
            usable = usable[turn:] + usable[:turn]
        if position is None:
            return usable
        ready = [r for r in usable if r.replayed >= position]
        return ready or sorted(usable, key=lambda r: r.replayed, reverse=True)[:1]

    async def caught_up(self, replica: Replica, conn: Connection, position: int) -> bool:
        """Whether `replica` replays `position` within the wait, asked on `conn`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.policy.wait_seconds
        delay = 0.001
        while True:
            replayed = await conn.fetchval(REPLAYED_SQL)
            if replayed is not None:
                replica.replayed = max(replica.replayed, replayed)
            if replica.replayed >= position:
                return True
            if loop.time() + delay > deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.01)


class Reader:
    """One request's reads, with the `transaction(organization_id)` of `Database`: a
    read-only transaction with the tenant set, on the server the first one picked."""

    def __init__(
        self,
        router: ReadRouter,
        position: int | None,
        *,
        primary_only: bool,
        session: Session | None = None,
    ) -> None:
        self._router = router
        self._position = position
        self._session = session
        """Checked on the server that serves the read: on a replica, as of its replay."""
        self._picked = primary_only
        self._replica: Replica | None = None
        self.replica_failed = False
        """A replica failed mid-read: the answer must come from the primary instead."""

    @asynccontextmanager
    async def transaction(self, organization_id: str | None) -> AsyncIterator[Connection]:
        with failures.translated_errors(), self._primary_watched():
            async with self._connection() as conn:
                try:
                    begin = unit_of_work.begin_sql(
                        "BEGIN READ ONLY", organization_id, self._session
                    )
                    await conn.execute(begin)
                    unit_of_work.began(organization_id, self._session)
                    yield conn
                    await conn.execute("COMMIT")
                except BaseException as exc:
                    with suppress(Exception):
                        await conn.execute("ROLLBACK")
                    self._failed(exc)
                    raise

    @contextmanager
    def _primary_watched(self) -> Iterator[None]:
        """A read the primary could not serve tells the primary's availability (a replica's
        failure does not: the read is answered again from the primary)."""
        try:
            yield
        except BaseException as exc:
            if self._replica is None and failures.unavailable(exc):
                self._router.primary_lost(exc)
            raise

    def _failed(self, exc: BaseException) -> None:
        if self._replica is not None and isinstance(exc, _REPLICA_FAILURES):
            log.warning("read on replica %s failed: %s", self._replica.address, type(exc).__name__)
            self._replica.down()
            self.replica_failed = True

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        conn = await self._acquire()
        pool = self._router.pools.primary if self._replica is None else self._replica.pool
        server, role = (
            (PRIMARY, "primary")
            if self._replica is None
            else (
                str(self._replica.address),
                "replica",
            )
        )
        metrics.DB_READS.labels(server, role).inc()
        try:
            yield conn
        finally:
            await pool.release(conn)

    async def _acquire(self) -> Pooled:
        if not self._picked:
            self._picked = True
            found = await self._pick()
            if found is not None:
                return found
        elif self._replica is not None:
            conn = await _try_acquire(self._replica)
            if conn is not None:
                return conn
            self._replica = None  # the primary is never behind it
        return await self._router.pools.primary.acquire()

    async def _pick(self) -> Pooled | None:
        """A connection to the first replica that has the position, else None."""
        router, position = self._router, self._position
        for replica in router.candidates(position):
            conn = await _try_acquire(replica)
            if conn is None:
                continue
            if position is None or await self._has(replica, conn, position):
                self._replica = replica
                return conn
            await replica.pool.release(conn)
            _fell_back("behind")
            return None
        if router.has_replicas:
            _fell_back("no_replica")
        return None

    async def _has(self, replica: Replica, conn: Connection, position: int) -> bool:
        if replica.replayed >= position:
            return True
        try:
            return await self._router.caught_up(replica, conn, position)
        except _REPLICA_FAILURES:
            replica.down()
            return False


async def _try_acquire(replica: Replica) -> Pooled | None:
    try:
        conn: Pooled = await replica.pool.acquire()
        return conn
    except (*_REPLICA_FAILURES, TimeoutError):
        replica.down()
        return None


def _fell_back(reason: str) -> None:
    metrics.DB_READ_FALLBACKS.labels(reason).inc()
