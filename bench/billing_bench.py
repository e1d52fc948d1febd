"""Invoice finalize + pay throughput, and the trial balance over 1M postings.

Starts `accounting-api serve --workers 2` on loopback (rate limits out of the way),
signs up a tenant with one customer per client, and has BENCH_CONCURRENCY clients
each loop: create a draft invoice with two lines, finalize it, pay it in full
(POST /v1/payments applied to it). It counts fully paid invoices per second and
the latency of the whole three-request sequence. Two limits, measured in the same
run and alternated with the API in short rounds, at the same concurrency: the same
three use cases called in-process through the service functions (services.billing,
services.payments) on a Database pool, no HTTP (`ratio`); and the rows the API writes
for a paid invoice, written straight through asyncpg (bench/billing_raw.py, checked to
add the same rows per table; `raw_ratio`, the target being at least 0.5).

The trial balance part reuses bench/reports_bench.py (scratch database, 1M-posting
seed, trial balance through the reports service against a plain SUM ... GROUP BY).
Prints one JSON object on the last line and writes it to bench/results/billing.json.

Run from the repository root as `python -m bench.billing_bench` (make bench-billing):
it imports bench.api_bench, bench.billing_raw and bench.reports_bench.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from bench import billing_raw, open_loop, reports_bench
from bench.api_bench import (
    API,
    PORT,
    ROOT,
    cpu_seconds,
    family,
    postmaster_pid,
    server_cpu_seconds,
    start_api,
    tenant,
    wait_ready,
)

from accounting_api.db.connection import Database, connected
from accounting_api.domain import billing as billing_rules
from accounting_api.domain import payments as payment_rules
from accounting_api.domain.roles import Principal, Role
from accounting_api.services import billing, customers, payments

CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "15"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
TRIAL_BALANCE = os.environ.get("BENCH_TRIAL_BALANCE", "1") != "0"
LINES = [
    {"description": "Consulting", "quantity": 3, "unit_amount": 12_500, "tax_rate_bps": 825},
    {"description": "Support plan", "quantity": "1.5", "unit_amount": 4_000, "discount": 500},
]
LINE_INPUTS = [
    billing.LineInput("Consulting", 3000, 12_500, tax_rate_ppm=82_500),
    billing.LineInput("Support plan", 1500, 4_000, discount=500),
]
"""LINES as the services take them."""

Sequence = Callable[[str], Awaitable[None]]
"""One create + finalize + pay for this customer."""


async def drive(customer_ids: list[str], sequence: Sequence, seconds: float) -> list[float]:
    """Each client loops over its own customer until the deadline; the latencies (ms)
    of the completed sequences."""
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []

    async def client(customer_id: str) -> None:
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            await sequence(customer_id)
            latencies.append((time.perf_counter() - began) * 1000)

    await asyncio.gather(*(client(c) for c in customer_ids))
    return latencies


def over_http(connections: dict[str, open_loop.Connection]) -> Sequence:
    """The three POSTs on the client's own keep-alive connection (hand-written HTTP/1.1:
    the load client's CPU, on the same cores, stays small beside the API's)."""

    async def post(conn: open_loop.Connection, path: str, body: object) -> dict[str, Any]:
        status, answer = await conn.post(path, json.dumps(body).encode())
        if not 200 <= status < 300:
            raise RuntimeError(f"POST {path}: {status} {answer[:500]!r}")
        found: dict[str, Any] = json.loads(answer)
        return found

    async def sequence(customer_id: str) -> None:
        conn = connections[customer_id]
        draft = await post(conn, "/v1/invoices", {"customer": customer_id, "lines": LINES})
        invoice = await post(conn, f"/v1/invoices/{draft['id']}/finalize", {})
        total = invoice["total"]
        applied = [{"invoice": invoice["id"], "amount": total}]
        body = {"customer": customer_id, "amount": total, "method": "card", "applied_to": applied}
        await post(conn, "/v1/payments", body)

    return sequence


async def http_writer(
    stack: contextlib.AsyncExitStack, token: str, customer_ids: list[str]
) -> Sequence:
    """The API path, one connection of its own per client."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connections = {}
    for customer_id in customer_ids:
        conn = await open_loop.Connection.open("127.0.0.1", PORT, headers)
        stack.callback(conn.close)
        connections[customer_id] = conn
    return over_http(connections)


def in_process(db: Database, principal: Principal) -> Sequence:
    lines = LINE_INPUTS

    async def sequence(customer_id: str) -> None:
        # Three units of work, as the three API requests are (without their audit events).
        async with db.unit_of_work(principal.organization_id) as unit:
            draft = await billing.create_invoice(
                unit,
                principal,
                customer_id=customer_id,
                currency=None,
                description="",
                due_date=None,
                days_until_due=None,
                lines=lines,
            )
        async with db.unit_of_work(principal.organization_id) as unit:
            invoice = await billing.finalize(
                unit, principal, draft.id, issue_date=None, request_id=None
            )
        total = invoice.totals.total
        async with db.unit_of_work(principal.organization_id) as unit:
            payment = await payments.create_payment(
                unit,
                principal,
                payments.PaymentInput(
                    customer_id=customer_id,
                    amount=total,
                    currency=None,
                    method=payment_rules.Method.CARD,
                    received_on=None,
                    description="",
                    applied_to=[payment_rules.Application(invoice.id, total)],
                ),
                request_id=None,
            )
        assert payment.amount == total

    return sequence


async def new_customer(db: Database, principal: Principal, i: int) -> str:
    async with db.unit_of_work(principal.organization_id) as unit:
        customer = await customers.create_customer(
            unit,
            principal,
            name=f"Customer {i}",
            email=None,
            currency=None,
            tier=billing_rules.CustomerTier.STANDARD,
            billing_address=None,
        )
    return customer.id


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


@dataclass
class Path:
    """One way of writing paid invoices, and what its rounds measured."""

    write: Sequence
    client_cpu: Callable[[], float]
    """CPU seconds of whatever issues the SQL (the API's workers, or this process)."""
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    client_s: float = 0.0
    postgres_s: float = 0.0
    driver_s: float = 0.0
    """CPU seconds of this process (for the API: its HTTP clients)."""

    async def round(self, customer_ids: list[str], seconds: float, postgres: CpuClock) -> None:
        before = self.client_cpu(), postgres(), time.process_time()
        began = time.perf_counter()
        self.latencies += await drive(customer_ids, self.write, seconds)
        self.seconds += time.perf_counter() - began
        self.client_s += self.client_cpu() - before[0]
        self.postgres_s += postgres() - before[1]
        self.driver_s += time.process_time() - before[2]

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def cpu_ms(self, seconds: float) -> float:
        """CPU ms per paid invoice."""
        return round(1000 * seconds / len(self.latencies), 2)


CpuClock = Callable[[], float]


async def same_rows(org_id: str, customer_id: str, api: Sequence, raw: Sequence) -> dict[str, int]:
    """What one paid invoice adds per table, checked to be the same on both paths."""
    async with connected(os.environ["DATABASE_URL"]) as conn:
        by_api = await billing_raw.rows_written(conn, org_id, lambda: api(customer_id))
        by_raw = await billing_raw.rows_written(conn, org_id, lambda: raw(customer_id))
    if by_api != by_raw:
        raise RuntimeError(f"the raw path writes {by_raw}, the API {by_api}")
    return by_api


async def throughput() -> dict[str, object]:
    server = start_api()
    round_s = SECONDS / ROUNDS
    try:
        async with (
            httpx.AsyncClient(base_url=API, timeout=60) as client,
            contextlib.AsyncExitStack() as stack,
        ):
            await wait_ready(client)
            org_id, token, _ = await tenant(client)
            principal = Principal("user_bench", org_id, Role.OWNER)
            db = Database(os.environ["DATABASE_URL"], min_size=CONCURRENCY, max_size=CONCURRENCY)
            await db.open()
            stack.push_async_callback(db.close)
            customer_ids = [await new_customer(db, principal, i) for i in range(CONCURRENCY)]
            raw_write = await raw_writer(stack, org_id, customer_ids)
            api_write = await http_writer(stack, token, customer_ids)
            api_pids = family(server.pid)
            paths = {
                "api": Path(api_write, lambda: cpu_seconds(api_pids)),
                "service": Path(in_process(db, principal), time.process_time),
                "raw": Path(raw_write, time.process_time),
            }
            for path in paths.values():  # warm up pools and caches
                await drive(customer_ids, path.write, 1)
            rows = await same_rows(org_id, customer_ids[0], paths["api"].write, raw_write)
            postmaster = await postmaster_pid(os.environ["DATABASE_URL"])

            def postgres() -> float:
                return server_cpu_seconds(postmaster)

            # The paths alternate in short rounds so that all see the same machine.
            for _ in range(ROUNDS):
                for path in paths.values():
                    await path.round(customer_ids, round_s, postgres)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return report(paths) | {"rows_per_invoice": rows}


async def raw_writer(
    stack: contextlib.AsyncExitStack, org_id: str, customer_ids: list[str]
) -> Sequence:
    """The raw path, one connection of its own per client."""
    url = os.environ["DATABASE_URL"]
    connections = {c: await stack.enter_async_context(connected(url)) for c in customer_ids}
    book = await billing_raw.books(connections[customer_ids[0]], org_id)
    return billing_raw.sequence(connections, book, LINE_INPUTS)


def report(paths: dict[str, Path]) -> dict[str, object]:
    api, svc, raw = paths["api"], paths["service"], paths["raw"]
    return {
        "concurrency": CONCURRENCY,
        "api_workers": WORKERS,
        "seconds": SECONDS,
        "rounds": ROUNDS,
        "invoices_paid_per_s": round(api.rate, 1),
        "service_invoices_paid_per_s": round(svc.rate, 1),
        "raw_invoices_paid_per_s": round(raw.rate, 1),
        "ratio": round(api.rate / svc.rate, 3),
        "raw_ratio": round(api.rate / raw.rate, 3),
        "invoices_paid": len(api.latencies),
        "p50_ms": round(statistics.median(api.latencies), 1),
        "p99_ms": round(percentile(api.latencies, 0.99), 1),
        "service_p50_ms": round(statistics.median(svc.latencies), 1),
        "service_p99_ms": round(percentile(svc.latencies, 0.99), 1),
        "raw_p50_ms": round(statistics.median(raw.latencies), 1),
        "raw_p99_ms": round(percentile(raw.latencies, 0.99), 1),
        # CPU per paid invoice (3 use cases, 3 requests): the API's uvicorn workers and
        # PostgreSQL under the API; this process (the in-process service client, the raw
        # client) and PostgreSQL under it. The HTTP clients' own CPU (this process, on the
        # same cores) is apart. PostgreSQL: the benchmarked server's processes only.
        "api_cpu_ms_per_invoice": api.cpu_ms(api.client_s),
        "api_postgres_cpu_ms_per_invoice": api.cpu_ms(api.postgres_s),
        "api_http_client_cpu_ms_per_invoice": api.cpu_ms(api.driver_s),
        "service_cpu_ms_per_invoice": svc.cpu_ms(svc.client_s),
        "service_postgres_cpu_ms_per_invoice": svc.cpu_ms(svc.postgres_s),
        "raw_cpu_ms_per_invoice": raw.cpu_ms(raw.client_s),
        "raw_postgres_cpu_ms_per_invoice": raw.cpu_ms(raw.postgres_s),
    }


async def trial_balance() -> dict[str, object]:
    name, owner_url, app_url = await reports_bench.create_database()
    try:
        result = await reports_bench.run(owner_url, app_url)
    finally:
        await reports_bench.drop_database(name)
    keys = ["postings", "seed_s", "trial_balance_ms", "raw_sum_ms", "target_met"]
    out = {k: result[k] for k in keys}
    out["trial_balance_ratio"] = result["ratio"]
    return out


async def main() -> dict[str, object]:
    result: dict[str, object] = {"benchmark": "billing"}
    result |= await throughput()
    if TRIAL_BALANCE:
        result |= await trial_balance()
    result["cpus"] = os.cpu_count() or 0
    return result


if __name__ == "__main__":
    result = asyncio.run(main())
    result["loadavg"] = pathlib.Path("/proc/loadavg").read_text().split()[:3]
    out = ROOT / "bench/results"
    out.mkdir(exist_ok=True)
    (out / "billing.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
