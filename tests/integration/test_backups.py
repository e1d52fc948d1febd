"""Backups to a real S3 server (versitygw), taken with a read-only BYPASSRLS role (never
the superuser), restore-tested in a throwaway PostgreSQL, restored into empty databases."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import hashlib
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from accounting_api.app import create_app
from accounting_api.db import dumps
from accounting_api.domain import backups as rules
from accounting_api.services import backups, restores
from accounting_api.settings import Settings
from tests.integration import backup_support as support
from tests.integration import conftest as databases
from tests.integration.helpers import Tenant

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture(scope="module")
async def books_db() -> AsyncIterator[databases.TestDatabase]:
    """A database of these tests' own: other tests tamper with the session's on purpose
    (a broken audit chain), which a restore test rightly refuses."""
    db = await databases.create_database()
    yield db
    await databases.drop_database(db.name)


@pytest.fixture(scope="module")
async def owner_conn(books_db: databases.TestDatabase) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(books_db.owner_url)
    yield conn
    await conn.close()


@pytest.fixture(scope="module")
def backup_url(books_db: databases.TestDatabase) -> str:
    """The backup role on the tests' database: read-only, BYPASSRLS, not a superuser."""
    return databases.with_database(os.environ["BACKUP_DATABASE_URL"], books_db.name)


@pytest.fixture(scope="module")
async def tenants(books_db: databases.TestDatabase, settings: Settings) -> list[Tenant]:
    support.bucket().create()
    app = create_app(
        dataclasses.replace(
            settings, database_url=books_db.app_url, migration_database_url=books_db.owner_url
        )
    )
    async with databases.serve(app) as client:
        return await support.books(client)


@pytest.fixture
def location() -> backups.Location:
    return support.new_location()


@pytest.fixture
def scratch() -> Iterator[Path]:
    with support.scratch_dir() as path:
        yield path


@pytest.fixture
async def empty_database() -> AsyncIterator[databases.TestDatabase]:
    db = await databases.create_empty_database("ua_restore")
    yield db
    await databases.drop_database(db.name)


async def test_the_backup_role_is_no_superuser(backup_url: str) -> None:
    conn = await asyncpg.connect(backup_url)
    try:
        row = await conn.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
    finally:
        await conn.close()
    assert row is not None
    assert (row["rolsuper"], row["rolbypassrls"]) == (False, True)


async def test_a_backup_is_restored_and_every_check_passes(
    tenants: list[Tenant],
    backup_url: str,
    location: backups.Location,
    scratch: Path,
    owner_conn: asyncpg.Connection,
) -> None:
    taken = await backups.take(backup_url, location, retention_days=30)
    manifest = location.manifest(taken.manifest.id)
    for n, tenant in enumerate(tenants):
        posted = 1000 + 2500 + 777 + n
        assert manifest.books.trial_balances[tenant.org_id] == {
            "USD" if n % 2 == 0 else "EUR": rules.Totals(posted, posted)
        }
        assert manifest.books.audit_heads[tenant.org_id] is not None
    assert manifest.books.tables["postings"] >= 12
    assert [b.verification for b in location.listing()] == ["unverified"]

    run = await restores.verify_pending(
        location, scratch, deadline_seconds=600, database_url=backup_url
    )

    assert [(v.key, v.failures) for v in run.verified] == [(taken.manifest.key, [])]
    assert [b.verification for b in location.listing()] == ["passed"]
    recorded = await owner_conn.fetchrow(
        "SELECT sha256, verification FROM backups WHERE key = $1", taken.manifest.key
    )
    assert recorded is not None
    assert dict(recorded) == {"sha256": taken.manifest.sha256, "verification": "passed"}


async def test_one_changed_byte_fails_the_checksum_and_names_the_key(
    tenants: list[Tenant], backup_url: str, location: backups.Location, scratch: Path
) -> None:
    taken = await backups.take(backup_url, location, retention_days=30)
    s3 = location.bucket._s3
    body = bytearray(s3.get_object(Bucket=support.BUCKET, Key=taken.manifest.key)["Body"].read())
    body[len(body) // 2] ^= 0x01
    s3.put_object(Bucket=support.BUCKET, Key=taken.manifest.key, Body=bytes(body))

    result = support.run_cli("backup", "verify", env=support.cli_env(location, backup_url,
                             BACKUP_SCRATCH_DIR=str(scratch)))  # fmt: skip

    assert result.returncode == 1
    assert f"checksum: {taken.manifest.key} has SHA-256" in result.stderr
    assert [b.verification for b in location.listing()] == ["failed"]


LOSE_A_POSTING = (
    "DELETE FROM postings WHERE id = (SELECT min(id) FROM postings WHERE organization_id = $1)"
)
REWRITE_AN_AUDIT_EVENT = (
    "UPDATE audit_events SET object_type = 'rewritten' WHERE id = (SELECT id FROM audit_events"
    " WHERE organization_id = $1 AND seq = 1)"
)


@pytest.mark.parametrize(
    ("tampering", "failed"),
    [
        (LOSE_A_POSTING, {("row_counts", False), ("trial_balance", True)}),
        (REWRITE_AN_AUDIT_EVENT, {("audit_chain", True)}),
    ],
    ids=["lost-posting", "rewritten-audit-event"],
)
async def test_a_dump_whose_books_changed_behind_its_manifest_fails_and_names_the_organization(
    tenants: list[Tenant],
    backup_url: str,
    location: backups.Location,
    scratch: Path,
    empty_database: databases.TestDatabase,
    tampering: str,
    failed: set[tuple[str, bool]],
) -> None:
    taken = await backups.take(backup_url, location, retention_days=30)
    victim = tenants[0].org_id
    size, sha256 = await _tampered_dump(
        location, taken.manifest, empty_database, scratch, tampering, victim
    )
    manifest = location.manifest(taken.manifest.id).wire()
    manifest["dump"] |= {"sha256": sha256, "bytes": size}
    location.bucket.put_json(location.keys(taken.manifest.id).manifest, manifest)

    result = await restores.verify_one(location, taken.manifest.id, scratch)

    assert not result.passed
    assert {(f.check, f.organization == victim) for f in result.failures} == failed
    assert [b.verification for b in location.listing()] == ["failed"]


async def _tampered_dump(
    location: backups.Location,
    manifest: rules.Manifest,
    scratch_db: databases.TestDatabase,
    scratch: Path,
    statement: str,
    *args: object,
) -> tuple[int, str]:
    """Restore the dump elsewhere, run statement there behind every rule's back (triggers
    off), dump again over the original object; (bytes, SHA-256) of the new dump."""
    path = scratch / "original.dump"
    location.bucket.download(manifest.key, str(path))
    target = dumps.Target.from_url(scratch_db.owner_url)
    dumps.restore(target, path, throwaway=True)
    conn = await asyncpg.connect(scratch_db.owner_url)
    try:
        await conn.execute("SET session_replication_role = replica")
        assert await conn.execute(statement, *args) in {"DELETE 1", "UPDATE 1"}
    finally:
        await conn.close()
    dump = await asyncio.to_thread(support.dump, target)
    location.bucket._s3.put_object(Bucket=support.BUCKET, Key=manifest.key, Body=dump)
    return len(dump), hashlib.sha256(dump).hexdigest()


async def _old_backups(backup_url: str, location: backups.Location, days: int) -> list[str]:
    """Two backups taken days ago, which retention would delete all but one of; the keys
    under the location then."""
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=days)
    for hours in (2, 1):
        await backups.take(
            backup_url, location, retention_days=30, now=old - datetime.timedelta(hours=hours)
        )
    return support.keys_under(location)


async def test_a_killed_backup_claims_nothing_and_the_next_run_aborts_its_upload(
    tenants: list[Tenant], backup_url: str, location: backups.Location
) -> None:
    before = await _old_backups(backup_url, location, days=60)

    with support.stalling_pg_dump(600) as bin_dir:
        env = support.cli_env(location, backup_url, PG_BIN_DIR=str(bin_dir))
        process = support.start_cli("backup", env=env, start_new_session=True)
        support.wait_for(lambda: support.uploads_under(location))
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    assert support.keys_under(location) == before  # no dump, no manifest, retention did not run
    stale = support.uploads_under(location)
    assert len(stale) == 1

    taken = await backups.take(backup_url, location, retention_days=30)

    assert taken.aborted_uploads == stale
    assert support.uploads_under(location) == []
    assert [b.id for b in location.listing()][-1] == taken.manifest.id


async def test_an_upload_cut_off_by_the_s3_server_claims_nothing(
    tenants: list[Tenant], backup_url: str
) -> None:
    with support.own_s3_server() as server:
        location = support.new_location(server.endpoint)
        await backups.take(backup_url, location, retention_days=30)
        before = support.keys_under(location)
        with support.stalling_pg_dump(3) as bin_dir:
            env = support.cli_env(location, backup_url, PG_BIN_DIR=str(bin_dir),
                                  BACKUP_S3_ENDPOINT=server.endpoint)  # fmt: skip
            process = support.start_cli("backup", env=env)
            support.wait_for(lambda: support.uploads_under(location))
            server.stop()
            _, stderr = process.communicate(timeout=120)
        server.start()

        assert process.returncode == 2
        assert "S3 upload of" in stderr
        assert support.keys_under(location) == before
        taken = await backups.take(backup_url, location, retention_days=30)
        assert len(taken.aborted_uploads) == 1
        assert len(location.listing()) == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"AWS_SECRET_ACCESS_KEY": "not-the-secret"},
            "access to bucket 'ua-test-backups' was denied",
        ),
        (
            {"BACKUP_S3_BUCKET": "no-such-bucket-here"},
            "bucket 'no-such-bucket-here' does not exist",
        ),
    ],
)
async def test_wrong_credentials_or_a_missing_bucket_fail_clearly_and_delete_nothing(
    tenants: list[Tenant],
    backup_url: str,
    location: backups.Location,
    change: dict[str, str],
    message: str,
) -> None:
    before = await _old_backups(backup_url, location, days=90)

    result = support.run_cli("backup", env=support.cli_env(location, backup_url) | change)

    assert result.returncode == 2
    assert message in result.stderr
    assert "not-the-secret" not in result.stderr + result.stdout
    assert support.keys_under(location) == before


async def test_a_role_without_bypassrls_is_refused_before_anything_is_written(
    books_db: databases.TestDatabase, location: backups.Location
) -> None:
    with pytest.raises(rules.BackupError, match="BYPASSRLS"):
        await backups.take(books_db.app_url, location, retention_days=30)
    assert support.keys_under(location) == []


async def test_retention_keeps_the_newest_and_the_newest_verified(
    tenants: list[Tenant], backup_url: str, location: backups.Location
) -> None:
    now = datetime.datetime.now(datetime.UTC)
    ids = []
    for days in (50, 45, 40):
        taken = await backups.take(
            backup_url, location, retention_days=30, now=now - datetime.timedelta(days=days)
        )
        ids.append(taken.manifest.id)
    # The 45-day-old one passed its restore test; the newest failed its.
    location.bucket.put_json(location.keys(ids[1]).verification(True), {"passed": True})
    location.bucket.put_json(location.keys(ids[2]).verification(False), {"passed": False})

    deleted = backups.retain(location, 30, now)

    assert deleted == [ids[0]]
    assert [b.id for b in location.listing()] == ids[1:]
    assert not [k for k in support.keys_under(location) if ids[0] in k]


async def test_restore_refuses_a_database_that_is_not_empty_and_writes_nothing(
    tenants: list[Tenant],
    backup_url: str,
    location: backups.Location,
    books_db: databases.TestDatabase,
    owner_conn: asyncpg.Connection,
    scratch: Path,
) -> None:
    await backups.take(backup_url, location, retention_days=30)
    before = await owner_conn.fetchval("SELECT count(*) FROM postings")
    env = support.cli_env(location, backup_url, MIGRATION_DATABASE_URL=books_db.owner_url,
                          BACKUP_SCRATCH_DIR=str(scratch))  # fmt: skip

    result = support.run_cli("restore", "--backup", "latest", env=env)

    assert result.returncode == 2
    assert f"database {books_db.name!r} is not empty" in result.stderr
    assert await owner_conn.fetchval("SELECT count(*) FROM postings") == before


async def test_restore_by_the_schema_owner_brings_back_the_books(
    tenants: list[Tenant],
    backup_url: str,
    location: backups.Location,
    empty_database: databases.TestDatabase,
    owner_conn: asyncpg.Connection,
    scratch: Path,
) -> None:
    """The owner is no superuser and its tables FORCE row-level security: the checks read
    each organization with the tenant set."""
    taken = await backups.take(backup_url, location, retention_days=30)
    owner_url = await _owner_of(empty_database, owner_conn)

    restored = await restores.restore(owner_url, location, "latest", scratch)

    assert (restored.key, restored.failures) == (taken.manifest.key, [])
    conn = await asyncpg.connect(empty_database.owner_url)
    try:
        count = await conn.fetchval("SELECT count(*) FROM postings")
    finally:
        await conn.close()
    assert count == taken.manifest.books.tables["postings"]


async def _owner_of(db: databases.TestDatabase, admin: asyncpg.Connection) -> str:
    """A non-superuser role that owns db, as a managed database's owner would."""
    await admin.execute(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ua_restore_owner')"
        " THEN CREATE ROLE ua_restore_owner LOGIN PASSWORD 'restore-owner-local'; END IF; END $$"
    )
    await admin.execute(f'ALTER DATABASE "{db.name}" OWNER TO ua_restore_owner')
    url = databases.with_database(os.environ["MIGRATION_DATABASE_URL"], db.name)
    return url.replace("ua_admin:ua_admin_local_only", "ua_restore_owner:restore-owner-local")


async def test_an_unreadable_manifest_fails_its_restore_test(
    tenants: list[Tenant], backup_url: str, location: backups.Location, scratch: Path
) -> None:
    taken = await backups.take(backup_url, location, retention_days=30)
    manifest_key = location.keys(taken.manifest.id).manifest
    location.bucket.put_json(manifest_key, {"format": rules.MANIFEST_FORMAT})

    result = await restores.verify_one(location, taken.manifest.id, scratch)

    assert [f.check for f in result.failures] == ["manifest"]
    assert manifest_key in str(result.failures[0])
    assert [b.verification for b in location.listing()] == ["failed"]
