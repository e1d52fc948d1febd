"""`accounting-api backup [take|list|verify]` and `accounting-api restore`.

Each prints one JSON object on its last line of stdout. Exit codes: 0 done; 1 a restore
test or a restore found the books differ from the manifest (the first failed check,
with its organization, is named on stderr); 2 refused or failed (bad settings, S3 or
pg_dump errors, a non-empty target database); 3 PostgreSQL unreachable. Under
Kubernetes the one-line reason is also the container's termination message, which the
operator reports.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from accounting_api.db.failures import FAILURES as DATABASE_FAILURES
from accounting_api.domain.backups import BackupError
from accounting_api.settings import BackupSettings

if TYPE_CHECKING:
    from accounting_api.services import backups

COMMANDS = frozenset({"backup", "restore"})
FAILURES = (BackupError, *DATABASE_FAILURES)
TERMINATION_LOG = Path(os.environ.get("TERMINATION_MESSAGE_PATH", "/dev/termination-log"))


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    backup = sub.add_parser(
        "backup",
        help="take a backup to S3 (then retention), list backups, or restore-test them",
    )
    backup.add_argument(
        "action",
        nargs="?",
        choices=["take", "list", "verify"],
        default="take",
        help="take (default): pg_dump to S3 with its manifest; list: the backups with size, "
        "age and verification; verify: restore-test the untested backups, newest first",
    )
    backup.add_argument("--json", action="store_true", help="list: one JSON object")
    restore = sub.add_parser(
        "restore", help="restore a backup into an empty database and check its books"
    )
    restore.add_argument(
        "--backup",
        default=os.environ.get("RESTORE_BACKUP", "latest-verified"),
        help="an id or key, latest, or latest-verified (default)",
    )


def location(settings: BackupSettings) -> backups.Location:
    from accounting_api.objectstore import Bucket  # boto3: only the backup commands need it
    from accounting_api.services import backups

    bucket = Bucket(
        settings.backup_s3_bucket,
        endpoint=settings.backup_s3_endpoint or None,
        region=settings.backup_s3_region,
    )
    return backups.Location(bucket, settings.backup_s3_prefix)


async def run(args: argparse.Namespace, database_url: Callable[[bool], str]) -> int:
    from accounting_api.services import backups, restores

    settings = BackupSettings.from_env()
    where = location(settings)
    scratch = restores.scratch_dir(settings.backup_scratch_dir)
    if args.command == "restore":
        return await _restore(database_url(True), where, args.backup, scratch)
    if args.action == "list":
        return _list(where, as_json=args.json)
    url = os.environ.get("BACKUP_DATABASE_URL") or database_url(False)
    if args.action == "verify":
        return await _verify(where, scratch, settings, url)
    taken = await backups.take(url, where, retention_days=settings.backup_retention_days)
    manifest = taken.manifest
    _print(
        {
            "backup": manifest.key,
            "bytes": manifest.dump_bytes,
            "sha256": manifest.sha256,
            "organizations": len(manifest.books.audit_heads),
            "seconds": manifest.timings.get("dump_seconds"),
            "deleted": taken.deleted,
            "aborted_uploads": taken.aborted_uploads,
        }
    )
    return 0


async def _verify(
    where: backups.Location, scratch: Path, settings: BackupSettings, url: str
) -> int:
    from accounting_api.services import restores

    run = await restores.verify_pending(
        where,
        scratch,
        deadline_seconds=settings.backup_verify_deadline_seconds,
        database_url=url,
    )
    _print(
        {
            "verified": [v.wire() for v in run.verified],
            "unverified": run.unverified,
            "failed": [v.key for v in run.failed],
        }
    )
    if run.failed:
        first = run.failed[0]
        return _fail(f"restore test of {first.key} failed: {first.failures[0]}", 1)
    return 0


async def _restore(url: str, where: backups.Location, wanted: str, scratch: Path) -> int:
    from accounting_api.services import restores

    restored = await restores.restore(url, where, wanted, scratch)
    _print(
        {
            "restored": restored.key,
            "seconds": round(restored.seconds, 3),
            "passed": not restored.failures,
            "failures": [str(f) for f in restored.failures],
        }
    )
    if restored.failures:
        return _fail(f"restored {restored.key}, but {restored.failures[0]}", 1)
    return 0


def _list(where: backups.Location, *, as_json: bool) -> int:
    now = datetime.datetime.now(datetime.UTC)
    rows = [
        {
            "id": b.id,
            "key": where.keys(b.id).dump,
            "bytes": b.dump_bytes,
            "age_hours": round((now - b.started_at).total_seconds() / 3600, 2),
            "verification": b.verification,
        }
        for b in reversed(where.listing())
    ]
    if as_json:
        _print({"backups": rows})
        return 0
    print(f"{'BACKUP':<22} {'SIZE':>12} {'AGE':>10}  VERIFICATION")
    for row in rows:
        print(f"{row['id']:<22} {row['bytes']:>12} {row['age_hours']:>9}h  {row['verification']}")
    return 0


def _print(data: object) -> None:
    print(json.dumps(data, default=str))


def _fail(reason: str, code: int) -> int:
    print(f"accounting-api: {reason}", file=sys.stderr)
    _terminate_with(reason)
    return code


def report_failure(args: argparse.Namespace, exc: BaseException) -> int:
    """A refused or failed run: one line on stderr (and as the termination message)."""
    return _fail(f"{args.command}: {exc}", 2)


def _terminate_with(reason: str) -> None:
    # Kubernetes creates the file in every container; elsewhere there is nothing to do.
    if TERMINATION_LOG.is_file() and os.access(TERMINATION_LOG, os.W_OK):
        with contextlib.suppress(OSError):
            TERMINATION_LOG.write_text(reason[:4000])
