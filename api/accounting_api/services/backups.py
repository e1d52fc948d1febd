"""Take a backup: pg_dump streamed to S3 with its manifest from the same snapshot; list
backups; retention.

The order is what makes a backup trustworthy: stale multipart uploads of a killed run
are aborted first; the dump is streamed (hashed on the way) while the manifest's books
are read in the very snapshot pg_dump dumps; the upload is completed only when pg_dump
has exited 0; the manifest is written last (a dump without one is no backup); the
backup is recorded in the platform's database; retention runs only after all of it.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import subprocess
import time
from dataclasses import dataclass

from accounting_api.db import backups as backups_db
from accounting_api.db import dumps
from accounting_api.db.connection import Connection, connected
from accounting_api.domain import backups
from accounting_api.objectstore import Bucket

log = logging.getLogger("accounting_api.backup")


@dataclass(frozen=True, slots=True)
class Location:
    """Where a platform's backups are: a bucket and a key prefix."""

    bucket: Bucket
    prefix: str

    def keys(self, backup_id: str) -> backups.Keys:
        return backups.Keys(backups.clean_prefix(self.prefix), backup_id)

    def listing(self) -> list[backups.Listed]:
        objects = self.bucket.objects(backups.clean_prefix(self.prefix))
        return backups.listed(self.prefix, ((o.key, o.size) for o in objects))

    def manifest(self, backup_id: str) -> backups.Manifest:
        key = self.keys(backup_id).manifest
        try:
            return backups.Manifest.from_wire(self.bucket.get_json(key))
        except (KeyError, TypeError, ValueError) as exc:
            raise backups.BackupError(f"{key} is not a readable manifest: {exc!r}") from None


@dataclass(frozen=True, slots=True)
class Taken:
    manifest: backups.Manifest
    deleted: list[str]
    aborted_uploads: list[str]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def take(
    database_url: str,
    location: Location,
    *,
    retention_days: int,
    now: datetime.datetime | None = None,
) -> Taken:
    """One backup, then retention; raises BackupError (nothing claimed) on any failure."""
    location.bucket.check()
    aborted = location.bucket.abort_stale_uploads(backups.clean_prefix(location.prefix))
    started = now or _now()
    keys = location.keys(backups.new_id(started))
    target = dumps.Target.from_url(database_url)
    async with connected(target.with_password_url()) as conn:
        manifest = await _dump(conn, target, location, keys, started)
        location.bucket.put_json(keys.manifest, manifest.wire())
        await backups_db.record_backup(
            conn,
            key=keys.dump,
            bucket=location.bucket.name,
            started_at=manifest.started_at,
            finished_at=manifest.finished_at,
            size_bytes=manifest.dump_bytes,
            sha256=manifest.sha256,
            schema_version=manifest.books.schema_version,
        )
        deleted = retain(location, retention_days, now or _now())
        await backups_db.record_deleted(conn, [location.keys(i).dump for i in deleted], _now())
    log.info("backup taken", extra={"key": keys.dump, "bytes": manifest.dump_bytes})
    return Taken(manifest, deleted, aborted)


async def _dump(
    conn: Connection,
    target: dumps.Target,
    location: Location,
    keys: backups.Keys,
    started: datetime.datetime,
) -> backups.Manifest:
    if not await backups_db.bypasses_row_security(conn):
        raise backups.BackupError(
            "the backup role must bypass row-level security (BYPASSRLS) to dump every "
            "organization: see docs/backups.md"
        )
    clock = time.monotonic()
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        snapshot = await backups_db.export_snapshot(conn)
        process = dumps.start_dump(target, snapshot)
        upload = asyncio.ensure_future(asyncio.to_thread(_upload, location, keys, process))
        try:
            books = await backups_db.books(conn, await backups_db.organizations(conn))
            books_seconds = time.monotonic() - clock
            size, sha256 = await upload
        except BaseException:
            process.kill()
            await asyncio.gather(upload, return_exceptions=True)
            raise
    return backups.Manifest(
        id=keys.id,
        key=keys.dump,
        books=books,
        dump_bytes=size,
        sha256=sha256,
        started_at=started,
        finished_at=_now(),
        timings={
            "dump_seconds": round(time.monotonic() - clock, 3),
            "books_seconds": round(books_seconds, 3),
        },
        versions={
            "server": await backups_db.server_version(conn),
            "pg_dump": dumps.version("pg_dump"),
        },
    )


def _upload(
    location: Location, keys: backups.Keys, process: subprocess.Popen[bytes]
) -> tuple[int, str]:
    assert process.stdout is not None

    def commit() -> None:
        errors = process.stderr.read() if process.stderr else b""
        if process.wait() != 0:
            raise backups.BackupError(f"pg_dump failed: {dumps.last_lines(errors)}")

    try:
        return location.bucket.upload(keys.dump, process.stdout, commit=commit)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def retain(location: Location, retention_days: int, now: datetime.datetime) -> list[str]:
    """Delete the backups retention allows (and dumps no manifest completed, once as old);
    return the ids of the backups deleted. Run only after a successful backup."""
    objects = location.bucket.objects(backups.clean_prefix(location.prefix))
    pairs = [(o.key, o.size) for o in objects]
    doomed = backups.to_delete(backups.listed(location.prefix, pairs), now, retention_days)
    keys = [k for i in doomed for k in location.keys(i).all()]
    keys += backups.orphans(location.prefix, pairs, now, retention_days)
    if keys:
        location.bucket.delete(keys)
    return doomed
