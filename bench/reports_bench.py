"""Trial balance over a large book against a plain SUM ... GROUP BY of the same postings.

Creates a scratch database (migrated), seeds one organization with BENCH_POSTINGS
balanced postings (4 per entry, 60 months ending last month) by INSERT ... SELECT
generate_series as the owner role, with every ledger trigger and foreign key on;
closes every month but the last through the periods service; then times, in the
same run, the trial balance through the reports service (app role, row-level
security, as the API runs it) and the plain scan
`SELECT account_id, currency, sum(amount) FROM postings WHERE organization_id = $1
GROUP BY 1, 2`; and `GET /v1/reports/trial-balance` through the app in-process (ASGI,
no network) with the report cache off (REPORT_CACHE_TTL_SECONDS=0) and on (served
from Redis under the ledger version).

Then the AR aging, in the same database: a second organization whose receivables
sub-ledger holds 2 * BENCH_SETTLED_INVOICES + BENCH_OPEN_INVOICES rows (invoices issued
and paid over the same 60 months, BATCH per finalizing or paying entry, and a few
thousand still owed), seeded the same way with every trigger on and its months closed
likewise; the aging as of today through the reports service against the plain re-sum
_RAW_AGING (every row up to today, per invoice). Prints one JSON object on the last line
and writes it to bench/results/reports.json.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import pathlib
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from accounting_api.app import create_app
from accounting_api.db import migrations
from accounting_api.db.connection import Database
from accounting_api.domain import ids, reports
from accounting_api.domain.roles import Principal, Role
from accounting_api.services import periods
from accounting_api.services import reports as reports_service
from accounting_api.settings import Settings

ROOT = pathlib.Path(__file__).resolve().parent.parent
POSTINGS = int(os.environ.get("BENCH_POSTINGS", "1000000"))
MONTHS = 60
ACCOUNTS = 20
CHUNK = 50_000
"""Entries per seeding transaction."""
RUNS = int(os.environ.get("BENCH_RUNS", "9"))
SETTLED = int(os.environ.get("BENCH_SETTLED_INVOICES", "500000"))
"""Invoices issued and paid (two sub-ledger rows each) over the MONTHS."""
OPEN = int(os.environ.get("BENCH_OPEN_INVOICES", "3000"))
"""Invoices still owed today (one row each), issued in the last 6 months."""
BATCH = 25
"""Invoices per finalizing (and per paying) journal entry."""

_ENTRIES = """
INSERT INTO journal_entries (id, organization_id, entry_date, description)
SELECT 'je_b' || lpad(i::text, 9, '0'), $1, $2::date + (i::bigint * $3 / $4)::int, 'bench'
  FROM generate_series($5::int, $6::int) i
"""
# Lines 0/1 move x and lines 2/3 move y between two accounts each: balanced per entry.
_POSTINGS = """
INSERT INTO postings (organization_id, journal_entry_id, line, account_id, currency, amount,
                      entry_date)
SELECT $1, 'je_b' || lpad(i::text, 9, '0'), l, ($7::text[])[1 + (i + l * 5) % $8], 'USD',
       CASE l WHEN 0 THEN 1 + i % 997 WHEN 1 THEN -(1 + i % 997)
              WHEN 2 THEN 1 + i % 113 ELSE -(1 + i % 113) END,
       $2::date + (i::bigint * $3 / $4)::int
  FROM generate_series($5::int, $6::int) i, generate_series(0, 3) l
"""

# The AR aging's book: batch b (BATCH invoices, one customer each of 1,000) is finalized
# by one entry on day f(b) (receivable 1200 debited, revenue credited) and, unless it is
# among the last OPEN / BATCH batches (issued in the last 6 months), paid by one entry
# 0-45 days later (cash debited, 1200 credited): one sub-ledger row per invoice per entry.
_AR_BATCHES = """
CREATE TEMPORARY TABLE ar_batch ON COMMIT DROP AS
SELECT b, 'je_af' || b AS finalized, 'je_ap' || b AS paid, day,
       CASE WHEN b < $1 THEN least(day + (b * 7919) % 46, $4::date) END AS paid_on
  FROM (SELECT b, CASE WHEN b < $1 THEN $3::date + (b::bigint * ($4::date - $3) / $1)::int
                       ELSE $4::date - 180 + (b - $1) * 180 / $2 END AS day
          FROM generate_series($5::int, $6::int) b) d
"""
_AR_ENTRIES = """
INSERT INTO journal_entries (id, organization_id, entry_date, description)
SELECT finalized, $1, day, 'bench' FROM ar_batch
UNION ALL SELECT paid, $1, paid_on, 'bench' FROM ar_batch WHERE paid_on IS NOT NULL
"""
# 25 invoices per batch (BATCH); $2 is the customers, then the accounts twice.
_AR_ROWS = [
    """INSERT INTO invoices (id, organization_id, customer_id, currency, status, number,
         days_until_due, issue_date, due_date, subtotal, total, amount_paid, finalized_at,
         paid_at)
       SELECT 'inv_b' || i, $1, ($2::text[])[1 + i % 1000], 'USD',
              CASE WHEN paid_on IS NULL THEN 'open' ELSE 'paid' END, i + 1, 30, day, day + 30,
              1000 + i % 9973, 1000 + i % 9973,
              CASE WHEN paid_on IS NULL THEN 0 ELSE 1000 + i % 9973 END, day, paid_on
         FROM ar_batch, generate_series(b * 25, b * 25 + 24) i""",
    """INSERT INTO receivable_entries (organization_id, invoice_id, journal_entry_id,
         entry_date, account_id, currency, amount)
       SELECT $1, 'inv_b' || i, finalized, day, ($2::text[])[2], 'USD', 1000 + i % 9973
         FROM ar_batch, generate_series(b * 25, b * 25 + 24) i
       UNION ALL
       SELECT $1, 'inv_b' || i, paid, paid_on, ($2::text[])[2], 'USD', -(1000 + i % 9973)
         FROM ar_batch, generate_series(b * 25, b * 25 + 24) i WHERE paid_on IS NOT NULL""",
    # Each entry: 1200 moved by its rows, the other side on cash (payment) or revenue.
    """INSERT INTO postings (organization_id, journal_entry_id, line, account_id, currency,
         amount, entry_date)
       SELECT $1, journal_entry_id, l, ($2::text[])[CASE WHEN l = 0 THEN 2 WHEN moved > 0 THEN 3
              ELSE 1 END], 'USD', CASE WHEN l = 0 THEN moved ELSE -moved END, entry_date
         FROM (SELECT journal_entry_id, entry_date, sum(amount)::bigint AS moved
                 FROM receivable_entries WHERE journal_entry_id IN (
                       SELECT finalized FROM ar_batch UNION ALL SELECT paid FROM ar_batch)
                GROUP BY 1, 2) e, generate_series(0, 1) l""",
]


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def month_back(day: datetime.date, months: int) -> datetime.date:
    index = day.year * 12 + day.month - 1 - months
    return datetime.date(index // 12, index % 12 + 1, 1)


async def create_database(prefix: str = "ua_bench_reports") -> tuple[str, str, str]:
    """A new migrated database: (name, its owner's URL, the app role's URL)."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(os.environ["MIGRATION_DATABASE_URL"])
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    owner = with_database(os.environ["MIGRATION_DATABASE_URL"], name)
    conn = await asyncpg.connect(owner)
    try:
        await migrations.apply(conn)
    finally:
        await conn.close()
    return name, owner, with_database(os.environ["DATABASE_URL"], name)


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(os.environ["MIGRATION_DATABASE_URL"])
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def seed(conn: asyncpg.Connection, first: datetime.date, last: datetime.date) -> str:
    """One organization, its accounts and POSTINGS postings dated first..last."""
    org = ids.new_id("org")
    await conn.execute(
        "INSERT INTO organizations (id, name, base_currency) VALUES ($1, 'B', 'USD')", org
    )
    accounts = [ids.new_id("acct") for _ in range(ACCOUNTS)]
    types = ["asset", "liability", "equity", "revenue", "expense"]
    await conn.executemany(
        "INSERT INTO accounts (id, organization_id, code, name, type, currency, normal_balance)"
        " VALUES ($1, $2, $3, $3, $4, 'USD', $5)",
        [
            (
                a,
                org,
                f"{1000 + i}",
                types[i % 5],
                "debit" if types[i % 5] in {"asset", "expense"} else "credit",
            )
            for i, a in enumerate(accounts)
        ],
    )
    entries = POSTINGS // 4
    span = (last - first).days
    for start in range(0, entries, CHUNK):
        end = min(start + CHUNK, entries) - 1
        async with conn.transaction():
            await conn.execute(_ENTRIES, org, first, span, entries, start, end)
            await conn.execute(_POSTINGS, org, first, span, entries, start, end, accounts, ACCOUNTS)
    await conn.execute("VACUUM ANALYZE journal_entries, postings")
    return org


async def seed_receivables(
    conn: asyncpg.Connection, first: datetime.date, last: datetime.date
) -> str:
    """One organization whose sub-ledger holds 2 * SETTLED + OPEN rows dated first..last."""
    org = ids.new_id("org")
    await conn.execute(
        "INSERT INTO organizations (id, name, base_currency) VALUES ($1, 'AR', 'USD')", org
    )
    accounts = [ids.new_id("acct") for _ in range(3)]
    await conn.executemany(
        "INSERT INTO accounts (id, organization_id, code, name, type, currency, normal_balance)"
        " VALUES ($1, $2, $3, $4, $5, 'USD', $6)",
        [
            (accounts[0], org, "1000", "Cash", "asset", "debit"),
            (accounts[1], org, "1200", "Receivable", "asset", "debit"),
            (accounts[2], org, "4000", "Sales", "revenue", "credit"),
        ],
    )
    customers = [ids.new_id("cus") for _ in range(1000)]
    await conn.execute(
        "INSERT INTO customers (id, organization_id, name, currency, tier)"
        " SELECT c, $1, c, 'USD', 'standard' FROM unnest($2::text[]) c",
        org,
        customers,
    )
    settled, batches = SETTLED // BATCH, (SETTLED + OPEN) // BATCH
    for start in range(0, batches, CHUNK // BATCH):
        end = min(start + CHUNK // BATCH, batches) - 1
        async with conn.transaction():
            await conn.execute(_AR_BATCHES, settled, batches - settled, first, last, start, end)
            await conn.execute(_AR_ENTRIES, org)
            for sql, values in zip(_AR_ROWS, (customers, accounts, accounts), strict=True):
                await conn.execute(sql, org, values)
    await conn.execute("VACUUM ANALYZE journal_entries, invoices, receivable_entries")
    return org


async def timed(runs: int, work: Callable[[], Awaitable[None]]) -> float:
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        await work()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


async def against(
    work: Callable[[], Awaitable[None]], limit: Callable[[], Awaitable[None]]
) -> tuple[float, float]:
    """Median ms of work and of its limit, alternated in 3 rounds so both see the same
    machine."""
    work_ms, limit_ms = [], []
    for _ in range(3):
        work_ms.append(await timed(RUNS // 3 or 1, work))
        limit_ms.append(await timed(RUNS // 3 or 1, limit))
    return round(statistics.median(work_ms), 2), round(statistics.median(limit_ms), 2)


def target_met(report_ms: float, plain_ms: float) -> bool:
    """The issue's target: under 25 ms and at most a quarter of the plain query."""
    return report_ms < 25 and report_ms <= plain_ms / 4


def _settings(app_url: str, ttl: int) -> Settings:
    return Settings(
        database_url=app_url,
        redis_url=os.environ["REDIS_URL"],
        jwt_secret="bench-" + "x" * 40,
        rate_limit_max=10**9,
        org_api_calls_per_minute=10**9,
        report_cache_ttl_seconds=ttl,
    )


async def api_trial_balance(app_url: str, principal: Principal) -> dict[str, float]:
    """Median ms of GET /v1/reports/trial-balance with the report cache off, then on."""
    async with AsyncExitStack() as stack:
        clients = {}
        for name, ttl in (("uncached", 0), ("cached", 300)):
            app = create_app(_settings(app_url, ttl))
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            client = httpx.AsyncClient(transport=transport, base_url="http://bench")
            client.headers["authorization"] = f"Bearer {app.state.deps.codec.issue(principal)[0]}"
            clients[name] = await stack.enter_async_context(client)

        def get(client: httpx.AsyncClient) -> Callable[[], Awaitable[None]]:
            async def work() -> None:
                response = await client.get("/v1/reports/trial-balance")
                assert response.status_code == 200, response.text

            return work

        samples: dict[str, list[float]] = {name: [] for name in clients}
        for client in clients.values():
            await get(client)()  # warm: the pool, and the cache entry
        for _ in range(3):  # alternate so both see the same machine
            for name, client in clients.items():
                samples[name].append(await timed(RUNS // 3 or 1, get(client)))
    return {name: round(statistics.median(ms), 2) for name, ms in samples.items()}


async def close_months(
    db: Database, principal: Principal, first: datetime.date, today: datetime.date
) -> float:
    """Close every month from first to the one before last month; seconds taken."""
    began = time.perf_counter()
    month = first
    while month < month_back(today, 1):
        async with db.unit_of_work(principal.organization_id) as unit:
            await periods.close_period(unit, principal, month, today=today, request_id=None)
        month = month_back(month, -1)
    return time.perf_counter() - began


_RAW_AGING = """
SELECT invoice_id, sum(amount) FROM receivable_entries
 WHERE organization_id = $1 AND entry_date <= $2 GROUP BY 1 HAVING sum(amount) <> 0
"""


async def ar_aging(
    owner: asyncpg.Connection, db: Database, first: datetime.date, today: datetime.date
) -> dict[str, object]:
    """The AR aging as of today through the reports service against _RAW_AGING."""
    last = reports.period_end(month_back(today, 1))
    began = time.perf_counter()
    org = await seed_receivables(owner, first, last)
    seed_s = time.perf_counter() - began
    principal = Principal("user_bench", org, Role.OWNER)
    close_s = await close_months(db, principal, first, today)
    count = "SELECT count(*) FROM receivable_entries WHERE organization_id = $1"
    rows = await owner.fetchval(count, org)
    tail = await owner.fetchval(count + " AND entry_date > $2", org, month_back(today, 1))
    raw_rows = await owner.fetch(_RAW_AGING, org, today)
    service = await reports_service.ar_aging(db, principal, today)
    # Same answer: the open invoices' total, in the one currency.
    assert [a.total.total for a in service] == [sum(r["sum"] for r in raw_rows)]

    async def aged() -> None:
        await reports_service.ar_aging(db, principal, today)

    async def raw() -> None:
        await owner.fetch(_RAW_AGING, org, today)

    ar_ms, plain_ms = await against(aged, raw)
    return {
        "receivable_rows": rows,
        "receivable_rows_after_last_close": tail,
        "open_invoices": len(raw_rows),
        "receivables_seed_s": round(seed_s, 1),
        "receivables_close_all_s": round(close_s, 2),
        "ar_aging_ms": ar_ms,
        "raw_aging_ms": plain_ms,
        "ar_aging_ratio": round(ar_ms / plain_ms, 3),
        "ar_aging_target_met": target_met(ar_ms, plain_ms),
    }


async def run(owner_url: str, app_url: str) -> dict[str, object]:
    today = datetime.datetime.now(datetime.UTC).date()
    first, last_month = month_back(today, MONTHS), month_back(today, 1)
    owner = await asyncpg.connect(owner_url)
    db = Database(app_url, min_size=1, max_size=2)
    await db.open()
    try:
        began = time.perf_counter()
        org = await seed(owner, first, reports.period_end(last_month))
        seed_s = time.perf_counter() - began
        principal = Principal("user_bench", org, Role.OWNER)
        close_s = await close_months(db, principal, first, today)
        count = await owner.fetchval(
            "SELECT count(*) FROM postings WHERE organization_id = $1", org
        )
        tail = await owner.fetchval(
            "SELECT count(*) FROM postings WHERE organization_id = $1 AND entry_date >= $2",
            org,
            last_month,
        )

        async def trial() -> None:
            result = await reports_service.trial_balance(db, principal, today)
            assert all(t.total_debit == t.total_credit for t in result)

        async def raw() -> None:
            await owner.fetch(
                "SELECT account_id, currency, sum(amount) FROM postings"
                " WHERE organization_id = $1 GROUP BY 1, 2",
                org,
            )

        await trial()
        await raw()
        trial_balance_ms, raw_sum_ms = await against(trial, raw)
        api = await api_trial_balance(app_url, principal)
        aging = await ar_aging(owner, db, first, today)
    finally:
        await db.close()
        await owner.close()
    return {
        "benchmark": "reports",
        "postings": count,
        "postings_after_last_close": tail,
        "closed_months": MONTHS - 1,
        "seed_s": round(seed_s, 1),
        "close_all_s": round(close_s, 2),
        "trial_balance_ms": trial_balance_ms,
        "raw_sum_ms": raw_sum_ms,
        "ratio": round(trial_balance_ms / raw_sum_ms, 3),
        "target_met": target_met(trial_balance_ms, raw_sum_ms),
        "api_trial_balance_uncached_ms": api["uncached"],
        "api_trial_balance_cached_ms": api["cached"],
        "cache_speedup": round(api["uncached"] / api["cached"], 1),
    } | aging


async def main() -> None:
    name, owner_url, app_url = await create_database()
    try:
        result = await run(owner_url, app_url)
    finally:
        await drop_database(name)
    out = ROOT / "bench/results/reports.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
