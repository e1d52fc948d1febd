"""Backups and their restore tests against the plain dump and the plain restore.

Creates a scratch database (migrated, dropped afterwards) and seeds BENCH_ORGS
organizations with BENCH_POSTINGS postings in all (balanced 4-line entries over 60 months)
by INSERT ... SELECT generate_series as the owner, every ledger trigger and foreign key
on; each entry has its audit event, and each organization's events are linked into its
hash chain by the database's own link_audit_events, so the restore test's chain check
recomputes a real chain. Then, in BENCH_ROUNDS alternated rounds (order swapped every
other round, so neither side always reads a warm cache):

- raw dump: `pg_dump` with the backup's own arguments (dumps.DUMP_ARGS) as the backup
  role, its stdout handed to boto3's `upload_fileobj` into the same bucket of the same
  local S3 server (same part size and parts in flight as the backup), nothing else;
- backup: `accounting-api backup` as a subprocess, as the CronJob runs it (the snapshot,
  pg_dump streamed to S3 with its SHA-256, the manifest's books, the record, retention);
  and, to tell the process's start-up from the work, services.backups.take in-process;
- verify: `accounting-api backup verify` of that one backup (its own prefix), as a
  subprocess: download and checksum, initdb and start a throwaway server, pg_restore
  --jobs=JOBS, every check of the books and audit chains;
- raw restore: the same dump, already on disk, restored by `pg_restore` with the verify's
  own arguments and JOBS into a throwaway server started the same way (started before
  the clock runs: only the restore is timed). For context, the same restore into a fresh
  database of the local server (fsync on) is timed too.

Prints one JSON object on its last line and writes it to bench/results/backup.json.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import pathlib
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import boto3
import boto3.s3.transfer
import botocore.config
from bench import reports_bench

from accounting_api import objectstore
from accounting_api.db import dumps
from accounting_api.domain import ids
from accounting_api.objectstore import Bucket
from accounting_api.services import backups
from accounting_api.services.backups import Location

ROOT = pathlib.Path(__file__).resolve().parent.parent
CLI = str(pathlib.Path(sys.executable).parent / "accounting-api")
POSTINGS = int(os.environ.get("BENCH_POSTINGS", "1000000"))
ORGS = int(os.environ.get("BENCH_ORGS", "100"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
MONTHS = 60
ACCOUNTS = 20
BUCKET = "ua-bench-backups"
JOBS = max(1, min(4, os.cpu_count() or 1))
"""pg_restore jobs: what services.restores gives the throwaway server."""
RESTORE_ARGS = ("--exit-on-error", "--no-password", "--no-owner", "--no-acl")
"""What dumps.restore passes for a throwaway server (with --jobs)."""

_ENTRIES = """
INSERT INTO journal_entries (id, organization_id, entry_date, description)
SELECT 'je_' || $5 || lpad(i::text, 7, '0'), $1, $2::date + (i::bigint * $3 / $4)::int, 'bench'
  FROM generate_series(0, $4 - 1) i
"""
# Lines 0/1 move x and lines 2/3 move y between two accounts each: balanced per entry.
_POSTINGS = """
INSERT INTO postings (organization_id, journal_entry_id, line, account_id, currency, amount,
                      entry_date)
SELECT $1, 'je_' || $5 || lpad(i::text, 7, '0'), l, ($6::text[])[1 + (i + l * 5) % $7], 'USD',
       CASE l WHEN 0 THEN 1 + i % 997 WHEN 1 THEN -(1 + i % 997)
              WHEN 2 THEN 1 + i % 113 ELSE -(1 + i % 113) END,
       $2::date + (i::bigint * $3 / $4)::int
  FROM generate_series(0, $4 - 1) i, generate_series(0, 3) l
"""
# One unlinked event per entry, as record_audit_events writes them (the owner bypasses
# row-level security), occurring in the entries' order; linked afterwards.
_AUDIT = """
INSERT INTO audit_events (id, organization_id, actor_user_id, action, object_type, object_id,
                          request_id, after_sha256, occurred_at)
SELECT 'ae_' || $5 || lpad(i::text, 7, '0'), $1, 'user_bench', 'journal_entry.posted',
       'journal_entry', 'je_' || $5 || lpad(i::text, 7, '0'), 'req_bench',
       encode(sha256(convert_to('je_' || $5 || i, 'UTF8')), 'hex'),
       $2::date + make_interval(secs => i::bigint * $3::int * 86400 / $4::int)
  FROM generate_series(0, $4 - 1) i
"""


async def seed_organization(
    conn: asyncpg.Connection, n: int, first: datetime.date, span: int, entries: int
) -> str:
    """One organization: its accounts, entries * 4 postings, their linked audit chain."""
    org, tag = ids.new_id("org"), f"b{n:04d}_"
    accounts = [ids.new_id("acct") for _ in range(ACCOUNTS)]
    types = ["asset", "liability", "equity", "revenue", "expense"]
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO organizations (id, name, base_currency) VALUES ($1, $2, 'USD')", org, tag
        )
        await conn.executemany(
            "INSERT INTO accounts (id, organization_id, code, name, type, currency,"
            " normal_balance) VALUES ($1, $2, $3, $3, $4, 'USD', $5)",
            [
                (a, org, f"{1000 + i}", types[i % 5], "debit" if i % 5 in {0, 4} else "credit")
                for i, a in enumerate(accounts)
            ],
        )
        await conn.execute(_ENTRIES, org, first, span, entries, tag)
        await conn.execute(_POSTINGS, org, first, span, entries, tag, accounts, ACCOUNTS)
        await conn.execute(_AUDIT, org, first, span, entries, tag)
    async with conn.transaction():
        await conn.execute("SELECT set_config('app.organization_id', $1, true)", org)
        linked = await conn.fetchval("SELECT link_audit_events($1, $2)", org, entries)
    assert linked == entries, (org, linked)
    return org


async def seed(owner_url: str) -> dict[str, float]:
    today = datetime.datetime.now(datetime.UTC).date()
    first = reports_bench.month_back(today, MONTHS)
    span = (reports_bench.month_back(today, 0) - first).days - 1
    entries = POSTINGS // 4 // ORGS
    began = time.perf_counter()
    conn = await asyncpg.connect(owner_url)
    try:
        for n in range(ORGS):
            await seed_organization(conn, n, first, span, entries)
        await conn.execute("VACUUM ANALYZE")
        postings = await conn.fetchval("SELECT count(*) FROM postings")
        events = await conn.fetchval("SELECT count(*) FROM audit_events")
    finally:
        await conn.close()
    return {"postings": postings, "audit_events": events, "seed_s": time.perf_counter() - began}


# --- the four timed steps --------------------------------------------------------------


def s3_client() -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=os.environ["BACKUP_S3_ENDPOINT"],
        region_name="us-east-1",
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    )


def raw_dump(target: dumps.Target, key: str) -> tuple[float, int]:
    """Seconds of pg_dump into upload_fileobj, and the object's size."""
    s3 = s3_client()
    transfer = boto3.s3.transfer.TransferConfig(
        multipart_chunksize=objectstore.PART_BYTES, max_concurrency=objectstore.PARTS_IN_FLIGHT
    )
    began = time.perf_counter()
    process = subprocess.Popen(
        [dumps.program("pg_dump"), *dumps.DUMP_ARGS, f"--dbname={target.url}"],
        stdout=subprocess.PIPE,
        env=target.env(),
    )
    assert process.stdout is not None
    s3.upload_fileobj(process.stdout, BUCKET, key, Config=transfer)
    assert process.wait() == 0, "pg_dump failed"
    seconds = time.perf_counter() - began
    size = s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"]
    return seconds, int(size)


def cli(*args: str, env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """Seconds of `accounting-api ARGS`, and the JSON object it printed last."""
    began = time.perf_counter()
    done = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    assert done.returncode == 0, done.stderr
    return seconds, json.loads(done.stdout.strip().splitlines()[-1])


def pg_restore(target: dumps.Target, path: pathlib.Path) -> float:
    began = time.perf_counter()
    subprocess.run(
        [dumps.program("pg_restore"), *RESTORE_ARGS, f"--jobs={JOBS}", f"--dbname={target.url}",
         str(path)],
        env=target.env(),
        check=True,
        capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - began


def raw_restore(path: pathlib.Path, scratch: pathlib.Path) -> float:
    """pg_restore alone, into a throwaway server started (untimed) as verify starts one."""
    with dumps.throwaway_server(scratch) as target:
        return pg_restore(target, path)


async def local_restore(path: pathlib.Path) -> float:
    """pg_restore into a fresh database of the local server (durable: fsync on)."""
    name = f"ua_bench_restore_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(os.environ["MIGRATION_DATABASE_URL"])
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = reports_bench.with_database(os.environ["MIGRATION_DATABASE_URL"], name)
        return await asyncio.to_thread(pg_restore, dumps.Target.from_url(url), path)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


# --- one run -----------------------------------------------------------------------------


def in_order(swap: bool, *steps: Callable[[], None]) -> None:
    for step in reversed(steps) if swap else steps:
        step()


@contextmanager
def scratch_dir() -> Iterator[pathlib.Path]:
    """Reachable by the throwaway server's unprivileged user (when we are root)."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="ua-bench-backup-"))
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def load_average() -> list[float]:
    return [float(v) for v in pathlib.Path("/proc/loadavg").read_text().split()[:3]]


def cli_env(location: Location, backup_url: str, scratch: pathlib.Path) -> dict[str, str]:
    return dict(
        os.environ,
        BACKUP_S3_BUCKET=BUCKET,
        BACKUP_S3_PREFIX=location.prefix,
        BACKUP_DATABASE_URL=backup_url,
        BACKUP_SCRATCH_DIR=str(scratch),
    )


def one_round(
    r: int, base: str, bucket: Bucket, backup_url: str, scratch: pathlib.Path
) -> dict[str, float]:
    """Raw dump and backup, then verify and raw restore (each pair alternated)."""
    location = Location(bucket, f"{base}/r{r}")
    env = cli_env(location, backup_url, scratch)
    got: dict[str, float] = {}

    def dump() -> None:
        got["raw_dump_s"], got["dump_bytes"] = raw_dump(
            dumps.Target.from_url(backup_url), f"{base}/raw-r{r}.dump"
        )

    def backup() -> None:
        got["backup_s"], taken = cli("backup", env=env)
        got["backup_bytes"] = float(taken["bytes"])

    def in_process() -> None:
        began = time.perf_counter()
        where = Location(bucket, f"{base}/p{r}")
        asyncio.run(backups.take(backup_url, where, retention_days=30))
        got["backup_in_process_s"] = time.perf_counter() - began

    in_order(r % 2 == 1, dump, backup, in_process)
    manifest = location.manifest(location.listing()[-1].id)
    got |= {k: float(v) for k, v in manifest.timings.items()}
    path = scratch / f"r{r}.dump"
    bucket.download(manifest.key, str(path))

    def verify() -> None:
        got["verify_s"], out = cli("backup", "verify", env=env)
        [verified] = out["verified"]
        assert verified["passed"], verified
        got["verify_restore_s"] = verified["restore_seconds"]
        got["verify_checks_s"] = verified["checks_seconds"]

    def restore() -> None:
        got["raw_restore_s"] = raw_restore(path, scratch)

    in_order(r % 2 == 1, verify, restore)
    got["raw_restore_local_s"] = asyncio.run(local_restore(path))
    path.unlink()
    return got


TIMES = (
    "raw_dump_s", "backup_s", "backup_in_process_s", "dump_seconds", "books_seconds",
    "raw_restore_s", "verify_s", "verify_restore_s", "verify_checks_s", "raw_restore_local_s",
)  # fmt: skip
"""Medians reported: the steps' own and their parts (dump_seconds and books_seconds from
the manifest, the verify's restore and checks from its output)."""


def summary(rounds: list[dict[str, float]]) -> dict[str, object]:
    def median(key: str) -> float:
        return round(statistics.median(r[key] for r in rounds), 3)

    out: dict[str, object] = {k: median(k) for k in TIMES}
    backup_ratio = median("backup_s") / median("raw_dump_s")
    verify_ratio = median("verify_s") / median("raw_restore_s")
    return out | {
        "dump_bytes": int(median("backup_bytes")),
        "raw_dump_bytes": int(median("dump_bytes")),
        "backup_ratio": round(backup_ratio, 3),
        "backup_in_process_ratio": round(median("backup_in_process_s") / median("raw_dump_s"), 3),
        "backup_target_met": backup_ratio <= 1.15,
        "verify_ratio": round(verify_ratio, 3),
        "verify_target_met": verify_ratio <= 1.5,
        "rounds": [{k: round(v, 3) for k, v in r.items()} for r in rounds],
    }


def measure(base: str, backup_url: str) -> dict[str, object]:
    bucket = Bucket(BUCKET, endpoint=os.environ["BACKUP_S3_ENDPOINT"])
    bucket.create()
    try:
        with scratch_dir() as scratch:
            rounds = [one_round(r, base, bucket, backup_url, scratch) for r in range(ROUNDS)]
    finally:
        leftovers = [o.key for o in bucket.objects(base)]
        if leftovers:
            bucket.delete(leftovers)
    return summary(rounds)


def main() -> None:
    started_load = load_average()
    name, owner_url, _ = asyncio.run(reports_bench.create_database("ua_bench_backup"))
    try:
        seeded = asyncio.run(seed(owner_url))
        backup_url = reports_bench.with_database(os.environ["BACKUP_DATABASE_URL"], name)
        measured = measure(f"bench-{secrets.token_hex(4)}", backup_url)
    finally:
        asyncio.run(reports_bench.drop_database(name))
    result = {
        "benchmark": "backup",
        "postings": seeded["postings"],
        "organizations": ORGS,
        "audit_events": seeded["audit_events"],
        "seed_s": round(seeded["seed_s"], 1),
        "jobs": JOBS,
        "load_average_start": started_load,
        "load_average_end": load_average(),
    } | measured
    out = ROOT / "bench/results/backup.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
