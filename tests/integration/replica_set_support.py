"""The local replica set of hack/services.sh (a primary, two streaming replicas): its
addresses, and the blunt things failover tests do to its servers (kill -9, restart,
promote)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shlex
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "hack" / "services.sh"
T = TypeVar("T")


def services(command: str) -> str:
    done = subprocess.run(
        [str(SERVICES), command], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"hack/services.sh {command} failed:\n{done.stderr}"
    return done.stdout


def _exports(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            values[name] = shlex.split(value)[0]
    return values


@dataclasses.dataclass(frozen=True)
class ReplicaSet:
    """Server n (0: the first primary) listens on 127.0.0.1:ports[n], data in pg{n}."""

    env: dict[str, str]

    @classmethod
    def from_script(cls) -> ReplicaSet:
        return cls(_exports(services("replset-env")))

    @property
    def ports(self) -> list[int]:
        servers = [self.env["REPLSET_PRIMARY"], *self.env["REPLSET_REPLICAS"].split(",")]
        return [int(server.rpartition(":")[2]) for server in servers]

    @property
    def app_url(self) -> str:
        """The app role, every server listed, primary first, read-write required."""
        return self.env["REPLSET_DATABASE_URL"]

    @property
    def owner_url(self) -> str:
        return self.env["REPLSET_MIGRATION_URL"]

    def url(self, role: str, n: int, database: str = "accounting") -> str:
        """`role` (app, owner or failover) on server n alone."""
        template = {
            "app": self.app_url,
            "owner": self.owner_url,
            "failover": self.env["REPLSET_FAILOVER_URL"],
        }[role]
        parts = urlsplit(template)
        auth = parts.netloc.rpartition("@")[0]
        return urlunsplit(
            (parts.scheme, f"{auth}@127.0.0.1:{self.ports[n]}", f"/{database}", "", "")
        )

    def app_url_in_order(self, *order: int) -> str:
        """The app role's multi-host DSN with the servers in this order."""
        parts = urlsplit(self.app_url)
        auth = parts.netloc.rpartition("@")[0]
        hosts = ",".join(f"127.0.0.1:{self.ports[n]}" for n in order)
        return urlunsplit(parts._replace(netloc=f"{auth}@{hosts}"))

    def data(self, n: int) -> Path:
        return Path(self.env["REPLSET_DIR"]) / f"pg{n}"

    def kill9(self, n: int) -> None:
        """SIGKILL the postmaster of server n (its backends notice and exit)."""
        pid = int((self.data(n) / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, signal.SIGKILL)

    async def start(self, n: int) -> None:
        """pg_ctl start, as the postgres user; retried while the killed server's backends
        still hold its shared memory."""
        for _ in range(50):
            if await self.pg_ctl(n, "start") == 0:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"server pg{n} did not start; see {self.log(n)}")

    async def stop(self, n: int, mode: str = "fast") -> None:
        """pg_ctl stop: fast ends every session with 57P01 (admin shutdown); immediate
        quits at once and leaves crash recovery to the next start."""
        assert await self.pg_ctl(n, "stop", "-m", mode) == 0, f"pg{n} did not stop"

    async def restart(self, n: int) -> None:
        """pg_ctl restart -m fast: a stop as above and a start (about half a second)."""
        assert await self.pg_ctl(n, "restart", "-m", "fast") == 0, f"see {self.log(n)}"

    def log(self, n: int) -> Path:
        return Path(self.env["REPLSET_DIR"]) / f"pg{n}.log"

    async def pg_ctl(self, n: int, *args: str) -> int:
        """pg_ctl on server n as the postgres user, waiting for it; its exit status."""
        pg_ctl = Path(self.env["REPLSET_PG_BIN"]) / "pg_ctl"
        command = ["runuser", "-u", "postgres", "--", str(pg_ctl), "-D", str(self.data(n))]
        command += ["-l", str(self.log(n)), "-w", "-t", "30", *args]
        process = await asyncio.create_subprocess_exec(
            *command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return await process.wait()

    async def fetchval(
        self, role: str, n: int, query: str, *args: Any, database: str = "accounting"
    ) -> Any:
        async with connection(self.url(role, n, database)) as conn:
            return await conn.fetchval(query, *args)

    async def promote(self, n: int) -> None:
        """As the failover role, in the database its grants are in, as the operator does."""
        query = "SELECT pg_promote(wait => true)"
        assert await self.fetchval("failover", n, query, database="postgres") is True

    async def repoint(self, replica: int, *, to: int) -> None:
        """As the failover role: `replica` streams from server `to` (ALTER SYSTEM, reload)."""
        conninfo = (
            f"host=127.0.0.1 port={self.ports[to]} user={self.env['REPLSET_REPLICATION_USER']}"
            f" password={self.env['REPLSET_REPLICATION_PASSWORD']} application_name=ua_r{replica}"
        )
        async with connection(self.url("failover", replica, "postgres")) as conn:
            await conn.execute(f"ALTER SYSTEM SET primary_conninfo = '{conninfo}'")
            await conn.fetchval("SELECT pg_reload_conf()")

        async def streams() -> bool:
            query = "SELECT sender_port FROM pg_stat_wal_receiver WHERE status = 'streaming'"
            return bool(await self.fetchval("failover", replica, query) == self.ports[to])

        await eventually(streams)


@asynccontextmanager
async def connection(url: str) -> AsyncIterator[asyncpg.Connection[Any]]:
    conn: asyncpg.Connection[Any] = await asyncpg.connect(url)
    try:
        yield conn
    finally:
        await conn.close()


async def eventually(check: Callable[[], Awaitable[T]], within: float = 15.0) -> T:
    """The first truthy result of `check`, retried (errors included) for `within` s."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            result = await check()
            if result:
                return result
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            if asyncio.get_running_loop().time() > deadline:
                raise
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {within} s: {check}")
        await asyncio.sleep(0.05)
