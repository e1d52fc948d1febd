"""The AccountingPlatform spec: the single source of truth for the CRD and the renderers.

Defaults are the deployment guide's numbers (3-20 replicas at 70% CPU / 80% memory,
rolling update 1/0, 250m/512Mi requests, 500m/1Gi limits, 5000 requests per hour).
`crd.py` generates the CRD's OpenAPI schema, defaults and CEL rules from these models.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field

from accounting_operator.fieldtypes import (
    LABEL_KEY,
    DnsSubdomain,
    Duration,
    IngressHost,
    LabelValue,
    Resources,
    SecretKeyRef,
)
from accounting_operator.stateful import BackupSpec, DatabaseSpec, FailoverSpec, RedisSpec
from accounting_operator.validation import Model, Rule

ImageTag = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$", max_length=63)
]
"""An image tag that is also a valid label value (it becomes app.kubernetes.io/version)."""

ImageRepository = Annotated[
    str,
    Field(
        pattern=r"^([A-Za-z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$",
        max_length=255,
    ),
]
"""An image repository without tag or digest: the tag always comes from `version`."""


class AutoscalingSpec(Model):
    """The API's HorizontalPodAutoscaler."""

    enabled: bool = Field(True, description="Scale the API with an HPA (replicas is ignored).")
    min_replicas: int = Field(3, ge=1, le=1000, description="Fewest API pods.")
    max_replicas: int = Field(20, ge=1, le=1000, description="Most API pods.")
    target_cpu_utilization_percentage: int = Field(
        70,
        ge=1,
        le=500,
        alias="targetCPUUtilizationPercentage",
        description="Average CPU use, in percent of the request, the HPA aims for.",
    )
    target_memory_utilization_percentage: int = Field(
        80,
        ge=1,
        le=500,
        alias="targetMemoryUtilizationPercentage",
        description="Average memory use, in percent of the request, the HPA aims for.",
    )

    rules = (
        Rule(
            cel="self.minReplicas <= self.maxReplicas",
            message="api.autoscaling.minReplicas must be less than or equal to maxReplicas",
            check=lambda m: m.min_replicas <= m.max_replicas,
            field_path=".minReplicas",
        ),
    )


class RateLimitSpec(Model):
    """The API's own rate limit, per organization and per client IP."""

    max_requests: int = Field(5000, ge=1, le=10_000_000, description="Requests per window.")
    window_seconds: int = Field(3600, ge=1, le=86400, description="Window length in seconds.")


class SecurityThresholdsSpec(Model):
    """The API's automatic security responses, at the deployment guide's thresholds; 0
    switches a check off (the API's docs/api.md: Automatic security responses)."""

    failed_logins: int = Field(
        5,
        ge=0,
        le=1_000_000,
        description="Failed sign-ins across the platform allowed in 15 minutes; past it the"
        " token endpoint's rate limit is halved until they fall back (PLATFORM_FAILED_SIGNINS).",
    )
    api_calls_per_minute: int = Field(
        1000,
        ge=0,
        le=10_000_000,
        description="Requests of one organization in any minute; past it they get 429"
        " (ORG_API_CALLS_PER_MINUTE).",
    )
    data_export_size: int = Field(
        10_000_000,
        ge=0,
        le=1_000_000_000_000,
        description="Bytes one organization may export in any hour; past it an export needs a"
        " sign-in of the last 5 minutes (ORG_EXPORT_BYTES_PER_HOUR).",
    )
    suspicious_ip_requests: int = Field(
        100,
        ge=0,
        le=1_000_000,
        description="Failed requests (401, 403, 429) of one client address allowed in 15"
        " minutes; past it the address is blocked (SUSPICIOUS_IP_REQUESTS).",
    )


class RollingUpdateSpec(Model):
    """How a new version replaces the old pods."""

    max_surge: int = Field(1, ge=0, le=100, description="Extra pods allowed during a rollout.")
    max_unavailable: int = Field(
        0, ge=0, le=100, description="Pods that may be unavailable during a rollout."
    )

    rules = (
        Rule(
            cel="self.maxSurge > 0 || self.maxUnavailable > 0",
            message="rollingUpdate.maxSurge and maxUnavailable cannot both be 0: "
            "the rollout could never make progress",
            check=lambda m: m.max_surge > 0 or m.max_unavailable > 0,
        ),
    )


def progress_deadline(component: str) -> Any:
    """spec.<component>.progressDeadlineSeconds: the Deployment's own field, which decides
    when a new version that does not become available is rolled back."""
    return Field(
        600,
        ge=10,
        le=21600,
        description=f"Seconds a rollout of the {component} may make no progress before the "
        "Deployment reports ProgressDeadlineExceeded; the operator then rolls the platform "
        "back to status.lastGoodVersion.",
    )


class ApiSpec(Model):
    """The HTTP API Deployment."""

    replicas: int = Field(3, ge=1, le=1000, description="API pods when autoscaling is off.")
    resources: Resources = Field(default_factory=Resources, description="Per-pod resources.")
    autoscaling: AutoscalingSpec = Field(
        default_factory=AutoscalingSpec, description="Horizontal autoscaling."
    )
    rate_limit: RateLimitSpec = Field(
        default_factory=RateLimitSpec, description="Application rate limit."
    )
    rolling_update: RollingUpdateSpec = Field(
        default_factory=RollingUpdateSpec, description="Rollout strategy."
    )
    security_thresholds: SecurityThresholdsSpec = Field(
        default_factory=SecurityThresholdsSpec,
        description="Thresholds of the automatic security responses.",
    )
    progress_deadline_seconds: int = progress_deadline("API")

    def min_replicas(self) -> int:
        """The fewest API pods the platform runs with."""
        return self.autoscaling.min_replicas if self.autoscaling.enabled else self.replicas


class WorkerSpec(Model):
    """The background worker Deployment (`accounting-api worker`)."""

    replicas: int = Field(2, ge=0, le=100, description="Worker pods.")
    resources: Resources = Field(default_factory=Resources, description="Per-pod resources.")
    progress_deadline_seconds: int = progress_deadline("worker")


class IngressSpec(Model):
    """External HTTPS access to the API."""

    enabled: bool = Field(False, description="Create an Ingress (needs host).")
    class_name: DnsSubdomain = Field("nginx", description="IngressClass that serves it.")
    host: IngressHost | None = Field(None, description="Public host name of the API.")
    tls_secret_name: DnsSubdomain | None = Field(
        None, description="Secret holding the TLS certificate. Defaults to NAME-tls."
    )
    cluster_issuer: DnsSubdomain | None = Field(
        None, description="cert-manager ClusterIssuer that issues the certificate, if any."
    )
    requests_per_second: int = Field(
        100, ge=1, le=100_000, description="Per client IP request rate the ingress allows."
    )

    rules = (
        Rule(
            cel="!self.enabled || has(self.host)",
            message="ingress.host is required when ingress is enabled",
            check=lambda m: not m.enabled or m.host is not None,
            field_path=".host",
        ),
    )


class NetworkPolicySpec(Model):
    """Which traffic may reach the platform's pods."""

    enabled: bool = Field(True, description="Create a NetworkPolicy.")
    ingress_from_namespaces: list[DnsSubdomain] = Field(
        default_factory=lambda: ["ingress-nginx", "monitoring"],
        max_length=32,
        description="Namespaces (besides the platform's own) whose pods may call the API "
        "port: the ingress controller and Prometheus.",
    )


class PodDisruptionBudgetSpec(Model):
    """Voluntary-disruption protection for the API."""

    enabled: bool = Field(True, description="Create a PodDisruptionBudget for the API.")
    min_available: int | None = Field(
        None,
        ge=0,
        le=1000,
        description="API pods that must stay up during node drains. Defaults to one less "
        "than the API's minimum replicas.",
    )


class ServiceMonitorSpec(Model):
    """A Prometheus Operator ServiceMonitor for the API's and the worker's /metrics."""

    enabled: bool = Field(True, description="Create it when the ServiceMonitor CRD exists.")
    interval: Duration = Field("30s", description="Scrape interval.")


class PrometheusRuleSpec(Model):
    """A Prometheus Operator PrometheusRule: the platform's alerts (docs/metrics.md: Alerts)."""

    enabled: bool = Field(True, description="Create it when the PrometheusRule CRD exists.")
    labels: dict[str, LabelValue] = Field(
        default_factory=dict,
        max_length=16,
        description="Extra labels of the PrometheusRule, for Prometheus's ruleSelector "
        "(kube-prometheus-stack selects release: <its release name>).",
    )
    server_error_percent: int = Field(
        5,
        ge=1,
        le=100,
        description="Alert when more than this share of API requests, in "
        "percent, is answered 5xx over 5 minutes.",
    )
    latency_p99_milliseconds: int = Field(
        1000,
        ge=10,
        le=60_000,
        description="The API's p99 latency objective: alert when "
        "the 99th percentile over 5 minutes stays above it for 10 minutes.",
    )
    failed_sign_ins: int = Field(
        5,
        ge=0,
        le=1_000_000,
        description="Alert when more failed sign-ins than this, "
        "platform-wide, happen in 15 minutes (the deployment guide's failedLogins).",
    )

    rules = (
        Rule(
            cel=f"self.labels.all(k, size(k) <= 253 && k.matches('{LABEL_KEY}'))",
            message="monitoring.prometheusRule.labels: every key must be a Kubernetes label "
            "key (an optional DNS prefix and '/', then letters, digits, '-', '_', '.')",
            check=lambda m: all(len(k) <= 253 and re.fullmatch(LABEL_KEY, k) for k in m.labels),
            field_path=".labels",
        ),
    )


class GrafanaDashboardSpec(Model):
    """A Grafana dashboard in a ConfigMap that Grafana's sidecar loads."""

    enabled: bool = Field(
        True, description='Create the ConfigMap NAME-dashboard (label grafana_dashboard: "1").'
    )


class WebhooksSpec(Model):
    """Webhook deliveries: the key ring that seals their signing secrets at rest."""

    secret_keys_secret_ref: SecretKeyRef | None = Field(
        None,
        description="Secret key holding the key ring that seals webhook signing secrets "
        "(WEBHOOK_SECRET_KEYS of the API and worker): `<id>:<base64 of 32 random bytes>`, "
        "comma-separated, the current key first. Without it no webhook endpoint can be "
        "created, and secrets already sealed cannot sign deliveries.",
    )


class MonitoringSpec(Model):
    """Metrics collection."""

    service_monitor: ServiceMonitorSpec = Field(
        default_factory=ServiceMonitorSpec, description="Prometheus Operator scraping."
    )
    prometheus_rule: PrometheusRuleSpec = Field(
        default_factory=PrometheusRuleSpec, description="The platform's alerts."
    )
    grafana_dashboard: GrafanaDashboardSpec = Field(
        default_factory=GrafanaDashboardSpec, description="The platform's dashboard."
    )


def _pdb_allows_drain(spec: Any) -> bool:
    budget = spec.pod_disruption_budget
    if not budget.enabled or budget.min_available is None:
        return True
    return bool(budget.min_available < spec.api.min_replicas())


class AccountingPlatformSpec(Model):
    """The desired state of one accounting platform."""

    version: ImageTag = Field(description="Tag of the accounting-api image to run.")
    image: ImageRepository = Field(
        "universal-accounting/accounting-api",
        description="Image repository of the API, without tag (the tag is version).",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "IfNotPresent", description="Pull policy of every container."
    )
    environment: Literal["development", "staging", "production"] = Field(
        "production", description="Deployment environment, passed to the API."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level of the API and worker."
    )
    api: ApiSpec = Field(default_factory=ApiSpec, description="The HTTP API.")
    worker: WorkerSpec = Field(default_factory=WorkerSpec, description="The background worker.")
    database: DatabaseSpec = Field(description="PostgreSQL.")
    redis: RedisSpec = Field(description="Redis.")
    jwt_secret_ref: SecretKeyRef = Field(
        description="Secret key holding the HS256 token signing key (at least 32 bytes)."
    )
    jwt_previous_secret_ref: SecretKeyRef | None = Field(
        None,
        description="Secret key holding the signing key before the last rotation: tokens it "
        "signed are still accepted until they expire (an hour by default); nothing is signed "
        "with it. Drop it once they have (docs/secret-rotation.md).",
    )
    webhooks: WebhooksSpec = Field(
        default_factory=WebhooksSpec, description="Webhook signing secrets."
    )
    ingress: IngressSpec = Field(default_factory=IngressSpec, description="External access.")
    backup: BackupSpec = Field(default_factory=BackupSpec, description="Backups to S3.")
    failover: FailoverSpec = Field(
        default_factory=FailoverSpec, description="Automatic database failover."
    )
    network_policy: NetworkPolicySpec = Field(
        default_factory=NetworkPolicySpec, description="Network isolation."
    )
    pod_disruption_budget: PodDisruptionBudgetSpec = Field(
        default_factory=PodDisruptionBudgetSpec, description="Drain protection for the API."
    )
    monitoring: MonitoringSpec = Field(
        default_factory=MonitoringSpec, description="Metrics collection."
    )
    paused: bool = Field(
        False, description="Stop every write to the platform's objects (for maintenance)."
    )

    rules = (
        Rule(
            cel="!self.failover.enabled || size(self.database.replicas) > 0",
            message="failover.enabled needs at least one entry in database.replicas",
            check=lambda m: not m.failover.enabled or len(m.database.replicas) > 0,
            field_path=".failover.enabled",
        ),
        Rule(
            cel="!self.podDisruptionBudget.enabled"
            " || !has(self.podDisruptionBudget.minAvailable)"
            " || self.podDisruptionBudget.minAvailable < (self.api.autoscaling.enabled"
            " ? self.api.autoscaling.minReplicas : self.api.replicas)",
            message="podDisruptionBudget.minAvailable must be less than the API's minimum "
            "replicas, or no node running the API could ever be drained",
            check=_pdb_allows_drain,
            field_path=".podDisruptionBudget.minAvailable",
        ),
    )
