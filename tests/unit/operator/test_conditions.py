"""Phase and conditions from observations; transition times; foreign conditions kept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from accounting_operator import conditions as cond
from accounting_operator.rollout import MigrationPhase, Rollout
from accounting_operator.status import AccountingPlatformStatus, Condition

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 28, 9, 1, tzinfo=UTC)


def workload(
    replicas: int = 3, available: int | None = None, version: str = "2.0", **extra: Any
) -> cond.Workload:
    ready = replicas if available is None else available
    base: dict[str, Any] = {
        "replicas": replicas,
        "ready": ready,
        "updated": replicas,
        "available": ready,
        "total": replicas,
        "version": version,
        "current": True,
        "stuck": None,
    }
    return cond.Workload(**{**base, **extra})


def observe(
    migration: MigrationPhase = "Succeeded",
    running: str | None = "2.0",
    api: cond.Workload | None = None,
    worker: cond.Workload | None = None,
    paused: bool = False,
) -> cond.Observation:
    return cond.Observation(
        generation=4,
        paused=paused,
        rollout=Rollout(
            target="2.0", running=running, job="books-migrate-2.0", migration=migration
        ),
        api=api or workload(),
        worker=worker or workload(2),
    )


# (id, observation, phase, Ready, Progressing, Degraded) as (status, reason).
CASES = [
    ("ready", observe(), "Ready", ("True", "Available"), ("False", "RolloutComplete"),
     ("False", "AsExpected")),
    ("rolling", observe(api=workload(available=1)), "Progressing", ("False", "RollingOut"),
     ("True", "RollingOut"), ("False", "AsExpected")),
    ("old-pods-left", observe(api=workload(total=4)), "Progressing", ("False", "RollingOut"),
     ("True", "RollingOut"), ("False", "AsExpected")),
    ("not-observed-yet", observe(api=workload(current=False)), "Progressing",
     ("False", "RollingOut"), ("True", "RollingOut"), ("False", "AsExpected")),
    ("old-version", observe(api=workload(version="1.0")), "Progressing", ("False", "RollingOut"),
     ("True", "RollingOut"), ("False", "AsExpected")),
    ("migrating", observe("Running", running="1.0", api=workload(version="1.0")), "Progressing",
     ("False", "MigrationRunning"), ("True", "MigrationRunning"), ("False", "AsExpected")),
    ("first-install", cond.Observation(4, False, Rollout("2.0", None, "j", "Running"), None, None),
     "Pending", ("False", "MigrationRunning"), ("True", "MigrationRunning"),
     ("False", "AsExpected")),
    ("migration-failed", observe("Failed", running="1.0", api=workload(version="1.0")),
     "Degraded", ("False", "MigrationFailed"), ("False", "MigrationFailed"),
     ("True", "MigrationFailed")),
    ("first-migration-failed",
     cond.Observation(4, False, Rollout("2.0", None, "j", "Failed"), None, None), "Failed",
     ("False", "MigrationFailed"), ("False", "MigrationFailed"), ("True", "MigrationFailed")),
    ("stuck", observe(api=workload(available=0, stuck="deadline exceeded")), "Degraded",
     ("False", "RolloutStuck"), ("False", "RolloutStuck"), ("True", "RolloutStuck")),
    ("paused-ready", observe(paused=True), "Paused", ("True", "Available"), ("False", "Paused"),
     ("False", "AsExpected")),
    ("paused-rolling", observe(api=workload(available=1), paused=True), "Paused",
     ("False", "RollingOut"), ("False", "Paused"), ("False", "AsExpected")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("obs", "phase", "ready", "progressing", "degraded"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_assess(
    obs: cond.Observation,
    phase: str,
    ready: tuple[str, str],
    progressing: tuple[str, str],
    degraded: tuple[str, str],
) -> None:
    verdict = cond.assess(obs)
    assert verdict.phase == phase
    assert verdict.ready[:2] == ready
    assert verdict.progressing[:2] == progressing
    assert verdict.degraded[:2] == degraded


def test_transition_time_changes_only_when_status_flips() -> None:
    first = cond.status(AccountingPlatformStatus(), observe(api=workload(available=1)), T0)
    second = cond.status(first, observe(api=workload(available=2)), T1)
    assert [c.last_transition_time for c in second.conditions] == [T0, T0, T0]
    third = cond.status(second, observe(), T1)
    times = {c.type: c.last_transition_time for c in third.conditions}
    assert times == {"Ready": T1, "Progressing": T1, "Degraded": T0}


def test_conditions_of_other_types_are_kept() -> None:
    other = Condition(type="DatabaseAvailable", status="True", reason="Answering",
                      last_transition_time=T0)  # fmt: skip
    previous = AccountingPlatformStatus(conditions=[other], last_good_version="1.0")
    new = cond.status(previous, observe(api=workload(available=0)), T1)
    assert [c.type for c in new.conditions] == ["Ready", "Progressing", "Degraded",
                                                "DatabaseAvailable"]  # fmt: skip
    assert new.last_good_version == "1.0"  # not Ready: the rollback target stays


def test_status_counts_and_generation() -> None:
    new = cond.status(AccountingPlatformStatus(), observe(api=workload(5, available=4)), T0)
    wire = new.wire()
    assert wire["observedGeneration"] == 4
    assert wire["ready"] == "4/5"
    assert wire["components"]["api"] == {"replicas": 5, "readyReplicas": 4, "updatedReplicas": 5}
    assert all(c["observedGeneration"] == 4 for c in wire["conditions"])


def test_failed_keeps_components_and_flags_degraded() -> None:
    ready = cond.status(AccountingPlatformStatus(), observe(), T0)
    failed = cond.failed(ready, 5, "InvalidSpec", "invalid spec: spec.api.replicas: ...", T1)
    assert failed.phase == "Degraded"
    assert failed.components == ready.components
    degraded = next(c for c in failed.conditions if c.type == "Degraded")
    assert (degraded.status, degraded.reason, degraded.observed_generation) == (
        "True",
        "InvalidSpec",
        5,
    )


def deployment(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"generation": 3, "labels": {"app.kubernetes.io/version": "2.0"}},
        "spec": {"replicas": 3},
        "status": status,
    }


@pytest.mark.parametrize(
    ("status", "stuck"),
    [
        ({}, None),
        ({"conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded",
                          "message": "took too long"}]}, "took too long"),
        ({"conditions": [{"type": "ReplicaFailure", "status": "True",
                          "message": "pods violate PodSecurity"}]}, "pods violate PodSecurity"),
    ],
    ids=["fine", "deadline", "replica-failure"],
)  # fmt: skip
def test_workload_stuck(status: dict[str, Any], stuck: str | None) -> None:
    found = cond.workload(deployment(**status))
    assert found is not None
    assert found.stuck == stuck


def test_workload_from_deployment() -> None:
    found = cond.workload(deployment(observedGeneration=3, replicas=3, readyReplicas=3,
                                     updatedReplicas=3, availableReplicas=3))  # fmt: skip
    assert found is not None
    assert found.rolled_out("2.0")
    assert not found.rolled_out("2.1")
    assert cond.workload(None) is None


def test_unreadable_previous_status_counts_as_none() -> None:
    assert cond.previous_status({"phase": "Exploded"}) == AccountingPlatformStatus()
    assert cond.previous_status(None) == AccountingPlatformStatus()
    kept = cond.previous_status({"lastGoodVersion": "1.0", "fromTheFuture": True})
    assert kept.last_good_version == "1.0"
