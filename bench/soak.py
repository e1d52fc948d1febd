"""The soak: a mixed load at a fixed arrival rate for ten minutes, and whether latency,
memory and errors stay where they were at its start.

Starts `accounting-api serve --workers 2` on loopback (bench/api_bench.py's server,
organization and token), sets up bench/mix.py's books (customers, unpaid invoices), then:

1. warm-up, closed loop: SOAK_CLIENTS connections each sending the mix's next arrival as
   soon as the last one finished, for SOAK_WARMUP_SECONDS: the arrivals per second the
   machine sustains for this mix;
2. the soak, open loop (bench/open_loop.py): arrivals at SOAK_LOAD (one half) of that rate,
   or at SOAK_RATE per second when set, for SOAK_SECONDS (600), each latency from its due
   time; meanwhile, every second (bench/soak_probe.py), the summed RSS and CPU time of
   uvicorn's worker processes, PostgreSQL's CPU time and the load average (/proc).

"First minute" is the soak's second minute (its first is its own warm-up) and "last
minute" its last; with a shorter SOAK_SECONDS, a tenth of it each. Targets, checked in
the same run: no unexpected non-2xx answer (bench/mix.py expects none; a request without
an answer counts as status 0), RSS growth from the first minute to the last at most 10 %
(medians of each minute's samples), the last minute's p99 at most 1.5 times the first's.
Per minute it also reports the CPU per operation of the API's workers and of PostgreSQL:
what tells growth in the API's own work apart from other work on a shared machine; and the
organization's postings at the soak's start and end (through MIGRATION_DATABASE_URL), which
its trial balance and balance sheet read, no month of it being closed.

Prints one JSON object on its last line and writes it to bench/results/soak.json.
Run from the repository root as `python -m bench.soak` (make soak; BENCH_PORT for the
server's port, as bench-api).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
from collections.abc import Iterator

import asyncpg
import httpx
from bench import api_bench, mix, open_loop, processes, soak_probe

SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
WARMUP_SECONDS = float(os.environ.get("SOAK_WARMUP_SECONDS", "20"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "16"))
CONNECTIONS = int(os.environ.get("SOAK_CONNECTIONS", "64"))
"""Open loop: arrivals wait for one of these when all are busy (a late start)."""
LOAD = float(os.environ.get("SOAK_LOAD", "0.5"))
RATE = os.environ.get("SOAK_RATE")
P99_GROWTH_MAX = 1.5
RSS_GROWTH_MAX_PCT = 10.0
LOG = api_bench.ROOT / "bench/results/soak-api.log"


def minutes(seconds: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """The first and last minute (from, to) of a soak of this length: its second and its
    last (its first is its own warm-up)."""
    spans = tenths(seconds)
    return spans[1], spans[-1]


def tenths(seconds: float) -> list[tuple[float, float]]:
    """The soak's minutes (with a shorter SOAK_SECONDS, its tenths)."""
    width = min(60.0, seconds / 10)
    return [(n * width, (n + 1) * width) for n in range(round(seconds / width))]


def p99(samples: list[open_loop.Sample], span: tuple[float, float] | None = None) -> float:
    found = [s.latency_ms for s in samples if span is None or span[0] <= s.due_s < span[1]]
    return round(processes.percentile(found, 0.99), 1) if found else 0.0


def unexpected(samples: list[open_loop.Sample]) -> collections.Counter[str]:
    """'kind status' of each non-2xx answer the mix does not expect."""
    found: collections.Counter[str] = collections.Counter()
    for sample in samples:
        for status in sample.statuses:
            if not 200 <= status < 300 and status not in mix.EXPECTED_NON_2XX[sample.kind]:
                found[f"{sample.kind} {status}"] += 1
    return found


def per_kind(samples: list[open_loop.Sample], seconds: float) -> dict[str, dict[str, float]]:
    first, last = minutes(seconds)
    out = {}
    for kind in mix.WEIGHTS:
        mine = [s for s in samples if s.kind == kind]
        out[kind] = {
            "count": len(mine),
            "p50_ms": round(processes.percentile([s.latency_ms for s in mine], 0.5), 1),
            "p99_ms": p99(mine),
            "p99_ms_first_minute": p99(mine, first),
            "p99_ms_last_minute": p99(mine, last),
        }
    return out


def cpu_ms_per_operation(
    run: open_loop.Run, probe: soak_probe.Probe, span: tuple[float, float]
) -> tuple[float, float]:
    """The API workers' and PostgreSQL's CPU per operation due within the span."""
    found = probe.within(span)
    due = sum(found[0].at_s <= s.due_s < found[-1].at_s for s in run.samples)
    api, postgres = probe.cpu_s(span)
    return round(1000 * api / max(due, 1), 2), round(1000 * postgres / max(due, 1), 2)


def by_minute(run: open_loop.Run, probe: soak_probe.Probe, seconds: float) -> dict[str, object]:
    spans = tenths(seconds)
    cpu = [cpu_ms_per_operation(run, probe, span) for span in spans]
    return {
        "p99_ms_by_minute": [p99(run.samples, span) for span in spans],
        "rss_mb_by_minute": [round(probe.rss_mb(span), 1) for span in spans],
        "api_cpu_ms_per_op_by_minute": [api for api, _ in cpu],
        "postgres_cpu_ms_per_op_by_minute": [postgres for _, postgres in cpu],
        "loadavg_by_minute": [round(probe.load(span), 2) for span in spans],
    }


def summary(run: open_loop.Run, probe: soak_probe.Probe, seconds: float) -> dict[str, object]:
    first, last = minutes(seconds)
    p99_first, p99_last = p99(run.samples, first), p99(run.samples, last)
    rss_first, rss_last = probe.rss_mb(first), probe.rss_mb(last)
    growth = 100 * (rss_last / rss_first - 1)
    bad = unexpected(run.samples)
    return {
        "operations": len(run.samples),
        "requests": sum(len(s.statuses) for s in run.samples),
        "non_2xx_unexpected": sum(bad.values()),
        "non_2xx_unexpected_by_kind": dict(bad),
        "late_starts": run.late_starts,
        "p50_ms": round(processes.percentile([s.latency_ms for s in run.samples], 0.5), 1),
        "p99_ms": p99(run.samples),
        "p99_ms_first_minute": p99_first,
        "p99_ms_last_minute": p99_last,
        "p99_growth": round(p99_last / max(p99_first, 1e-9), 3),
        "rss_mb_first_minute": round(rss_first, 1),
        "rss_mb_last_minute": round(rss_last, 1),
        "rss_growth_pct": round(growth, 2),
        **by_minute(run, probe, seconds),
        "kinds": per_kind(run.samples, seconds),
        "passed": not bad
        and growth <= RSS_GROWTH_MAX_PCT
        and p99_last <= P99_GROWTH_MAX * p99_first,
    }


@contextlib.contextmanager
def server() -> Iterator[int]:
    """The API's server, its log (JSON lines, stdout and stderr) in bench/results/soak-api.log."""
    LOG.parent.mkdir(exist_ok=True)
    with LOG.open("wb") as log:
        process = api_bench.start_api(log)
        try:
            yield process.pid
        finally:
            process.terminate()
            process.wait(timeout=30)


def logged_errors() -> collections.Counter[str]:
    """The API log's ERROR and CRITICAL lines, by message (500s are logged there)."""
    found: collections.Counter[str] = collections.Counter()
    with LOG.open("rb") as lines:
        for line in lines:
            if b'"level": "ERROR"' in line or b'"level": "CRITICAL"' in line:
                with contextlib.suppress(ValueError):
                    found[str(json.loads(line).get("message"))[:200]] += 1
    return found


async def postings(organization: str) -> int:
    """The organization's postings, all in its open period (no month is closed): what its
    trial balance and balance sheet read (db/reports.py)."""
    conn = await asyncpg.connect(os.environ["MIGRATION_DATABASE_URL"])
    try:
        query = "SELECT count(*) FROM postings WHERE organization_id = $1"
        return int(await conn.fetchval(query, organization))
    finally:
        await conn.close()


async def soak(pid: int, books: mix.Books, rate: float) -> dict[str, object]:
    pool = await mix.connections(books, CONNECTIONS)
    probe = await soak_probe.Probe.of(pid)
    before = await postings(books.organization)
    sampler = asyncio.create_task(probe.run())
    try:
        run = await open_loop.drive(mix.arrivals(books), rate, SECONDS, pool)
        if sampler.done():
            sampler.result()  # its error: its minutes would be made of stale readings
    finally:
        sampler.cancel()
        for conn in pool:
            conn.close()
    return summary(run, probe, SECONDS) | {
        "payments_on_account": books.payments_on_account,
        "postings_at_start": before,
        "postings_at_end": await postings(books.organization),
    }


async def main() -> dict[str, object]:
    load_before = api_bench.loadavg()
    with server() as pid:
        async with httpx.AsyncClient(base_url=api_bench.API, timeout=60) as client:
            await api_bench.wait_ready(client)
            books = await mix.books(client)
        sustained = await mix.closed_loop(books, WARMUP_SECONDS, CLIENTS)
        rate = float(RATE) if RATE else LOAD * sustained
        source = "SOAK_RATE" if RATE else f"{LOAD} x the closed-loop warm-up"
        result = await soak(pid, books, rate)
    return {
        "benchmark": "soak",
        "api_log_errors": dict(logged_errors()),
        "seconds": SECONDS,
        "api_workers": api_bench.WORKERS,
        "closed_loop_per_s": round(sustained, 1),
        "rate_per_s": round(rate, 1),
        "rate_source": source,
        "connections": CONNECTIONS,
        **result,
        "targets": {
            "non_2xx_unexpected": 0,
            "rss_growth_pct_max": RSS_GROWTH_MAX_PCT,
            "p99_growth_max": P99_GROWTH_MAX,
        },
        "cpus": os.cpu_count() or 0,
        "loadavg_before": load_before,
        "loadavg_after": api_bench.loadavg(),
    }


if __name__ == "__main__":
    api_bench.publish("soak", asyncio.run(main()))
