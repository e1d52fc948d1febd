"""The backup and restore-test CronJobs, and the on-demand backup Job made from the first.

Both run the API image (`accounting-api backup`, `accounting-api backup verify`) with the
restricted pod profile; every secret arrives through secretKeyRef. They exist only while
`spec.backup.enabled` is true (the verify one also needs `verify.enabled`): otherwise they
are not rendered, and the platform's prune deletes them together with their Jobs.

A restore test restores into a PostgreSQL server it starts inside its scratch volume
(/scratch), so that volume is sized by `verify.scratchSize`; it stops checking in time to
report, `BACKUP_VERIFY_DEADLINE_SECONDS` before Kubernetes would kill it.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime, timedelta
from itertools import islice, pairwise

import cronsim

from accounting_operator.fieldtypes import Resources, SecretKeyRef
from accounting_operator.render import meta, pods
from accounting_operator.render.platform import Manifest, Platform
from accounting_operator.stateful import S3Spec, ScratchSpec

BACKUP = "backup"
VERIFY = "backup-verify"
"""Components (app.kubernetes.io/component) of the backup and restore-test Jobs."""

SCRATCH_VOLUME = "scratch"
SCRATCH_PATH = "/scratch"
STARTING_DEADLINE_SECONDS = 300
"""A run missed by more than this (controller down) is skipped, not started late."""
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_RUNS_SAMPLED = 1000
_FROM = datetime(2026, 1, 1)  # naive: cron times are in the schedule's zone


@functools.cache
def interval(schedule: str) -> timedelta | None:
    """The longest gap between two runs of a cron schedule (over its next 1000 runs, a
    year at least for daily schedules); None when the schedule cannot be read."""
    expression = _MACROS.get(schedule, schedule).replace("?", "*")
    try:
        runs = list(islice(iter(cronsim.CronSim(expression, _FROM)), _RUNS_SAMPLED))
    except (cronsim.CronSimError, StopIteration):
        return None
    gaps = [b - a for a, b in pairwise(runs)]
    return max(gaps) if gaps else None


HISTORY_LIMIT = 3
"""Succeeded and failed Jobs kept of each CronJob (the status keeps the times)."""
BACKUP_RETRIES = 2
VERIFY_RETRIES = 1
TOKEN_ANNOTATION = "accounting.universalaccounting.com/backup-now"
"""On the platform: its value asks for one on-demand backup; on the Job: which one."""


def s3_env(s3: S3Spec, default_prefix: str) -> list[Manifest]:
    """Where the backups are and the access key pair (by reference)."""
    out: list[Manifest] = [
        {"name": "BACKUP_S3_BUCKET", "value": s3.bucket},
        {"name": "BACKUP_S3_PREFIX", "value": s3.prefix or default_prefix},
        {"name": "BACKUP_S3_REGION", "value": s3.region},
    ]
    if s3.endpoint:
        out.append({"name": "BACKUP_S3_ENDPOINT", "value": s3.endpoint})
    keys = s3.credentials_secret_ref
    return [
        *out,
        pods.secret_env(
            "AWS_ACCESS_KEY_ID", SecretKeyRef(name=keys.name, key=keys.access_key_id_key)
        ),
        pods.secret_env(
            "AWS_SECRET_ACCESS_KEY", SecretKeyRef(name=keys.name, key=keys.secret_access_key_key)
        ),
    ]


def scratch_volume(scratch: ScratchSpec) -> Manifest:
    """/scratch: a generic ephemeral volume of the given class, else a bounded emptyDir."""
    if scratch.scratch_storage_class_name is None:
        return {"name": SCRATCH_VOLUME, "emptyDir": {"sizeLimit": scratch.scratch_size}}
    claim = {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": scratch.scratch_storage_class_name,
        "resources": {"requests": {"storage": scratch.scratch_size}},
    }
    return {"name": SCRATCH_VOLUME, "ephemeral": {"volumeClaimTemplate": {"spec": claim}}}


def verify_deadline(active_deadline_seconds: int) -> int:
    """Seconds the command may spend restoring and checking: a tenth of the Job's deadline
    (at least two minutes) is left to report and exit."""
    return active_deadline_seconds - max(120, active_deadline_seconds // 10)


def job_container(
    platform: Platform,
    name: str,
    args: list[str],
    env: list[Manifest],
    resources: Resources,
    *,
    scratch: bool,
) -> Manifest:
    """An accounting-api container for a one-shot Job; its last log lines become the
    termination message when the command writes none."""
    container = pods.container(platform, name, args, env, resources)
    container["terminationMessagePolicy"] = "FallbackToLogsOnError"
    if scratch:
        container["env"] = [*env, {"name": "BACKUP_SCRATCH_DIR", "value": SCRATCH_PATH}]
        mount = {"name": SCRATCH_VOLUME, "mountPath": SCRATCH_PATH}
        container["volumeMounts"] = [*container["volumeMounts"], mount]
    return container


def job_spec(
    platform: Platform,
    component: str,
    container: Manifest,
    *,
    deadline: int,
    retries: int,
    scratch: ScratchSpec | None = None,
) -> Manifest:
    """The spec of a Job (or of a CronJob's jobTemplate) with one restricted pod."""
    pod = pods.pod_spec(platform, [container], restartPolicy="Never")
    if scratch is not None:
        pod["volumes"] = [*pod["volumes"], scratch_volume(scratch)]
    return {
        "backoffLimit": retries,
        "activeDeadlineSeconds": deadline,
        "template": pods.template(platform, component, pod),
    }


def backup_env(platform: Platform) -> list[Manifest]:
    backup = platform.spec.backup
    if backup.s3 is None or backup.credentials_secret_ref is None:
        raise ValueError("backup is enabled without s3 or credentialsSecretRef")  # CEL forbids
    return [
        *pods.credentials_env(backup.credentials_secret_ref),
        *s3_env(backup.s3, platform.name),
        {"name": "BACKUP_RETENTION_DAYS", "value": str(backup.retention_days)},
    ]


def cron_job(
    platform: Platform, name: str, component: str, schedule: str, job: Manifest
) -> Manifest:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": meta.metadata(platform, name, component),
        "spec": {
            "schedule": schedule,
            "timeZone": "Etc/UTC",
            # A backup still running when the next is due: skip the next one.
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": STARTING_DEADLINE_SECONDS,
            "successfulJobsHistoryLimit": HISTORY_LIMIT,
            "failedJobsHistoryLimit": HISTORY_LIMIT,
            "jobTemplate": {
                # The Jobs carry the platform's labels: the operator finds them by them.
                "metadata": {"labels": meta.labels(platform, component)},
                "spec": job,
            },
        },
    }


def enabled(platform: Platform) -> bool:
    backup = platform.spec.backup
    return backup.enabled and backup.s3 is not None and backup.credentials_secret_ref is not None


def backup_name(platform: Platform) -> str:
    return platform.child("backup")


def verify_name(platform: Platform) -> str:
    return platform.child("verify")


def backup_cron_job(platform: Platform) -> Manifest | None:
    if not enabled(platform):
        return None
    backup = platform.spec.backup
    env = backup_env(platform)
    container = job_container(platform, BACKUP, ["backup"], env, backup.resources, scratch=False)
    job = job_spec(
        platform,
        BACKUP,
        container,
        deadline=backup.active_deadline_seconds,
        retries=BACKUP_RETRIES,
    )
    return cron_job(platform, backup_name(platform), BACKUP, backup.schedule, job)


def verify_cron_job(platform: Platform) -> Manifest | None:
    verify = platform.spec.backup.verify
    if not (enabled(platform) and verify.enabled):
        return None
    deadline = verify.active_deadline_seconds
    env = [
        *backup_env(platform),
        {"name": "BACKUP_VERIFY_DEADLINE_SECONDS", "value": str(verify_deadline(deadline))},
    ]
    args = ["backup", "verify"]
    container = job_container(platform, "verify", args, env, verify.resources, scratch=True)
    job = job_spec(
        platform, VERIFY, container, deadline=deadline, retries=VERIFY_RETRIES, scratch=verify
    )
    return cron_job(platform, verify_name(platform), VERIFY, verify.schedule, job)


def on_demand_name(platform: Platform, token: str) -> str:
    """One name per token, so asking twice (or reconciling twice) makes one Job."""
    return platform.child(f"backup-now-{hashlib.sha256(token.encode()).hexdigest()[:10]}")


def on_demand_job(platform: Platform, token: str, cron_job_uid: str) -> Manifest | None:
    """The Job `kubectl create job --from=cronjob/NAME-backup` would make: the CronJob's
    template, owned by the CronJob (so its history limit and its deletion cover it)."""
    rendered = backup_cron_job(platform)
    if rendered is None:
        return None
    template = rendered["spec"]["jobTemplate"]
    metadata = meta.metadata(
        platform, on_demand_name(platform, token), BACKUP, {TOKEN_ANNOTATION: token}
    )
    metadata["ownerReferences"] = [
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": rendered["metadata"]["name"],
            "uid": cron_job_uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": template["spec"]}
