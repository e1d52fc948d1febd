"""The PrometheusRule (Prometheus Operator): the platform's alerts, rendered only where its
CRD exists. Thresholds are the spec's (`monitoring.prometheusRule`) and the deployment
guide's; each alert carries `severity`, `namespace` and `platform` labels for routing.
The the alerts table of docs/metrics.md lists them; tests/unit/operator/test_alerts.py checks and
unit-tests them with promtool."""

from __future__ import annotations

from dataclasses import dataclass

from accounting_operator.render import backup, meta, promql
from accounting_operator.render.platform import Manifest, Platform

CRITICAL, WARNING = "critical", "warning"
# Every expression aggregates (sum, max) to the labels that matter: the scrape's own
# (instance, pod, a second kube-state-metrics) never split or duplicate an alert, whose
# labels are the rule's (severity, namespace, platform) plus what it is about (event,
# kind, server).


@dataclass(frozen=True, slots=True)
class Alert:
    name: str
    expr: str
    duration: str
    severity: str
    summary: str
    description: str


def _requests(platform: Platform, **labels: str) -> str:
    series = promql.api(platform, "http_request_duration_seconds_count", **labels)
    return f"sum(rate({series}[5m]))"


def api_alerts(platform: Platform) -> list[Alert]:
    rule = platform.spec.monitoring.prometheus_rule
    buckets = promql.api(platform, "http_request_duration_seconds_bucket")
    p99 = f"histogram_quantile(0.99, sum by (le) (rate({buckets}[5m])))"
    available = promql.deployment(platform, "kube_deployment_status_replicas_available", "api")
    fewest = platform.spec.api.min_replicas()
    return [
        Alert(
            "AccountingAPIServerErrors",
            f"{_requests(platform, status_code='~5..')} / {_requests(platform)}"
            f" > {rule.server_error_percent / 100:g}",
            "5m",
            CRITICAL,
            "The API answers too many requests with 5xx",
            f"{{{{ $value | humanizePercentage }}}} of the requests to {platform.child('api')}"
            f" got a 5xx answer over 5 minutes (objective: at most"
            f" {rule.server_error_percent} %).",
        ),
        Alert(
            "AccountingAPILatencyHigh",
            f"{p99} > {rule.latency_p99_milliseconds / 1000:g}",
            "10m",
            WARNING,
            "The API's p99 latency is above its objective",
            f"p99 latency of {platform.child('api')} is {{{{ $value | humanizeDuration }}}}"
            f" (objective: {rule.latency_p99_milliseconds} ms).",
        ),
        Alert(
            "AccountingAPIPodsNotReady",
            f"max({available}) < {fewest}",
            "5m",
            CRITICAL,
            "Too few API pods are ready",
            f"{{{{ $value }}}} API pods of {platform.child('api')} are available; the platform"
            f" runs at least {fewest}.",
        ),
    ]


def autoscaling_alerts(platform: Platform) -> list[Alert]:
    if not platform.spec.api.autoscaling.enabled:
        return []
    current = promql.hpa(platform, "kube_horizontalpodautoscaler_status_current_replicas")
    most = promql.hpa(platform, "kube_horizontalpodautoscaler_spec_max_replicas")
    return [
        Alert(
            "AccountingAPIAutoscalerMaxedOut",
            f"max({current}) >= max({most})",
            "15m",
            WARNING,
            "The API's autoscaler has been at its maximum for 15 minutes",
            f"{platform.child('api')} runs {{{{ $value }}}} pods, api.autoscaling.maxReplicas:"
            " it cannot scale out further; raise the maximum or find the load.",
        ),
    ]


def worker_alerts(platform: Platform) -> list[Alert]:
    if platform.spec.worker.replicas == 0:
        return []
    failed = promql.worker(platform, "accounting_worker_passes_total", result="failed")
    succeeded = promql.worker(platform, "accounting_worker_passes_total", result="succeeded")
    return [
        Alert(
            "AccountingWorkerFailing",
            f"sum(increase({failed}[30m])) > 0 unless sum(increase({succeeded}[30m])) > 0",
            "0s",
            CRITICAL,
            "Every worker pass of the last 30 minutes failed",
            f"No revenue is recognized, no webhook delivered, no overdue invoice marked: the"
            f' logs of {platform.child("worker")} say why ("worker pass failed").',
        ),
    ]


def _security_events(platform: Platform, events: str) -> str:
    series = promql.api(platform, "accounting_security_events_total", event=events)
    return f"sum by (event) (increase({series}[15m]))"


def security_alerts(platform: Platform) -> list[Alert]:
    limit = platform.spec.monitoring.prometheus_rule.failed_sign_ins
    blocks = "~auth.sign_ins_blocked|auth.address_blocked|user.locked"
    return [
        Alert(
            "AccountingFailedSignInsHigh",
            f"{_security_events(platform, 'auth.sign_in_failed')} > {limit}",
            "0s",
            WARNING,
            "Many failed sign-ins",
            f"{{{{ $value | humanize }}}} failed sign-ins in 15 minutes across the platform"
            f" (threshold: {limit}); GET /v1/security-events tells who and from where.",
        ),
        Alert(
            "AccountingSignInsBlockedOrLocked",
            f"{_security_events(platform, blocks)} > 0",
            "0s",
            WARNING,
            "The brute-force defence blocked an address or locked an account",
            "{{ $labels.event }}: {{ $value | humanize }} in 15 minutes (docs/api.md: Brute-force"
            " defence); a locked account is unlocked with POST /v1/users/{id}/unlock.",
        ),
    ]


def backup_alerts(platform: Platform) -> list[Alert]:
    if not platform.spec.backup.enabled:
        return []
    name = "accounting_operator_backup_last_success_timestamp_seconds"
    success = promql.operator(platform, name)
    verified = promql.operator(
        platform, "accounting_operator_backup_last_verified_timestamp_seconds"
    )
    failed = promql.operator(
        platform, "accounting_operator_backup_last_failed_verification_timestamp_seconds"
    )
    out = [
        Alert(
            "AccountingBackupRestoreTestFailed",
            f"(max({failed}) > max({verified})) or (max({failed}) unless max({verified}))",
            "0s",
            CRITICAL,
            "The newest restore test of the backups failed",
            "status.backup.lastFailure of the platform says why (`kubectl describe acp`).",
        ),
    ]
    gap = backup.interval(platform.spec.backup.schedule)
    if gap is None:
        return out
    limit = int(2 * gap.total_seconds())
    return [
        Alert(
            "AccountingBackupTooOld",
            f"time() - max({success}) > {limit}",
            "0s",
            CRITICAL,
            "The newest backup is too old: the RPO is at risk",
            f"The newest successful backup ended {{{{ $value | humanizeDuration }}}} ago, more"
            f" than twice the schedule's longest interval ({limit} s).",
        ),
        Alert(
            "AccountingBackupMissing",
            f"absent({success})",
            f"{limit}s",
            CRITICAL,
            "No backup has succeeded",
            f"No successful backup for {limit} s (twice the schedule's longest interval),"
            " or the operator's /metrics is not scraped.",
        ),
        *out,
    ]


def database_alerts(platform: Platform) -> list[Alert]:
    failover = platform.spec.failover
    out = []
    if failover.enabled:
        # A switchover is asked for: only an automatic promotion is news.
        promotions = promql.operator(
            platform, "accounting_operator_failovers_total", kind="Failover"
        )
        lag = promql.operator(platform, "accounting_operator_database_replica_lag_bytes")
        primary = promql.operator(platform, "accounting_operator_database_primary_up")
        out += [
            Alert(
                "AccountingDatabaseFailover",
                f"sum by (kind) (increase({promotions}[30m])) > 0",
                "0s",
                WARNING,
                "The operator failed the database over to a replica",
                "{{ $labels.kind }}: status.failoverHistory has the servers and timings; the"
                " former primary is fenced (docs/failover.md).",
            ),
            Alert(
                "AccountingDatabasePrimaryDown",
                f"max({primary}) == 0",
                "1m",
                CRITICAL,
                "The database primary fails its health checks",
                "The operator's checks of the primary fail; it fails over after"
                f" {failover.failure_threshold} failed checks.",
            ),
            Alert(
                "AccountingDatabaseReplicaLagHigh",
                f"max by (server) ({lag}) > {failover.max_replication_lag_bytes}",
                "5m",
                WARNING,
                "A database replica lags too far behind to be promoted",
                "{{ $labels.server }} is {{ $value | humanize1024 }}B behind the primary"
                f" (failover.maxReplicationLagBytes: {failover.max_replication_lag_bytes}).",
            ),
        ]
    reads = platform.spec.database.replica_reads
    if reads.enabled and platform.topology.replicas:
        lag = promql.api(platform, "accounting_db_replica_lag_bytes")
        out.append(
            Alert(
                "AccountingReplicaReadsLagging",
                f"max by (server) ({lag}) > {reads.max_lag_bytes}",
                "5m",
                WARNING,
                "A replica is too far behind to serve reads",
                "{{ $labels.server }} is {{ $value | humanize1024 }}B behind: reports and"
                " lists read from the primary instead (database.replicaReads.maxLagBytes).",
            )
        )
    return out


def alerts(platform: Platform) -> list[Alert]:
    """Every alert of the platform, for what it runs."""
    return [
        *api_alerts(platform),
        *autoscaling_alerts(platform),
        *worker_alerts(platform),
        *security_alerts(platform),
        *backup_alerts(platform),
        *database_alerts(platform),
    ]


def rule(platform: Platform, alert: Alert) -> Manifest:
    out: Manifest = {"alert": alert.name, "expr": alert.expr}
    if alert.duration != "0s":
        out["for"] = alert.duration
    out["labels"] = {
        "severity": alert.severity,
        "namespace": platform.namespace,
        "platform": platform.name,
    }
    out["annotations"] = {"summary": alert.summary, "description": alert.description}
    return out


def prometheus_rule(platform: Platform) -> Manifest | None:
    spec = platform.spec.monitoring.prometheus_rule
    # Applying one without the CRD would fail every reconcile; the caller checks.
    if not (spec.enabled and platform.prometheus_rule_crd):
        return None
    metadata = meta.metadata(platform, platform.child("alerts"), meta.PLATFORM)
    metadata["labels"] = {**spec.labels, **metadata["labels"]}
    group = {
        "name": f"accounting-platform.{platform.namespace}.{platform.name}",
        "rules": [rule(platform, a) for a in alerts(platform)],
    }
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": metadata,
        "spec": {"groups": [group]},
    }
