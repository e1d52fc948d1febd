"""The restore Job of `spec.database.bootstrap.fromBackup` (`accounting-api restore`).

It runs once, before the first migration of a new platform, as the schema owner (the
migration Job's credentials), into the platform's empty database. Like the migration Job
it is created once and never patched, and it is not retried by Kubernetes: pg_restore runs
in one transaction, so a failed restore writes nothing, but one whose checks failed leaves
the restored books for inspection, and the command refuses a non-empty database; a retry
is the admin's decision (empty the database, delete the Job).
"""

from __future__ import annotations

from accounting_operator.render import backup, meta, pods
from accounting_operator.render.platform import Manifest, Platform

RESTORE = "restore"
"""Component (app.kubernetes.io/component) of the restore Job."""


def job_name(platform: Platform) -> str:
    return platform.child("restore")


def job(platform: Platform) -> Manifest | None:
    source = platform.spec.database.bootstrap.from_backup
    if source is None:
        return None
    database = platform.spec.database
    owner = database.migration_credentials_secret_ref or database.credentials_secret_ref
    env = [*pods.credentials_env(owner), *backup.s3_env(source, platform.name)]
    args = ["restore", "--backup", source.backup]
    container = backup.job_container(platform, RESTORE, args, env, source.resources, scratch=True)
    spec = backup.job_spec(
        platform,
        RESTORE,
        container,
        deadline=source.active_deadline_seconds,
        retries=0,
        scratch=source,
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta.metadata(platform, job_name(platform), RESTORE),
        "spec": spec,
    }
