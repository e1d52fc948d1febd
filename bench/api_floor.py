"""What the API's own layers cost per request, against its floor in the same run.

One API worker (`accounting-api serve --workers 1`) and the floor app (bench/floor_app.py:
the same entry, the same three round trips, on bare Starlette and the same uvicorn) take
the single-entry POST from wrk at concurrency BENCH_CONCURRENCY (16) in alternating rounds.
Per request: each server's CPU and PostgreSQL's, from /proc. The difference is what the
API's middleware, authentication, rate limit, access log, metrics, validation and unit of
work cost (BENCHMARKS.md, "The request path's floor"). Prints one JSON object on the last
line and writes it to bench/results/api_floor.json.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

os.environ.setdefault("BENCH_WORKERS", "1")
os.environ.setdefault("BENCH_CONCURRENCY", "16")

import asyncpg
import httpx
from bench import api_bench

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))


def start_floor(org: str, user: str) -> subprocess.Popen[bytes]:
    env = os.environ | {"FLOOR_ORG": org, "FLOOR_USER": user, "PYTHONPATH": str(api_bench.ROOT)}
    cmd = [str(api_bench.ROOT / ".venv/bin/uvicorn"), "--factory", "bench.floor_app:create"]
    cmd += ["--port", str(api_bench.PORT), "--workers", "1", "--no-access-log"]
    cmd += ["--log-level", "warning", "--no-server-header"]
    return subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)


async def user_of(org: str) -> str:
    conn = await asyncpg.connect(os.environ["MIGRATION_DATABASE_URL"])
    try:
        return str(await conn.fetchval("SELECT id FROM users WHERE organization_id = $1", org))
    finally:
        await conn.close()


async def measure(
    server: subprocess.Popen[bytes], token: str, debit: str, credit: str
) -> dict[str, float]:
    """One round of wrk against `server` (ready): its rate, and CPU per request."""
    api_bench.run_wrk(token, debit, credit, 2)  # warm up
    pids = api_bench.family(server.pid)
    postmaster = await api_bench.postmaster_pid(os.environ["DATABASE_URL"])
    before = api_bench.cpu_seconds(pids), api_bench.server_cpu_seconds(postmaster)
    done = api_bench.run_wrk(token, debit, credit, SECONDS)
    cpu = api_bench.cpu_seconds(pids) - before[0]
    pg = api_bench.server_cpu_seconds(postmaster) - before[1]
    n = done["requests"]
    assert done["non_2xx"] == 0, done
    return {"per_s": n / (done["duration_us"] / 1e6), "cpu": cpu / n, "pg": pg / n}


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(timeout=30)


async def main() -> dict[str, object]:
    server = api_bench.start_api()
    try:
        async with httpx.AsyncClient(base_url=api_bench.API, timeout=30) as client:
            await api_bench.wait_ready(client)
            org, token, accounts = await api_bench.tenant(client)
    finally:
        stop(server)
    user = await user_of(org)
    debit, credit = accounts["1000"], accounts["4000"]
    api: list[dict[str, float]] = []
    floor: list[dict[str, float]] = []
    for _ in range(ROUNDS):
        server = api_bench.start_api()
        try:
            async with httpx.AsyncClient(base_url=api_bench.API, timeout=30) as client:
                await api_bench.wait_ready(client)
            api.append(await measure(server, token, debit, credit))
        finally:
            stop(server)
        server = start_floor(org, user)
        try:
            await ready(server)
            floor.append(await measure(server, token, debit, credit))
        finally:
            stop(server)

    def mean(rounds: list[dict[str, float]], key: str, scale: float = 1000) -> float:
        return round(scale * sum(r[key] for r in rounds) / len(rounds), 3)

    return {
        "benchmark": "api_floor",
        "concurrency": api_bench.CONCURRENCY,
        "seconds": SECONDS,
        "rounds": ROUNDS,
        "api_entries_per_s": mean(api, "per_s", 1),
        "floor_entries_per_s": mean(floor, "per_s", 1),
        "api_cpu_ms_per_entry": mean(api, "cpu"),
        "floor_cpu_ms_per_entry": mean(floor, "cpu"),
        "layers_cpu_ms_per_entry": round(mean(api, "cpu") - mean(floor, "cpu"), 3),
        "api_postgres_cpu_ms_per_entry": mean(api, "pg"),
        "floor_postgres_cpu_ms_per_entry": mean(floor, "pg"),
        "cpus": os.cpu_count() or 0,
        "loadavg": api_bench.loadavg(),
    }


async def ready(server: subprocess.Popen[bytes]) -> None:
    """The floor answers (it has no /ready): a POST without a body is a 4xx or 5xx."""
    for _ in range(100):
        if server.poll() is not None:
            error = server.stderr.read().decode() if server.stderr else ""
            sys.exit(f"the floor app exited: {error}")
        try:
            async with httpx.AsyncClient(base_url=api_bench.API, timeout=5) as client:
                await client.get("/v1/journal-entries")
            return
        except httpx.TransportError:
            await asyncio.sleep(0.1)
    sys.exit("the floor app did not start")


if __name__ == "__main__":
    api_bench.publish("api_floor", asyncio.run(main()))
