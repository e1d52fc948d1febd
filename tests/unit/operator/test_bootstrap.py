"""A platform bootstrapped from a backup: restore, then migration, then Deployments."""

from __future__ import annotations

from typing import Any

from accounting_operator.render import migration
from tests.unit.operator import fakes, helpers
from tests.unit.operator.fakes import Server

S3 = {"bucket": "books-backups", "credentialsSecretRef": {"name": "s3"}}
RESTORED: dict[str, Any] = {
    "database": {"bootstrap": {"fromBackup": S3}},
    "backup": {"enabled": True, "credentialsSecretRef": {"name": "pg-backup"}, "s3": S3},
}
MIGRATE = migration.job_name(helpers.platform())


def kinds(server: Server) -> set[tuple[str, str]]:
    return set(server.live)


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)


def test_restore_then_migration_then_deployments() -> None:
    server = Server()
    _, status, events = fakes.reconcile_once(server, fakes.body(RESTORED))
    assert ("Job", "books-restore") in kinds(server)
    assert ("Job", MIGRATE) not in kinds(server)
    assert not any(kind in {"Deployment", "CronJob"} for kind, _ in kinds(server))
    assert status["phase"] == "Pending"
    assert condition(status, "Ready")["reason"] == "Restoring"
    assert condition(status, "Progressing")["status"] == "True"
    assert status["bootstrap"]["phase"] == "Pending"
    assert "BackupHealthy" not in {c["type"] for c in status["conditions"]}
    assert ("Normal", "RestoreStarted") in {(e.type, e.reason) for e in events}

    _, status, _ = fakes.reconcile_once(server, fakes.body(RESTORED, status))
    assert ("Job", MIGRATE) not in kinds(server)  # still restoring

    server.finish_job("Complete", "books-restore")
    _, status, events = fakes.reconcile_once(server, fakes.body(RESTORED, status))
    assert status["bootstrap"]["phase"] == "Succeeded"
    assert status["bootstrap"]["completionTime"] == "2026-11-28T09:00:00Z"
    assert ("Job", MIGRATE) in kinds(server)
    assert not any(kind == "Deployment" for kind, _ in kinds(server))
    assert ("Normal", "RestoreSucceeded") in {(e.type, e.reason) for e in events}

    server.finish_job("Complete", MIGRATE)
    fakes.reconcile_once(server, fakes.body(RESTORED, status))
    assert ("Deployment", "books-api") in kinds(server)
    assert ("CronJob", "books-backup") in kinds(server)
    for _ in range(3):
        server.roll_out()
        _, status, _ = fakes.reconcile_once(server, fakes.body(RESTORED, status))
    assert status["phase"] == "Ready"
    assert ("Job", "books-restore") not in kinds(server)  # done: pruned, status remembers
    assert status["bootstrap"]["phase"] == "Succeeded"


def test_a_failed_restore_leaves_the_platform_not_ready() -> None:
    server = Server()
    _, status, _ = fakes.reconcile_once(server, fakes.body(RESTORED))
    job = server.live[("Job", "books-restore")]
    job["status"] = {
        "conditions": [
            {
                "type": "Failed",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
                "lastTransitionTime": "2026-11-28T09:03:00Z",
            }
        ]
    }
    _, status, events = fakes.reconcile_once(server, fakes.body(RESTORED, status))
    assert status["phase"] == "Failed"
    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "RestoreFailed")
    assert "books-restore" in ready["message"]
    assert "BackoffLimitExceeded" in ready["message"]
    assert condition(status, "Degraded")["status"] == "True"
    assert ("Warning", "RestoreFailed") in {(e.type, e.reason) for e in events}
    assert ("Job", MIGRATE) not in kinds(server)
    for _ in range(2):  # it stays that way: no retry, no migration, no Deployments
        _, status, events = fakes.reconcile_once(server, fakes.body(RESTORED, status))
    assert events == []
    assert not any(kind == "Deployment" for kind, _ in kinds(server))

    del server.live[("Job", "books-restore")]  # the documented retry
    _, status, _ = fakes.reconcile_once(server, fakes.body(RESTORED, status))
    assert ("Job", "books-restore") in kinds(server)
    assert status["phase"] == "Pending"


def test_added_to_a_running_platform_it_is_ignored() -> None:
    server = Server()
    status = fakes.converge(server)
    before = set(server.live)
    _, status, events = fakes.reconcile_once(server, fakes.body(RESTORED, status, 2))
    assert ("Job", "books-restore") not in kinds(server)
    assert status["phase"] in {"Ready", "Progressing"}
    assert status["bootstrap"]["phase"] == "Skipped"
    assert "version 1.4.2 has been Ready" in status["bootstrap"]["message"]
    assert before <= set(server.live)
    assert ("Normal", "RestoreSkipped") in {(e.type, e.reason) for e in events}


def test_a_platform_without_bootstrap_has_no_bootstrap_status() -> None:
    status = fakes.converge(Server())
    assert "bootstrap" not in status
