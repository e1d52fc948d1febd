"""The AccountingPlatform status: what the operator observed, in the CRD's status schema.

Conditions follow the Kubernetes convention (type/status/reason/message/
lastTransitionTime/observedGeneration), so `kubectl wait --for=condition=Ready` works.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from accounting_operator.validation import Model

Phase = Literal["Pending", "Progressing", "Ready", "Degraded", "Paused", "Failed"]

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


class BackupStatus(Model):
    """Backup freshness."""

    last_successful: datetime | None = Field(None, description="End of the last good backup.")
    last_verified: datetime | None = Field(
        None, description="End of the last successful restore test."
    )


class FailoverEvent(Model):
    """One promotion of a replica."""

    time: datetime = Field(description="When the failover happened.")
    from_host: str = Field(alias="from", max_length=253, description="The failed primary.")
    to_host: str = Field(alias="to", max_length=253, description="The promoted replica.")
    reason: str = Field("", max_length=1024, description="Why the operator failed over.")


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
    failover_history: list[FailoverEvent] = Field(
        default_factory=list, max_length=20, description="Most recent failovers, newest last."
    )
    last_good_version: str | None = Field(
        None, max_length=63, description="Last version that became Ready (rollback target)."
    )
