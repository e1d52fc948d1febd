"""Which version the workloads run: a new version waits for its schema migration.

The migration Job of `spec.version` is applied first. Until it has succeeded, the API
and worker Deployments stay on the version that runs now (`status.lastGoodVersion`, or
the version label of the live API Deployment), so a failed migration leaves the old
version serving. On a first install there is no old version: the Deployments are only
created once the schema exists. A version that was rolled back (`rollback.py`) is held
the same way until spec.version changes. Pure: observed objects in, decisions out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from accounting_operator.render import api, migration, worker
from accounting_operator.render.platform import Manifest, Platform
from accounting_operator.status import RollbackReason

MigrationPhase = Literal["Pending", "Running", "Succeeded", "Failed"]

WORKLOAD_KINDS = frozenset({"Deployment", "HorizontalPodAutoscaler"})
"""What waits for the migration on a first install (an HPA needs its Deployment)."""


def _true(obj: Manifest, kind: str) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def job_phase(job: Manifest | None) -> MigrationPhase:
    """The state of a migration Job; Pending when it does not exist (yet)."""
    if job is None:
        return "Pending"
    if _true(job, "Complete") or _true(job, "SuccessCriteriaMet"):
        return "Succeeded"
    if _true(job, "Failed") or _true(job, "FailureTarget"):
        return "Failed"
    return "Running"


def version_of(obj: Manifest | None) -> str | None:
    if obj is None:
        return None
    labels = obj.get("metadata", {}).get("labels") or {}
    value = labels.get("app.kubernetes.io/version")
    return str(value) if value is not None else None


@dataclass(frozen=True, slots=True)
class Rollback:
    """The target version, rolled back to the version that ran before it."""

    version: str
    """The version rolled back: spec.version, not tried again until it changes."""
    to: str
    """The version restored (status.lastGoodVersion)."""
    reason: RollbackReason
    """MigrationFailed or ProgressDeadlineExceeded."""
    message: str
    """What failed."""


@dataclass(frozen=True, slots=True)
class Rollout:
    """The versions in play in one reconcile."""

    target: str
    """spec.version: what the platform should run."""
    running: str | None
    """What the Deployments run now; None before the first install completes."""
    job: str
    """Name of the target version's migration Job."""
    migration: MigrationPhase
    """State of that Job."""
    rollback: Rollback | None = None
    """Set when the target version was rolled back: the Deployments stay on `rollback.to`."""

    @property
    def deploy(self) -> str | None:
        """The version to render the Deployments at; None withholds them."""
        if self.rollback is not None:
            return self.rollback.to
        if self.migration == "Succeeded":
            return self.target
        return self.running

    @property
    def held(self) -> bool:
        """Whether the Deployments are kept off the target version for now."""
        return self.deploy != self.target


def decide(
    platform: Platform, last_good: str | None, live_api: Manifest | None, live_job: Manifest | None
) -> Rollout:
    return Rollout(
        target=platform.spec.version,
        running=last_good or version_of(live_api),
        job=migration.job_name(platform),
        migration=job_phase(live_job),
    )


def at_version(platform: Platform, version: str) -> Platform:
    return replace(platform, spec=platform.spec.model_copy(update={"version": version}))


def gate(platform: Platform, rendered: list[Manifest], rollout: Rollout) -> list[Manifest]:
    """The rendered children, with the Deployments held back as `rollout` says."""
    if not rollout.held:
        return rendered
    if rollout.deploy is None:
        return [m for m in rendered if m["kind"] not in WORKLOAD_KINDS]
    held = at_version(platform, rollout.deploy)
    replacements = {
        api_name(platform): api.deployment(held),
        platform.child("worker"): worker.deployment(held),
    }
    return [
        replacements.get(m["metadata"]["name"], m) if m["kind"] == "Deployment" else m
        for m in rendered
    ]


def api_name(platform: Platform) -> str:
    return platform.child("api")


def component(obj: Manifest) -> str | None:
    labels = obj.get("metadata", {}).get("labels") or {}
    value = labels.get("app.kubernetes.io/component")
    return str(value) if value is not None else None
