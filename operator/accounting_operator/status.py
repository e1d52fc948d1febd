"""The AccountingPlatform status: what the operator observed, in the CRD's status schema.

Conditions follow the Kubernetes convention (type/status/reason/message/
lastTransitionTime/observedGeneration), so `kubectl wait --for=condition=Ready` works.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from accounting_operator.validation import Model

Phase = Literal["Pending", "Progressing", "Ready", "RolledBack", "Degraded", "Paused", "Failed"]

Reason = Annotated[str, Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", max_length=1024)]


class Condition(Model):
    """One aspect of the platform's state (Ready, Progressing, Degraded, ...)."""

    type: str = Field(max_length=316, description="Condition type, e.g. Ready.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: Reason = Field(description="CamelCase reason for the last transition.")
    message: str = Field("", max_length=32768, description="Human-readable details.")
    last_transition_time: datetime = Field(description="When status last changed.")
    observed_generation: int | None = Field(
        None, ge=0, description="metadata.generation the condition was computed from."
    )


class ComponentStatus(Model):
    """Pod counts of one Deployment."""

    replicas: int = Field(0, ge=0, description="Pods the Deployment wants.")
    ready_replicas: int = Field(0, ge=0, description="Pods that pass their readiness probe.")
    updated_replicas: int = Field(0, ge=0, description="Pods already running the new version.")


class MigrationStatus(Model):
    """The schema migration of the current version."""

    version: str | None = Field(None, max_length=63, description="Version migrated to.")
    phase: Literal["Pending", "Running", "Succeeded", "Failed"] | None = Field(
        None, description="State of the migration Job."
    )


class ComponentsStatus(Model):
    """Readiness of every workload."""

    api: ComponentStatus | None = Field(None, description="The API Deployment.")
    worker: ComponentStatus | None = Field(None, description="The worker Deployment.")
    migration: MigrationStatus | None = Field(None, description="The migration Job.")


class DatabaseStatus(Model):
    """What the operator knows about the database."""

    active_primary: str | None = Field(
        None, max_length=253, description="Host the platform writes to (changes on failover)."
    )


BackupOperation = Literal["Backup", "Verify"]


class BackupFailure(Model):
    """The newest backup or restore-test Job that failed."""

    job: str = Field(max_length=253, description="Name of the failed Job.")
    operation: BackupOperation = Field(description="Backup or Verify (a restore test).")
    time: datetime = Field(description="When the Job failed.")
    reason: str = Field("", max_length=1024, description="The Job's failure reason.")
    message: str = Field("", max_length=4096, description="What the Job reported.")


class BackupNow(Model):
    """The last `backup-now` annotation the operator handled."""

    token: str = Field(max_length=253, description="The annotation's value.")
    job: str | None = Field(None, max_length=253, description="The Job it started, if any.")
    message: str = Field("", max_length=1024, description="What was done with it.")


class BackupStatus(Model):
    """Backup freshness. Times only move forward: Jobs are deleted by the CronJobs'
    history limits, the times stay."""

    last_successful: datetime | None = Field(None, description="End of the last good backup.")
    last_verified: datetime | None = Field(
        None, description="End of the last successful restore test."
    )
    last_failed_verification: datetime | None = Field(
        None, description="End of the last failed restore test."
    )
    last_failure: BackupFailure | None = Field(
        None, description="The newest failed backup or restore-test Job."
    )
    backup_now: BackupNow | None = Field(
        None, description="The last on-demand backup request handled."
    )


BootstrapPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Skipped"]


class BootstrapStatus(Model):
    """The restore of spec.database.bootstrap.fromBackup into a new platform."""

    phase: BootstrapPhase = Field(description="State of the restore.")
    job: str | None = Field(None, max_length=253, description="The restore Job.")
    backup: str | None = Field(None, max_length=1024, description="The backup asked for.")
    completion_time: datetime | None = Field(None, description="When the restore ended.")
    message: str = Field("", max_length=4096, description="Details, e.g. why it failed.")


class FailoverEvent(Model):
    """One promotion of a replica."""

    time: datetime = Field(description="When the failover happened.")
    from_host: str = Field(alias="from", max_length=253, description="The failed primary.")
    to_host: str = Field(alias="to", max_length=253, description="The promoted replica.")
    reason: str = Field("", max_length=1024, description="Why the operator failed over.")


RollbackReason = Literal["MigrationFailed", "ProgressDeadlineExceeded"]


class RollbackStatus(Model):
    """The version the operator rolled back and does not try again until spec.version
    changes."""

    version: str = Field(max_length=63, description="The version that was rolled back.")
    to_version: str = Field(max_length=63, description="The version restored (lastGoodVersion).")
    reason: RollbackReason = Field(
        description="MigrationFailed (its migration Job failed) or ProgressDeadlineExceeded "
        "(its API or worker Deployment did not become available in time)."
    )
    message: str = Field("", max_length=4096, description="What failed, in detail.")
    time: datetime = Field(description="When the operator rolled back.")


class AccountingPlatformStatus(Model):
    """The observed state of one accounting platform."""

    phase: Phase | None = Field(None, description="One-word summary of the platform's state.")
    observed_generation: int | None = Field(
        None, ge=0, description="metadata.generation the operator last acted on."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=16,
        description="Detailed state: Ready, Progressing, Degraded, ...",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    ready: str | None = Field(
        None, max_length=32, description="Ready/desired API pods, e.g. 3/3 (for kubectl get)."
    )
    components: ComponentsStatus | None = Field(None, description="Per-workload readiness.")
    database: DatabaseStatus | None = Field(None, description="Database state.")
    backup: BackupStatus | None = Field(None, description="Backup state.")
    bootstrap: BootstrapStatus | None = Field(
        None, description="Restore of a backup into the new platform, if one was asked for."
    )
    failover_history: list[FailoverEvent] = Field(
        default_factory=list, max_length=20, description="Most recent failovers, newest last."
    )
    last_good_version: str | None = Field(
        None, max_length=63, description="Last version that became Ready (rollback target)."
    )
    rollback: RollbackStatus | None = Field(
        None,
        description="The version rolled back, while spec.version still names it; cleared when "
        "spec.version changes.",
    )
