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


def backup_times(
    namespace: str, platform: str, last_success: datetime | None, last_verified: datetime | None
) -> None:
    """Export a platform's backup times; a time not known yet is not exported."""
    for gauge, value in (
        (BACKUP_LAST_SUCCESS, last_success),
        (BACKUP_LAST_VERIFIED, last_verified),
    ):
        if value is not None:
            gauge.labels(namespace, platform).set(value.timestamp())


def forget(namespace: str, platform: str) -> None:
    """A deleted platform's series go away with it."""
    for gauge in (BACKUP_LAST_SUCCESS, BACKUP_LAST_VERIFIED):
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, platform)


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
