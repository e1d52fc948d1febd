"""The failover drill's real parts: the local replica set, a real API process on it, and a
steady load of journal entries whose acknowledgements are kept to be checked afterwards.

The replica set is `hack/services.sh replset-*` (a PostgreSQL primary and two synchronous
streaming replicas on loopback); `make test` starts it and exports REPLSET_*. Shared by the
failover e2e tests and `make bench-failover`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import yaml

from tests import drill_support
from tests.e2e import helpers
from tests.e2e import operating as op
from tests.e2e.helpers import Cluster, Manifest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "hack" / "services.sh"
PASSWORD = "a-long-enough-password"


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise AssertionError(
            f"{name} is not set: start the replica set and export its settings "
            '(hack/services.sh start && eval "$(hack/services.sh env)"; make test does both)'
        )
    return value


@dataclass(frozen=True)
class ReplicaSet:
    """The three local servers; `servers[0]` is the primary after a reset."""

    servers: tuple[str, ...]
    database_url: str
    """The API role's multi-host DSN (with its password)."""
    migration_url: str
    superuser: tuple[str, str]
    failover_login: tuple[str, str]
    pg_bin: Path
    data: Path

    @classmethod
    def from_env(cls) -> ReplicaSet:
        servers = (_env("REPLSET_PRIMARY"), *_env("REPLSET_REPLICAS").split(","))
        migration = urlsplit(_env("REPLSET_MIGRATION_URL"))
        failover = urlsplit(_env("REPLSET_FAILOVER_URL"))
        return cls(
            servers=servers,
            database_url=_env("REPLSET_DATABASE_URL"),
            migration_url=_env("REPLSET_MIGRATION_URL"),
            superuser=(migration.username or "", migration.password or ""),
            failover_login=(failover.username or "", failover.password or ""),
            pg_bin=Path(_env("REPLSET_PG_BIN")),
            data=Path(_env("REPLSET_DIR")),
        )

    def reset(self) -> None:
        """A fresh primary and two streaming replicas, brought to the current schema."""
        env = {**os.environ, "MIGRATION_DATABASE_URL": self.migration_url}
        api = Path(sys.executable).parent / "accounting-api"
        for command in ([str(SERVICES), "replset-reset"], [str(api), "migrate"]):
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise AssertionError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")

    def _dir(self, server: str) -> Path:
        return self.data / f"pg{self.servers.index(server)}"

    def kill(self, server: str) -> float:
        """kill -9 of the server's postmaster; when (time.monotonic())."""
        pid = int((self._dir(server) / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, signal.SIGKILL)
        return time.monotonic()

    def start(self, server: str) -> None:
        """Start a stopped (or killed) server again, as it was: a killed primary comes back
        read-write on its old timeline. Its orphaned backends may hold the lock a moment."""
        data = self._dir(server)
        command = ["runuser", "-u", "postgres", "--", str(self.pg_bin / "pg_ctl"), "-D",
                   str(data), "-l", f"{data}.log", "-w", "-t", "30", "start"]  # fmt: skip
        deadline = time.monotonic() + 30
        while subprocess.run(command, capture_output=True, check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"{server} did not start again: {data}.log")
            time.sleep(0.2)

    def pg_ctl(self, server: str, *args: str) -> None:
        data = self._dir(server)
        command = ["runuser", "-u", "postgres", "--", str(self.pg_bin / "pg_ctl"), "-D",
                   str(data), "-w", *args]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True)

    def rejoin(self, server: str, primary: str) -> None:
        """What docs/failover.md tells an admin to do with a fenced former primary: stop it,
        rewind it onto the new primary (pg_rewind), and start it as a replica of it."""
        self.pg_ctl(server, "stop", "-m", "fast")
        data = self._dir(server)
        host, _, port = primary.rpartition(":")
        user, password = self.superuser
        source = f"host={host} port={port} user={user} password={password} dbname=postgres"
        rewind = ["runuser", "-u", "postgres", "--", str(self.pg_bin / "pg_rewind"), "-D",
                  str(data), f"--source-server={source}"]  # fmt: skip
        subprocess.run(rewind, check=True, capture_output=True)
        replication = (_env("REPLSET_REPLICATION_USER"), _env("REPLSET_REPLICATION_PASSWORD"))
        name = f"ua_r{self.servers.index(server)}"
        conninfo = (f"host={host} port={port} user={replication[0]} "
                    f"password={replication[1]} application_name={name}")  # fmt: skip
        with (data / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"primary_conninfo = '{conninfo}'\n")
        # pg_rewind copied the source's postgresql.conf, whose last lines name its own port.
        own_port = server.rpartition(":")[2]
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {own_port}\n")
        (data / "standby.signal").touch()
        subprocess.run(["chown", "-R", "postgres:postgres", str(data)], check=True)
        self.start(server)

    def refuse_role(self, server: str, role: str | None) -> None:
        """Make `server` refuse logins of `role` (pg_hba.conf), or accept them again (None):
        a network cut between the operator and one server, seen from the operator."""
        hba = self._dir(server) / "pg_hba.conf"
        original = hba.with_suffix(".conf.orig")
        if not original.exists():
            original.write_text(hba.read_text())
        rule = f"host all {role} 127.0.0.1/32 reject\n" if role else ""
        hba.write_text(rule + original.read_text())
        asyncio.run(self.fetchval(server, "SELECT pg_reload_conf()"))

    async def connect(self, server: str, database: str = "accounting") -> asyncpg.Connection:
        host, _, port = server.rpartition(":")
        user, password = self.superuser
        return await asyncpg.connect(
            host=host, port=int(port), user=user, password=password, database=database
        )

    async def fetchval(self, server: str, query: str, *args: object) -> Any:
        conn = await self.connect(server)
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()


# --- the platform, watched by the operator ----------------------------------------------

AVAILABLE = "DatabaseAvailable"


def endpoint(server: str) -> dict[str, Any]:
    host, _, port = server.rpartition(":")
    return {"host": host, "port": int(port)}


def apply_platform(cluster: Cluster, namespace: str, replicas: ReplicaSet, **failover: Any) -> None:
    """Platform books on the replica set, failover checked every second (3 failures)."""
    user, password = replicas.failover_login
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "books-db-failover"},
        "type": "kubernetes.io/basic-auth",
        "stringData": {"username": user, "password": password},
    }
    platform = yaml.safe_load((op.EXAMPLES / "minimal.yaml").read_text())
    platform["spec"]["database"] |= {
        "primary": endpoint(replicas.servers[0]),
        "replicas": [endpoint(s) for s in replicas.servers[1:]],
        "sslMode": "disable",
    }
    platform["spec"]["failover"] = {
        "enabled": True,
        "checkIntervalSeconds": 1,
        "failureThreshold": 3,
        "credentialsSecretRef": {"name": "books-db-failover"},
        **failover,
    }
    op.kubectl(cluster, "apply", "-n", namespace, "-f", str(op.EXAMPLES / "secrets.example.yaml"))
    documents = [secret, platform]
    op.kubectl(
        cluster,
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": documents}),
    )


def condition(found: Manifest, kind: str) -> dict[str, Any]:
    conditions = (found.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind), {})


def wait_condition(
    cluster: Cluster, namespace: str, status: str, reason: str, timeout: float = 60
) -> Manifest:
    def check() -> Manifest | None:
        found = op.platform(cluster, namespace)
        got = condition(found, AVAILABLE)
        return found if (got.get("status"), got.get("reason")) == (status, reason) else None

    return helpers.wait_for(f"{AVAILABLE}={status} ({reason})", check, timeout=timeout)


def wait_promoted(cluster: Cluster, namespace: str, timeout: float = 60) -> Manifest:
    """The platform once the operator has recorded a failover or switchover
    (status.failoverHistory), written in the same status update as DatabaseAvailable=True
    (FailedOver). That condition lasts only until the watchdog's next check reports the new
    primary's state (PrimaryAvailable, Asynchronous, NoSynchronousReplica), which a poll
    under load can miss; the history stays."""

    def check() -> Manifest | None:
        found = op.platform(cluster, namespace)
        return found if (found.get("status") or {}).get("failoverHistory") else None

    return helpers.wait_for("a promotion in status.failoverHistory", check, timeout=timeout)


# --- the API, a real process ------------------------------------------------------------


@contextlib.contextmanager
def api(database_url: str, log: Path, **settings: str) -> Iterator[str]:
    """`accounting-api serve` on a free loopback port; its base URL once /ready."""
    process = drill_support.ApiProcess(drill_support.api_settings(database_url) | settings, log)
    try:
        process.start()
        yield process.base
    finally:
        process.stop(timeout=20)


# --- a steady load of journal entries ----------------------------------------------------


@dataclass
class Outcome:
    """What the load client saw."""

    acknowledged: list[tuple[str, float, float]] = field(default_factory=list)
    """(entry id, sent, answered 2xx), times from time.monotonic()."""
    errors: list[tuple[float, str]] = field(default_factory=list)
    org_id: str = ""

    def first_ack_sent_after(self, moment: float) -> float | None:
        """When the first request sent after `moment` was acknowledged."""
        answered = [done for _, sent, done in self.acknowledged if sent >= moment]
        return min(answered) if answered else None

    def errors_between(self, start: float, end: float) -> int:
        return sum(1 for at, _ in self.errors if start <= at <= end)


class Load:
    """Workers posting balanced journal entries against the API until stopped."""

    def __init__(self, base: str, workers: int = 4, pause: float = 0.01) -> None:
        self.base, self.workers, self.pause = base, workers, pause
        self.outcome = Outcome()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    def __enter__(self) -> Load:
        self._thread.start()
        if not self._ready.wait(60) or self._failure is not None:
            raise AssertionError(f"the load could not start: {self._failure}")
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> Outcome:
        self._stop.set()
        self._thread.join(timeout=60)
        return self.outcome

    async def _tenant(self, client: httpx.AsyncClient) -> tuple[dict[str, str], str, str]:
        email = f"drill-{secrets.token_hex(6)}@example.com"
        owner = {"email": email, "password": PASSWORD, "name": "Drill"}
        org = await client.post("/v1/organizations", json={"name": "Drill", "owner": owner})
        org.raise_for_status()
        self.outcome.org_id = org.json()["id"]
        token = await client.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        listing = await client.get("/v1/accounts", params={"limit": 100}, headers=auth)
        accounts = sorted(a["id"] for a in listing.json()["data"] if a["type"] == "asset")
        return auth, accounts[0], accounts[1]

    async def _run(self) -> None:
        try:
            async with httpx.AsyncClient(base_url=self.base, timeout=30) as client:
                auth, debit, credit = await self._tenant(client)
                self._ready.set()
                await asyncio.gather(
                    *(self._work(client, auth, debit, credit) for _ in range(self.workers))
                )
        except BaseException as error:  # reported by __enter__ or the assertions
            self._failure = error
            self._ready.set()

    async def _work(
        self, client: httpx.AsyncClient, auth: dict[str, str], debit: str, credit: str
    ) -> None:
        while not self._stop.is_set():
            body = {
                "date": "2026-06-30",
                "description": "drill",
                "postings": [
                    {"account_id": debit, "side": "debit", "amount": 1234},
                    {"account_id": credit, "side": "credit", "amount": 1234},
                ],
            }
            sent = time.monotonic()
            try:
                response = await client.post("/v1/journal-entries", json=body, headers=auth)
            except httpx.HTTPError as error:
                self.outcome.errors.append((time.monotonic(), type(error).__name__))
            else:
                if response.status_code == 201:
                    self.outcome.acknowledged.append(
                        (response.json()["id"], sent, time.monotonic())
                    )
                else:
                    self.outcome.errors.append((time.monotonic(), str(response.status_code)))
            await asyncio.sleep(self.pause)


# --- what the books say afterwards --------------------------------------------------------


async def lost(replicas: ReplicaSet, server: str, outcome: Outcome) -> list[str]:
    """Acknowledged entries that `server` does not have."""
    conn = await replicas.connect(server)
    try:
        rows = await conn.fetch(
            "SELECT id FROM journal_entries WHERE organization_id = $1", outcome.org_id
        )
    finally:
        await conn.close()
    have = {r["id"] for r in rows}
    return [entry for entry, _, _ in outcome.acknowledged if entry not in have]


async def lost_on(replicas: ReplicaSet, former: str, current: str, since: object) -> list[str]:
    """Entries written on `former` since `since` that `current` does not have."""
    query = "SELECT id FROM journal_entries WHERE created_at >= $1"
    conns = [await replicas.connect(s) for s in (former, current)]
    try:
        ids = [{str(r["id"]) for r in await c.fetch(query, since)} for c in conns]
    finally:
        for conn in conns:
            await conn.close()
    return sorted(ids[0] - ids[1])


async def books_problems(replicas: ReplicaSet, server: str) -> list[str]:
    """Unbalanced trial balances and broken audit chains, of every organization."""
    conn = await replicas.connect(server)
    try:
        return await drill_support.books_problems(conn)
    finally:
        await conn.close()
