"""Settings, networking, scaling and availability objects."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from accounting_api.settings import Settings
from accounting_operator.render import (
    account,
    autoscaling,
    config,
    disruption,
    ingress,
    monitoring,
    network,
    service,
    worker,
)
from accounting_operator.status import DatabaseStatus, FencedServer
from tests.unit.operator import helpers

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_service_account_mounts_no_token() -> None:
    manifest = account.service_account(helpers.platform())
    assert manifest["metadata"]["name"] == "books"
    assert manifest["automountServiceAccountToken"] is False


def test_config_map_settings() -> None:
    data = config.config_map(helpers.platform())["data"]
    assert data == {
        "DATABASE_URL": "postgresql://pg.acct.svc:5432/accounting?sslmode=require",
        "DATABASE_REPLICAS": "",
        "DATABASE_REPLICA_MAX_LAG_BYTES": "16777216",
        "DATABASE_REPLICA_WAIT_MS": "100",
        "ENVIRONMENT": "production",
        "LOG_LEVEL": "INFO",
        "RATE_LIMIT_MAX": "5000",
        "RATE_LIMIT_WINDOW_SECONDS": "3600",
        "PLATFORM_FAILED_SIGNINS": "5",
        "ORG_API_CALLS_PER_MINUTE": "1000",
        "ORG_EXPORT_BYTES_PER_HOUR": "10000000",
        "SUSPICIOUS_IP_REQUESTS": "100",
        "REDIS_CLUSTER": "false",
        "TRUST_FORWARDED_FOR": "false",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


@pytest.mark.parametrize(
    ("patch", "facts", "url"),
    [
        ({}, {}, "postgresql://pg.acct.svc:5432/accounting?sslmode=require"),
        (
            {
                "database": {
                    "primary": {"port": 6432, "database": "books"},
                    "sslMode": "verify-full",
                }
            },
            {},
            "postgresql://pg.acct.svc:6432/books?sslmode=verify-full",
        ),
        (
            {"database": {"replicas": [{"host": "pg-1.db"}, {"host": "pg-2.db", "port": 6432}]}},
            {},
            "postgresql://pg.acct.svc:5432,pg-1.db:5432,pg-2.db:6432/accounting"
            "?sslmode=require&target_session_attrs=read-write",
        ),
        (
            {"database": {"replicas": [{"host": "pg-1.db"}, {"host": "pg-2.db", "port": 6432}]}},
            {
                "database": DatabaseStatus(
                    active_primary="pg-1.db:5432",
                    replicas=["pg-2.db:6432"],
                    fenced=[FencedServer(server="pg.acct.svc:5432", since=NOW)],
                    timeline=2,
                )
            },
            "postgresql://pg-1.db:5432,pg-2.db:6432/accounting"
            "?sslmode=require&target_session_attrs=read-write",
        ),
        (
            {"database": {"replicas": [{"host": "pg.acct.svc", "port": 5433}]}},
            {
                "database": DatabaseStatus(
                    active_primary="pg.acct.svc:5433",
                    fenced=[FencedServer(server="pg.acct.svc:5432", since=NOW)],
                    timeline=3,
                )
            },
            "postgresql://pg.acct.svc:5433/accounting?sslmode=require",
        ),
    ],
    ids=["default", "custom", "replicas", "after-failover", "same-host-other-port"],
)
def test_database_url(patch: dict[str, object], facts: dict[str, object], url: str) -> None:
    assert config.database_url(helpers.platform(patch, **facts)) == url


TWO_REPLICAS = {"replicas": [{"host": "pg-1.db"}, {"host": "pg-2.db", "port": 6432}]}


@pytest.mark.parametrize(
    ("database", "facts", "replicas"),
    [
        ({}, {}, ""),
        (TWO_REPLICAS, {}, "pg-1.db:5432,pg-2.db:6432"),
        (TWO_REPLICAS | {"replicaReads": {"enabled": False}}, {}, ""),
        (
            TWO_REPLICAS,
            {
                "database": DatabaseStatus(
                    active_primary="pg-1.db:5432",
                    replicas=["pg-2.db:6432"],
                    fenced=[FencedServer(server="pg.acct.svc:5432", since=NOW)],
                    timeline=2,
                )
            },
            "pg-2.db:6432",
        ),
    ],
    ids=["no-replicas", "replicas", "disabled", "after-failover-never-the-fenced"],
)
def test_the_api_reads_from_the_replicas_that_follow_the_primary(
    database: dict[str, object], facts: dict[str, object], replicas: str
) -> None:
    data = config.config_map(helpers.platform({"database": database}, **facts))["data"]
    assert data["DATABASE_REPLICAS"] == replicas


def test_replica_reads_limits_follow_the_spec() -> None:
    reads = {"maxLagBytes": 1024, "waitMilliseconds": 250}
    data = config.config_map(helpers.platform({"database": {"replicaReads": reads}}))["data"]
    assert (data["DATABASE_REPLICA_MAX_LAG_BYTES"], data["DATABASE_REPLICA_WAIT_MS"]) == (
        "1024",
        "250",
    )


def test_config_map_follows_the_spec() -> None:
    patch = {
        "api": {"rateLimit": {"maxRequests": 100, "windowSeconds": 60}},
        "ingress": {"enabled": True, "host": "a.example.com"},
        "redis": {"cluster": True},
    }
    data = config.config_map(helpers.platform(patch))["data"]
    assert (data["RATE_LIMIT_MAX"], data["RATE_LIMIT_WINDOW_SECONDS"]) == ("100", "60")
    assert data["TRUST_FORWARDED_FOR"] == "true"
    assert data["REDIS_CLUSTER"] == "true"


def test_security_thresholds_reach_the_api_as_its_settings() -> None:
    thresholds = {"failedLogins": 10, "apiCallsPerMinute": 0, "dataExportSize": 5_000_000}
    data = config.config_map(helpers.platform({"api": {"securityThresholds": thresholds}}))
    env = {k: data["data"][k] for k in SECURITY_VARIABLES}
    assert env == {
        "PLATFORM_FAILED_SIGNINS": "10",
        "ORG_API_CALLS_PER_MINUTE": "0",
        "ORG_EXPORT_BYTES_PER_HOUR": "5000000",
        "SUSPICIOUS_IP_REQUESTS": "100",
    }
    settings = Settings.from_env(env | REQUIRED_API_ENV)  # the API takes what is rendered
    assert (settings.platform_failed_signins, settings.org_api_calls_per_minute) == (10, 0)
    assert settings.org_export_bytes_per_hour == 5_000_000


SECURITY_VARIABLES = (
    "PLATFORM_FAILED_SIGNINS",
    "ORG_API_CALLS_PER_MINUTE",
    "ORG_EXPORT_BYTES_PER_HOUR",
    "SUSPICIOUS_IP_REQUESTS",
)
REQUIRED_API_ENV = {
    "DATABASE_URL": "postgresql://a/b",
    "REDIS_URL": "redis://c",
    "JWT_SECRET": "s" * 32,
}


def test_service_targets_the_api_pods() -> None:
    spec = service.service(helpers.platform())["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    assert spec["selector"]["app.kubernetes.io/component"] == "api"
    assert spec["selector"]["app.kubernetes.io/instance"] == "books"


def test_hpa_defaults() -> None:
    hpa = autoscaling.hpa(helpers.platform())
    assert hpa is not None
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "books-api",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 20)
    targets = {
        m["resource"]["name"]: m["resource"]["target"]["averageUtilization"]
        for m in hpa["spec"]["metrics"]
    }
    assert targets == {"cpu": 70, "memory": 80}


def test_hpa_follows_the_spec_and_can_be_off() -> None:
    patch = {
        "api": {
            "autoscaling": {
                "minReplicas": 5,
                "maxReplicas": 9,
                "targetCPUUtilizationPercentage": 50,
            }
        }
    }
    hpa = autoscaling.hpa(helpers.platform(patch))
    assert hpa is not None
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (5, 9)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 50
    assert autoscaling.hpa(helpers.platform({"api": {"autoscaling": {"enabled": False}}})) is None


@pytest.mark.parametrize(
    ("patch", "min_available"),
    [
        ({}, 2),
        ({"podDisruptionBudget": {"minAvailable": 1}}, 1),
        ({"api": {"autoscaling": {"enabled": False}, "replicas": 1}}, 0),
        ({"api": {"autoscaling": {"enabled": False}, "replicas": 6}}, 5),
        ({"api": {"autoscaling": {"minReplicas": 10, "maxReplicas": 20}}}, 9),
    ],
)
def test_pdb_min_available(patch: dict[str, object], min_available: int) -> None:
    pdb = disruption.pdb(helpers.platform(patch))
    assert pdb is not None
    assert pdb["spec"]["minAvailable"] == min_available
    assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_pdb_can_be_off() -> None:
    assert disruption.pdb(helpers.platform({"podDisruptionBudget": {"enabled": False}})) is None


def test_network_policy_admits_only_the_namespace_and_listed_ones() -> None:
    policy = network.network_policy(helpers.platform())
    assert policy is not None
    spec = policy["spec"]
    assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/instance": "books"}}
    assert spec["policyTypes"] == ["Ingress"]
    (rule,) = spec["ingress"]
    # The API's port, and the worker's /metrics for Prometheus.
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}, {"port": 9090, "protocol": "TCP"}]
    assert rule["from"][0] == {"podSelector": {}}
    (expression,) = rule["from"][1]["namespaceSelector"]["matchExpressions"]
    assert expression == {
        "key": "kubernetes.io/metadata.name",
        "operator": "In",
        "values": ["ingress-nginx", "monitoring"],
    }


def test_network_policy_without_other_namespaces_and_off() -> None:
    policy = network.network_policy(
        helpers.platform({"networkPolicy": {"ingressFromNamespaces": []}})
    )
    assert policy is not None
    assert policy["spec"]["ingress"][0]["from"] == [{"podSelector": {}}]
    assert network.network_policy(helpers.platform({"networkPolicy": {"enabled": False}})) is None


def test_ingress() -> None:
    patch = {
        "ingress": {
            "enabled": True,
            "host": "api.books.example.com",
            "clusterIssuer": "letsencrypt-prod",
            "className": "public",
        }
    }
    manifest = ingress.ingress(helpers.platform(patch))
    assert manifest is not None
    spec = manifest["spec"]
    assert spec["ingressClassName"] == "public"
    assert spec["tls"] == [{"hosts": ["api.books.example.com"], "secretName": "books-tls"}]
    (rule,) = spec["rules"]
    assert rule["host"] == "api.books.example.com"
    assert rule["http"]["paths"][0]["backend"] == {
        "service": {"name": "books-api", "port": {"number": 80}}
    }
    annotations = manifest["metadata"]["annotations"]
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    assert annotations["nginx.ingress.kubernetes.io/limit-rps"] == "100"
    assert annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"


def test_ingress_with_own_certificate_and_no_issuer() -> None:
    patch = {
        "ingress": {
            "enabled": True,
            "host": "a.example.com",
            "tlsSecretName": "mine",
            "requestsPerSecond": 7,
        }
    }
    manifest = ingress.ingress(helpers.platform(patch))
    assert manifest is not None
    assert manifest["spec"]["tls"][0]["secretName"] == "mine"
    assert "cert-manager.io/cluster-issuer" not in manifest["metadata"]["annotations"]
    assert manifest["metadata"]["annotations"]["nginx.ingress.kubernetes.io/limit-rps"] == "7"


def test_ingress_off_by_default() -> None:
    assert ingress.ingress(helpers.platform()) is None


def test_service_monitor_scrapes_the_api_and_the_worker() -> None:
    patch = {"monitoring": {"serviceMonitor": {"interval": "15s"}}}
    platform = helpers.platform(patch, service_monitor_crd=True)
    manifest = monitoring.service_monitor(platform)
    assert manifest is not None
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
    assert manifest["spec"]["endpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "15s"},
        {"port": "metrics", "path": "/metrics", "interval": "15s"},
    ]
    assert manifest["spec"]["namespaceSelector"] == {"matchNames": ["acct"]}
    selector = manifest["spec"]["selector"]
    scraped = [service.service(platform), monitoring.worker_service(platform)]
    for found in scraped:
        assert found is not None
        labels = found["metadata"]["labels"]
        assert selector["matchLabels"].items() <= labels.items()
        (expression,) = selector["matchExpressions"]
        assert labels[expression["key"]] in expression["values"]
    ports = {p["name"] for s in scraped if s is not None for p in s["spec"]["ports"]}
    assert {e["port"] for e in manifest["spec"]["endpoints"]} == ports


def test_the_worker_exposes_its_metrics_port_and_the_network_policy_opens_it() -> None:
    platform = helpers.platform(service_monitor_crd=True)
    (container,) = worker.deployment(platform)["spec"]["template"]["spec"]["containers"]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]
    assert container["args"][-4:] == ["--metrics-host", "0.0.0.0", "--metrics-port", "9090"]
    policy = network.network_policy(platform)
    assert policy is not None
    assert {"port": 9090, "protocol": "TCP"} in policy["spec"]["ingress"][0]["ports"]


@pytest.mark.parametrize(("enabled", "crd_exists"), [(True, False), (False, True), (False, False)])
def test_service_monitor_absent(enabled: bool, crd_exists: bool) -> None:
    patch = {"monitoring": {"serviceMonitor": {"enabled": enabled}}}
    platform = helpers.platform(patch, service_monitor_crd=crd_exists)
    assert monitoring.service_monitor(platform) is None
    assert monitoring.worker_service(platform) is None
