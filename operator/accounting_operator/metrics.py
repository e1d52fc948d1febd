"""The operator's own Prometheus metrics, served on /metrics by `serve`."""

from __future__ import annotations

import contextlib
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RECONCILES = Counter(
    "accounting_operator_reconciles_total",
    "Reconciles of an AccountingPlatform, by result (success, retry, failed).",
    ["result"],
)
DURATION = Histogram(
    "accounting_operator_reconcile_duration_seconds",
    "Time one reconcile took, reading the children to writing the status.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
ERRORS = Counter(
    "accounting_operator_errors_total",
    "Failed reconciles, by error class (ConflictError, UnavailableError, InvalidSpecError, ...).",
    ["error"],
)
WRITES = Counter(
    "accounting_operator_writes_total",
    "Writes to the Kubernetes API, by verb (apply, create, delete, status, event).",
    ["verb"],
)
ROLLBACKS = Counter(
    "accounting_operator_rollbacks_total",
    "Versions rolled back to status.lastGoodVersion, by reason (MigrationFailed, "
    "ProgressDeadlineExceeded).",
    ["reason"],
)
MANAGED = Gauge(
    "accounting_operator_managed_platforms", "AccountingPlatforms the operator watches."
)

BACKUP_LAST_SUCCESS = Gauge(
    "accounting_operator_backup_last_success_timestamp_seconds",
    "Unix time the newest successful backup of a platform ended (status.backup.lastSuccessful).",
    ["namespace", "platform"],
)
BACKUP_LAST_VERIFIED = Gauge(
    "accounting_operator_backup_last_verified_timestamp_seconds",
    "Unix time the newest successful restore test of a platform ended "
    "(status.backup.lastVerified).",
    ["namespace", "platform"],
)
BACKUP_LAST_FAILED_VERIFICATION = Gauge(
    "accounting_operator_backup_last_failed_verification_timestamp_seconds",
    "Unix time the newest failed restore test of a platform ended "
    "(status.backup.lastFailedVerification); newer than the last verified: it is failing.",
    ["namespace", "platform"],
)

FAILOVERS = Counter(
    "accounting_operator_failovers_total",
    "Promotions of a replica, by kind (Failover: automatic; Switchover: asked for).",
    ["namespace", "platform", "kind"],
)
FAILED_CHECKS = Counter(
    "accounting_operator_database_failed_checks_total",
    "Health checks of a platform's primary that failed (no connection, or in recovery).",
    ["namespace", "platform"],
)
PRIMARY_UP = Gauge(
    "accounting_operator_database_primary_up",
    "1 when the last health check of the platform's primary passed, else 0.",
    ["namespace", "platform"],
)
REPLICA_LAG = Gauge(
    "accounting_operator_database_replica_lag_bytes",
    "WAL the replica has not received yet, behind the primary's position at the same check.",
    ["namespace", "platform", "server"],
)


def backup_times(
    namespace: str,
    platform: str,
    last_success: datetime | None,
    last_verified: datetime | None,
    last_failed_verification: datetime | None = None,
) -> None:
    """Export a platform's backup times; a time not known yet is not exported."""
    for gauge, value in (
        (BACKUP_LAST_SUCCESS, last_success),
        (BACKUP_LAST_VERIFIED, last_verified),
        (BACKUP_LAST_FAILED_VERIFICATION, last_failed_verification),
    ):
        if value is not None:
            gauge.labels(namespace, platform).set(value.timestamp())


def forget(namespace: str, platform: str) -> None:
    """A deleted platform's series go away with it."""
    for gauge in (BACKUP_LAST_SUCCESS, BACKUP_LAST_VERIFIED, BACKUP_LAST_FAILED_VERIFICATION,
                  PRIMARY_UP):  # fmt: skip
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, platform)
    forget_lag(namespace, platform)


def watching(namespace: str, platform: str) -> None:
    """Export a watched platform's failover counters from 0, so that the first promotion
    shows as an increase (a counter born at 1 would not)."""
    for kind in ("Failover", "Switchover"):
        FAILOVERS.labels(namespace, platform, kind)


def forget_lag(namespace: str, platform: str, keep: frozenset[str] = frozenset()) -> None:
    """Drop the lag series of servers that are no longer the platform's replicas."""
    for labels in list(REPLICA_LAG._metrics):
        if labels[:2] == (namespace, platform) and labels[2] not in keep:
            REPLICA_LAG.remove(*labels)


for _verb in ("apply", "create", "delete", "status", "event"):
    WRITES.labels(_verb)  # exported as 0 before the first write
for _result in ("success", "retry", "failed"):
    RECONCILES.labels(_result)
for _reason in ("MigrationFailed", "ProgressDeadlineExceeded"):
    ROLLBACKS.labels(_reason)


def serve(address: str, port: int) -> None:
    """Serve /metrics from a daemon thread (port 0: not at all)."""
    if port:
        start_http_server(port, addr=address)
