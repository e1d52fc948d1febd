"""Automatic rollback of a version that fails: decided from observed facts, without I/O.

A new version (`spec.version`) is rolled back to `status.lastGoodVersion` when

- its migration Job failed (the Deployments never left the old version: the rollback only
  records it), or
- its API or worker Deployment, already at the new version, reports
  `ProgressDeadlineExceeded` (`spec.api.progressDeadlineSeconds`,
  `spec.worker.progressDeadlineSeconds`): both Deployments go back to the old version.

The rollback is remembered in `status.rollback`: while `spec.version` still names the
rolled-back version, the Deployments stay on the old one and its migration Job is not
created again (a finished one is left in place for its logs). Any change of
`spec.version` clears it and rolls forward as usual. With no last good version (a first
install) or while paused, nothing is rolled back: the platform is Degraded as before.

Rolling back is safe only because every migration keeps the previous version working
(expand, then contract in a later release; docs/migrations.md), so the old version runs on
the new schema.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from accounting_operator import conditions as cond
from accounting_operator.render.platform import Manifest
from accounting_operator.rollout import Rollback, Rollout
from accounting_operator.status import Condition, RollbackStatus

ROLLED_BACK = "RolledBack"
"""The condition type: True while spec.version names a version that was rolled back."""


def remembered(previous: RollbackStatus | None, target: str) -> Rollback | None:
    """The rollback in status, if spec.version still names the version it rolled back."""
    if previous is None or previous.version != target:
        return None
    return Rollback(previous.version, previous.to_version, previous.reason, previous.message)


def cause(r: Rollout, api: cond.Workload | None, worker: cond.Workload | None) -> Rollback | None:
    """A reason to roll the target version back now, if there is one and a version to go
    back to."""
    if r.running is None or r.running == r.target:
        return None  # a first install, or a re-run of the version that runs: nothing to undo
    if r.migration == "Failed":
        return Rollback(r.target, r.running, "MigrationFailed", f"migration Job {r.job} failed")
    for name, workload in (("api", api), ("worker", worker)):
        if (
            workload is not None
            and workload.current
            and workload.version == r.target
            and workload.deadline_exceeded
        ):
            detail = workload.stuck or "progress deadline exceeded"
            message = f"the {name} Deployment did not become available: {detail}"
            return Rollback(r.target, r.running, "ProgressDeadlineExceeded", message)
    return None


def decide(
    r: Rollout,
    previous: RollbackStatus | None,
    live_api: Manifest | None,
    live_worker: Manifest | None,
    paused: bool,
) -> Rollout:
    """`r` with the rollback in force: the remembered one, or a new one (never while
    paused, when the operator changes nothing)."""
    kept = remembered(previous, r.target)
    if kept is None and not paused:
        kept = cause(r, cond.workload(live_api), cond.workload(live_worker))
    return replace(r, rollback=kept) if kept is not None else r


def gate(rendered: list[Manifest], r: Rollout, live_job: Manifest | None) -> list[Manifest]:
    """A rolled-back version's migration Job is not created again; a live one is kept."""
    if r.rollback is None or live_job is not None:
        return rendered
    return [m for m in rendered if not (m["kind"] == "Job" and m["metadata"]["name"] == r.job)]


def record(previous: RollbackStatus | None, r: Rollout, now: datetime) -> RollbackStatus | None:
    """status.rollback after this reconcile: kept, new (at `now`), or cleared."""
    back = r.rollback
    if back is None:
        return None
    if previous is not None and remembered(previous, r.target) == back:
        return previous
    return RollbackStatus(
        version=back.version,
        to_version=back.to,
        reason=back.reason,
        message=back.message,
        time=now,
    )


def condition(
    conditions: list[Condition], r: Rollout, generation: int, now: datetime
) -> list[Condition]:
    """The RolledBack condition: True while in force, False once spec.version moved on
    (absent if there never was a rollback)."""
    old = next((c for c in conditions if c.type == ROLLED_BACK), None)
    others = [c for c in conditions if c.type != ROLLED_BACK]
    status: cond.Status
    reason: str
    if r.rollback is not None:
        status, reason = "True", r.rollback.reason
        message = cond.rolled_back_message(r.rollback)
    elif old is not None:
        status, reason = "False", "VersionChanged"
        message = f"spec.version is {r.target}: rolling forward"
    else:
        return others
    since = old.last_transition_time if old and old.status == status else now
    new = Condition(
        type=ROLLED_BACK,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )
    return [*others, new]


def started(previous: RollbackStatus | None, new: RollbackStatus | None) -> bool:
    """Whether this reconcile rolled a version back (for the Event)."""
    return new is not None and new != previous


def event_message(back: RollbackStatus) -> str:
    return (
        f"rolled version {back.version} back to {back.to_version} ({back.reason}): {back.message}"
    )
