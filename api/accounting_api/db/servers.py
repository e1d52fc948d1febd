"""Which PostgreSQL server a new connection goes to: a read-write one, never a stale one.

DATABASE_URL may list several servers (libpq's multi-host form,
``postgresql://user:pw@h1:p1,h2:p2,h3:p3/db?target_session_attrs=read-write``). Each new
connection tries them in order and takes the first that accepts the login, is read-write,
and whose timeline is not older than the highest timeline this pool has seen (seeded from
DATABASE_MIN_TIMELINE). After a failover a restarted old primary comes back read-write on
the old timeline: once the pool has seen the new one, or the operator has rendered it as
the floor, that server is refused (docs/database-servers.md states the remaining window).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from accounting_api import metrics
from accounting_api.db import availability

log = logging.getLogger(__name__)

# The timeline the server writes WAL on now: the first 8 hex digits of the current WAL
# file's name. Right after pg_promote() it is already the new timeline (pg_walfile_name
# uses the insertion timeline), unlike pg_control_checkpoint(), which lags until the first
# checkpoint after a fast promotion. Both functions are open to every role.
TIMELINE_SQL = "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int"

_REFUSED = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
"""Why a server cannot be used: unreachable, starting up, login refused (a fenced server),
or not read-write (asyncpg's TargetServerAttributeNotMatched)."""


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int | None
    """None: the default port (PGPORT or 5432), as libpq does."""

    def __str__(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"


def addresses(dsn: str) -> list[Address]:
    """The servers a URL names, in order; empty when it names none in its authority part
    (a unix socket given by ``?host=``, or the PGHOST default)."""
    netloc = urlsplit(dsn).netloc
    return parse_addresses(netloc.rpartition("@")[2])


def parse_addresses(hostspec: str) -> list[Address]:
    """`h1:p1,h2:p2,[::1]:p3` (a port may be left out); ValueError on a bad port."""
    return [_address(part.strip()) for part in hostspec.split(",") if part.strip()]


def _address(part: str) -> Address:
    if part.startswith("["):  # [IPv6]:port
        host, _, rest = part[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = part.partition(":")
    return Address(host, int(port) if port else None)


class NoUsableServer(ConnectionError):
    """No server of the DSN is reachable, read-write and on a current timeline."""


class TimelineFloor:
    """The highest timeline seen on a primary; a server on an older one is stale."""

    def __init__(self, minimum: int = 0) -> None:
        self.value = minimum

    def admits(self, timeline: int) -> bool:
        return timeline >= self.value

    def raise_to(self, timeline: int) -> bool:
        """Remember `timeline`; True when it moves a floor that was already set."""
        previous, self.value = self.value, max(self.value, timeline)
        return 0 < previous < self.value


class Connector:
    """asyncpg's pool ``connect=`` callback: the first usable server of the DSN."""

    def __init__(
        self,
        dsn: str,
        floor: TimelineFloor,
        on_new_timeline: Callable[[], Awaitable[None]],
        seen_by: availability.Availability | None = None,
    ) -> None:
        self._dsn = dsn
        self._addresses: list[Address | None] = [*addresses(dsn)] or [None]
        self._floor = floor
        self._on_new_timeline = on_new_timeline
        self._seen_by = seen_by
        """Told of every new connection: the database answers (again)."""

    async def __call__(self, *args: Any, **kwargs: Any) -> asyncpg.Connection[Any]:
        # The pool passes the DSN again; the one given at construction is the same.
        kwargs["target_session_attrs"] = "read-write"
        failures: list[str] = []
        last: BaseException | None = None
        for address in self._addresses:
            try:
                conn = await self._try(address, kwargs)
            except _Stale as exc:
                failures.append(f"{address}: {exc}")
                last = exc
            except _REFUSED as exc:
                if len(self._addresses) == 1:
                    raise  # a single server's own error, as without this connector
                failures.append(f"{address}: {_refused(address, exc)}")
                last = exc
            else:
                if self._seen_by is not None:
                    self._seen_by.answered()
                return conn
        raise NoUsableServer("no usable database server (" + "; ".join(failures) + ")") from last

    async def _try(
        self, address: Address | None, kwargs: dict[str, Any]
    ) -> asyncpg.Connection[Any]:
        where: dict[str, Any] = (
            {} if address is None else {"host": address.host, "port": address.port}
        )
        conn: asyncpg.Connection[Any] = await asyncpg.connect(self._dsn, **where, **kwargs)
        try:
            timeline: int = await conn.fetchval(TIMELINE_SQL)
        except BaseException:
            conn.terminate()
            raise
        if not self._floor.admits(timeline):
            conn.terminate()
            metrics.DB_SERVERS_REFUSED.labels("stale_timeline").inc()
            log.warning(
                "refused database server %s: timeline %d is older than %d (a former primary)",
                address,
                timeline,
                self._floor.value,
            )
            raise _Stale(f"timeline {timeline} older than {self._floor.value}")
        if self._floor.raise_to(timeline):
            log.warning("database timeline moved to %d on %s (a failover)", timeline, address)
            await self._on_new_timeline()
        return conn


class _Stale(Exception):
    """A read-write server on a timeline older than the floor."""


def _refused(address: Address | None, exc: BaseException) -> str:
    reason = (
        "read_only" if isinstance(exc, asyncpg.TargetServerAttributeNotMatched) else "unavailable"
    )
    metrics.DB_SERVERS_REFUSED.labels(reason).inc()
    # Debug only: in an outage every new connection passes here, and the outage itself is
    # logged once (db/availability.py). The exception's class and text name no secret
    # (asyncpg never echoes the password).
    log.debug("database server %s not used (%s): %s", address, reason, type(exc).__name__)
    return f"{reason} ({type(exc).__name__})"
