"""One reconcile, decided without I/O: the parent and its live children in, writes,
status and Events out.

The controller (`controller.py`) feeds this module what it read and executes what it
returns; everything a reconcile decides is here, so it is tested without a cluster:
render the spec, gate the Deployments on the migration (`rollout`) and hold a version
that failed on the last good one (`rollback`), compare with the
live children (`diff`), and report the outcome (`conditions`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

import pydantic

from accounting_operator import (
    FIELD_MANAGER,
    backups,
    bootstrap,
    compliance,
    diff,
    render,
    rollback,
    rollout,
)
from accounting_operator import conditions as cond
from accounting_operator.render import backup, meta, migration
from accounting_operator.render.platform import (
    MAX_ROTATION_LENGTH,
    ROTATE_ANNOTATION,
    InvalidNameError,
    Manifest,
    Platform,
)
from accounting_operator.spec import AccountingPlatformSpec
from accounting_operator.status import (
    AccountingPlatformStatus,
    BackupNow,
    BackupStatus,
    BootstrapStatus,
)

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True, slots=True)
class Event:
    """A Kubernetes Event to post about the platform."""

    type: EventType
    reason: str
    message: str


class InvalidSpecError(ValueError):
    """The spec does not parse although the CRD admitted it (or the CRD is outdated)."""


@dataclass(frozen=True, slots=True)
class Parent:
    """The AccountingPlatform as read: identity, generation, raw spec and status."""

    name: str
    namespace: str
    uid: str
    generation: int
    spec: Manifest
    status: Manifest
    annotations: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, body: Manifest) -> Parent:
        metadata = body["metadata"]
        return cls(
            name=metadata["name"],
            namespace=metadata["namespace"],
            uid=metadata["uid"],
            generation=int(metadata.get("generation") or 0),
            spec=dict(body.get("spec") or {}),
            status=dict(body.get("status") or {}),
            annotations={str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()},
        )

    @property
    def previous(self) -> AccountingPlatformStatus:
        return cond.previous_status(self.status)


def selector(name: str) -> str:
    """The label selector of a platform's children (within its namespace)."""
    return f"app.kubernetes.io/instance={name},app.kubernetes.io/managed-by={meta.MANAGED_BY}"


def parse(parent: Parent, service_monitor_crd: bool, prometheus_rule_crd: bool = False) -> Platform:
    try:
        spec = AccountingPlatformSpec.model_validate(parent.spec)
        return Platform(
            name=parent.name,
            namespace=parent.namespace,
            uid=parent.uid,
            spec=spec,
            service_monitor_crd=service_monitor_crd,
            prometheus_rule_crd=prometheus_rule_crd,
            database=parent.previous.database,
            rotation=parent.annotations.get(ROTATE_ANNOTATION, "")[:MAX_ROTATION_LENGTH],
        )
    except pydantic.ValidationError as error:
        problems = "; ".join(
            f"spec.{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"]
            for e in error.errors()
        )
        raise InvalidSpecError(f"invalid spec: {problems}") from None
    except InvalidNameError as error:
        raise InvalidSpecError(str(error)) from None


@dataclass(frozen=True, slots=True)
class Decision:
    """What one reconcile does."""

    platform: Platform
    rollout: rollout.Rollout
    desired: list[Manifest]
    plan: diff.Plan
    bootstrap: BootstrapStatus | None = None
    """The restore into a new platform, as of this reconcile."""
    backup_now: BackupNow | None = None
    """A backup-now request handled by this reconcile."""


def _token(parent: Parent) -> str:
    return parent.annotations.get(backup.TOKEN_ANNOTATION, "")[:253]


def backup_now_pending(parent: Parent) -> bool:
    """Whether the platform carries a backup-now token not handled yet."""
    token = _token(parent)
    handled = (parent.status.get("backup") or {}).get("backupNow") or {}
    return bool(token) and handled.get("token") != token


def backup_now(
    parent: Parent, platform: Platform, live: diff.Live
) -> tuple[BackupNow | None, Manifest | None]:
    """The `backup-now` annotation: a request not handled yet starts one Job, made from the
    live backup CronJob (it waits until that exists); refused while backups are off."""
    token = _token(parent)
    if not backup_now_pending(parent) or platform.spec.paused:
        return None, None  # paused: the request waits, like every other write
    if not backup.enabled(platform):
        message = "refused: spec.backup.enabled is false, there is no backup to take"
        return BackupNow(token=token, message=message), None
    cron_job = live.get(("CronJob", backup.backup_name(platform)))
    uid = (cron_job or {}).get("metadata", {}).get("uid")
    job = backup.on_demand_job(platform, token, str(uid)) if uid else None
    if job is None:
        return None, None
    name = job["metadata"]["name"]
    return BackupNow(token=token, job=name, message=f"started Job {name}"), job


def decide(parent: Parent, platform: Platform, live: diff.Live) -> Decision:
    """Render, gate on the restore and the migration, and diff against the live children."""
    previous = parent.previous
    restore = bootstrap.decide(platform, previous.bootstrap, previous.last_good_version, live)
    live_api = live.get(("Deployment", rollout.api_name(platform)))
    live_job = live.get(("Job", migration.job_name(platform)))
    plan_rollout = rollback.decide(
        rollout.decide(platform, previous.last_good_version, live_api, live_job),
        previous.rollback,
        live_api,
        live.get(("Deployment", platform.child("worker"))),
        platform.spec.paused,
    )
    rendered = bootstrap.gate(platform, render.render(platform), restore)
    gated = rollback.gate(rollout.gate(platform, rendered, plan_rollout), plan_rollout, live_job)
    request, job = backup_now(parent, platform, live)
    desired = [diff.annotated(m) for m in (*gated, *([job] if job else []))]
    plan = diff.plan(desired, live, parent.uid)
    return Decision(platform, plan_rollout, desired, plan, restore, request)


def after(live: diff.Live, written: list[Manifest], pruned: list[Manifest]) -> diff.Live:
    """The children once the writes' responses and the deletions are taken into account."""
    out = dict(live)
    for manifest in written:
        out[diff.key(manifest)] = manifest
    for manifest in pruned:
        out.pop(diff.key(manifest), None)
    return out


def observe(parent: Parent, decision: Decision, live: diff.Live) -> cond.Observation:
    platform, r = decision.platform, decision.rollout
    job = live.get(("Job", r.job))
    return cond.Observation(
        generation=parent.generation,
        paused=platform.spec.paused,
        rollout=replace(r, migration=rollout.job_phase(job)),
        api=cond.workload(live.get(("Deployment", platform.child("api")))),
        worker=cond.workload(live.get(("Deployment", platform.child("worker")))),
        bootstrap=decision.bootstrap,
    )


def report(
    parent: Parent, decision: Decision, live: diff.Live, now: datetime
) -> tuple[AccountingPlatformStatus, list[Event]]:
    """The new status and the Events for what changed, after the plan was carried out
    (or not, when paused)."""
    previous = parent.previous
    new = cond.status(previous, observe(parent, decision, live), now)
    new, rollback_events = report_rollback(parent, decision, new, now)
    new = new.model_copy(update={"bootstrap": decision.bootstrap})
    new, backup_events = report_backups(parent, decision, live, new, now)
    found = compliance.findings(decision.platform, decision.desired, new.backup, now)
    new = new.model_copy(
        update={"conditions": compliance.condition(new.conditions, found, parent.generation, now)}
    )
    executed = diff.Plan() if decision.platform.spec.paused else decision.plan
    return new, [
        *write_events(executed),
        *rollback_events,
        *transition_events(previous, new),
        *backup_events,
    ]


def report_rollback(
    parent: Parent, decision: Decision, new: AccountingPlatformStatus, now: datetime
) -> tuple[AccountingPlatformStatus, list[Event]]:
    """status.rollback and the RolledBack condition; an Event when a version is rolled back."""
    before = parent.previous.rollback
    record = rollback.record(before, decision.rollout, now)
    conditions = rollback.condition(new.conditions, decision.rollout, parent.generation, now)
    events = []
    if record is not None and rollback.started(before, record):
        events.append(Event("Warning", rollback.ROLLED_BACK, rollback.event_message(record)))
    return new.model_copy(update={"rollback": record, "conditions": conditions}), events


def report_backups(
    parent: Parent,
    decision: Decision,
    live: diff.Live,
    new: AccountingPlatformStatus,
    now: datetime,
) -> tuple[AccountingPlatformStatus, list[Event]]:
    """status.backup and BackupHealthy from the backup Jobs; an Event per new failure."""
    platform = decision.platform
    before = parent.previous.backup or BackupStatus()
    finished = backups.runs(live)
    state = backups.status(before, finished, decision.backup_now)
    verdict = None
    if backup.enabled(platform) and not bootstrap.restoring(decision.bootstrap):
        cron_job = live.get(("CronJob", backup.backup_name(platform))) or {}
        since = backups.parse_time(cron_job.get("metadata", {}).get("creationTimestamp"))
        verdict = backups.health(platform, state, since, now)
    conditions = backups.condition(new.conditions, verdict, parent.generation, now)
    events = [
        Event("Warning", f"{run.operation}Failed", backups.failure_message(run))
        for run in backups.new_failures(before, finished)
    ]
    request = decision.backup_now
    if request is not None and request.job is None:
        events.append(
            Event("Warning", "BackupNowRefused", f"backup-now {request.token}: {request.message}")
        )
    update = {"conditions": conditions, "backup": None if state == BackupStatus() else state}
    return new.model_copy(update=update), events


# --- Events -------------------------------------------------------------------------

_WRITE_REASONS: dict[diff.Why, tuple[EventType, str, str]] = {
    "created": ("Normal", "Created", "created"),
    "changed": ("Normal", "Updated", "updated"),
    "drifted": ("Warning", "DriftCorrected", "restored edited fields of"),
}


_JOB_EVENTS = {
    meta.MIGRATION: ("MigrationStarted", "migration"),
    "restore": ("RestoreStarted", "restore"),
    backup.BACKUP: ("BackupStarted", "on-demand backup"),
}


def _names(manifests: list[Manifest]) -> str:
    return ", ".join(f"{m['kind']} {m['metadata']['name']}" for m in manifests)


def write_events(plan: diff.Plan) -> list[Event]:
    out = []
    for why, (kind, reason, verb) in _WRITE_REASONS.items():
        done = [
            w.manifest for w in plan.writes if w.why == why and w.field_manager == FIELD_MANAGER
        ]
        jobs = [m for m in done if m["kind"] == "Job"]
        others = [m for m in done if m["kind"] != "Job"]
        if others:
            out.append(Event(kind, reason, f"{verb} {_names(others)}"))
        for component, (started, what) in _JOB_EVENTS.items():
            these = [m for m in jobs if rollout.component(m) == component]
            if these:
                out.append(Event("Normal", started, f"created {what} {_names(these)}"))
    if plan.prune:
        out.append(Event("Normal", "Pruned", f"deleted {_names(plan.prune)}: no longer in spec"))
    return out


def _condition(status: AccountingPlatformStatus, kind: str) -> tuple[str, str, str]:
    found = next((c for c in status.conditions if c.type == kind), None)
    return (found.status, found.reason, found.message) if found else ("Unknown", "", "")


def _migration(status: AccountingPlatformStatus) -> tuple[str | None, str | None]:
    found = status.components.migration if status.components else None
    return (found.version, found.phase) if found else (None, None)


def transition_events(
    previous: AccountingPlatformStatus, new: AccountingPlatformStatus
) -> list[Event]:
    out = []
    before, now = _migration(previous), _migration(new)
    if now != before and now[1] in {"Succeeded", "Failed"}:
        kind: EventType = "Normal" if now[1] == "Succeeded" else "Warning"
        out.append(Event(kind, f"Migration{now[1]}", f"migration to version {now[0]} {now[1]}"))
    restored = new.bootstrap
    if restored and restored.phase in {"Succeeded", "Skipped"} and previous.bootstrap != restored:
        out.append(Event("Normal", f"Restore{restored.phase}", restored.message))
    health = _condition(new, backups.BACKUP_HEALTHY)
    if (
        health[1] in {"BackupTooOld", "NoBackup"}
        and _condition(previous, backups.BACKUP_HEALTHY)[:2] != health[:2]
    ):
        out.append(Event("Warning", health[1], health[2]))
    for kind_name, wanted, event_type in (
        (cond.READY, "True", "Normal"),
        (cond.DEGRADED, "True", "Warning"),
    ):
        old_status, new_status = _condition(previous, kind_name), _condition(new, kind_name)
        # A failed migration and a rollback already have their own Events.
        repeated = new_status[1] in {"MigrationFailed", "ProgressDeadlineExceeded"}
        if new_status[0] == wanted and old_status[:2] != new_status[:2] and not repeated:
            reason = "Ready" if kind_name == cond.READY else new_status[1]
            out.append(Event(event_type, reason, new_status[2]))  # type: ignore[arg-type]
    if (previous.phase == "Paused") != (new.phase == "Paused"):
        reason = "Paused" if new.phase == "Paused" else "Resumed"
        out.append(Event("Normal", reason, f"reconciliation {reason.lower()}"))
    return out
