"""Restore tests of backups, and disaster recovery from a backup.

A restore test downloads a backup, checks its SHA-256 against the manifest, restores it
into a throwaway PostgreSQL server of its own (never the production one), and checks
the books there against the manifest: the schema version, the rows of every table,
every organization's trial balance (zero in each currency and equal to the recorded
totals) and audit chain (valid, and ending at the recorded head). The outcome is written
next to the backup and recorded in the platform's database. A backup that fails is
kept, reported and never counted as good.

A restore puts a chosen backup into an empty database (anything else is refused before
a byte is written), in one transaction, then runs the same checks there.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accounting_api.db import backups as backups_db
from accounting_api.db import dumps
from accounting_api.db.connection import Connection, connected, pooled
from accounting_api.db.failures import FAILURES
from accounting_api.domain import backups
from accounting_api.objectstore import StorageError
from accounting_api.services.backups import Location

log = logging.getLogger("accounting_api.backup")

REQUIRED_ROLES = ("accounting_app", "accounting_backup")
"""Roles the restored grants name; a restore into a server without them would fail late."""


@dataclass(frozen=True, slots=True)
class Verification:
    id: str
    key: str
    failures: list[backups.Failure]
    restore_seconds: float
    checks_seconds: float
    verified_at: datetime.datetime

    @property
    def passed(self) -> bool:
        return not self.failures

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "passed": self.passed,
            "failures": [
                {"check": f.check, "organization": f.organization, "message": f.message}
                for f in self.failures
            ],
            "first_failure": str(self.failures[0]) if self.failures else None,
            "restore_seconds": round(self.restore_seconds, 3),
            "checks_seconds": round(self.checks_seconds, 3),
            "verified_at": self.verified_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class VerifyRun:
    verified: list[Verification] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    """Backups still waiting for a restore test when the deadline came."""

    @property
    def failed(self) -> list[Verification]:
        return [v for v in self.verified if not v.passed]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def scratch_dir(configured: str) -> Path:
    path = Path(configured or tempfile.gettempdir())
    path.mkdir(parents=True, exist_ok=True)
    return path


CHECK_CONNECTIONS = 2
"""Connections the checks run on at once (the books on one, audit chains on the others)."""


async def check(url: str, manifest: backups.Manifest) -> list[backups.Failure]:
    """Every way the database at url differs from the manifest's books."""
    async with pooled(url, CHECK_CONNECTIONS) as pool:
        async with pool.acquire() as conn:
            orgs = sorted(manifest.books.audit_heads)
            if await backups_db.bypasses_row_security(conn):
                orgs = sorted(set(orgs) | set(await backups_db.organizations(conn)))

        async def books() -> backups.Books:
            async with pool.acquire() as conn:
                return await backups_db.books(conn, orgs)

        async def chain(org: str) -> backups.Failure | None:
            async with pool.acquire() as conn:
                return await backups_db.verify_chain(conn, org)

        reading = asyncio.ensure_future(books())
        chains = await asyncio.gather(*(chain(org) for org in orgs))
        restored = await reading
    failures = backups.check_books(manifest.books, restored)
    for org, broken in zip(orgs, chains, strict=True):
        head = broken or backups.check_chain_head(
            org, manifest.books.audit_heads.get(org), restored.audit_heads.get(org)
        )
        if head is not None:
            failures.append(head)
    return failures


def _download(
    location: Location, manifest: backups.Manifest, into: Path
) -> tuple[Path, backups.Failure | None]:
    path = into / f"{manifest.id}.dump"
    actual = location.bucket.download(manifest.key, str(path))
    return path, backups.check_checksum(manifest.key, manifest.sha256, actual)


async def verify_one(location: Location, backup_id: str, scratch: Path) -> Verification:
    """Restore one backup into a throwaway server and check it; the outcome is also
    written next to the backup."""
    try:
        manifest = location.manifest(backup_id)
    except StorageError:
        raise
    except backups.BackupError as exc:
        return _finish(
            location,
            backup_id,
            location.keys(backup_id).dump,
            [backups.Failure("manifest", str(exc))],
            restore_seconds=0.0,
            checks_seconds=0.0,
        )
    work = _workdir(scratch, f"verify-{backup_id}-")
    clock = time.monotonic()
    restore_seconds = 0.0
    try:
        path, mismatch = _download(location, manifest, work)
        failures = [mismatch] if mismatch else []
        if not failures:
            with dumps.throwaway_server(work) as target:
                try:
                    dumps.restore(
                        target, path, jobs=max(1, min(4, os.cpu_count() or 1)), throwaway=True
                    )
                except backups.BackupError as exc:
                    failures = [backups.Failure("restore", str(exc))]
                restore_seconds = time.monotonic() - clock
                if not failures:
                    failures = await check(target.url, manifest)
    finally:
        _remove(work)
    total = time.monotonic() - clock
    return _finish(
        location,
        backup_id,
        manifest.key,
        failures,
        restore_seconds=restore_seconds,
        checks_seconds=total - restore_seconds,
    )


def _finish(
    location: Location,
    backup_id: str,
    key: str,
    failures: list[backups.Failure],
    *,
    restore_seconds: float,
    checks_seconds: float,
) -> Verification:
    """The outcome, written next to the backup."""
    result = Verification(backup_id, key, failures, restore_seconds, checks_seconds, _now())
    location.bucket.put_json(location.keys(backup_id).verification(result.passed), result.wire())
    return result


def _workdir(scratch: Path, prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=scratch))
    path.chmod(0o711)  # the throwaway server's unprivileged user must reach its data
    return path


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


async def verify_pending(
    location: Location, scratch: Path, *, deadline_seconds: float, database_url: str | None
) -> VerifyRun:
    """Restore-test the backups never tested, newest first, while the deadline allows
    (a test is not started when the last one's duration would overrun it)."""
    pending = [b.id for b in reversed(location.listing()) if b.verified is None]
    clock, longest, run = time.monotonic(), 0.0, VerifyRun()
    for position, backup_id in enumerate(pending):
        elapsed = time.monotonic() - clock
        if run.verified and elapsed + longest > deadline_seconds:
            run.unverified.extend(pending[position:])
            break
        started = time.monotonic()
        result = await verify_one(location, backup_id, scratch)
        longest = max(longest, time.monotonic() - started)
        run.verified.append(result)
        if database_url:
            await _record(database_url, result)
        log.info("backup verified", extra={"key": result.key, "passed": result.passed})
    return run


async def _record(database_url: str, result: Verification) -> None:
    """Record the outcome in the platform's database too; the bucket already has it, so a
    database that cannot be reached is logged, not fatal."""
    try:
        async with connected(dumps.Target.from_url(database_url).with_password_url()) as conn:
            await backups_db.record_verification(
                conn,
                key=result.key,
                verified_at=result.verified_at,
                passed=result.passed,
                detail=str(result.failures[0]) if result.failures else "every check passed",
            )
    except (OSError, *FAILURES) as exc:
        log.warning("restore test not recorded in the database: %s", exc)


@dataclass(frozen=True, slots=True)
class Restored:
    id: str
    key: str
    seconds: float
    failures: list[backups.Failure]


async def restore(database_url: str, location: Location, wanted: str, scratch: Path) -> Restored:
    """Restore the backup named by wanted (an id or key, `latest`, `latest-verified`) into
    the empty database of database_url, then check it as a restore test does."""
    chosen = backups.choose(location.listing(), wanted)
    manifest = location.manifest(chosen.id)
    target = dumps.Target.from_url(database_url)
    async with connected(target.with_password_url()) as conn:
        await _refuse_unless_ready(conn, database_url)
        clock = time.monotonic()
        work = _workdir(scratch, f"restore-{chosen.id}-")
        try:
            path, mismatch = _download(location, manifest, work)
            if mismatch:
                raise backups.BackupError(f"refusing to restore: {mismatch}")
            dumps.restore(target, path)
        finally:
            _remove(work)
        await backups_db.grant_backup_defaults(conn)
    failures = await check(target.with_password_url(), manifest)
    return Restored(chosen.id, manifest.key, time.monotonic() - clock, failures)


async def _refuse_unless_ready(conn: Connection, database_url: str) -> None:
    name = dumps.database_of(database_url)
    if not await backups_db.is_empty(conn):
        raise backups.BackupError(
            f"database {name!r} is not empty: a backup is restored only into an empty "
            "database (create a new one); nothing was written"
        )
    missing = await backups_db.missing_roles(conn, REQUIRED_ROLES)
    if missing:
        raise backups.BackupError(
            f"roles {', '.join(missing)} do not exist on this server: create them as "
            "docs/backups.md says, then restore again; nothing was written"
        )
