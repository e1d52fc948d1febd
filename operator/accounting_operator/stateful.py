"""Spec groups for the platform's state: database, Redis, backups and failover.

The operator never holds a secret value: every credential is a reference to a Secret
that the pods read through `secretKeyRef`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from accounting_operator.fieldtypes import (
    CronSchedule,
    DatabaseCredentialsRef,
    DnsSubdomain,
    Hostname,
    Quantity,
    ResourceAmounts,
    Resources,
    S3CredentialsRef,
    SecretKeyRef,
)
from accounting_operator.validation import Model, Rule, cron_rule

SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

DatabaseName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_$-]*$", max_length=63)]


class DatabaseEndpoint(Model):
    """Where a PostgreSQL server listens."""

    host: Hostname = Field(description="DNS name or IPv4 address of the server.")
    port: int = Field(5432, ge=1, le=65535, description="TCP port of the server.")
    database: DatabaseName = Field("accounting", description="Name of the database.")


class S3Spec(Model):
    """The S3 (or compatible) bucket backups are written to."""

    bucket: str = Field(
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", max_length=63, description="Bucket name."
    )
    prefix: str | None = Field(
        None,
        max_length=512,
        description="Key prefix inside the bucket. Defaults to the platform's name.",
    )
    region: str = Field(
        "us-east-1", pattern=r"^[a-z0-9-]+$", max_length=32, description="Bucket region."
    )
    endpoint: str | None = Field(
        None,
        pattern=r"^https?://[^\s]+$",
        max_length=512,
        description="Endpoint URL of an S3-compatible service; empty for AWS S3.",
    )
    credentials_secret_ref: S3CredentialsRef = Field(
        description="Secret with the access key pair allowed to write the bucket."
    )


BackupChoice = Annotated[str, Field(pattern=r"^\S+$", min_length=1, max_length=1024)]
"""An object key of a backup, or `latest-verified` / `latest`."""


class ScratchSpec(Model):
    """Where a Job that restores a backup keeps the dump and the restored database."""

    scratch_size: Quantity = Field(
        "10Gi",
        description="Size of the scratch volume mounted at /scratch: it must hold the dump "
        "plus the restored database (about twice the database's size on disk is safe).",
    )
    scratch_storage_class_name: DnsSubdomain | None = Field(
        None,
        description="StorageClass of a generic ephemeral volume for /scratch. Empty: an "
        "emptyDir limited to scratchSize on the node's own disk.",
    )
    active_deadline_seconds: int = Field(
        4 * 3600,
        ge=600,
        le=7 * 86400,
        description="Seconds the Job may run before Kubernetes stops it.",
    )
    resources: Resources = Field(
        default_factory=lambda: Resources(
            requests=ResourceAmounts(cpu="500m", memory="1Gi"),
            limits=ResourceAmounts(cpu="2", memory="4Gi"),
        ),
        description="Resources of the Job's pod (it runs pg_restore and a PostgreSQL server).",
    )


class FromBackupSpec(S3Spec, ScratchSpec):
    """A backup to restore into the new platform's empty database before its first
    migration (disaster recovery)."""

    backup: BackupChoice = Field(
        "latest-verified",
        description="Object key of the backup to restore, or latest-verified (the newest "
        "backup whose restore test passed) or latest.",
    )


class BootstrapSpec(Model):
    """How a new platform's database gets its first data."""

    from_backup: FromBackupSpec | None = Field(
        None,
        description="Restore this backup before the first migration. Only a platform that "
        "has never run is bootstrapped: added later, it is ignored (status.bootstrap says so).",
    )


class ReplicaReadsSpec(Model):
    """Reports and lists read from the replicas that follow the primary; a client that
    sends back a write's Consistency-Token always sees that write."""

    enabled: bool = Field(
        True,
        description="Read reports and lists from the replicas (DATABASE_REPLICAS: those that "
        "follow the active primary, never a fenced server); false: every read on the primary.",
    )
    max_lag_bytes: int = Field(
        16 * 1024 * 1024,
        ge=0,
        le=1024**4,
        description="A replica further behind the primary than this (WAL bytes) serves no read.",
    )
    wait_milliseconds: int = Field(
        100,
        ge=0,
        le=5000,
        description="How long a read carrying a Consistency-Token waits for a replica that "
        "has replayed it before reading from the primary.",
    )


class DatabaseSpec(Model):
    """The PostgreSQL primary, its read replicas, and how to log in."""

    primary: DatabaseEndpoint = Field(description="The read-write primary.")
    replicas: list[DatabaseEndpoint] = Field(
        default_factory=list,
        max_length=10,
        description="Streaming replicas, in failover preference order.",
    )
    credentials_secret_ref: DatabaseCredentialsRef = Field(
        description="Secret with the application role's user name and password "
        "(a role that owns no tables, subject to row-level security)."
    )
    migration_credentials_secret_ref: DatabaseCredentialsRef | None = Field(
        None,
        description="Secret with the schema owner's user name and password, used only by "
        "the migration Job. Defaults to credentialsSecretRef.",
    )
    ssl_mode: SslMode = Field("require", description="libpq sslmode for every connection.")
    replica_reads: ReplicaReadsSpec = Field(
        default_factory=ReplicaReadsSpec, description="Reads served by the replicas."
    )
    bootstrap: BootstrapSpec = Field(
        default_factory=BootstrapSpec, description="First data of a new platform."
    )


class RedisSpec(Model):
    """Redis, which holds the rate-limit counters."""

    url_secret_ref: SecretKeyRef = Field(
        description="Secret key holding the Redis URL (it may carry a password)."
    )
    cluster: bool = Field(
        False,
        description="The URL names a node of a Redis Cluster: the API then follows the"
        " cluster's slots and redirects (REDIS_CLUSTER=true).",
    )


class BackupVerifySpec(ScratchSpec):
    """Scheduled restore tests: a backup is only trusted once restored."""

    enabled: bool = Field(True, description="Restore the latest backup on a schedule.")
    schedule: CronSchedule = Field(
        "30 3 * * *", description="Cron schedule of restore tests (UTC)."
    )

    rules = (cron_rule("backup.verify.schedule"),)


class BackupSpec(Model):
    """Scheduled logical backups to S3, with retention and restore verification."""

    enabled: bool = Field(False, description="Take scheduled backups (needs s3).")
    schedule: CronSchedule = Field(
        "0 * * * *", description="Cron schedule of backups (UTC); hourly meets a 1 hour RPO."
    )
    retention_days: int = Field(30, ge=1, le=3650, description="Days a backup is kept.")
    s3: S3Spec | None = Field(None, description="Where backups are stored.")
    credentials_secret_ref: DatabaseCredentialsRef | None = Field(
        None,
        description="Secret with the user name and password of the role pg_dump logs in as: "
        "read-only, with BYPASSRLS (tenant tables force row-level security). Required "
        "when backup is enabled.",
    )
    active_deadline_seconds: int = Field(
        3000,
        ge=60,
        le=86400,
        description="Seconds one backup Job may run before Kubernetes stops it.",
    )
    resources: Resources = Field(
        default_factory=lambda: Resources(
            requests=ResourceAmounts(cpu="250m", memory="256Mi"),
            limits=ResourceAmounts(cpu="1", memory="1Gi"),
        ),
        description="Resources of a backup Job's pod (pg_dump streaming to S3).",
    )
    verify: BackupVerifySpec = Field(
        default_factory=BackupVerifySpec, description="Scheduled restore tests."
    )

    rules = (
        cron_rule("backup.schedule"),
        Rule(
            cel="!self.enabled || has(self.s3)",
            message="backup.s3 (bucket and credentialsSecretRef) is required "
            "when backup is enabled",
            check=lambda m: not m.enabled or m.s3 is not None,
            field_path=".s3",
        ),
        Rule(
            cel="!self.enabled || has(self.credentialsSecretRef)",
            message="backup.credentialsSecretRef (a read-only role with BYPASSRLS for pg_dump) "
            "is required when backup is enabled",
            check=lambda m: not m.enabled or m.credentials_secret_ref is not None,
            field_path=".credentialsSecretRef",
        ),
    )


class FailoverSpec(Model):
    """Automatic promotion of a replica when the primary stops answering."""

    enabled: bool = Field(False, description="Fail over to a replica automatically.")
    check_interval_seconds: int = Field(
        10,
        ge=1,
        le=3600,
        description="Seconds between health checks of the primary (each check: a connection "
        "and SELECT pg_is_in_recovery(), with a timeout of this many seconds, at most 5).",
    )
    failure_threshold: int = Field(
        3, ge=1, le=100, description="Consecutive failed checks before failing over."
    )
    max_replication_lag_bytes: int = Field(
        16 * 1024 * 1024,
        ge=0,
        le=2**53,
        description="A replica further behind the primary's last seen WAL position than "
        "this is never promoted.",
    )
    credentials_secret_ref: DatabaseCredentialsRef | None = Field(
        None,
        description="Secret with the user name and password of the role the operator checks, "
        "promotes, repoints and fences servers as, in the postgres database (pg_monitor, "
        "pg_signal_backend, EXECUTE on pg_promote, pg_reload_conf and the fence function, "
        "ALTER SYSTEM on primary_conninfo and synchronous_standby_names; never a superuser: "
        "docs/failover.md has the SQL). The only Secret the operator reads. Required when "
        "failover is enabled.",
    )
    synchronous_mode: Literal["preferred", "strict"] = Field(
        "preferred",
        description="After a promotion the new primary's synchronous_standby_names names "
        "the replicas that follow it. When none follows: preferred keeps taking commits "
        "asynchronously (the DatabaseAvailable condition says so); strict makes commits wait "
        "until a replica follows, so no acknowledged write can be lost.",
    )

    rules = (
        Rule(
            cel="!self.enabled || has(self.credentialsSecretRef)",
            message="failover.credentialsSecretRef (the role the operator promotes and fences "
            "servers as) is required when failover is enabled",
            check=lambda m: not m.enabled or m.credentials_secret_ref is not None,
            field_path=".credentialsSecretRef",
        ),
    )
