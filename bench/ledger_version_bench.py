"""What the summary rows that postings keep cost the posting path: the ledger-version bump
(0009_report_cache.sql, at commit since 0013/0022) and the daily balances (0028).

Creates a scratch database (migrated, dropped afterwards) with one organization, then
posts single two-line entries (one day, two accounts) as the app role (tenant set, one
statement, the same triggers as the API) from BENCH_CONCURRENCY connections, in three
rounds of five modes: as shipped (both on), the bump off, the daily balances off, both off
(the limit), and the daily balances with one row per account and day instead of one per
session (what the sessions' rows avoid). Prints one JSON object on the last line and
writes it to bench/results/ledger_version.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time

import asyncpg
from bench import reports_bench

from accounting_api.domain import ids

ENTRIES = int(os.environ.get("BENCH_ENTRIES", "1500"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
_POST = """
WITH e AS (
  INSERT INTO journal_entries (id, organization_id, entry_date, description)
  VALUES ($1, $2, '2026-11-01', 'bench') RETURNING id
)
INSERT INTO postings (organization_id, journal_entry_id, line, account_id, currency, amount,
                      entry_date)
SELECT $2, e.id, l, ($3::text[])[l + 1], 'USD', CASE l WHEN 0 THEN 5 ELSE -5 END, '2026-11-01'
  FROM e, generate_series(0, 1) l
"""
_DAILY = """
CREATE OR REPLACE FUNCTION add_to_daily_balances() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  INSERT INTO daily_balances AS d (organization_id, entry_date, account_id, slot, amount)
  SELECT organization_id, entry_date, account_id, {slot}, sum(amount)
    FROM new_postings GROUP BY organization_id, entry_date, account_id
  ON CONFLICT (organization_id, entry_date, account_id, slot)
    DO UPDATE SET amount = d.amount + excluded.amount;
  RETURN NULL;
END $$
"""
MODES = {  # bump trigger, daily balances trigger, daily balances slot
    "shipped": ("ENABLE", "ENABLE", "pg_backend_pid()"),
    "bump_off": ("DISABLE", "ENABLE", "pg_backend_pid()"),
    "daily_balances_off": ("ENABLE", "DISABLE", "pg_backend_pid()"),
    "off": ("DISABLE", "DISABLE", "pg_backend_pid()"),
    "daily_one_row": ("ENABLE", "ENABLE", "0"),
}


async def setup(owner: asyncpg.Connection) -> tuple[str, list[str]]:
    org, accounts = ids.new_id("org"), [ids.new_id("acct"), ids.new_id("acct")]
    await owner.execute(
        "INSERT INTO organizations (id, name, base_currency) VALUES ($1, 'B', 'USD')", org
    )
    await owner.executemany(
        "INSERT INTO accounts (id, organization_id, code, name, type, currency, normal_balance)"
        " VALUES ($1, $2, $3, $3, $4, 'USD', $5)",
        [
            (accounts[0], org, "1000", "asset", "debit"),
            (accounts[1], org, "4000", "revenue", "credit"),
        ],
    )
    return org, accounts


async def entries_per_second(pool: asyncpg.Pool, org: str, accounts: list[str]) -> float:
    left = iter(range(ENTRIES))

    async def worker() -> None:
        for _ in left:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT set_config('app.organization_id', $1, true)", org)
                await conn.execute(_POST, ids.new_id("je"), org, accounts)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return ENTRIES / (time.perf_counter() - began)


async def run(owner_url: str, app_url: str) -> dict[str, object]:
    owner = await asyncpg.connect(owner_url)
    pool = await asyncpg.create_pool(app_url, min_size=CONCURRENCY, max_size=CONCURRENCY)
    try:
        org, accounts = await setup(owner)
        rates: dict[str, list[float]] = {mode: [] for mode in MODES}
        for _ in range(3):  # alternate so every mode sees the same machine
            for mode, (bump, daily, slot) in MODES.items():
                await owner.execute(_DAILY.format(slot=slot))
                await owner.execute(
                    f"ALTER TABLE journal_entries {bump} TRIGGER journal_entries_bump_version"
                )
                await owner.execute(
                    f"ALTER TABLE postings {daily} TRIGGER postings_add_to_daily_balances"
                )
                rates[mode].append(await entries_per_second(pool, org, accounts))
    finally:
        await pool.close()
        await owner.close()
    median = {mode: round(statistics.median(r), 1) for mode, r in rates.items()}
    return {
        "benchmark": "ledger_version",
        "entries": ENTRIES,
        "concurrency": CONCURRENCY,
        "entries_per_s": median,
        "ratio_to_off": round(median["shipped"] / median["off"], 3),
        "daily_balances_ratio": round(median["shipped"] / median["daily_balances_off"], 3),
        "bump_ratio": round(median["shipped"] / median["bump_off"], 3),
        "daily_one_row_ratio": round(median["daily_one_row"] / median["shipped"], 3),
    }


async def main() -> None:
    name, owner_url, app_url = await reports_bench.create_database()
    try:
        result = await run(owner_url, app_url)
    finally:
        await reports_bench.drop_database(name)
    out = reports_bench.ROOT / "bench/results/ledger_version.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
