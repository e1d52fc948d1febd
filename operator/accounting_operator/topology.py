"""Which PostgreSQL server is the primary, which follow it, and which are kept out.

Servers are named by host and port everywhere ("db-1.example:5432"): two servers on one
host are two servers. Before any failover the spec says it (`database.primary`, then
`database.replicas` in their order); afterwards `status.database` does, and the spec's
primary is just one more server. Pure: the spec and the status in, the topology out.
"""

from __future__ import annotations

from dataclasses import dataclass

from accounting_operator.stateful import DatabaseEndpoint, DatabaseSpec
from accounting_operator.status import DatabaseStatus


@dataclass(frozen=True, slots=True, order=True)
class Server:
    """One PostgreSQL server."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> Server:
        """`host:port` (a bare host means port 5432)."""
        host, sep, port = text.rpartition(":")
        if not sep:
            return cls(text, 5432)
        return cls(host, int(port))

    @classmethod
    def of(cls, endpoint: DatabaseEndpoint) -> Server:
        return cls(endpoint.host, endpoint.port)


@dataclass(frozen=True, slots=True)
class Topology:
    """The servers of one platform, as the operator last established them."""

    primary: Server
    replicas: tuple[Server, ...] = ()
    """Replicas that follow the primary, in failover preference order."""
    fenced: tuple[Server, ...] = ()
    """Former primaries: never connected to by the platform again."""
    timeline: int | None = None
    """The primary's timeline once a failover recorded it (None: never failed over)."""

    @property
    def servers(self) -> tuple[Server, ...]:
        """Every server the platform may connect to, the primary first."""
        return (self.primary, *self.replicas)

    @property
    def known(self) -> tuple[Server, ...]:
        """Every server the operator looks at, fenced ones included."""
        return (*self.servers, *self.fenced)


def of(database: DatabaseSpec, status: DatabaseStatus | None) -> Topology:
    """The platform's topology: the status's once a failover wrote one, else the spec's.

    A replica added to the spec later joins the list (after those the status names);
    one removed from the spec leaves it, unless it is the active primary.
    """
    declared = [Server.of(database.primary), *(Server.of(r) for r in database.replicas)]
    if status is None or status.active_primary is None:
        return Topology(declared[0], tuple(declared[1:]))
    primary = Server.parse(status.active_primary)
    fenced = tuple(Server.parse(f.server) for f in status.fenced)
    following = [Server.parse(r) for r in status.replicas]
    ordered = [s for s in following if s in declared] + [s for s in declared if s not in following]
    replicas = tuple(s for s in ordered if s != primary and s not in fenced)
    return Topology(primary, replicas, fenced, status.timeline)


def dsn(topology: Topology, database: str, ssl_mode: str) -> str:
    """The libpq/asyncpg connection string without credentials: every server the platform
    may use, the primary first, and `target_session_attrs=read-write`, so a client whose
    first host is gone (or read-only) finds the new primary without a restart."""
    hosts = ",".join(str(s) for s in topology.servers)
    query = f"sslmode={ssl_mode}"
    if topology.replicas:
        query += "&target_session_attrs=read-write"
    return f"postgresql://{hosts}/{database}?{query}"
