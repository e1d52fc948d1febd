"""Backups on a real control plane: the backup Jobs' outcomes reach the platform's status,
conditions, Events and metrics; backup-now starts exactly one Job; switching backups off
removes the CronJobs; a platform bootstrapped from a backup restores, then migrates, then
deploys, and a failed restore leaves it not Ready.

kwok runs the pods: without more, a Job's pod succeeds. `failing` makes the pods of one
component fail (a MutatingAdmissionPolicy adds kwok's outcome annotation), and their Jobs
give up at once (backoffLimit 0), as a real failed `accounting-api backup` would."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import yaml

from tests.e2e import helpers
from tests.e2e import operating as op
from tests.e2e.helpers import Cluster

S3 = {"bucket": "books-backups", "credentialsSecretRef": {"name": "books-s3"}}
BACKUPS: dict[str, Any] = {
    "backup": {"enabled": True, "credentialsSecretRef": {"name": "books-db-backup"}, "s3": S3}
}
TOKEN = "accounting.universalaccounting.com/backup-now"

COMPONENT_IS = (
    "has(object.metadata.labels) && 'app.kubernetes.io/component' in object.metadata.labels"
    " && object.metadata.labels['app.kubernetes.io/component'] == 'COMPONENT'"
)


@contextmanager
def failing(cluster: Cluster, namespace: str, component: str) -> Iterator[None]:
    """Pods of `component` in `namespace` fail (exit code 3); their Jobs do not retry."""
    name = f"fail-{component}-{namespace}"[:63]
    condition = COMPONENT_IS.replace("COMPONENT", component)
    manifest = op.pod_policy(name, namespace, condition, op.FAIL_AT_ONCE, jobs=True)
    op.kubectl(cluster, "apply", "-f", "-", stdin=manifest)
    op.await_job_policy(cluster, namespace, {"app.kubernetes.io/component": component}, "probe:1")
    try:
        yield
    finally:
        op.kubectl(cluster, "delete", "-f", "-", "--ignore-not-found", stdin=manifest)


def backup_status(cluster: Cluster, namespace: str) -> dict[str, Any]:
    return dict((op.platform(cluster, namespace).get("status") or {}).get("backup") or {})


def jobs(cluster: Cluster, namespace: str, component: str) -> list[str]:
    return sorted(
        name
        for (kind, name), child in op.children(cluster, namespace).items()
        if kind == "Job" and child["metadata"]["labels"]["app.kubernetes.io/component"] == component
    )


def annotate(cluster: Cluster, namespace: str, token: str) -> None:
    op.kubectl(cluster, "annotate", "-n", namespace, "acp/books", f"{TOKEN}={token}", "--overwrite")


def field(cluster: Cluster, namespace: str, read: Callable[[dict[str, Any]], Any]) -> Any:
    return read(backup_status(cluster, namespace))


def test_backup_now_makes_one_job_whose_success_is_reported(
    cluster: Cluster, restricted: str, operator: op.Operator
) -> None:
    ns = restricted
    op.apply_example(cluster, ns)
    op.wait_ready(cluster, ns, op.patch_spec(cluster, ns, BACKUPS))
    kids = op.children(cluster, ns)
    cron_jobs = sorted(n for k, n in kids if k == "CronJob")
    assert cron_jobs == ["books-backup", "books-verify"]

    annotate(cluster, ns, "before-upgrade")
    last = helpers.wait_for(
        "status.backup.lastSuccessful",
        lambda: field(cluster, ns, lambda b: b.get("lastSuccessful")),
    )
    (job,) = jobs(cluster, ns, "backup")
    assert job.startswith("books-backup-now-")
    assert backup_status(cluster, ns)["backupNow"]["token"] == "before-upgrade"
    annotate(cluster, ns, "before-upgrade")  # the same request again: nothing new
    operator.wait_reconciles(3)
    assert jobs(cluster, ns, "backup") == [job]

    healthy = helpers.condition(op.platform(cluster, ns), "BackupHealthy") or {}
    assert (healthy.get("status"), healthy.get("reason")) == ("True", "BackupsCurrent")
    printed = op.kubectl(cluster, "get", "acp", "-n", ns).stdout
    assert "LAST BACKUP" in printed
    assert "LAST VERIFIED" in printed
    when = datetime.fromisoformat(last).timestamp()
    gauge = "accounting_operator_backup_last_success_timestamp_seconds"
    assert operator.sample(gauge, namespace=ns, platform="books") == when
    op.await_events(cluster, ns, "BackupStarted")


def test_failing_backup_and_restore_test_are_reported(
    cluster: Cluster, restricted: str, operator: op.Operator
) -> None:
    ns = restricted
    op.apply_example(cluster, ns)
    op.wait_ready(cluster, ns, op.patch_spec(cluster, ns, BACKUPS))
    with failing(cluster, ns, "backup"):
        annotate(cluster, ns, "doomed")
        failure = helpers.wait_for(
            "status.backup.lastFailure",
            lambda: field(cluster, ns, lambda b: b.get("lastFailure")),
        )
    assert failure["operation"] == "Backup"
    assert failure["job"].startswith("books-backup-now-")
    assert failure["reason"] == "BackoffLimitExceeded"
    helpers.wait_for("a BackupFailed Event", lambda: "BackupFailed" in op.events(cluster, ns))

    with failing(cluster, ns, "backup-verify"):
        # What `kubectl create job --from=cronjob/books-verify` makes, on the schedule's behalf.
        op.kubectl(
            cluster, "create", "job", "-n", ns, "books-verify-now", "--from=cronjob/books-verify"
        )

        def unhealthy() -> dict[str, Any] | None:
            found = helpers.condition(op.platform(cluster, ns), "BackupHealthy") or {}
            return found if found.get("status") == "False" else None

        condition = helpers.wait_for("BackupHealthy False", unhealthy)
    assert condition["reason"] == "RestoreTestFailed"
    assert "books-verify-now" in condition["message"]
    helpers.wait_for("a VerifyFailed Event", lambda: "VerifyFailed" in op.events(cluster, ns))
    assert op.events(cluster, ns).count("VerifyFailed") == 1


def test_turning_backups_off_removes_the_cron_jobs(
    cluster: Cluster, restricted: str, operator: op.Operator
) -> None:
    ns = restricted
    op.apply_example(cluster, ns)
    op.wait_ready(cluster, ns, op.patch_spec(cluster, ns, BACKUPS))
    assert {"CronJob"} <= {k for k, _ in op.children(cluster, ns)}
    op.wait_ready(cluster, ns, op.patch_spec(cluster, ns, {"backup": {"enabled": False}}))
    helpers.wait_for(
        "the CronJobs to go",
        lambda: not any(k == "CronJob" for k, _ in op.children(cluster, ns)),
    )
    assert helpers.condition(op.platform(cluster, ns), "BackupHealthy") is None
    annotate(cluster, ns, "while-off")
    helpers.wait_for(
        "backup-now refused", lambda: "BackupNowRefused" in op.events(cluster, ns), timeout=30
    )
    assert jobs(cluster, ns, "backup") == []


def restored_platform() -> dict[str, Any]:
    """The minimal example, bootstrapped from the newest verified backup."""
    platform: dict[str, Any] = yaml.safe_load((op.EXAMPLES / "minimal.yaml").read_text())
    source = {**S3, "backup": "latest-verified"}
    platform["spec"]["database"]["bootstrap"] = {"fromBackup": source}
    return platform


def created(obj: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(obj["metadata"]["creationTimestamp"])


def test_bootstrap_restores_then_migrates_then_deploys(
    cluster: Cluster, restricted: str, operator: op.Operator
) -> None:
    ns = restricted
    op.kubectl(cluster, "apply", "-n", ns, "-f", str(op.EXAMPLES / "secrets.example.yaml"))
    op.kubectl(cluster, "apply", "-n", ns, "-f", "-", stdin=json.dumps(restored_platform()))
    found = op.wait_ready(cluster, ns)
    bootstrap = found["status"]["bootstrap"]
    assert (bootstrap["phase"], bootstrap["job"]) == ("Succeeded", "books-restore")
    restored = datetime.fromisoformat(bootstrap["completionTime"])
    kids = op.children(cluster, ns)
    (migration,) = [
        m for (k, n), m in kids.items() if k == "Job" and n.startswith("books-migrate-")
    ]
    migrated = datetime.fromisoformat(migration["status"]["completionTime"])
    assert created(migration) >= restored
    for name in ("books-api", "books-worker"):
        assert created(kids[("Deployment", name)]) >= migrated
    reasons = op.events(cluster, ns)
    assert {"RestoreStarted", "RestoreSucceeded", "MigrationStarted"} <= set(reasons)


def test_a_failed_restore_leaves_the_platform_not_ready(
    cluster: Cluster, restricted: str, operator: op.Operator
) -> None:
    ns = restricted
    op.kubectl(cluster, "apply", "-n", ns, "-f", str(op.EXAMPLES / "secrets.example.yaml"))
    with failing(cluster, ns, "restore"):
        op.kubectl(cluster, "apply", "-n", ns, "-f", "-", stdin=json.dumps(restored_platform()))

        def failed() -> dict[str, Any] | None:
            found = helpers.condition(op.platform(cluster, ns), "Ready") or {}
            return found if found.get("reason") == "RestoreFailed" else None

        ready = helpers.wait_for("Ready False: RestoreFailed", failed, timeout=90)
    assert ready["status"] == "False"
    assert "books-restore" in ready["message"]
    assert op.phase(cluster, ns) == "Failed"
    operator.wait_reconciles(2)
    kinds = {k for k, _ in op.children(cluster, ns)}
    assert "Deployment" not in kinds
    assert [n for k, n in op.children(cluster, ns) if k == "Job"] == ["books-restore"]
    op.await_events(cluster, ns, "RestoreFailed")
