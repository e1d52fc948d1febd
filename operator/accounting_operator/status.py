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


Server = Annotated[str, Field(max_length=260, description="host:port of a PostgreSQL server.")]


class FencedServer(Model):
    """A former primary the platform must never write to again."""

    server: Server = Field(description="host:port of the server.")
    since: datetime = Field(description="When it stopped being the primary.")
    fenced: bool = Field(
        False,
        description="Whether the operator has revoked the platform's logins there and ended "
        "their sessions (done as soon as it answers).",
    )
    message: str = Field("", max_length=1024, description="What to do before it may rejoin.")


FailoverKind = Literal["Failover", "Switchover"]


class PendingPromotion(Model):
    """A promotion decided and recorded before it is carried out, so that a restarted (or
    second) operator resumes it instead of promoting another server."""

    kind: FailoverKind = Field(description="Failover (automatic) or Switchover (asked for).")
    from_server: Server = Field(alias="from", description="The primary being replaced.")
    to_server: Server = Field(alias="to", description="The replica being promoted.")
    reason: str = Field("", max_length=1024, description="Why.")
    decided_at: datetime = Field(description="When the decision was recorded.")
    detect_seconds: float = Field(0, ge=0, description="First failed check to decision.")
    lag_bytes: int = Field(0, ge=0, description="WAL the candidate lacked at the decision.")
    target_lsn: int | None = Field(
        None,
        ge=0,
        description="Switchover: the stopped primary's last WAL position, which the replica "
        "must have received before it is promoted.",
    )


class DatabaseStatus(Model):
    """The database topology the platform connects by: after a failover it, not the spec,
    says which server is the primary."""

    active_primary: Server | None = Field(
        None, description="host:port the platform writes to (changes on failover)."
    )
    replicas: list[Server] = Field(
        default_factory=list, max_length=10, description="Replicas that follow the primary."
    )
    fenced: list[FencedServer] = Field(
        default_factory=list, max_length=10, description="Former primaries, kept out."
    )
    timeline: int | None = Field(
        None, ge=1, description="The primary's timeline; the API refuses servers on an older one."
    )
    pending: PendingPromotion | None = Field(
        None, description="A promotion decided but not finished yet."
    )
    last_primary_lsn: int | None = Field(
        None, ge=0, description="The primary's WAL position as last recorded (bytes)."
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

    time: datetime = Field(description="When the promoted replica took writes.")
    kind: FailoverKind = Field("Failover", description="Failover or Switchover.")
    from_host: str = Field(alias="from", max_length=260, description="The former primary.")
    to_host: str = Field(alias="to", max_length=260, description="The promoted replica.")
    reason: str = Field("", max_length=1024, description="Why the operator failed over.")
    detect_seconds: float | None = Field(
        None, ge=0, description="Seconds from the first failed check to the decision."
    )
    promote_seconds: float | None = Field(
        None, ge=0, description="Seconds from the decision to the first write it took."
    )
    lag_bytes: int | None = Field(
        None, ge=0, description="WAL the promoted replica lacked (bytes; 0: none lost)."
    )


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


def put_condition(
    conditions: list[Condition],
    kind: str,
    verdict: tuple[str, str, str] | None,
    generation: int | None,
    now: datetime,
) -> list[Condition]:
    """`conditions` with the one of type `kind` set to (status, reason, message), or
    removed (None); its lastTransitionTime moves only when its status flips."""
    others = [c for c in conditions if c.type != kind]
    if verdict is None:
        return others
    before = next((c for c in conditions if c.type == kind), None)
    since = before.last_transition_time if before and before.status == verdict[0] else now
    new = Condition.model_validate(
        {
            "type": kind,
            "status": verdict[0],
            "reason": verdict[1],
            "message": verdict[2],
            "lastTransitionTime": since,
            "observedGeneration": generation,
        }
    )
    return [*others, new]
