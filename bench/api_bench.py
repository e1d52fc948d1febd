"""API posting throughput against the same inserts through asyncpg directly.

Starts `accounting-api serve` on loopback, drives single-entry POSTs with wrk at
concurrency 32, posts batches of 1,000 entries, and measures in the same run the
limit: the same transactions (tenant set, entry row, postings, commit, same
durability) issued by asyncpg at the same concurrency. Prints one JSON object on
the last line and writes it to bench/results/api.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import pathlib
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from typing import IO

import asyncpg
import httpx
from bench import open_loop

from accounting_api.domain import ids

ROOT = pathlib.Path(__file__).resolve().parent.parent
PORT = int(os.environ.get("BENCH_PORT", "8791"))
API = f"http://127.0.0.1:{PORT}"
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "15"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
FIXED_RATE_SECONDS = int(os.environ.get("BENCH_FIXED_RATE_SECONDS", "10"))
ONLY_BATCH = os.environ.get("BENCH_ONLY") == "batch"
"""BENCH_ONLY=batch: the batch measurement alone, with its CPU per entry."""
BATCH = 1000
PASSWORD = "a-long-enough-password"


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time consumed so far by these processes (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        # A process that is exiting: ENOENT, or ESRCH (ProcessLookupError) while a zombie.
        with contextlib.suppress(OSError):
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def loadavg() -> list[str]:
    return pathlib.Path("/proc/loadavg").read_text().split()[:3]


def family(pid: int) -> list[int]:
    """pid and its direct children (uvicorn's worker processes)."""
    children = []
    # Not Path.glob: it stats each /proc/N/stat itself, outside any suppress, and a process
    # exiting meanwhile makes that raise ProcessLookupError.
    for name in os.listdir("/proc"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if parent_pid(int(name)) == pid:
                children.append(int(name))
    return [pid, *children]


async def postmaster_pid(dsn: str) -> int:
    """The pid of the server DATABASE_URL names: the parent of one of its backends.

    Only that server's processes are counted, not every `postgres` on the machine
    (other worktrees' servers share it)."""
    conn = await asyncpg.connect(dsn)
    try:
        backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
        parent = parent_pid(backend)
    finally:
        await conn.close()
    return parent


def parent_pid(pid: int) -> int:
    return int(pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def postgres_pids(postmaster: int) -> list[int]:
    """The server's postmaster and every process it started (backends, WAL writer, ...)."""
    return family(postmaster)


def server_cpu_seconds(postmaster: int) -> float:
    """CPU time of the server so far: its live processes' plus what its exited children
    used (the postmaster's cutime + cstime: it reaps them), so a backend that exits between
    two readings does not take its CPU time out of the sum."""
    fields = pathlib.Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    reaped = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    return cpu_seconds(postgres_pids(postmaster)) + reaped


def start_api(log: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    """The API's server on loopback: its log (stdout) discarded and its stderr to a pipe,
    or both to `log` (a longer run, whose pipe nobody reads, would fill it)."""
    env = os.environ | {
        "JWT_SECRET": "bench-secret-" + "x" * 32,
        "RATE_LIMIT_MAX": "100000000",
        "AUTH_RATE_LIMIT_MAX": "100000000",
        "SUSPICIOUS_IP_REQUESTS": "100000000",
        "PLATFORM_FAILED_SIGNINS": "100000000",
        "ORG_API_CALLS_PER_MINUTE": "100000000",
        "ORG_EXPORT_BYTES_PER_HOUR": "1000000000000",
        "SIGN_UP_ATTEMPTS_PER_ADDRESS": "100000000",
        "DB_POOL_MAX": str(CONCURRENCY),
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "INFO"),
    }
    cmd = [str(ROOT / ".venv/bin/accounting-api"), "serve", "--port", str(PORT)]
    cmd += ["--workers", str(WORKERS)]
    if log is None:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)


async def wait_ready(client: httpx.AsyncClient) -> None:
    for _ in range(200):
        try:
            if (await client.get("/ready")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the API did not become ready")


async def tenant(client: httpx.AsyncClient) -> tuple[str, str, dict[str, str]]:
    email = f"bench-{secrets.token_hex(4)}@example.com"
    org = await client.post(
        "/v1/organizations",
        json={"name": "Bench", "owner": {"email": email, "password": PASSWORD, "name": "B"}},
    )
    org.raise_for_status()
    tok = await client.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
    token = tok.json()["access_token"]
    accounts = await client.get(
        "/v1/accounts", params={"limit": 100}, headers={"Authorization": f"Bearer {token}"}
    )
    return org.json()["id"], token, {a["code"]: a["id"] for a in accounts.json()["data"]}


def run_wrk(token: str, debit: str, credit: str, seconds: int) -> dict[str, float]:
    env = os.environ | {"BENCH_TOKEN": token, "BENCH_DEBIT": debit, "BENCH_CREDIT": credit}
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{CONCURRENCY}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(ROOT / "bench/post_entry.lua"),
            f"{API}/v1/journal-entries",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"WRK_JSON (\{.*\})", out)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    result: dict[str, float] = json.loads(match[1])
    return result


async def raw_limit(
    dsn: str, postmaster: int, org_id: str, debit: str, credit: str, seconds: int
) -> tuple[float, float]:
    """The same transaction the API runs per entry, straight through asyncpg: BEGIN with
    the tenant set, one statement writing the entry and its postings, COMMIT."""
    pool = await asyncpg.create_pool(dsn, min_size=CONCURRENCY, max_size=CONCURRENCY)
    deadline = time.perf_counter() + seconds
    count = 0
    day = datetime.date(2026, 11, 1)

    async def worker() -> None:
        nonlocal count
        async with pool.acquire() as conn:
            while time.perf_counter() < deadline:
                entry_id = ids.new_id("je")
                await conn.execute(
                    f"BEGIN; SELECT set_config('app.organization_id', '{org_id}', true)"
                )
                await conn.execute(
                    "WITH e AS (INSERT INTO journal_entries (organization_id, id, entry_date,"
                    " description) VALUES ($1, $2, $5, 'raw'))"
                    " INSERT INTO postings (organization_id, journal_entry_id, line,"
                    " account_id, currency, amount, entry_date) VALUES"
                    " ($1, $2, 0, $3, 'USD', 1234, $5), ($1, $2, 1, $4, 'USD', -1234, $5)",
                    org_id,
                    entry_id,
                    debit,
                    credit,
                    day,
                )
                await conn.execute("COMMIT")
                count += 1

    backends = postgres_pids(postmaster)
    pg_before = cpu_seconds(backends)
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    pg_cpu = cpu_seconds(backends) - pg_before  # before the backends exit with the pool
    await pool.close()
    return count / elapsed, pg_cpu


async def fixed_rate(token: str, debit: str, credit: str, rate: float) -> open_loop.Result:
    """The single-entry POST of post_entry.lua, sent open-loop at a fixed rate."""
    body = json.dumps(
        {
            "date": "2026-11-01",
            "description": "bench",
            "postings": [
                {"account_id": debit, "side": "debit", "amount": 1234},
                {"account_id": credit, "side": "credit", "amount": 1234},
            ],
        }
    ).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    target = open_loop.Target("127.0.0.1", PORT, "/v1/journal-entries", headers, body)
    return await open_loop.run(target, rate, FIXED_RATE_SECONDS, connections=2 * CONCURRENCY)


async def batch_throughput(
    client: httpx.AsyncClient, token: str, debit: str, credit: str, seconds: int
) -> float:
    posting = [
        {"account_id": debit, "side": "debit", "amount": 500},
        {"account_id": credit, "side": "credit", "amount": 500},
    ]
    body = {"entries": [{"date": "2026-11-02", "postings": posting}] * BATCH}
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.perf_counter() + seconds
    posted = 0

    async def worker() -> None:
        nonlocal posted
        while time.perf_counter() < deadline:
            response = await client.post("/v1/journal-entries/batch", json=body, headers=headers)
            response.raise_for_status()
            posted += BATCH

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(WORKERS * 2)))
    return posted / (time.perf_counter() - started)


async def batch_only() -> dict[str, object]:
    """The batch part of the run alone (BENCH_ONLY=batch), with where its CPU goes."""
    server = start_api()
    try:
        async with httpx.AsyncClient(base_url=API, timeout=60) as client:
            await wait_ready(client)
            _, token, accounts = await tenant(client)
            debit, credit = accounts["1000"], accounts["4000"]
            await batch_throughput(client, token, debit, credit, 2)  # warm up
            api_pids = family(server.pid)
            postmaster = await postmaster_pid(os.environ["DATABASE_URL"])
            before = cpu_seconds(api_pids), server_cpu_seconds(postmaster)
            started = time.perf_counter()
            batch = await batch_throughput(client, token, debit, credit, SECONDS)
            entries = batch * (time.perf_counter() - started)
            api_cpu = cpu_seconds(api_pids) - before[0]
            pg_cpu = server_cpu_seconds(postmaster) - before[1]
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "benchmark": "api_batch",
        "seconds": SECONDS,
        "batch_entries_per_s": round(batch, 1),
        "batch_api_cpu_ms_per_entry": round(1000 * api_cpu / entries, 4),
        "batch_postgres_cpu_ms_per_entry": round(1000 * pg_cpu / entries, 4),
        "cpus": os.cpu_count() or 0,
        "loadavg": loadavg(),
    }


async def main() -> dict[str, object]:
    if ONLY_BATCH:
        return await batch_only()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk (make bench-api installs it)")
    server = start_api()
    api_rounds: list[dict[str, float]] = []
    raw_rates: list[float] = []
    api_cpu = api_pg_cpu = raw_cpu = raw_pg_cpu = 0.0
    try:
        async with httpx.AsyncClient(base_url=API, timeout=60) as client:
            await wait_ready(client)
            org_id, token, accounts = await tenant(client)
            debit, credit = accounts["1000"], accounts["4000"]
            run_wrk(token, debit, credit, 3)  # warm up pools and caches
            # API and raw alternate in short rounds so that both see the same machine
            # (disk flushes, other load) rather than one of them an unlucky minute.
            api_pids = family(server.pid)
            postmaster = await postmaster_pid(os.environ["DATABASE_URL"])
            for _ in range(ROUNDS):
                before = cpu_seconds(api_pids), server_cpu_seconds(postmaster)
                api_rounds.append(run_wrk(token, debit, credit, SECONDS // ROUNDS))
                api_cpu += cpu_seconds(api_pids) - before[0]
                api_pg_cpu += server_cpu_seconds(postmaster) - before[1]
                started = time.process_time()
                rate, pg_cpu = await raw_limit(
                    os.environ["DATABASE_URL"], postmaster, org_id, debit, credit, SECONDS // ROUNDS
                )
                raw_rates.append(rate)
                raw_cpu += time.process_time() - started
                raw_pg_cpu += pg_cpu
            fixed = await fixed_rate(token, debit, credit, statistics.fmean(raw_rates) / 2)
            batch = await batch_throughput(client, token, debit, credit, SECONDS)
    finally:
        server.terminate()
        server.wait(timeout=30)
    requests = sum(r["requests"] for r in api_rounds)
    api_rate = requests / (sum(r["duration_us"] for r in api_rounds) / 1e6)
    raw = statistics.fmean(raw_rates)
    raw_entries = sum(raw_rates) * (SECONDS // ROUNDS)
    return {
        "benchmark": "api_posting",
        "concurrency": CONCURRENCY,
        "api_workers": WORKERS,
        "seconds": SECONDS,
        "rounds": ROUNDS,
        "api_entries_per_s": round(api_rate, 1),
        "raw_entries_per_s": round(raw, 1),
        "ratio": round(api_rate / raw, 3),
        "p50_ms": round(statistics.median(r["p50_us"] for r in api_rounds) / 1000, 2),
        "p90_ms": round(statistics.median(r["p90_us"] for r in api_rounds) / 1000, 2),
        "p99_ms": round(statistics.median(r["p99_us"] for r in api_rounds) / 1000, 2),
        "worst_round_p99_ms": round(max(r["p99_us"] for r in api_rounds) / 1000, 2),
        "api_rounds_per_s": [
            round(r["requests"] / (r["duration_us"] / 1e6), 1) for r in api_rounds
        ],
        "raw_rounds_per_s": [round(r, 1) for r in raw_rates],
        "non_2xx": int(sum(r["non_2xx"] for r in api_rounds)),
        # Open loop at half the raw limit: latency from each request's due time.
        "fixed_rate_per_s": round(raw / 2, 1),
        "p50_ms_fixed_rate": round(fixed.percentile(0.5), 2),
        "p99_ms_fixed_rate": round(fixed.percentile(0.99), 2),
        "fixed_rate_non_2xx": fixed.non_2xx,
        "fixed_rate_late_starts": fixed.late_starts,
        # Where the CPU goes, per entry: the API's processes vs the raw client, and
        # PostgreSQL's share under each.
        "api_cpu_ms_per_entry": round(1000 * api_cpu / requests, 3),
        "api_postgres_cpu_ms_per_entry": round(1000 * api_pg_cpu / requests, 3),
        "raw_client_cpu_ms_per_entry": round(1000 * raw_cpu / raw_entries, 3),
        "raw_postgres_cpu_ms_per_entry": round(1000 * raw_pg_cpu / raw_entries, 3),
        "batch_entries_per_s": round(batch, 1),
        "cpus": os.cpu_count() or 0,
        "loadavg": loadavg(),
    }


def publish(name: str, result: dict[str, object]) -> None:
    """Write `result` to bench/results/NAME.json and print it as the last line."""
    out = ROOT / "bench/results"
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    publish("api_batch" if ONLY_BATCH else "api", asyncio.run(main()))
