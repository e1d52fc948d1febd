"""Disaster recovery into a new platform: restore a backup before anything else runs.

With `spec.database.bootstrap.fromBackup`, a platform that has never run first gets its
restore Job; the migration Job, the Deployments and the backup CronJobs wait until that
Job has succeeded (a backup of a half-restored database would be worse than none). A
failed restore stops there: the platform is not Ready and says why; deleting the Job (once
the database is empty again) retries it.

Only a new platform is bootstrapped. The field added to a platform that has run (a
version became Ready, or its migration or Deployments exist) is ignored, and the status
says so (phase Skipped): restoring over live books is never what anybody wants. Once the
restore succeeded or was skipped, `status.bootstrap` records it and the field has no
further effect (the restore Job is then deleted with the other children the spec no
longer renders). Pure: observed objects and the stored status in, a decision out.
"""

from __future__ import annotations

from accounting_operator import rollout
from accounting_operator.render import migration, restore
from accounting_operator.render.platform import Manifest, Platform
from accounting_operator.status import BootstrapStatus

Live = dict[tuple[str, str], Manifest]

DONE = frozenset({"Succeeded", "Skipped"})
WAITING_KINDS = frozenset({"Deployment", "HorizontalPodAutoscaler", "CronJob"})
"""What a restore holds back, besides the migration Job."""


def _ran_before(platform: Platform, last_good: str | None, live: Live) -> str | None:
    """Why the platform counts as one that has run, if it does."""
    if last_good:
        return f"version {last_good} has been Ready"
    if ("Deployment", rollout.api_name(platform)) in live:
        return "its API Deployment exists"
    if ("Job", migration.job_name(platform)) in live:
        return "its migration Job exists"
    return None


def _failed(job: Manifest) -> str:
    conditions = (job.get("status") or {}).get("conditions") or []
    failed: Manifest = next((c for c in conditions if c.get("type") == "Failed"), {})
    why = ": ".join(str(failed[k]) for k in ("reason", "message") if failed.get(k))
    return why or "failed"


def _finished_at(job: Manifest) -> str | None:
    status = job.get("status") or {}
    if status.get("completionTime"):
        return str(status["completionTime"])
    conditions = status.get("conditions") or []
    ends = [c.get("lastTransitionTime") for c in conditions if c.get("type") == "Failed"]
    return str(ends[0]) if ends and ends[0] else None


def decide(
    platform: Platform, previous: BootstrapStatus | None, last_good: str | None, live: Live
) -> BootstrapStatus | None:
    """The bootstrap's state after this reconcile; None when none was ever asked for."""
    source = platform.spec.database.bootstrap.from_backup
    if source is None or (previous is not None and previous.phase in DONE):
        return previous
    name = restore.job_name(platform)
    if previous is None:
        ran = _ran_before(platform, last_good, live)
        if ran:
            message = (
                f"spec.database.bootstrap.fromBackup is ignored: the platform has run ({ran}); "
                "only a new platform is restored from a backup"
            )
            return BootstrapStatus(phase="Skipped", backup=source.backup, message=message)
    job = live.get(("Job", name))
    phase = rollout.job_phase(job)
    if job is None or phase in {"Running", "Pending"}:
        message = f"restoring backup {source.backup} with Job {name}"
        return BootstrapStatus(phase=phase, job=name, backup=source.backup, message=message)
    if phase == "Succeeded":
        message = f"restored backup {source.backup} with Job {name}"
    else:
        message = (
            f"restore Job {name} of backup {source.backup} failed ({_failed(job)}); "
            f"its log says why: kubectl logs job/{name}. Make sure the database is empty, "
            "then delete the Job to retry"
        )
    return BootstrapStatus.model_validate(
        {
            "phase": phase,
            "job": name,
            "backup": source.backup,
            "completionTime": _finished_at(job),
            "message": message,
        }
    )


def restoring(state: BootstrapStatus | None) -> bool:
    """Whether the platform waits for (or is stopped by) its restore."""
    return state is not None and state.phase not in DONE


def gate(
    platform: Platform, rendered: list[Manifest], state: BootstrapStatus | None
) -> list[Manifest]:
    """The rendered children without what must wait for the restore, and without the
    restore Job once it is not (or no longer) wanted."""
    restore_job = ("Job", restore.job_name(platform))
    if not restoring(state):
        return [m for m in rendered if _key(m) != restore_job]
    held = {("Job", migration.job_name(platform))}
    return [m for m in rendered if m["kind"] not in WAITING_KINDS and _key(m) not in held]


def _key(manifest: Manifest) -> tuple[str, str]:
    return str(manifest["kind"]), str(manifest["metadata"]["name"])
