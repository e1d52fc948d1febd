"""The operator's own Prometheus metrics, served on /metrics by `serve`."""

from __future__ import annotations

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
MANAGED = Gauge(
    "accounting_operator_managed_platforms", "AccountingPlatforms the operator watches."
)

for _verb in ("apply", "create", "delete", "status", "event"):
    WRITES.labels(_verb)  # exported as 0 before the first write
for _result in ("success", "retry", "failed"):
    RECONCILES.labels(_result)


def serve(address: str, port: int) -> None:
    """Serve /metrics from a daemon thread (port 0: not at all)."""
    if port:
        start_http_server(port, addr=address)
