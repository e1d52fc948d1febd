"""The platform's status from what was observed: phase, conditions, component counts.

Ready means converged: every workload runs `spec.version` with all its pods available,
so `kubectl wait --for=condition=Ready` after a change waits for that change; after a
rollback (`rollback.py`) Ready, with reason RolledBack, means the last good version runs
again, and Degraded says why spec.version was rolled back. Degraded
is for what will not fix itself (a failed migration, a stuck rollout, pods the API
server refuses, an invalid spec); Progressing for what is on its way. A condition's
lastTransitionTime changes only when its status flips. Pure: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from accounting_operator.render.platform import Manifest
from accounting_operator.rollout import Rollback, Rollout
from accounting_operator.status import (
    AccountingPlatformStatus,
    BootstrapStatus,
    ComponentsStatus,
    ComponentStatus,
    Condition,
    MigrationStatus,
    Phase,
)

READY, PROGRESSING, DEGRADED = "Ready", "Progressing", "Degraded"
OWN_TYPES = (READY, PROGRESSING, DEGRADED)

Status = Literal["True", "False", "Unknown"]


@dataclass(frozen=True, slots=True)
class Workload:
    """What a Deployment reports about its pods."""

    replicas: int
    ready: int
    updated: int
    available: int
    total: int
    """Pods of every ReplicaSet, old ones included."""
    version: str | None
    current: bool
    """The Deployment controller has seen the latest spec."""
    stuck: str | None
    """Why the rollout cannot proceed (progress deadline, pods refused), if it cannot."""
    deadline_exceeded: bool = False
    """The Deployment says ProgressDeadlineExceeded: a reason to roll back (`rollback`)."""

    def rolled_out(self, version: str) -> bool:
        """The test of `kubectl rollout status`, plus the version."""
        return (
            self.current
            and self.version == version
            and self.updated == self.replicas == self.total
            and self.available >= self.replicas
        )

    def summary(self) -> ComponentStatus:
        return ComponentStatus(
            replicas=self.replicas, ready_replicas=self.ready, updated_replicas=self.updated
        )


def _condition(obj: Manifest, kind: str) -> Manifest | None:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == kind), None)


def _stuck(deployment: Manifest) -> str | None:
    progressing = _condition(deployment, "Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return str(progressing.get("message") or "progress deadline exceeded")
    failure = _condition(deployment, "ReplicaFailure") or {}
    if failure.get("status") == "True":
        return str(failure.get("message") or failure.get("reason") or "pods cannot be created")
    return None


def workload(deployment: Manifest | None) -> Workload | None:
    if deployment is None:
        return None
    status = deployment.get("status") or {}
    metadata = deployment.get("metadata") or {}
    return Workload(
        replicas=int(deployment.get("spec", {}).get("replicas", 1)),
        ready=int(status.get("readyReplicas") or 0),
        updated=int(status.get("updatedReplicas") or 0),
        available=int(status.get("availableReplicas") or 0),
        total=int(status.get("replicas") or 0),
        version=(metadata.get("labels") or {}).get("app.kubernetes.io/version"),
        current=int(status.get("observedGeneration") or 0) >= int(metadata.get("generation") or 0),
        stuck=_stuck(deployment),
        deadline_exceeded=(_condition(deployment, "Progressing") or {}).get("reason")
        == "ProgressDeadlineExceeded",
    )


@dataclass(frozen=True, slots=True)
class Observation:
    """Everything the status is computed from."""

    generation: int
    paused: bool
    rollout: Rollout
    api: Workload | None
    worker: Workload | None
    bootstrap: BootstrapStatus | None = None
    """The restore of a backup into the new platform, if one was asked for."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """A phase and the three conditions, as (status, reason, message)."""

    phase: Phase
    ready: tuple[Status, str, str]
    progressing: tuple[Status, str, str]
    degraded: tuple[Status, str, str]


def _counts(obs: Observation) -> str:
    parts = [
        f"{name} {w.available}/{w.replicas} available"
        for name, w in (("api", obs.api), ("worker", obs.worker))
        if w is not None
    ]
    return ", ".join(parts) or "no workloads yet"


def _failed_migration(r: Rollout) -> Verdict:
    keeps = f"version {r.running} keeps running" if r.running else "nothing was deployed"
    message = (
        f"migration Job {r.job} to version {r.target} failed; {keeps}. Delete the Job to "
        "retry, or set spec.version to another version"
    )
    bad: tuple[Status, str, str] = ("False", "MigrationFailed", message)
    return Verdict(
        "Degraded" if r.running else "Failed", bad, bad, ("True", "MigrationFailed", message)
    )


def _healthy(obs: Observation) -> Verdict:
    r, counts = obs.rollout, _counts(obs)
    fine: tuple[Status, str, str] = ("False", "AsExpected", "")
    if r.held:
        message = f"waiting for Job {r.job} to migrate the schema to version {r.target}; {counts}"
        phase: Phase = "Pending" if obs.api is None and obs.worker is None else "Progressing"
        waiting: tuple[Status, str, str] = ("False", "MigrationRunning", message)
        return Verdict(phase, waiting, ("True", "MigrationRunning", message), fine)
    workloads = (obs.api, obs.worker)
    if any(w is None or not w.rolled_out(r.target) for w in workloads):
        message = f"rolling out version {r.target}: {counts}"
        rolling: tuple[Status, str, str] = ("False", "RollingOut", message)
        return Verdict("Progressing", rolling, ("True", "RollingOut", message), fine)
    message = f"version {r.target}: {counts}"
    return Verdict(
        "Ready", ("True", "Available", message), ("False", "RolloutComplete", message), fine
    )


def _rolled_back(obs: Observation, back: Rollback) -> Verdict:
    """The target version was rolled back: the platform runs `back.to` again."""
    counts = _counts(obs)
    degraded: tuple[Status, str, str] = ("True", back.reason, rolled_back_message(back))
    workloads = [w for w in (obs.api, obs.worker) if w is not None]
    stuck = [w.stuck for w in workloads if w.stuck and w.current and w.version == back.to]
    if stuck:
        bad: tuple[Status, str, str] = ("False", "RolloutStuck", "; ".join(stuck))
        return Verdict("Degraded", bad, bad, degraded)
    if len(workloads) < 2 or any(not w.rolled_out(back.to) for w in workloads):
        message = f"rolling back to version {back.to}: {counts}"
        rolling: tuple[Status, str, str] = ("False", "RollingBack", message)
        return Verdict("Progressing", rolling, ("True", "RollingBack", message), degraded)
    message = f"version {back.to} (version {back.version} was rolled back): {counts}"
    done: tuple[Status, str, str] = ("True", "RolledBack", message)
    return Verdict("RolledBack", done, ("False", "RolledBack", message), degraded)


def rolled_back_message(back: Rollback) -> str:
    return (
        f"version {back.version} was rolled back to {back.to} ({back.reason}: {back.message}); "
        f"version {back.to} keeps running and {back.version} is not tried again until "
        "spec.version changes"
    )


def _restore(state: BootstrapStatus) -> Verdict:
    """The platform waits for its restore, or its restore failed."""
    if state.phase == "Failed":
        bad: tuple[Status, str, str] = ("False", "RestoreFailed", state.message)
        return Verdict("Failed", bad, bad, ("True", "RestoreFailed", state.message))
    waiting: tuple[Status, str, str] = ("False", "Restoring", state.message)
    fine: tuple[Status, str, str] = ("False", "AsExpected", "")
    return Verdict("Pending", waiting, ("True", "Restoring", state.message), fine)


def assess(obs: Observation) -> Verdict:
    """The phase and conditions that follow from an observation."""
    if obs.bootstrap is not None and obs.bootstrap.phase not in {"Succeeded", "Skipped"}:
        verdict = _restore(obs.bootstrap)
    elif obs.rollout.rollback is not None:
        verdict = _rolled_back(obs, obs.rollout.rollback)
    elif obs.rollout.migration == "Failed":
        verdict = _failed_migration(obs.rollout)
    else:
        stuck = [w.stuck for w in (obs.api, obs.worker) if w is not None and w.stuck]
        if stuck:
            message = "; ".join(stuck)
            bad: tuple[Status, str, str] = ("False", "RolloutStuck", message)
            verdict = Verdict("Degraded", bad, bad, ("True", "RolloutStuck", message))
        else:
            verdict = _healthy(obs)
    if not obs.paused:
        return verdict
    message = "spec.paused is true: the operator makes no changes to the platform's objects"
    return Verdict("Paused", verdict.ready, ("False", "Paused", message), verdict.degraded)


# --- the status object ----------------------------------------------------------------


def merge_conditions(
    previous: list[Condition],
    verdict: Verdict,
    generation: int,
    now: datetime,
) -> list[Condition]:
    """Ours updated (keeping lastTransitionTime unless the status flips), others kept."""
    old = {c.type: c for c in previous}
    out = []
    for kind, (status, reason, message) in zip(
        OWN_TYPES, (verdict.ready, verdict.progressing, verdict.degraded), strict=True
    ):
        before = old.get(kind)
        since = before.last_transition_time if before and before.status == status else now
        out.append(
            Condition(
                type=kind,
                status=status,
                reason=reason,
                message=message,
                last_transition_time=since,
                observed_generation=generation,
            )
        )
    return out + [c for c in previous if c.type not in OWN_TYPES]


def status(
    previous: AccountingPlatformStatus, obs: Observation, now: datetime
) -> AccountingPlatformStatus:
    """The new status; fields this module does not own (database, backup, ...) are kept."""
    verdict = assess(obs)
    r = obs.rollout
    last_good = r.target if verdict.phase == "Ready" else previous.last_good_version
    components = ComponentsStatus(
        api=obs.api.summary() if obs.api else None,
        worker=obs.worker.summary() if obs.worker else None,
        migration=MigrationStatus(version=r.target, phase=r.migration),
    )
    return previous.model_copy(
        update={
            "phase": verdict.phase,
            "observed_generation": obs.generation,
            "conditions": merge_conditions(previous.conditions, verdict, obs.generation, now),
            "ready": f"{obs.api.ready}/{obs.api.replicas}" if obs.api else None,
            "components": components,
            "last_good_version": last_good,
        }
    )


def failed(
    previous: AccountingPlatformStatus,
    generation: int,
    reason: str,
    message: str,
    now: datetime,
) -> AccountingPlatformStatus:
    """The status when the operator cannot act on the spec (InvalidSpec, ApplyFailed):
    the children keep running as they are, so only the conditions change."""
    bad: tuple[Status, str, str] = ("False", reason, message)
    verdict = Verdict("Degraded", bad, bad, ("True", reason, message))
    return previous.model_copy(
        update={
            "phase": verdict.phase,
            "observed_generation": generation,
            "conditions": merge_conditions(previous.conditions, verdict, generation, now),
        }
    )


def previous_status(raw: Manifest | None) -> AccountingPlatformStatus:
    """The stored status. Fields this version does not know are ignored; an unreadable
    status (edited by hand) counts as none."""
    known = {f.alias or name for name, f in AccountingPlatformStatus.model_fields.items()}
    try:
        return AccountingPlatformStatus.model_validate(
            {k: v for k, v in (raw or {}).items() if k in known}
        )
    except ValueError:
        return AccountingPlatformStatus()
