"""Backup health from the Jobs the operator owns: status.backup, BackupHealthy, Events.

The backup and restore-test Jobs (made by the CronJobs, or on demand) carry the
platform's labels, so they are among its children. Their completion times go into
`status.backup` and only ever move forward: the CronJobs' history limits delete old Jobs,
the status keeps what they said.

BackupHealthy is False when the newest successful backup is older than twice the
schedule's longest interval (the RPO is at risk; the same when no backup succeeded that
long after the backup CronJob was created), or when the newest restore test failed; True
otherwise; Unknown while the first backup is still within that window. It is absent while
backups are off. Each failed Job gets one Warning Event: the status remembers the newest
failure reported. Messages hold absolute times only, so an unchanged state writes nothing.
Pure: no clock (now is passed in), no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from accounting_operator.render import backup
from accounting_operator.render.platform import Manifest, Platform
from accounting_operator.status import (
    BackupFailure,
    BackupNow,
    BackupOperation,
    BackupStatus,
    Condition,
    put_condition,
)

BACKUP_HEALTHY = "BackupHealthy"
OPERATIONS: dict[str, BackupOperation] = {backup.BACKUP: "Backup", backup.VERIFY: "Verify"}

interval = backup.interval
"""The longest gap between two runs of a cron schedule (see `render.backup.interval`)."""


@dataclass(frozen=True, slots=True)
class Run:
    """One finished backup or restore-test Job."""

    job: str
    operation: BackupOperation
    succeeded: bool
    time: datetime
    reason: str
    message: str


def parse_time(raw: object) -> datetime | None:
    if not isinstance(raw, str) or not raw:
        return None
    return datetime.fromisoformat(raw).astimezone(UTC)


def run_of(job: Manifest) -> Run | None:
    """What a finished Job of a backup component says; None for others and running ones."""
    metadata = job.get("metadata") or {}
    component = (metadata.get("labels") or {}).get("app.kubernetes.io/component")
    operation = OPERATIONS.get(str(component))
    status = job.get("status") or {}
    if operation is None:
        return None
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        kind = condition.get("type")
        if kind in {"Complete", "SuccessCriteriaMet"}:
            when = parse_time(status.get("completionTime")) or parse_time(
                condition.get("lastTransitionTime")
            )
            succeeded = True
        elif kind in {"Failed", "FailureTarget"}:
            when = parse_time(condition.get("lastTransitionTime"))
            succeeded = False
        else:
            continue
        if when is not None:
            reason, message = (
                str(condition.get("reason") or ""),
                str(condition.get("message") or ""),
            )
            return Run(str(metadata.get("name")), operation, succeeded, when, reason, message)
    return None


def runs(live: dict[tuple[str, str], Manifest]) -> list[Run]:
    """The finished backup and restore-test Jobs, oldest first."""
    found = (run_of(m) for (kind, _), m in live.items() if kind == "Job")
    return sorted((r for r in found if r is not None), key=lambda r: (r.time, r.job))


def _newest(a: datetime | None, b: datetime | None) -> datetime | None:
    return max((t for t in (a, b) if t is not None), default=None)


def _failure(run: Run) -> BackupFailure:
    return BackupFailure(
        job=run.job,
        operation=run.operation,
        time=run.time,
        reason=run.reason[:1024],
        message=run.message[:4096],
    )


def _after(run: Run, failure: BackupFailure | None) -> bool:
    return failure is None or (run.time, run.job) > (failure.time, failure.job)


def new_failures(previous: BackupStatus, finished: list[Run]) -> list[Run]:
    """Failed Jobs not reported yet (newer than the newest one reported)."""
    return [r for r in finished if not r.succeeded and _after(r, previous.last_failure)]


def status(
    previous: BackupStatus, finished: list[Run], backup_now: BackupNow | None
) -> BackupStatus:
    """status.backup after these runs; times never move backwards."""
    out = previous
    for run in finished:
        if run.succeeded and run.operation == "Backup":
            out = out.model_copy(update={"last_successful": _newest(out.last_successful, run.time)})
        elif run.succeeded:
            out = out.model_copy(update={"last_verified": _newest(out.last_verified, run.time)})
        else:
            if run.operation == "Verify":
                newest = _newest(out.last_failed_verification, run.time)
                out = out.model_copy(update={"last_failed_verification": newest})
            if _after(run, out.last_failure):
                out = out.model_copy(update={"last_failure": _failure(run)})
    if backup_now is not None:
        out = out.model_copy(update={"backup_now": backup_now})
    return out


def _stamp(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else "never"


def _hours(value: timedelta) -> str:
    hours = value.total_seconds() / 3600
    return f"{hours:g}h"


Verdict = tuple[str, str, str]
"""(status, reason, message) of BackupHealthy."""


def health(
    platform: Platform, state: BackupStatus, enabled_since: datetime | None, now: datetime
) -> Verdict:
    """BackupHealthy for enabled backups. `enabled_since`: the backup CronJob's creation."""
    schedule = platform.spec.backup.schedule
    gap = interval(schedule)
    verified = f"newest verified backup: {_stamp(state.last_verified)}"
    failed_test = state.last_failed_verification
    if failed_test and (state.last_verified is None or failed_test > state.last_verified):
        failure = state.last_failure
        why = f" ({failure.job}: {failure.reason} {failure.message})".rstrip() if failure else ""
        message = f"the newest restore test failed at {_stamp(failed_test)}{why}; {verified}"
        return "False", "RestoreTestFailed", message.replace(" )", ")")
    if gap is None:
        return "Unknown", "ScheduleUnreadable", f"backup.schedule {schedule!r} cannot be evaluated"
    limit = 2 * gap
    window = f"twice the schedule's longest interval, {_hours(limit)}"
    last = state.last_successful
    if last is None:
        if enabled_since is not None and now - enabled_since > limit:
            message = (
                f"no backup has succeeded since backups were enabled at {_stamp(enabled_since)}"
                f", more than {window}: the RPO is at risk"
            )
            return "False", "NoBackup", message
        return "Unknown", "NoBackupYet", f"waiting for the first backup (schedule {schedule})"
    if now - last > limit:
        message = (
            f"the newest backup ended at {_stamp(last)}, more than {window} before now: "
            f"the RPO is at risk; {verified}"
        )
        return "False", "BackupTooOld", message
    return "True", "BackupsCurrent", f"newest backup: {_stamp(last)}; {verified}"


def condition(
    previous: list[Condition], verdict: Verdict | None, generation: int, now: datetime
) -> list[Condition]:
    """The conditions with BackupHealthy set (None: removed)."""
    return put_condition(previous, BACKUP_HEALTHY, verdict, generation, now)


def failure_message(run: Run) -> str:
    what = "backup" if run.operation == "Backup" else "restore test"
    why = ": ".join(p for p in (run.reason, run.message) if p) or "failed"
    return f"{what} Job {run.job} failed at {_stamp(run.time)} ({why}); kubectl logs job/{run.job}"
