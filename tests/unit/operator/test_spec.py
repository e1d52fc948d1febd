"""The spec model and the generated CRD agree: same defaults, same rejections.

Every case runs twice: through pydantic (what the operator parses) and through the CRD
as the API server applies it (defaulting, OpenAPI schema, CEL rules).
"""

from __future__ import annotations

import re
from typing import Any

import pydantic
import pytest

from accounting_operator.spec import AccountingPlatformSpec
from tests.unit.operator import helpers

DEFAULTS: list[tuple[str, Any]] = [
    ("image", "universal-accounting/accounting-api"),
    ("imagePullPolicy", "IfNotPresent"),
    ("environment", "production"),
    ("logLevel", "INFO"),
    ("paused", False),
    ("api.replicas", 3),
    ("api.autoscaling.enabled", True),
    ("api.autoscaling.minReplicas", 3),
    ("api.autoscaling.maxReplicas", 20),
    ("api.autoscaling.targetCPUUtilizationPercentage", 70),
    ("api.autoscaling.targetMemoryUtilizationPercentage", 80),
    ("api.rollingUpdate.maxSurge", 1),
    ("api.rollingUpdate.maxUnavailable", 0),
    ("api.resources.requests", {"cpu": "250m", "memory": "512Mi"}),
    ("api.resources.limits", {"cpu": "500m", "memory": "1Gi"}),
    ("api.rateLimit.maxRequests", 5000),
    ("api.rateLimit.windowSeconds", 3600),
    ("api.securityThresholds.failedLogins", 5),
    ("api.securityThresholds.apiCallsPerMinute", 1000),
    ("api.securityThresholds.dataExportSize", 10_000_000),
    ("api.securityThresholds.suspiciousIpRequests", 100),
    ("worker.replicas", 2),
    ("worker.resources.requests", {"cpu": "250m", "memory": "512Mi"}),
    ("database.primary.port", 5432),
    ("database.primary.database", "accounting"),
    ("database.replicas", []),
    ("database.sslMode", "require"),
    ("database.credentialsSecretRef.usernameKey", "username"),
    ("database.credentialsSecretRef.passwordKey", "password"),
    ("api.progressDeadlineSeconds", 600),
    ("worker.progressDeadlineSeconds", 600),
    ("ingress.enabled", False),
    ("ingress.className", "nginx"),
    ("ingress.requestsPerSecond", 100),
    ("backup.enabled", False),
    ("backup.schedule", "0 * * * *"),
    ("backup.retentionDays", 30),
    ("backup.verify.enabled", True),
    ("backup.verify.schedule", "30 3 * * *"),
    ("backup.activeDeadlineSeconds", 3000),
    ("backup.resources.limits", {"cpu": "1", "memory": "1Gi"}),
    ("backup.verify.scratchSize", "10Gi"),
    ("backup.verify.activeDeadlineSeconds", 14400),
    ("backup.verify.resources.requests", {"cpu": "500m", "memory": "1Gi"}),
    ("database.bootstrap", {}),
    ("failover.enabled", False),
    ("failover.checkIntervalSeconds", 10),
    ("failover.failureThreshold", 3),
    ("failover.maxReplicationLagBytes", 16 * 1024 * 1024),
    ("failover.synchronousMode", "preferred"),
    ("networkPolicy.enabled", True),
    ("networkPolicy.ingressFromNamespaces", ["ingress-nginx", "monitoring"]),
    ("podDisruptionBudget.enabled", True),
    ("monitoring.serviceMonitor.enabled", True),
    ("monitoring.serviceMonitor.interval", "30s"),
    ("monitoring.prometheusRule.enabled", True),
    ("monitoring.prometheusRule.labels", {}),
    ("monitoring.prometheusRule.serverErrorPercent", 5),
    ("monitoring.prometheusRule.latencyP99Milliseconds", 1000),
    ("monitoring.prometheusRule.failedSignIns", 5),
    ("monitoring.grafanaDashboard.enabled", True),
]


def lookup(tree: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        tree = tree[part]
    return tree


@pytest.mark.parametrize(("path", "expected"), DEFAULTS)
def test_model_default(path: str, expected: Any) -> None:
    assert lookup(helpers.spec().wire(), path) == expected


@pytest.mark.parametrize(("path", "expected"), DEFAULTS)
def test_crd_default(path: str, expected: Any) -> None:
    assert lookup(helpers.server_defaulted(helpers.MINIMAL), path) == expected


@pytest.mark.parametrize("sample", [helpers.MINIMAL, helpers.FULL], ids=["minimal", "full"])
def test_crd_defaulting_stores_what_the_model_parses(sample: dict[str, Any]) -> None:
    assert helpers.server_defaulted(sample) == AccountingPlatformSpec.model_validate(sample).wire()


def test_optional_groups_stay_absent() -> None:
    wire = helpers.spec().wire()
    assert "host" not in wire["ingress"]
    assert "s3" not in wire["backup"]
    assert "credentialsSecretRef" not in wire["backup"]
    assert "scratchStorageClassName" not in wire["backup"]["verify"]
    assert "fromBackup" not in wire["database"]["bootstrap"]
    assert "minAvailable" not in wire["podDisruptionBudget"]
    assert "migrationCredentialsSecretRef" not in wire["database"]


# (id, patch over MINIMAL, message the user reads) for the cross-field (CEL) rules.
RULES: list[tuple[str, dict[str, Any], str]] = [
    (
        "min-above-max",
        {"api": {"autoscaling": {"minReplicas": 5, "maxReplicas": 4}}},
        "api.autoscaling.minReplicas must be less than or equal to maxReplicas",
    ),
    (
        "rollout-cannot-progress",
        {"api": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}},
        "rollingUpdate.maxSurge and maxUnavailable cannot both be 0",
    ),
    (
        "backup-schedule-words",
        {"backup": {"schedule": "every hour"}},
        "backup.schedule must be a cron schedule with 5 fields",
    ),
    (
        "backup-schedule-six-fields",
        {"backup": {"schedule": "0 0 * * * *"}},
        "backup.schedule must be a cron schedule with 5 fields",
    ),
    (
        "verify-schedule-three-fields",
        {"backup": {"verify": {"schedule": "1 2 3"}}},
        "backup.verify.schedule must be a cron schedule with 5 fields",
    ),
    (
        "verify-schedule-unknown-macro",
        {"backup": {"verify": {"schedule": "@sometimes"}}},
        "backup.verify.schedule must be a cron schedule with 5 fields",
    ),
    (
        "backup-without-s3",
        {"backup": {"enabled": True, "credentialsSecretRef": {"name": "pg-backup"}}},
        "backup.s3 (bucket and credentialsSecretRef) is required when backup is enabled",
    ),
    (
        "backup-without-credentials",
        {
            "backup": {
                "enabled": True,
                "s3": {"bucket": "bkp", "credentialsSecretRef": {"name": "s3"}},
            }
        },
        "backup.credentialsSecretRef (a read-only role with BYPASSRLS for pg_dump) is required "
        "when backup is enabled",
    ),
    (
        "backup-role-same-keys",
        {"backup": {"credentialsSecretRef": {"name": "b", "usernameKey": "k", "passwordKey": "k"}}},
        "usernameKey and passwordKey must name different keys of the Secret",
    ),
    (
        "restore-secret-same-keys",
        {
            "database": {
                "bootstrap": {
                    "fromBackup": {
                        "bucket": "bkp",
                        "credentialsSecretRef": {
                            "name": "s3",
                            "accessKeyIdKey": "k",
                            "secretAccessKeyKey": "k",
                        },
                    }
                }
            }
        },
        "accessKeyIdKey and secretAccessKeyKey must name different keys of the Secret",
    ),
    (
        "ingress-without-host",
        {"ingress": {"enabled": True}},
        "ingress.host is required when ingress is enabled",
    ),
    (
        "failover-without-replica",
        {"failover": {"enabled": True, "credentialsSecretRef": {"name": "pg-failover"}}},
        "failover.enabled needs at least one entry in database.replicas",
    ),
    (
        "failover-without-credentials",
        {"failover": {"enabled": True}, "database": {"replicas": [{"host": "10.0.0.7"}]}},
        "failover.credentialsSecretRef (the role the operator promotes and fences servers as) "
        "is required when failover is enabled",
    ),
    (
        "pdb-blocks-drains",
        {"podDisruptionBudget": {"minAvailable": 3}},
        "podDisruptionBudget.minAvailable must be less than the API's minimum replicas",
    ),
    (
        "pdb-blocks-drains-without-hpa",
        {
            "api": {"replicas": 2, "autoscaling": {"enabled": False}},
            "podDisruptionBudget": {"minAvailable": 2},
        },
        "podDisruptionBudget.minAvailable must be less than the API's minimum replicas",
    ),
    (
        "db-secret-same-keys",
        {"database": {"credentialsSecretRef": {"usernameKey": "k", "passwordKey": "k"}}},
        "usernameKey and passwordKey must name different keys of the Secret",
    ),
    (
        "s3-secret-same-keys",
        {
            "backup": {
                "s3": {
                    "bucket": "bkp",
                    "credentialsSecretRef": {
                        "name": "s3",
                        "accessKeyIdKey": "k",
                        "secretAccessKeyKey": "k",
                    },
                }
            }
        },
        "accessKeyIdKey and secretAccessKeyKey must name different keys of the Secret",
    ),
    (
        "rule-label-key-with-space",
        {"monitoring": {"prometheusRule": {"labels": {"my release": "prom"}}}},
        "monitoring.prometheusRule.labels: every key must be a Kubernetes label key",
    ),
]


@pytest.mark.parametrize(("patch", "message"), [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_model_rejects_rule(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=re.escape(message)):
        helpers.spec(patch)


@pytest.mark.parametrize(("patch", "message"), [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_crd_rejects_rule(patch: dict[str, Any], message: str) -> None:
    failures = helpers.server_admits(helpers.merged(helpers.MINIMAL, patch))
    assert len(failures) == 1
    assert failures[0].startswith(message)


# (id, patch over MINIMAL, the offending field as the API server reports it).
SCHEMA: list[tuple[str, dict[str, Any], str]] = [
    ("version-missing", {"version": None}, "spec.version"),
    ("version-with-colon", {"version": "1.0:x"}, "spec.version"),
    ("version-too-long", {"version": "v" * 64}, "spec.version"),
    ("image-with-tag", {"image": "repo/api:1.0"}, "spec.image"),
    ("environment-unknown", {"environment": "qa"}, "spec.environment"),
    ("replicas-zero", {"api": {"replicas": 0}}, "spec.api.replicas"),
    (
        "max-replicas-huge",
        {"api": {"autoscaling": {"maxReplicas": 5000}}},
        "spec.api.autoscaling.maxReplicas",
    ),
    (
        "cpu-target-zero",
        {"api": {"autoscaling": {"targetCPUUtilizationPercentage": 0}}},
        "spec.api.autoscaling.targetCPUUtilizationPercentage",
    ),
    (
        "cpu-not-quantity",
        {"api": {"resources": {"requests": {"cpu": "lots", "memory": "1Gi"}}}},
        "spec.api.resources.requests.cpu",
    ),
    (
        "rate-limit-zero",
        {"api": {"rateLimit": {"maxRequests": 0}}},
        "spec.api.rateLimit.maxRequests",
    ),
    (
        "window-over-a-day",
        {"api": {"rateLimit": {"windowSeconds": 86401}}},
        "spec.api.rateLimit.windowSeconds",
    ),
    (
        "surge-negative",
        {"api": {"rollingUpdate": {"maxSurge": -1}}},
        "spec.api.rollingUpdate.maxSurge",
    ),
    ("worker-negative", {"worker": {"replicas": -1}}, "spec.worker.replicas"),
    ("database-missing", {"database": None}, "spec.database"),
    (
        "db-host-uppercase",
        {"database": {"primary": {"host": "PG.example"}}},
        "spec.database.primary.host",
    ),
    ("db-port-zero", {"database": {"primary": {"port": 0}}}, "spec.database.primary.port"),
    ("ssl-mode-unknown", {"database": {"sslMode": "always"}}, "spec.database.sslMode"),
    (
        "too-many-replicas",
        {"database": {"replicas": [{"host": f"r{i}"} for i in range(11)]}},
        "spec.database.replicas",
    ),
    (
        "db-secret-nameless",
        {"database": {"credentialsSecretRef": {"name": ""}}},
        "spec.database.credentialsSecretRef.name",
    ),
    (
        "redis-key-missing",
        {"redis": {"urlSecretRef": {"name": "redis", "key": None}}},
        "spec.redis.urlSecretRef.key",
    ),
    ("jwt-secret-bad-name", {"jwtSecretRef": {"name": "Not_A_Name"}}, "spec.jwtSecretRef.name"),
    (
        "webhook-keys-without-key",
        {"webhooks": {"secretKeysSecretRef": {"name": "webhook-keys"}}},
        "spec.webhooks.secretKeysSecretRef.key",
    ),
    ("ingress-host-bare", {"ingress": {"host": "localhost"}}, "spec.ingress.host"),
    ("retention-zero", {"backup": {"retentionDays": 0}}, "spec.backup.retentionDays"),
    (
        "bucket-uppercase",
        {"backup": {"s3": {"bucket": "Bkp", "credentialsSecretRef": {"name": "s3"}}}},
        "spec.backup.s3.bucket",
    ),
    (
        "s3-endpoint-not-url",
        {
            "backup": {
                "s3": {
                    "bucket": "bkp",
                    "endpoint": "minio:9000",
                    "credentialsSecretRef": {"name": "s3"},
                }
            }
        },
        "spec.backup.s3.endpoint",
    ),
    (
        "verify-scratch-not-quantity",
        {"backup": {"verify": {"scratchSize": "big"}}},
        "spec.backup.verify.scratchSize",
    ),
    (
        "verify-deadline-too-short",
        {"backup": {"verify": {"activeDeadlineSeconds": 60}}},
        "spec.backup.verify.activeDeadlineSeconds",
    ),
    (
        "backup-deadline-zero",
        {"backup": {"activeDeadlineSeconds": 0}},
        "spec.backup.activeDeadlineSeconds",
    ),
    (
        "restore-without-bucket",
        {"database": {"bootstrap": {"fromBackup": {"credentialsSecretRef": {"name": "s3"}}}}},
        "spec.database.bootstrap.fromBackup.bucket",
    ),
    (
        "restore-backup-with-space",
        {
            "database": {
                "bootstrap": {
                    "fromBackup": {
                        "bucket": "bkp",
                        "backup": "books/a b",
                        "credentialsSecretRef": {"name": "s3"},
                    }
                }
            }
        },
        "spec.database.bootstrap.fromBackup.backup",
    ),
    (
        "failover-threshold-zero",
        {"failover": {"failureThreshold": 0}},
        "spec.failover.failureThreshold",
    ),
    (
        "lag-negative",
        {"failover": {"maxReplicationLagBytes": -1}},
        "spec.failover.maxReplicationLagBytes",
    ),
    (
        "scrape-interval-words",
        {"monitoring": {"serviceMonitor": {"interval": "often"}}},
        "spec.monitoring.serviceMonitor.interval",
    ),
    (
        "rule-label-value-with-slash",
        {"monitoring": {"prometheusRule": {"labels": {"release": "a/b"}}}},
        "spec.monitoring.prometheusRule.labels.release",
    ),
    (
        "error-percent-zero",
        {"monitoring": {"prometheusRule": {"serverErrorPercent": 0}}},
        "spec.monitoring.prometheusRule.serverErrorPercent",
    ),
    (
        "synchronous-mode-unknown",
        {"failover": {"synchronousMode": "sometimes"}},
        "spec.failover.synchronousMode",
    ),
    ("paused-not-bool", {"paused": "maybe"}, "spec.paused"),
    (
        "api-progress-deadline-too-short",
        {"api": {"progressDeadlineSeconds": 9}},
        "spec.api.progressDeadlineSeconds",
    ),
    (
        "worker-progress-deadline-too-long",
        {"worker": {"progressDeadlineSeconds": 21601}},
        "spec.worker.progressDeadlineSeconds",
    ),
]


def _without_nulls(tree: dict[str, Any]) -> dict[str, Any]:
    """None in a patch means: leave the field out."""
    return {
        k: _without_nulls(v) if isinstance(v, dict) else v for k, v in tree.items() if v is not None
    }


def _schema_case(patch: dict[str, Any]) -> dict[str, Any]:
    return _without_nulls(helpers.merged(helpers.MINIMAL, patch))


@pytest.mark.parametrize(("patch", "field"), [s[1:] for s in SCHEMA], ids=[s[0] for s in SCHEMA])
def test_model_rejects_schema(patch: dict[str, Any], field: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        AccountingPlatformSpec.model_validate(_schema_case(patch))
    locations = {".".join(["spec", *map(str, e["loc"])]) for e in caught.value.errors()}
    assert any(loc.startswith(field) for loc in locations), locations


@pytest.mark.parametrize(("patch", "field"), [s[1:] for s in SCHEMA], ids=[s[0] for s in SCHEMA])
def test_crd_rejects_schema(patch: dict[str, Any], field: str) -> None:
    failures = helpers.server_admits(_schema_case(patch))
    parent, _, leaf = field.rpartition(".")
    # A missing required field is reported on its parent object.
    assert any(
        f.startswith(f"{field}:") or (f.startswith(f"{parent}:") and leaf in f) for f in failures
    ), failures


# Edge values both must accept.
VALID: list[tuple[str, dict[str, Any]]] = [
    ("minimal", {}),
    ("min-equals-max", {"api": {"autoscaling": {"minReplicas": 4, "maxReplicas": 4}}}),
    (
        "progress-deadlines-at-the-bounds",
        {"api": {"progressDeadlineSeconds": 10}, "worker": {"progressDeadlineSeconds": 21600}},
    ),
    (
        "surge-zero-unavailable-one",
        {"api": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}},
    ),
    ("cron-ranges-and-steps", {"backup": {"schedule": "*/15 0-6,22 1 JAN-MAR MON-FRI"}}),
    ("cron-macro", {"backup": {"verify": {"schedule": "@daily"}}}),
    (
        "backup-with-s3",
        {
            "backup": {
                "enabled": True,
                "credentialsSecretRef": {"name": "pg-backup"},
                "s3": {"bucket": "bkp", "credentialsSecretRef": {"name": "s3"}},
                "verify": {"scratchSize": "50Gi", "scratchStorageClassName": "fast-ssd"},
            }
        },
    ),
    (
        "restore-latest-verified",
        {
            "database": {
                "bootstrap": {
                    "fromBackup": {"bucket": "bkp", "credentialsSecretRef": {"name": "s3"}}
                }
            }
        },
    ),
    (
        "restore-a-key",
        {
            "database": {
                "bootstrap": {
                    "fromBackup": {
                        "bucket": "bkp",
                        "prefix": "old-books",
                        "endpoint": "http://127.0.0.1:7070",
                        "backup": "old-books/2026/11/28/090000Z.dump",
                        "credentialsSecretRef": {"name": "s3"},
                    }
                }
            }
        },
    ),
    (
        "failover-with-replica",
        {
            "failover": {"enabled": True, "credentialsSecretRef": {"name": "pg-failover"}},
            "database": {"replicas": [{"host": "10.0.0.7"}]},
        },
    ),
    ("ingress-wildcard", {"ingress": {"enabled": True, "host": "*.books.example.com"}}),
    ("disabled-ingress-no-host", {"ingress": {"enabled": False}}),
    ("pdb-one-below", {"podDisruptionBudget": {"minAvailable": 2}}),
    ("pdb-disabled-ignores-min", {"podDisruptionBudget": {"enabled": False, "minAvailable": 50}}),
    ("version-prerelease", {"version": "v1.2.3-rc.1"}),
    ("image-registry-port", {"image": "registry.local:5000/team/accounting-api"}),
    ("worker-zero", {"worker": {"replicas": 0}}),
    ("fractional-cpu", {"api": {"resources": {"limits": {"cpu": "1.5", "memory": "2G"}}}}),
    (
        "rule-labels",
        {
            "monitoring": {
                "prometheusRule": {
                    "labels": {"release": "kube-prometheus-stack", "example.com/team": "books"}
                }
            }
        },
    ),
    ("full", helpers.FULL),
]


@pytest.mark.parametrize("patch", [v[1] for v in VALID], ids=[v[0] for v in VALID])
def test_both_accept(patch: dict[str, Any]) -> None:
    sample = helpers.merged(helpers.MINIMAL, patch)
    AccountingPlatformSpec.model_validate(sample)
    assert helpers.server_admits(sample) == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Books", "must start with a letter"),
        ("1books", "must start with a letter"),
        ("b" * 41, "at most 40 characters"),
    ],
)
def test_crd_rejects_platform_name(name: str, message: str) -> None:
    failures = helpers.server_admits(helpers.MINIMAL, name=name)
    assert any(message in f for f in failures), failures


def test_unknown_fields_are_rejected_by_the_model() -> None:
    with pytest.raises(pydantic.ValidationError, match="replcas"):
        helpers.spec({"api": {"replcas": 3}})
