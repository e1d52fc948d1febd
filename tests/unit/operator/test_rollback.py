"""Automatic rollback: when a version is rolled back, what the platform runs and reports,
and that the version is not tried again until spec.version changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from accounting_operator import conditions as cond
from accounting_operator import rollback
from accounting_operator.render import migration
from accounting_operator.rollout import MigrationPhase, Rollback, Rollout
from accounting_operator.status import Condition, RollbackStatus
from tests.unit.operator import fakes, helpers
from tests.unit.operator.fakes import Server

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 28, 9, 1, tzinfo=UTC)


def workload(version: str = "2.0", **extra: Any) -> cond.Workload:
    base: dict[str, Any] = {
        "replicas": 3,
        "ready": 3,
        "updated": 3,
        "available": 3,
        "total": 3,
        "version": version,
        "current": True,
        "stuck": None,
    }
    return cond.Workload(**{**base, **extra})


MISSED: dict[str, Any] = {"stuck": "timed out progressing", "deadline_exceeded": True}


def rollout_of(running: str | None = "1.0", migration: MigrationPhase = "Succeeded") -> Rollout:
    return Rollout(target="2.0", running=running, job="books-migrate-2-0", migration=migration)


# (id, rollout, api, worker, expected (reason, to) or None)
CAUSES = [
    ("healthy", rollout_of(), workload(), workload(), None),
    ("migration-failed", rollout_of(migration="Failed"), workload("1.0"), workload("1.0"),
     ("MigrationFailed", "1.0")),
    ("migration-running", rollout_of(migration="Running"), workload("1.0"), workload("1.0"),
     None),
    ("api-deadline", rollout_of(), workload(**MISSED), workload(),
     ("ProgressDeadlineExceeded", "1.0")),
    ("worker-deadline", rollout_of(), workload(), workload(**MISSED),
     ("ProgressDeadlineExceeded", "1.0")),
    ("deadline-of-the-old-version", rollout_of(), workload("1.0", **MISSED), workload(), None),
    ("deadline-not-observed-yet", rollout_of(), workload(current=False, **MISSED), workload(),
     None),
    ("pods-refused-only", rollout_of(), workload(stuck="pods violate PodSecurity"), workload(),
     None),
    ("first-install-deadline", rollout_of(None), workload(**MISSED), workload(), None),
    ("first-install-migration-failed", rollout_of(None, "Failed"), None, None, None),
    ("same-version-rerun-failed", replace(rollout_of("2.0"), migration="Failed"), workload(),
     workload(), None),
    ("same-version-deadline", rollout_of("2.0"), workload(**MISSED), workload(), None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("r", "api", "worker", "expected"), [c[1:] for c in CAUSES], ids=[c[0] for c in CAUSES]
)
def test_cause(
    r: Rollout,
    api: cond.Workload | None,
    worker: cond.Workload | None,
    expected: tuple[str, str] | None,
) -> None:
    found = rollback.cause(r, api, worker)
    assert (None if found is None else (found.reason, found.to)) == expected
    if found is not None:
        assert found.version == "2.0"


def test_cause_names_the_deployment_that_missed_its_deadline() -> None:
    found = rollback.cause(rollout_of(), workload(), workload(**MISSED))
    assert found is not None
    assert "worker Deployment" in found.message
    assert "timed out progressing" in found.message


def record(version: str = "2.0") -> RollbackStatus:
    return RollbackStatus(
        version=version, to_version="1.0", reason="MigrationFailed", message="m", time=T0
    )


MISSED_API = {
    "metadata": {"generation": 2, "labels": {"app.kubernetes.io/version": "2.0"}},
    "spec": {"replicas": 3},
    "status": {
        "observedGeneration": 2,
        "conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}],
    },
}

# (id, previous status.rollback, live API Deployment, paused, rolled back to / None)
DECISIONS = [
    ("nothing-wrong", None, None, False, None),
    ("remembered", record(), None, False, "1.0"),
    ("remembered-while-paused", record(), None, True, "1.0"),
    ("another-version-was-rolled-back", record("1.5"), None, False, None),
    ("new", None, MISSED_API, False, "1.0"),
    ("new-but-paused", None, MISSED_API, True, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("previous", "api", "paused", "to"), [d[1:] for d in DECISIONS], ids=[d[0] for d in DECISIONS]
)
def test_decide(
    previous: RollbackStatus | None, api: dict[str, Any] | None, paused: bool, to: str | None
) -> None:
    decided = rollback.decide(rollout_of(), previous, api, None, paused)
    assert (decided.rollback.to if decided.rollback else None) == to
    assert decided.deploy == (to or "2.0")
    assert decided.held is (to is not None)


JOB = {"kind": "Job", "metadata": {"name": "books-migrate-2-0"}}
OTHERS = [{"kind": "Deployment", "metadata": {"name": "books-api"}}]
BACK = Rollback("2.0", "1.0", "ProgressDeadlineExceeded", "m")


@pytest.mark.parametrize(
    ("r", "live_job", "kinds"),
    [
        (rollout_of(), None, ["Deployment", "Job"]),
        (replace(rollout_of(), rollback=BACK), None, ["Deployment"]),
        (replace(rollout_of(), rollback=BACK), JOB, ["Deployment", "Job"]),
    ],
    ids=["not-rolled-back", "job-gone-is-not-recreated", "finished-job-is-kept"],
)
def test_gate_the_migration_job(r: Rollout, live_job: Any, kinds: list[str]) -> None:
    assert [m["kind"] for m in rollback.gate([*OTHERS, JOB], r, live_job)] == kinds


def test_record_is_made_once_and_cleared_with_the_version() -> None:
    r = replace(rollout_of(), rollback=BACK)
    made = rollback.record(None, r, T0)
    assert made is not None
    assert (made.version, made.to_version, made.reason, made.time) == (
        "2.0", "1.0", "ProgressDeadlineExceeded", T0,
    )  # fmt: skip
    assert rollback.record(made, r, T1) is made  # kept, with its time
    assert rollback.started(None, made)
    assert not rollback.started(made, made)
    assert rollback.record(made, rollout_of(), T1) is None


def test_condition_lifecycle() -> None:
    r = replace(rollout_of(), rollback=BACK)
    other = Condition(type="Ready", status="True", reason="Available", last_transition_time=T0)
    assert rollback.condition([other], rollout_of(), 3, T0) == [other]  # never rolled back
    rolled = rollback.condition([other], r, 3, T0)
    found = rolled[-1]
    assert (found.type, found.status, found.reason) == ("RolledBack", "True", BACK.reason)
    assert "version 2.0 was rolled back to 1.0" in found.message
    assert rollback.condition(rolled, r, 4, T1)[-1].last_transition_time == T0
    forward = rollback.condition(rolled, replace(rollout_of(), target="3.0"), 5, T1)[-1]
    assert (forward.status, forward.reason, forward.last_transition_time) == (
        "False", "VersionChanged", T1,
    )  # fmt: skip
    assert "3.0" in forward.message


def observation(api: cond.Workload, worker: cond.Workload) -> cond.Observation:
    return cond.Observation(4, False, replace(rollout_of(), rollback=BACK), api, worker)


# (id, api, worker, phase, Ready, Progressing)
VERDICTS = [
    ("rolling-back", workload(), workload("1.0"), "Progressing", ("False", "RollingBack"),
     ("True", "RollingBack")),
    ("rolled-back", workload("1.0"), workload("1.0"), "RolledBack", ("True", "RolledBack"),
     ("False", "RolledBack")),
    ("old-version-stuck-too", workload("1.0", available=0, stuck="quota"), workload("1.0"),
     "Degraded", ("False", "RolloutStuck"), ("False", "RolloutStuck")),
    ("stale-deadline-of-the-new-version", workload("1.0", current=False, **MISSED),
     workload("1.0"), "Progressing", ("False", "RollingBack"), ("True", "RollingBack")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("api", "worker", "phase", "ready", "progressing"),
    [v[1:] for v in VERDICTS],
    ids=[v[0] for v in VERDICTS],
)
def test_verdict_while_rolled_back(
    api: cond.Workload,
    worker: cond.Workload,
    phase: str,
    ready: tuple[str, str],
    progressing: tuple[str, str],
) -> None:
    verdict = cond.assess(observation(api, worker))
    assert (verdict.phase, verdict.ready[:2], verdict.progressing[:2]) == (
        phase, ready, progressing,
    )  # fmt: skip
    assert verdict.degraded[:2] == ("True", "ProgressDeadlineExceeded")


# --- a platform's life, reconcile by reconcile ------------------------------------------


def images(server: Server) -> set[str]:
    return {
        str(server.live[("Deployment", f"books-{name}")]["spec"]["template"]["spec"]
            ["containers"][0]["image"]).rpartition(":")[2]
        for name in ("api", "worker")
    }  # fmt: skip


def job(version: str) -> tuple[str, str]:
    return ("Job", migration.job_name(helpers.platform({"version": version})))


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)


def upgraded(server: Server, deadline_missed_by: str) -> tuple[dict[str, Any], list[Any]]:
    """1.4.2 Ready, then 1.5.0 migrated and deployed, then one Deployment misses its
    deadline: the status and Events of the reconcile that sees it."""
    status = fakes.converge(server)
    upgrade = {"version": "1.5.0"}
    _, status, _ = fakes.reconcile_once(server, fakes.body(upgrade, status, 2))
    server.finish_job()
    _, status, _ = fakes.reconcile_once(server, fakes.body(upgrade, status, 2))
    assert images(server) == {"1.5.0"}
    fakes.miss_deadline(server, deadline_missed_by)
    _, status, events = fakes.reconcile_once(server, fakes.body(upgrade, status, 2))
    return status, events


@pytest.mark.parametrize("component", ["api", "worker"])
def test_a_missed_deadline_rolls_both_deployments_back(component: str) -> None:
    server = Server()
    status, events = upgraded(server, component)
    assert images(server) == {"1.4.2"}
    assert status["rollback"]["version"] == "1.5.0"
    assert status["rollback"]["toVersion"] == "1.4.2"
    assert status["rollback"]["reason"] == "ProgressDeadlineExceeded"
    assert status["phase"] == "Progressing"
    rolled_back = condition(status, "RolledBack")
    assert (rolled_back["status"], rolled_back["reason"]) == ("True", "ProgressDeadlineExceeded")
    assert "version 1.5.0 was rolled back to 1.4.2" in rolled_back["message"]
    assert f"{component} Deployment" in rolled_back["message"]
    warnings = [e.reason for e in events if e.type == "Warning"]
    assert warnings == ["RolledBack"]  # one Event, not one more for Degraded
    assert "1.5.0" in next(e.message for e in events if e.reason == "RolledBack")


def test_rolled_back_is_ready_again_and_not_retried() -> None:
    server = Server()
    status, _ = upgraded(server, "api")
    upgrade = {"version": "1.5.0"}
    server.roll_out()
    _, status, events = fakes.reconcile_once(server, fakes.body(upgrade, status, 2))
    assert status["phase"] == "RolledBack"
    assert condition(status, "Ready")["status"] == "True"
    assert status["lastGoodVersion"] == "1.4.2"
    assert "Ready" in {e.reason for e in events}

    before = len(server.writes)
    decision, again, events = fakes.reconcile_once(
        server, fakes.body(upgrade, status, 2), fakes.LATER
    )
    assert not decision.plan  # the drift check does not try 1.5.0 again
    assert (again, events) == (status, [])
    del server.live[job("1.5.0")]  # e.g. deleted by hand
    decision, again, _ = fakes.reconcile_once(server, fakes.body(upgrade, status, 2))
    assert not decision.plan  # nor does a missing Job
    assert len(server.writes) == before
    assert again["rollback"] == status["rollback"]

    edited = {**upgrade, "worker": {"replicas": 3}}  # other edits keep the rollback
    fakes.reconcile_once(server, fakes.body(edited, status, 3))
    assert images(server) == {"1.4.2"}


def test_a_new_version_rolls_forward() -> None:
    server = Server()
    status, _ = upgraded(server, "api")
    server.roll_out()
    _, status, _ = fakes.reconcile_once(server, fakes.body({"version": "1.5.0"}, status, 2))
    forward = {"version": "1.5.1"}
    _, status, _ = fakes.reconcile_once(server, fakes.body(forward, status, 3))
    assert "rollback" not in status
    rolled_back = condition(status, "RolledBack")
    assert (rolled_back["status"], rolled_back["reason"]) == ("False", "VersionChanged")
    assert job("1.5.1") in server.live
    server.finish_job()
    fakes.reconcile_once(server, fakes.body(forward, status, 3))
    server.roll_out()
    _, status, _ = fakes.reconcile_once(server, fakes.body(forward, status, 3))
    assert images(server) == {"1.5.1"}
    assert (status["phase"], status["lastGoodVersion"]) == ("Ready", "1.5.1")


def test_the_same_version_again_after_another_is_retried() -> None:
    """Back to the last good version and forward again: a fresh attempt."""
    server = Server()
    status, _ = upgraded(server, "api")
    server.roll_out()
    _, status, _ = fakes.reconcile_once(server, fakes.body({"version": "1.4.2"}, status, 3))
    assert "rollback" not in status
    assert status["phase"] == "Ready"
    _, status, events = fakes.reconcile_once(server, fakes.body({"version": "1.5.0"}, status, 4))
    assert job("1.5.0") in server.live
    assert "MigrationStarted" in {e.reason for e in events}


def test_a_first_install_that_misses_its_deadline_is_only_degraded() -> None:
    server = Server()
    _, status, _ = fakes.reconcile_once(server, fakes.body())
    server.finish_job()
    _, status, _ = fakes.reconcile_once(server, fakes.body(status=status))
    fakes.miss_deadline(server, "api")
    _, status, events = fakes.reconcile_once(server, fakes.body(status=status))
    assert status["phase"] == "Degraded"
    assert condition(status, "Degraded")["reason"] == "RolloutStuck"
    assert "rollback" not in status
    assert "RolledBack" not in {c["type"] for c in status["conditions"]}
    assert "RolledBack" not in {e.reason for e in events}
