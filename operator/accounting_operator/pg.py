"""The one place the operator talks to PostgreSQL: probe, promote, repoint, fence.

Every call logs in, to the `postgres` database, as the failover role of
`spec.failover.credentialsSecretRef` (never a superuser: pg_monitor, pg_signal_backend,
EXECUTE on pg_promote, pg_reload_conf and the fence function, ALTER SYSTEM on
primary_conninfo and synchronous_standby_names; see docs/failover.md), each with a
timeout. Passwords (the role's, and the replication password inside primary_conninfo) are
never logged nor put in an error message.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg

from accounting_operator.failover import Probe
from accounting_operator.stateful import SslMode
from accounting_operator.topology import Server

MAINTENANCE_DATABASE = "postgres"
"""The database the operator logs in to, as Patroni and CloudNativePG do: failover acts on
the server, not on the platform's data, and the fence function is installed there."""

# A replica's position is the WAL it has: received by streaming, or replayed (after a
# restart, until it streams again, nothing has been received).
PROBE = """
SELECT pg_is_in_recovery() AS in_recovery,
       pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery()
                            THEN greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
                            ELSE pg_current_wal_lsn() END, '0/0')::bigint AS lsn,
       CASE WHEN pg_is_in_recovery() THEN r.received_tli
            ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
       END AS timeline,
       r.sender_host, r.sender_port
FROM (SELECT 1) AS one
LEFT JOIN pg_stat_wal_receiver AS r ON r.status = 'streaming'
"""

FENCE = "SELECT accounting_failover.set_application_login(false) AS role"
"""The fence: a SECURITY DEFINER function the DBA installs (docs/failover.md) turns LOGIN
off for every login role of the group accounting_app, and nothing else: the failover role
needs no CREATEROLE (which on PostgreSQL 15 would let it grant itself far more)."""

UNFENCE = "SELECT accounting_failover.set_application_login(true) AS role"

CONNECT_ERRORS = (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class DatabaseActionError(Exception):
    """A promotion, repoint or fence did not complete (the message names server and step)."""


@dataclass(frozen=True, slots=True)
class Login:
    """How the operator logs in to every server of one platform."""

    user: str
    password: str
    database: str
    ssl_mode: SslMode
    timeout: float

    def __repr__(self) -> str:  # keep the password out of any log line or traceback
        return f"Login(user={self.user!r}, database={self.database!r})"


@contextlib.asynccontextmanager
async def session(server: Server, login: Login) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(
        host=server.host,
        port=server.port,
        user=login.user,
        password=login.password,
        database=login.database,
        ssl=login.ssl_mode,
        timeout=login.timeout,
        command_timeout=login.timeout,
        server_settings={"application_name": "accounting-operator"},
    )
    try:
        yield conn
    finally:
        with contextlib.suppress(*CONNECT_ERRORS):
            await asyncio.wait_for(conn.close(), login.timeout)


def _error(error: BaseException) -> str:
    if isinstance(error, asyncio.TimeoutError):
        return "timed out"
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:300]


async def probe(server: Server, login: Login) -> Probe:
    """A connection and one query: recovery state, WAL position, timeline, upstream."""
    try:
        async with session(server, login) as conn:
            row = await conn.fetchrow(PROBE, timeout=login.timeout)
    except CONNECT_ERRORS as error:
        return Probe(server, reachable=False, error=_error(error))
    assert row is not None
    upstream = None
    if row["sender_host"] and row["sender_port"]:
        upstream = Server(str(row["sender_host"]), int(row["sender_port"]))
    return Probe(
        server,
        reachable=True,
        in_recovery=bool(row["in_recovery"]),
        lsn=row["lsn"],
        upstream=upstream,
        timeline=row["timeline"],
    )


async def probe_all(servers: tuple[Server, ...], login: Login) -> list[Probe]:
    return list(await asyncio.gather(*(probe(s, login) for s in servers)))


async def _alter_system(conn: asyncpg.Connection, name: str, value: str, limit: float) -> None:
    # ALTER SYSTEM takes no parameters: the server quotes the value (format %L).
    statement = await conn.fetchval(
        "SELECT format('ALTER SYSTEM SET %I = %L', $1::text, $2::text)", name, value
    )
    await conn.execute(statement, timeout=limit)
    await conn.fetchval("SELECT pg_reload_conf()", timeout=limit)


async def promote(server: Server, login: Login, synchronous_names: str) -> int:
    """Promote a replica (already promoted: fine), set its synchronous_standby_names,
    prove it takes a write, and let the platform's roles log in (a fence of the former
    primary may have replicated here); its new timeline."""
    wait = max(int(login.timeout * 6), 30)
    try:
        async with session(server, login) as conn:
            if await conn.fetchval("SELECT pg_is_in_recovery()"):
                done = await conn.fetchval(
                    "SELECT pg_promote(wait => true, wait_seconds => $1)", wait, timeout=wait + 5
                )
                if not done:
                    raise DatabaseActionError(f"{server} did not finish promotion in {wait} s")
            await _alter_system(conn, "synchronous_standby_names", synchronous_names, wait)
            async with conn.transaction():
                # The proof of a write must not wait for a replica that does not follow yet.
                await conn.execute("SET LOCAL synchronous_commit = local")
                await conn.fetchval("SELECT pg_current_xact_id()")
                # A switchover's fence of the old primary replicated here before the
                # promotion: the platform's logins are turned back on (a write, too).
                await conn.fetch(UNFENCE)
            row = await conn.fetchrow(PROBE)
    except CONNECT_ERRORS as error:
        raise DatabaseActionError(f"promoting {server}: {_error(error)}") from None
    assert row is not None
    return int(row["timeline"])


# --- replicas follow the new primary ------------------------------------------------------

_PAIR = re.compile(r"\s*([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")


def parse_conninfo(text: str) -> dict[str, str]:
    """libpq's keyword=value connection string (values may be single-quoted)."""
    out = {}
    for match in _PAIR.finditer(text):
        key, raw = match.group(1), match.group(2)
        if raw.startswith("'"):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        out[key] = raw
    return out


def format_conninfo(values: dict[str, str]) -> str:
    def quote(value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    return " ".join(f"{k}={quote(v)}" for k, v in values.items())


def follow(conninfo: str, primary: Server) -> str:
    """The same primary_conninfo (user, password, application_name, TLS) aimed at `primary`."""
    values = {k: v for k, v in parse_conninfo(conninfo).items() if k != "hostaddr"}
    values["host"], values["port"] = primary.host, str(primary.port)
    return format_conninfo(values)


async def repoint(server: Server, primary: Server, login: Login) -> str:
    """Point a replica's WAL receiver at `primary` (reloadable since PostgreSQL 13); its
    application_name, which the primary's synchronous_standby_names lists."""
    try:
        async with session(server, login) as conn:
            current = str(await conn.fetchval("SHOW primary_conninfo") or "")
            wanted = follow(current, primary)
            if wanted != current:
                await _alter_system(conn, "primary_conninfo", wanted, login.timeout)
            name = parse_conninfo(wanted).get("application_name")
            return name or str(await conn.fetchval("SHOW cluster_name") or "walreceiver")
    except CONNECT_ERRORS as error:
        raise DatabaseActionError(f"repointing {server} to {primary}: {_error(error)}") from None


async def followers(primary: Server, login: Login) -> tuple[list[str], str]:
    """Application names of the replicas streaming from `primary`, and its current
    synchronous_standby_names."""
    try:
        async with session(primary, login) as conn:
            rows = await conn.fetch(
                "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'"
            )
            current = str(await conn.fetchval("SHOW synchronous_standby_names") or "")
    except CONNECT_ERRORS as error:
        raise DatabaseActionError(f"reading the replicas of {primary}: {_error(error)}") from None
    return sorted({str(r["application_name"]) for r in rows}), current


async def set_synchronous(primary: Server, login: Login, names: str) -> None:
    try:
        async with session(primary, login) as conn:
            await _alter_system(conn, "synchronous_standby_names", names, login.timeout)
    except CONNECT_ERRORS as error:
        raise DatabaseActionError(
            f"setting synchronous_standby_names on {primary}: {_error(error)}"
        ) from None


# --- fencing ------------------------------------------------------------------------------


async def fence(server: Server, login: Login) -> list[str]:
    """Lock the platform out of a former primary: revoke its roles' LOGIN and end their
    sessions. (default_transaction_read_only is no fence: a client turns it off.)"""
    try:
        async with session(server, login) as conn:
            # Its commits would wait for a synchronous replica that no longer follows it.
            await conn.execute("SET synchronous_commit = local")
            roles = [str(r["role"]) for r in await conn.fetch(FENCE)]
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE usename = ANY($1::text[]) AND pid <> pg_backend_pid()",
                roles,
            )
    except CONNECT_ERRORS as error:
        raise DatabaseActionError(f"fencing {server}: {_error(error)}") from None
    return roles


async def checkpoint(server: Server, login: Login) -> None:
    """A checkpoint on a new primary: until its first one, its control file still names the
    old timeline, and pg_rewind of the former primary would find nothing to rewind (needs
    pg_checkpoint, PostgreSQL 15)."""
    try:
        async with session(server, login) as conn:
            await conn.execute("CHECKPOINT", timeout=max(login.timeout, 60))
    except CONNECT_ERRORS as error:
        raise DatabaseActionError(f"checkpoint on {server}: {_error(error)}") from None


async def stop_writes(server: Server, login: Login) -> int:
    """For a switchover: fence the primary, then its final WAL position (bytes)."""
    await fence(server, login)
    try:
        async with session(server, login) as conn:
            lsn = await conn.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
    except CONNECT_ERRORS as error:
        raise DatabaseActionError(
            f"reading the WAL position of {server}: {_error(error)}"
        ) from None
    return int(lsn)
