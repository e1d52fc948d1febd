"""Properties every rendered object has, over a table of platforms."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from accounting_operator import render
from accounting_operator.render import platform as platform_module
from accounting_operator.spec import AccountingPlatformSpec
from accounting_operator.status import DatabaseStatus, FencedServer
from tests.unit.operator import helpers

FENCED = FencedServer(server="pg.acct.svc:5432", since=datetime(2026, 12, 3, tzinfo=UTC))

PLATFORMS: dict[str, render.Platform] = {
    "minimal": helpers.platform(),
    "full": render.Platform(
        name=helpers.NAME,
        namespace=helpers.NAMESPACE,
        uid=helpers.UID,
        spec=AccountingPlatformSpec.model_validate(helpers.FULL),
        service_monitor_crd=True,
        prometheus_rule_crd=True,
        database=DatabaseStatus(
            active_primary="pg-1.db.internal:5432", fenced=[FENCED], timeline=2
        ),
    ),
    "fixed-replicas": helpers.platform({"api": {"autoscaling": {"enabled": False}}}),
    "everything-off": helpers.platform(
        {
            "worker": {"replicas": 0},
            "networkPolicy": {"enabled": False},
            "podDisruptionBudget": {"enabled": False},
            "monitoring": {
                "serviceMonitor": {"enabled": False},
                "prometheusRule": {"enabled": False},
                "grafanaDashboard": {"enabled": False},
            },
            "api": {"autoscaling": {"enabled": False}, "replicas": 1},
        },
        service_monitor_crd=True,
        prometheus_rule_crd=True,
    ),
}

ALL = [(name, m) for name, p in PLATFORMS.items() for m in render.render(p)]
IDS = [f"{name}-{m['kind']}-{m['metadata']['name']}" for name, m in ALL]
# Kinds without a schema in kubernetes-validate (CRDs of other projects).
FOREIGN = {"ServiceMonitor", "PrometheusRule"}
SECRET_VARIABLES = {"PGUSER", "PGPASSWORD", "REDIS_URL", "JWT_SECRET", "WEBHOOK_SECRET_KEYS"}


def kinds(p: render.Platform) -> list[str]:
    return [m["kind"] for m in render.render(p)]


NATIVE = [(i, m) for i, (_, m) in zip(IDS, ALL, strict=True) if m["kind"] not in FOREIGN]


@pytest.mark.parametrize("manifest", [m for _, m in NATIVE], ids=[i for i, _ in NATIVE])
def test_validates_against_kubernetes_openapi(manifest: dict[str, Any]) -> None:
    assert helpers.k8s_validate(manifest) == helpers.KUBERNETES_VERSION


def test_validator_is_strict() -> None:
    """Guards the test above: a misspelt field must fail, not be ignored."""
    manifest = render.render(helpers.platform())[0]
    with pytest.raises(Exception, match="automountServiceAcountToken"):
        helpers.k8s_validate({**manifest, "automountServiceAcountToken": False})


@pytest.mark.parametrize("manifest", [m for _, m in ALL], ids=IDS)
def test_standard_labels(manifest: dict[str, Any]) -> None:
    labels = manifest["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "accounting-api"
    assert labels["app.kubernetes.io/instance"] == helpers.NAME
    assert labels["app.kubernetes.io/version"] == "1.4.2"
    assert labels["app.kubernetes.io/part-of"] == "universal-accounting"
    assert labels["app.kubernetes.io/managed-by"] == "accounting-operator"
    assert labels["app.kubernetes.io/component"] in {
        "api",
        "worker",
        "migration",
        "restore",
        "platform",
        "backup",
        "backup-verify",
    }


@pytest.mark.parametrize("manifest", [m for _, m in ALL], ids=IDS)
def test_owned_by_the_platform(manifest: dict[str, Any]) -> None:
    """Deleting the platform garbage-collects every child."""
    assert manifest["metadata"]["namespace"] == helpers.NAMESPACE
    assert manifest["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "accounting.universalaccounting.com/v1alpha1",
            "kind": "AccountingPlatform",
            "name": helpers.NAME,
            "uid": helpers.UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


@pytest.mark.parametrize("name", PLATFORMS)
def test_names_are_unique_per_kind(name: str) -> None:
    keys = [(m["kind"], m["metadata"]["name"]) for m in render.render(PLATFORMS[name])]
    assert len(keys) == len(set(keys))


def containers(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    if manifest["kind"] in {"Deployment", "Job"}:
        return list(manifest["spec"]["template"]["spec"]["containers"])
    return []


@pytest.mark.parametrize(
    "manifest",
    [m for _, m in ALL if containers(m)],
    ids=[i for i, (_, m) in zip(IDS, ALL, strict=True) if containers(m)],
)
def test_secrets_only_by_reference(manifest: dict[str, Any]) -> None:
    for container in containers(manifest):
        for variable in container["env"]:
            assert set(variable) == {"name", "valueFrom"}, variable
            assert set(variable["valueFrom"]) == {"secretKeyRef"}
        assert {v["name"] for v in container["env"]} <= SECRET_VARIABLES


@pytest.mark.parametrize("name", PLATFORMS)
def test_no_credentials_in_any_value(name: str) -> None:
    config = next(m for m in render.render(PLATFORMS[name]) if m["kind"] == "ConfigMap")
    assert "@" not in config["data"]["DATABASE_URL"]
    assert not SECRET_VARIABLES & set(config["data"])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "minimal",
            [
                "ServiceAccount",
                "ConfigMap",
                "Job",
                "Deployment",
                "Service",
                "HorizontalPodAutoscaler",
                "Deployment",
                "PodDisruptionBudget",
                "NetworkPolicy",
                "ConfigMap",
            ],
        ),
        (
            "full",
            [
                "ServiceAccount",
                "ConfigMap",
                "Job",
                "Deployment",
                "Service",
                "HorizontalPodAutoscaler",
                "Deployment",
                "PodDisruptionBudget",
                "NetworkPolicy",
                "Ingress",
                "Service",
                "ServiceMonitor",
                "PrometheusRule",
                "ConfigMap",
                "CronJob",
                "CronJob",
            ],
        ),
        (
            "fixed-replicas",
            [
                "ServiceAccount",
                "ConfigMap",
                "Job",
                "Deployment",
                "Service",
                "Deployment",
                "PodDisruptionBudget",
                "NetworkPolicy",
                "ConfigMap",
            ],
        ),
        (
            "everything-off",
            ["ServiceAccount", "ConfigMap", "Job", "Deployment", "Service", "Deployment"],
        ),
    ],
)
def test_objects_follow_the_feature_flags(name: str, expected: list[str]) -> None:
    assert kinds(PLATFORMS[name]) == expected


def test_service_monitor_needs_its_crd_in_the_cluster() -> None:
    assert "ServiceMonitor" not in kinds(helpers.platform(service_monitor_crd=False))
    assert "ServiceMonitor" in kinds(helpers.platform(service_monitor_crd=True))


def test_prometheus_rule_needs_its_crd_in_the_cluster() -> None:
    assert "PrometheusRule" not in kinds(helpers.platform(prometheus_rule_crd=False))
    assert "PrometheusRule" in kinds(helpers.platform(prometheus_rule_crd=True))


def test_render_is_deterministic() -> None:
    assert render.render(helpers.platform()) == render.render(helpers.platform())


@pytest.mark.parametrize("name", ["Books", "1books", "b" * 41, "books.v2", ""])
def test_platform_name_must_prefix_children(name: str) -> None:
    with pytest.raises(platform_module.InvalidNameError):
        render.Platform(name=name, namespace="acct", uid="u", spec=helpers.spec())
