"""The API and worker Deployments and the migration Job."""

from __future__ import annotations

from typing import Any

import pytest

from accounting_operator.render import Platform, api, config, migration, worker
from accounting_operator.status import DatabaseStatus
from tests.unit.operator import helpers

WORKLOADS = {
    "api": api.deployment,
    "worker": worker.deployment,
    "migration": migration.job,
}


def pod(manifest: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = manifest["spec"]["template"]["spec"]
    return spec


def only_container(manifest: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod(manifest)["containers"]
    assert isinstance(container, dict)
    return container


def env(manifest: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {v["name"]: v["valueFrom"]["secretKeyRef"] for v in only_container(manifest)["env"]}


@pytest.mark.parametrize("kind", WORKLOADS)
def test_pods_meet_the_restricted_profile(kind: str) -> None:
    manifest = WORKLOADS[kind](helpers.platform())
    security = pod(manifest)["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == 10001
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    container = only_container(manifest)["securityContext"]
    assert container["allowPrivilegeEscalation"] is False
    assert container["readOnlyRootFilesystem"] is True
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert not pod(manifest).get("hostNetwork")
    assert not pod(manifest).get("hostPID")


@pytest.mark.parametrize("kind", WORKLOADS)
def test_tmp_is_the_only_writable_path(kind: str) -> None:
    manifest = WORKLOADS[kind](helpers.platform())
    assert only_container(manifest)["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod(manifest)["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]


@pytest.mark.parametrize("kind", WORKLOADS)
def test_runs_the_versioned_image_without_a_service_account_token(kind: str) -> None:
    manifest = WORKLOADS[kind](helpers.platform({"image": "reg.local:5000/acct/api"}))
    assert only_container(manifest)["image"] == "reg.local:5000/acct/api:1.4.2"
    assert pod(manifest)["serviceAccountName"] == helpers.NAME
    assert pod(manifest)["automountServiceAccountToken"] is False


@pytest.mark.parametrize(
    ("kind", "args"),
    [
        ("api", ["serve", "--host", "0.0.0.0", "--port", "8000"]),
        ("worker", ["worker", "--metrics-host", "0.0.0.0", "--metrics-port", "9090"]),
        ("migration", ["migrate"]),
    ],
)
def test_command(kind: str, args: list[str]) -> None:
    container = only_container(WORKLOADS[kind](helpers.platform()))
    assert container["command"] == ["accounting-api"]
    assert container["args"] == args
    assert container["envFrom"] == [{"configMapRef": {"name": "books-config"}}]


@pytest.mark.parametrize("kind", ["api", "worker"])
def test_app_secrets(kind: str) -> None:
    assert env(WORKLOADS[kind](helpers.platform())) == {
        "PGUSER": {"name": "pg-app", "key": "username"},
        "PGPASSWORD": {"name": "pg-app", "key": "password"},
        "REDIS_URL": {"name": "redis", "key": "url"},
        "JWT_SECRET": {"name": "jwt", "key": "secret"},
    }


@pytest.mark.parametrize("kind", ["api", "worker"])
def test_the_webhook_key_ring_reaches_the_api_and_worker_by_reference_only(kind: str) -> None:
    ref = {"name": "webhook-keys", "key": "keys"}
    platform = helpers.platform({"webhooks": {"secretKeysSecretRef": ref}})
    assert env(WORKLOADS[kind](platform))["WEBHOOK_SECRET_KEYS"] == ref
    assert "WEBHOOK_SECRET_KEYS" not in env(WORKLOADS["migration"](platform))
    assert "WEBHOOK_SECRET_KEYS" not in config.config_map(platform)["data"]


def test_api_probes_ports_and_resources() -> None:
    container = only_container(api.deployment(helpers.platform()))
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["livenessProbe"]["initialDelaySeconds"] == 30
    assert container["readinessProbe"]["periodSeconds"] == 5
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"cpu": "500m", "memory": "1Gi"},
    }


def test_api_rolling_update() -> None:
    strategy = api.deployment(helpers.platform())["spec"]["strategy"]
    assert strategy == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    custom = helpers.platform({"api": {"rollingUpdate": {"maxSurge": 3, "maxUnavailable": 1}}})
    assert api.deployment(custom)["spec"]["strategy"]["rollingUpdate"] == {
        "maxSurge": 3,
        "maxUnavailable": 1,
    }


@pytest.mark.parametrize("kind", ["api", "worker"])
def test_progress_deadline_comes_from_the_spec(kind: str) -> None:
    """The deadline after which a new version is rolled back (`rollback`)."""
    render = WORKLOADS[kind]
    assert render(helpers.platform())["spec"]["progressDeadlineSeconds"] == 600
    custom = helpers.platform({kind: {"progressDeadlineSeconds": 15}})
    assert render(custom)["spec"]["progressDeadlineSeconds"] == 15


def test_api_replicas_belong_to_the_hpa_when_autoscaling() -> None:
    assert "replicas" not in api.deployment(helpers.platform())["spec"]
    fixed = helpers.platform({"api": {"replicas": 5, "autoscaling": {"enabled": False}}})
    assert api.deployment(fixed)["spec"]["replicas"] == 5


def test_api_spreads_over_zones_and_nodes() -> None:
    constraints = pod(api.deployment(helpers.platform()))["topologySpreadConstraints"]
    assert [c["topologyKey"] for c in constraints] == [
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    ]
    for constraint in constraints:
        assert constraint["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
        assert constraint["maxSkew"] == 1


def test_selectors_exclude_the_version() -> None:
    """Selectors are immutable: a new version must not change them."""
    for manifest in (api.deployment(helpers.platform()), worker.deployment(helpers.platform())):
        selector = manifest["spec"]["selector"]["matchLabels"]
        assert "app.kubernetes.io/version" not in selector
        assert selector.items() <= manifest["spec"]["template"]["metadata"]["labels"].items()


def test_worker_replicas_and_resources() -> None:
    manifest = worker.deployment(
        helpers.platform(
            {"worker": {"replicas": 4, "resources": {"limits": {"cpu": "2", "memory": "4Gi"}}}}
        )
    )
    assert manifest["spec"]["replicas"] == 4
    assert only_container(manifest)["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
    assert [p["name"] for p in only_container(manifest)["ports"]] == ["metrics"]


@pytest.mark.parametrize("kind", ["api", "worker"])
def test_settings_change_rolls_the_pods(kind: str) -> None:
    def hash_of(manifest: dict[str, Any]) -> str:
        return str(
            manifest["spec"]["template"]["metadata"]["annotations"][config.CONFIG_HASH_ANNOTATION]
        )

    before = hash_of(WORKLOADS[kind](helpers.platform()))
    assert hash_of(WORKLOADS[kind](helpers.platform())) == before
    assert hash_of(WORKLOADS[kind](helpers.platform({"logLevel": "DEBUG"}))) != before
    failed_over = DatabaseStatus(active_primary="pg-1:5432", timeline=2)
    assert hash_of(WORKLOADS[kind](helpers.platform(database=failed_over))) != before


def test_migration_uses_the_schema_owner() -> None:
    owner = {"database": {"migrationCredentialsSecretRef": {"name": "pg-owner"}}}
    assert env(migration.job(helpers.platform(owner))) == {
        "PGUSER": {"name": "pg-owner", "key": "username"},
        "PGPASSWORD": {"name": "pg-owner", "key": "password"},
    }
    assert env(migration.job(helpers.platform()))["PGUSER"] == {"name": "pg-app", "key": "username"}


def test_migration_job_is_one_shot() -> None:
    job = migration.job(helpers.platform())
    assert pod(job)["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] == 3
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "migration"


def test_migration_template_ignores_mutable_settings() -> None:
    """A Job's template is immutable: settings and API sizing must not change it."""
    base = migration.job(helpers.platform())
    changed = migration.job(
        helpers.platform(
            {"logLevel": "DEBUG", "api": {"resources": {"limits": {"cpu": "4", "memory": "8Gi"}}}}
        )
    )
    assert changed == base


@pytest.mark.parametrize(
    ("version", "name"),
    [
        ("1.4.2", "books-migrate-1-4-2-8ec5a1"),
        ("v7", "books-migrate-v7"),
        ("2026-11-28", "books-migrate-2026-11-28"),
        ("V7", "books-migrate-v7-" + migration.version_slug("V7")[-6:]),
        (
            "v1.2.3-rc.1_build.5",
            "books-migrate-v1-2-3-" + migration.version_slug("v1.2.3-rc.1_build.5")[-6:],
        ),
    ],
)
def test_migration_job_is_named_by_version(version: str, name: str) -> None:
    assert migration.job_name(helpers.platform({"version": version})) == name


def test_every_version_gets_its_own_job() -> None:
    versions = ["v7", "V7", "1.4.2", "1-4-2", "1.4.2-rc1", "1.4.20", "a" * 63, "a" * 62 + "b"]
    names = {migration.job_name(helpers.platform({"version": v})) for v in versions}
    assert len(names) == len(versions)


def test_longest_names_fit_a_dns_label() -> None:
    longest = Platform(
        name="p" * 40, namespace="n", uid="u", spec=helpers.spec({"version": "V" * 63})
    )
    assert len(migration.job_name(longest)) <= 63
    assert len(longest.child("worker")) <= 63
