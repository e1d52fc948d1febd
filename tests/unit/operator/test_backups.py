"""Backups as the operator reports them: status.backup, BackupHealthy, Events and
backup-now, reconcile by reconcile against a simulated API server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from accounting_operator import backups, controller
from accounting_operator.render import backup
from accounting_operator.status import BackupFailure, BackupStatus
from tests.unit.operator import fakes, helpers
from tests.unit.operator.fakes import Server

ON: dict[str, Any] = {
    "backup": {
        "enabled": True,
        "credentialsSecretRef": {"name": "pg-backup"},
        "s3": {"bucket": "books-backups", "credentialsSecretRef": {"name": "s3"}},
    }
}
OFF: dict[str, Any] = helpers.merged(ON, {"backup": {"enabled": False}})
T0 = fakes.NOW
"""When the platform converged; backups run after it."""


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def healthy(status: dict[str, Any]) -> dict[str, Any]:
    """The BackupHealthy condition; {} when there is none."""
    return next((c for c in status["conditions"] if c["type"] == "BackupHealthy"), {})


@pytest.mark.parametrize(
    ("schedule", "longest"),
    [
        ("0 * * * *", timedelta(hours=1)),
        ("*/15 * * * *", timedelta(minutes=15)),
        ("30 3 * * *", timedelta(days=1)),
        ("@daily", timedelta(days=1)),
        ("@hourly", timedelta(hours=1)),
        ("0 9,17 * * MON-FRI", timedelta(hours=64)),  # Friday 17:00 to Monday 09:00
        ("0 0 1 * *", timedelta(days=31)),
        ("0 * * * ?", timedelta(hours=1)),
        ("61 * * * *", None),
    ],
)
def test_the_longest_interval_of_a_schedule(schedule: str, longest: timedelta | None) -> None:
    assert backups.interval(schedule) == longest


def test_a_succeeding_backup_sets_last_successful() -> None:
    server = Server()
    status = fakes.converge(server, ON)
    assert healthy(status)["status"] == "Unknown"
    server.run_cron_job("books-backup", "books-backup-1", "Complete", at(10))
    _, status, events = fakes.reconcile_once(server, fakes.body(ON, status), at(11))
    assert status["backup"]["lastSuccessful"] == stamp(at(10))
    condition = healthy(status)
    assert (condition["status"], condition["reason"]) == ("True", "BackupsCurrent")
    assert condition["message"] == f"newest backup: {stamp(at(10))}; newest verified backup: never"
    assert events == []


def test_times_never_move_backwards_when_jobs_are_deleted() -> None:
    server = Server()
    status = fakes.converge(server, ON)
    server.run_cron_job("books-backup", "books-backup-1", "Complete", at(10))
    server.run_cron_job("books-verify", "books-verify-1", "Complete", at(20))
    _, status, _ = fakes.reconcile_once(server, fakes.body(ON, status), at(21))
    del server.live[("Job", "books-backup-1")]  # the history limit deleted it
    del server.live[("Job", "books-verify-1")]
    _, again, _ = fakes.reconcile_once(server, fakes.body(ON, status), at(22))
    assert again["backup"]["lastSuccessful"] == stamp(at(10))
    assert again["backup"]["lastVerified"] == stamp(at(20))


def test_a_failing_backup_is_reported_once() -> None:
    server = Server()
    status = fakes.converge(server, ON)
    server.run_cron_job("books-backup", "books-backup-1", "Failed", at(10))
    _, status, events = fakes.reconcile_once(server, fakes.body(ON, status), at(11))
    assert status["backup"]["lastFailure"] == {
        "job": "books-backup-1",
        "operation": "Backup",
        "time": stamp(at(10)),
        "reason": "BackoffLimitExceeded",
        "message": "Job has reached the specified backoff limit",
    }
    assert [(e.type, e.reason) for e in events] == [("Warning", "BackupFailed")]
    assert "books-backup-1" in events[0].message
    assert "BackoffLimitExceeded" in events[0].message
    _, again, events = fakes.reconcile_once(server, fakes.body(ON, status), at(12))
    assert events == []
    assert again == status


def test_no_successful_backup_for_twice_the_interval_puts_the_rpo_at_risk() -> None:
    server = Server()
    status = fakes.converge(server, ON)
    server.live[("CronJob", "books-backup")]["metadata"]["creationTimestamp"] = stamp(T0)
    _, status, _ = fakes.reconcile_once(server, fakes.body(ON, status), at(119))
    assert healthy(status)["reason"] == "NoBackupYet"
    _, status, events = fakes.reconcile_once(server, fakes.body(ON, status), at(121))
    condition = healthy(status)
    assert (condition["status"], condition["reason"]) == ("False", "NoBackup")
    assert "more than twice the schedule's longest interval, 2h" in condition["message"]
    assert ("Warning", "NoBackup") in {(e.type, e.reason) for e in events}

    server.run_cron_job("books-backup", "books-backup-1", "Complete", at(125))
    _, status, _ = fakes.reconcile_once(server, fakes.body(ON, status), at(126))
    assert healthy(status)["status"] == "True"
    server.run_cron_job("books-backup", "books-backup-2", "Failed", at(185))
    _, status, _ = fakes.reconcile_once(server, fakes.body(ON, status), at(186))
    assert healthy(status)["status"] == "True"  # one miss is within the RPO
    _, status, _ = fakes.reconcile_once(server, fakes.body(ON, status), at(246))
    condition = healthy(status)
    assert (condition["status"], condition["reason"]) == ("False", "BackupTooOld")
    assert stamp(at(125)) in condition["message"]


def test_a_failed_restore_test_makes_backups_unhealthy_until_one_passes() -> None:
    server = Server()
    status = fakes.converge(server, ON)
    server.run_cron_job("books-backup", "books-backup-1", "Complete", at(10))
    server.run_cron_job("books-verify", "books-verify-1", "Failed", at(20))
    _, status, events = fakes.reconcile_once(server, fakes.body(ON, status), at(21))
    condition = healthy(status)
    assert (condition["status"], condition["reason"]) == ("False", "RestoreTestFailed")
    assert "books-verify-1" in condition["message"]
    assert [(e.type, e.reason) for e in events] == [("Warning", "VerifyFailed")]
    assert status["backup"]["lastFailedVerification"] == stamp(at(20))

    server.run_cron_job("books-verify", "books-verify-2", "Complete", at(30))
    _, status, _ = fakes.reconcile_once(server, fakes.body(ON, status), at(31))
    assert healthy(status)["status"] == "True"
    assert status["backup"]["lastVerified"] == stamp(at(30))


def test_turning_backups_off_removes_the_cron_jobs_and_the_condition() -> None:
    server = Server()
    status = fakes.converge(server, ON)
    assert {("CronJob", "books-backup"), ("CronJob", "books-verify")} <= set(server.live)
    server.run_cron_job("books-backup", "books-backup-1", "Complete", at(10))
    _, status, _ = fakes.reconcile_once(server, fakes.body(ON, status), at(11))
    _, status, events = fakes.reconcile_once(server, fakes.body(OFF, status, 2), at(12))
    assert set(server.deleted) == {("CronJob", "books-backup"), ("CronJob", "books-verify")}
    assert healthy(status) == {}
    assert status["backup"]["lastSuccessful"] == stamp(at(10))  # history is kept
    assert "Pruned" in {e.reason for e in events}


def test_verify_off_removes_only_its_cron_job() -> None:
    server = Server()
    status = fakes.converge(server, ON)
    no_tests = helpers.merged(ON, {"backup": {"verify": {"enabled": False}}})
    fakes.reconcile_once(server, fakes.body(no_tests, status, 2), at(1))
    assert server.deleted == [("CronJob", "books-verify")]


def backup_now(token: str) -> dict[str, str]:
    return {backup.TOKEN_ANNOTATION: token}


def on_demand_jobs(server: Server) -> list[str]:
    return [name for kind, name in server.live if kind == "Job" and "backup-now" in name]


def test_backup_now_starts_exactly_one_job() -> None:
    server = Server()
    status = fakes.converge(server, ON)
    asked = fakes.body(ON, status, annotations=backup_now("before-upgrade"))
    _, status, events = fakes.reconcile_once(server, asked, at(1))
    (name,) = on_demand_jobs(server)
    assert status["backup"]["backupNow"] == {
        "token": "before-upgrade",
        "job": name,
        "message": f"started Job {name}",
    }
    assert ("Normal", "BackupStarted") in {(e.type, e.reason) for e in events}
    job = server.live[("Job", name)]
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    for minute in (2, 3):  # re-reconciles, the same token still on the platform
        asked = fakes.body(ON, status, annotations=backup_now("before-upgrade"))
        _, status, _ = fakes.reconcile_once(server, asked, at(minute))
    assert on_demand_jobs(server) == [name]
    server.finish_job("Complete", name, at(4))
    _, status, _ = fakes.reconcile_once(server, asked, at(4))
    assert status["backup"]["lastSuccessful"] == stamp(at(4))  # on demand counts too

    again = fakes.body(ON, status, annotations=backup_now("second"))
    fakes.reconcile_once(server, again, at(5))
    assert len(on_demand_jobs(server)) == 2


def test_backup_now_of_a_lost_status_makes_no_second_job() -> None:
    """Same token, status not yet written: the Job's name is the token's, so create is a
    no-op."""
    server = Server()
    status = fakes.converge(server, ON)
    asked = fakes.body(ON, status, annotations=backup_now("t1"))
    fakes.reconcile_once(server, asked, at(1))
    fakes.reconcile_once(server, asked, at(2))
    assert len(on_demand_jobs(server)) == 1


def test_backup_now_is_refused_while_backups_are_off() -> None:
    server = Server()
    status = fakes.converge(server)
    asked = fakes.body(status=status, annotations=backup_now("t1"))
    _, status, events = fakes.reconcile_once(server, asked, at(1))
    assert on_demand_jobs(server) == []
    assert status["backup"]["backupNow"] == {
        "token": "t1",
        "message": "refused: spec.backup.enabled is false, there is no backup to take",
    }
    assert [(e.type, e.reason) for e in events] == [("Warning", "BackupNowRefused")]
    _, _, events = fakes.reconcile_once(
        server, fakes.body(status=status, annotations=backup_now("t1")), at(2)
    )
    assert events == []  # refused once


def test_health_is_absent_while_backups_are_off() -> None:
    status = fakes.converge(Server())
    assert healthy(status) == {}
    assert "backup" not in status


def test_status_of_runs_keeps_the_newest_failure() -> None:
    older = BackupFailure(job="b-2", operation="Backup", time=at(30), reason="DeadlineExceeded")
    finished = [
        backups.Run("b-1", "Backup", False, at(10), "BackoffLimitExceeded", ""),
        backups.Run("b-3", "Backup", True, at(40), "", ""),
    ]
    state = backups.status(BackupStatus(last_failure=older), finished, None)
    assert state.last_failure == older
    assert state.last_successful == at(40)
    assert backups.new_failures(BackupStatus(last_failure=older), finished) == []


def test_a_job_still_running_is_no_run() -> None:
    job = {"metadata": {"name": "j", "labels": {"app.kubernetes.io/component": "backup"}}}
    assert backups.run_of(job) is None
    assert backups.run_of({**job, "status": {"active": 1}}) is None


def test_finished_jobs_of_other_components_are_ignored() -> None:
    job: dict[str, Any] = {
        "metadata": {"name": "m", "labels": {"app.kubernetes.io/component": "migration"}},
        "status": {
            "completionTime": "2026-11-28T09:00:00Z",
            "conditions": [{"type": "Complete", "status": "True"}],
        },
    }
    assert backups.run_of(job) is None
    job["metadata"]["labels"] = {"app.kubernetes.io/component": "backup"}
    run = backups.run_of(job)
    assert run is not None
    assert (run.operation, run.succeeded, run.time) == (
        "Backup",
        True,
        datetime(2026, 11, 28, 9, tzinfo=UTC),
    )


def test_backup_now_waits_while_paused() -> None:
    server = Server()
    status = fakes.converge(server, ON)
    paused = helpers.merged(ON, {"paused": True})
    _, status, _ = fakes.reconcile_once(
        server, fakes.body(paused, status, 2, backup_now("t1")), at(1)
    )
    assert on_demand_jobs(server) == []
    assert "backupNow" not in status.get("backup", {})
    fakes.reconcile_once(server, fakes.body(ON, status, 3, backup_now("t1")), at(2))
    assert len(on_demand_jobs(server)) == 1


def test_an_unhandled_backup_now_token_asks_for_a_reconcile() -> None:
    """An annotation is no spec change: the handler asks the controller whether the
    platform's event carries a request the status has not handled yet."""
    status = {"backup": {"backupNow": {"token": "t1", "job": "books-backup-now-x"}}}
    assert controller.backup_requested(fakes.body(ON, annotations=backup_now("t1")))
    assert not controller.backup_requested(fakes.body(ON, status, annotations=backup_now("t1")))
    assert controller.backup_requested(fakes.body(ON, status, annotations=backup_now("t2")))
    assert not controller.backup_requested(fakes.body(ON, status))
