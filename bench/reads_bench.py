"""Reads that scale out: the primary's CPU per read, alone and with two replicas.

The same mixed load runs twice in one process against the local replica set
(hack/services.sh replset-start): first with DATABASE_REPLICAS empty (every read on the
primary), then with both replicas. Each client posts an entry to an account of its own,
then reads it back: the account's balance, the trial balance, the list of entries, the
list of accounts. Half the clients carry the response's Consistency-Token into their
reads; the other half send none and rely on their organization's read floor. A read that
does not show the client's last write is a read-your-writes violation (counted, never
expected).

All servers share this machine's cores, so throughput cannot show the gain; the primary's
CPU can. Measured: the CPU time (from /proc/<pid>/stat) of the primary's backends named
accounting-api-read, the pool that serves reads on the primary (writes use their own
pool; WAL senders and the load client's sampler are other backends), divided by the reads
done. Limit, same run: with replicas it falls by at least 80 %. The report cache is off
(REPORT_CACHE_TTL_SECONDS=0) so that every report reads the database.

Prints one JSON object on its last line and writes it to bench/results/reads.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import pathlib
import secrets
import time
from collections.abc import AsyncIterator

import asyncpg
import httpx
from prometheus_client import REGISTRY

from accounting_api.app import create_app
from accounting_api.db import migrations, replicas
from accounting_api.settings import Settings

ROOT = pathlib.Path(__file__).resolve().parent.parent
SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
CLIENTS = int(os.environ.get("BENCH_CONCURRENCY", "8"))
READS_PER_WRITE = 4
LIMIT = 0.8
HEADER = "Consistency-Token"
PASSWORD = "a-long-enough-password"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ms(pid: int) -> float | None:
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return 1000 * (int(fields[11]) + int(fields[12])) / TICKS
    return None


class ReadBackends:
    """CPU of the primary's read backends: sampled while the load runs, so a backend that
    starts mid-phase counts from zero and one that ends counts to its last sample."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}

    async def sample(self, *, starting: bool = False) -> None:
        query = "SELECT pid FROM pg_stat_activity WHERE application_name = $1"
        for row in await self._conn.fetch(query, replicas.READ_APPLICATION):
            used = cpu_ms(row["pid"])
            if used is not None:
                self._first.setdefault(row["pid"], used if starting else 0.0)
                self._last[row["pid"]] = used

    @property
    def total_ms(self) -> float:
        return sum(self._last[pid] - self._first[pid] for pid in self._last)


@dataclasses.dataclass
class Tally:
    writes: int = 0
    reads: int = 0
    violations: int = 0
    errors: int = 0


@dataclasses.dataclass
class Client:
    http: httpx.AsyncClient
    bearer: str
    account: str
    revenue: str
    token: str | None = None
    posted: int = 0
    carries_token: bool = True
    """False: a client that never sends Consistency-Token back."""

    def headers(self) -> dict[str, str]:
        found = {"Authorization": f"Bearer {self.bearer}"}
        return found | ({HEADER: self.token} if self.token and self.carries_token else {})

    async def write(self) -> str:
        body = {
            "date": "2026-01-15",
            "description": "bench",
            "postings": [
                {"account_id": self.account, "side": "debit", "amount": 1},
                {"account_id": self.revenue, "side": "credit", "amount": 1},
            ],
        }
        response = await self.http.post("/v1/journal-entries", json=body, headers=self.headers())
        response.raise_for_status()
        self.token = response.headers.get(HEADER, self.token)
        self.posted += 1
        return str(response.json()["id"])

    async def read(self, kind: int, entry_id: str) -> bool:
        """One read; whether it shows this client's last write."""
        if kind == 0:
            path, params = f"/v1/accounts/{self.account}/balance", {"as_of": "2026-12-31"}
        elif kind == 1:
            path, params = "/v1/reports/trial-balance", {"as_of": "2026-12-31"}
        elif kind == 2:
            path, params = "/v1/journal-entries", {"limit": "100"}
        else:
            path, params = "/v1/accounts", {"limit": "100"}
        response = await self.http.get(path, params=params, headers=self.headers())
        response.raise_for_status()
        return self._shows_write(kind, response.json(), entry_id)

    def _shows_write(self, kind: int, body: dict[str, object], entry_id: str) -> bool:
        if kind == 0:
            return body["amount"] == self.posted
        if kind == 1:
            lines = body["currencies"][0]["accounts"]  # type: ignore[index]
            return any(
                line["account_id"] == self.account and line["debit"] == self.posted
                for line in lines
            )
        data = body["data"]
        if kind == 2:
            return any(e["id"] == entry_id for e in data)  # type: ignore[attr-defined]
        return any(a["id"] == self.account for a in data)  # type: ignore[attr-defined]


async def run_client(client: Client, tally: Tally, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            entry_id = await client.write()
            tally.writes += 1
            for kind in range(READS_PER_WRITE):
                tally.reads += 1
                if not await client.read(kind, entry_id):
                    tally.violations += 1
        except httpx.HTTPError:
            tally.errors += 1


async def clients(http: httpx.AsyncClient) -> list[Client]:
    email = f"bench-{secrets.token_hex(4)}@example.com"
    owner = {"email": email, "password": PASSWORD, "name": "B"}
    org = await http.post("/v1/organizations", json={"name": "Reads", "owner": owner})
    org.raise_for_status()
    tok = await http.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
    bearer = tok.json()["access_token"]
    first = Client(http, bearer, "", "", tok.headers.get(HEADER))
    listing = await http.get("/v1/accounts", params={"limit": 100}, headers=first.headers())
    revenue = next(a["id"] for a in listing.json()["data"] if a["type"] == "revenue")
    found = []
    for n in range(CLIENTS):
        body = {"code": f"19{n:02d}", "name": f"Cash {n}", "type": "asset", "currency": "USD"}
        made = await http.post("/v1/accounts", json=body, headers=first.headers())
        made.raise_for_status()
        token = made.headers.get(HEADER)
        found.append(Client(http, bearer, made.json()["id"], revenue, token, 0, n % 2 == 0))
    return found


@contextlib.asynccontextmanager
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.bench") as http:
            yield http


def served_by(role: str) -> float:
    return sum(
        sample.value
        for family in REGISTRY.collect()
        if family.name == "accounting_db_reads"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels["role"] == role
    )


async def phase(settings: Settings, owner: asyncpg.Connection) -> dict[str, float]:
    async with api(settings) as http:
        load = await clients(http)
        for client in load:  # warm the read pools before the measurement starts
            await client.read(3, "")
        backends, tally = ReadBackends(owner), Tally()
        replica_reads = served_by("replica")
        await backends.sample(starting=True)
        deadline = time.monotonic() + SECONDS
        runs = asyncio.gather(*(run_client(c, tally, deadline) for c in load))
        while not runs.done():
            await asyncio.sleep(0.1)
            await backends.sample()
        await runs
        await backends.sample()
    return {
        "reads": tally.reads,
        "writes": tally.writes,
        "errors": tally.errors,
        "violations": tally.violations,
        "primary_read_cpu_ms": round(backends.total_ms, 1),
        "cpu_ms_per_read": backends.total_ms / max(tally.reads, 1),
        "replica_reads": served_by("replica") - replica_reads,
    }


async def main() -> dict[str, object]:
    owner_url = os.environ["REPLSET_MIGRATION_URL"]
    owner = await asyncpg.connect(owner_url)
    try:
        await migrations.apply(owner)
        base = Settings(
            database_url=os.environ["REPLSET_DATABASE_URL"],
            migration_database_url=owner_url,
            redis_url=os.environ["REDIS_URL"],
            jwt_secret="bench-secret-" + "x" * 32,
            rate_limit_max=100_000_000,
            auth_rate_limit_max=100_000_000,
            org_api_calls_per_minute=10**9,
            sign_up_attempts_per_address=100_000_000,
            report_cache_ttl_seconds=0,
            db_pool_max=CLIENTS,
            db_read_pool_max=CLIENTS,
        )
        alone = await phase(base, owner)
        both = dataclasses.replace(base, database_replicas=os.environ["REPLSET_REPLICAS"])
        with_replicas = await phase(both, owner)
    finally:
        await owner.close()
    reduction = 1 - with_replicas["cpu_ms_per_read"] / max(alone["cpu_ms_per_read"], 1e-9)
    violations = int(alone["violations"] + with_replicas["violations"])
    return {
        "benchmark": "reads",
        "seconds_per_phase": SECONDS,
        "clients": CLIENTS,
        "clients_without_token": CLIENTS // 2,
        "reads_alone": int(alone["reads"]),
        "reads_with_replicas": int(with_replicas["reads"]),
        "writes_alone": int(alone["writes"]),
        "writes_with_replicas": int(with_replicas["writes"]),
        "reads_served_by_replicas": int(with_replicas["replica_reads"]),
        "errors": int(alone["errors"] + with_replicas["errors"]),
        "primary_read_cpu_ms_alone": alone["primary_read_cpu_ms"],
        "primary_read_cpu_ms_with_replicas": with_replicas["primary_read_cpu_ms"],
        "primary_cpu_ms_per_read_alone": round(alone["cpu_ms_per_read"], 4),
        "primary_cpu_ms_per_read_with_replicas": round(with_replicas["cpu_ms_per_read"], 4),
        "reduction": round(reduction, 3),
        "limit_reduction": LIMIT,
        "read_your_writes_violations": violations,
        "passed": reduction >= LIMIT and violations == 0,
        "cpus": os.cpu_count() or 0,
    }


def record(result: dict[str, object]) -> str:
    """The result as one JSON line, also written (indented) to bench/results/reads.json."""
    path = ROOT / "bench/results/reads.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return json.dumps(result)


if __name__ == "__main__":
    print(record(asyncio.run(main())))
