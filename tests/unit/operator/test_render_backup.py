"""The backup and restore-test CronJobs, the on-demand backup Job and the restore Job."""

from __future__ import annotations

from typing import Any

import pytest

from accounting_operator import render
from accounting_operator.render import backup, restore
from tests.unit.operator import helpers

S3 = {"bucket": "books-backups", "credentialsSecretRef": {"name": "s3"}}
ON: dict[str, Any] = {
    "backup": {"enabled": True, "credentialsSecretRef": {"name": "pg-backup"}, "s3": S3}
}
FROM_BACKUP: dict[str, Any] = {"database": {"bootstrap": {"fromBackup": S3}}}


def on(patch: dict[str, Any] | None = None) -> render.Platform:
    return helpers.platform(helpers.merged(ON, patch or {}))


def job_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = manifest["spec"]
    return dict(spec["jobTemplate"]["spec"]) if manifest["kind"] == "CronJob" else spec


def pod(manifest: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = job_spec(manifest)["template"]["spec"]
    return out


def container(manifest: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod(manifest)["containers"]
    assert isinstance(only, dict)
    return only


def env(manifest: dict[str, Any]) -> dict[str, Any]:
    return {v["name"]: v.get("value", v.get("valueFrom")) for v in container(manifest)["env"]}


def secret(name: str, key: str) -> dict[str, Any]:
    return {"secretKeyRef": {"name": name, "key": key}}


JOBS = {
    "backup": lambda: backup.backup_cron_job(on()),
    "verify": lambda: backup.verify_cron_job(on()),
    "verify-ephemeral": lambda: backup.verify_cron_job(
        on({"backup": {"verify": {"scratchStorageClassName": "fast-ssd"}}})
    ),
    "backup-now": lambda: backup.on_demand_job(on(), "2026-11-28", "uid-cron"),
    "restore": lambda: restore.job(helpers.platform(FROM_BACKUP)),
}


def rendered(kind: str) -> dict[str, Any]:
    manifest = JOBS[kind]()
    assert manifest is not None
    return manifest


@pytest.mark.parametrize("kind", JOBS)
def test_validates_against_kubernetes_openapi(kind: str) -> None:
    assert helpers.k8s_validate(rendered(kind)) == helpers.KUBERNETES_VERSION


@pytest.mark.parametrize("kind", JOBS)
def test_pods_are_restricted_one_shot_and_keep_their_last_words(kind: str) -> None:
    manifest = rendered(kind)
    assert pod(manifest)["restartPolicy"] == "Never"
    assert pod(manifest)["securityContext"]["runAsNonRoot"] is True
    assert pod(manifest)["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod(manifest)["automountServiceAccountToken"] is False
    security = container(manifest)["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container(manifest)["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert container(manifest)["command"] == ["accounting-api"]
    assert container(manifest)["image"] == "universal-accounting/accounting-api:1.4.2"


@pytest.mark.parametrize("kind", JOBS)
def test_secrets_only_by_reference(kind: str) -> None:
    for variable in container(rendered(kind))["env"]:
        if variable["name"] in {
            "PGUSER",
            "PGPASSWORD",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        }:
            assert set(variable) == {"name", "valueFrom"}


@pytest.mark.parametrize(
    ("kind", "args"),
    [
        ("backup", ["backup"]),
        ("verify", ["backup", "verify"]),
        ("backup-now", ["backup"]),
        ("restore", ["restore", "--backup", "latest-verified"]),
    ],
)
def test_command(kind: str, args: list[str]) -> None:
    assert container(rendered(kind))["args"] == args
    assert container(rendered(kind))["envFrom"] == [{"configMapRef": {"name": "books-config"}}]


def test_backup_env_is_the_contract() -> None:
    assert env(rendered("backup")) == {
        "PGUSER": secret("pg-backup", "username"),
        "PGPASSWORD": secret("pg-backup", "password"),
        "BACKUP_S3_BUCKET": "books-backups",
        "BACKUP_S3_PREFIX": "books",  # the platform's name
        "BACKUP_S3_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": secret("s3", "AWS_ACCESS_KEY_ID"),
        "AWS_SECRET_ACCESS_KEY": secret("s3", "AWS_SECRET_ACCESS_KEY"),
        "BACKUP_RETENTION_DAYS": "30",
    }


def test_s3_settings_reach_the_pods() -> None:
    custom = on(
        {
            "backup": {
                "retentionDays": 7,
                "s3": {
                    "prefix": "eu/books",
                    "region": "eu-west-1",
                    "endpoint": "https://s3.example.com",
                    "credentialsSecretRef": {
                        "name": "keys",
                        "accessKeyIdKey": "id",
                        "secretAccessKeyKey": "secret",
                    },
                },
            }
        }
    )
    manifest = backup.backup_cron_job(custom)
    assert manifest is not None
    assert {k: env(manifest)[k] for k in ("BACKUP_S3_PREFIX", "BACKUP_S3_REGION")} == {
        "BACKUP_S3_PREFIX": "eu/books",
        "BACKUP_S3_REGION": "eu-west-1",
    }
    assert env(manifest)["BACKUP_S3_ENDPOINT"] == "https://s3.example.com"
    assert env(manifest)["AWS_ACCESS_KEY_ID"] == secret("keys", "id")
    assert env(manifest)["AWS_SECRET_ACCESS_KEY"] == secret("keys", "secret")
    assert env(manifest)["BACKUP_RETENTION_DAYS"] == "7"


def test_verify_gets_a_scratch_volume_and_stops_in_time() -> None:
    manifest = rendered("verify")
    assert env(manifest)["BACKUP_SCRATCH_DIR"] == "/scratch"
    assert env(manifest)["BACKUP_VERIFY_DEADLINE_SECONDS"] == str(14400 - 1440)
    assert job_spec(manifest)["activeDeadlineSeconds"] == 14400
    assert {"name": "scratch", "mountPath": "/scratch"} in container(manifest)["volumeMounts"]
    assert {"name": "scratch", "emptyDir": {"sizeLimit": "10Gi"}} in pod(manifest)["volumes"]
    assert {k: v for k, v in env(manifest).items() if k.startswith("PG")} == {
        "PGUSER": secret("pg-backup", "username"),
        "PGPASSWORD": secret("pg-backup", "password"),
    }


def test_verify_scratch_on_a_storage_class() -> None:
    volumes = {v["name"]: v for v in pod(rendered("verify-ephemeral"))["volumes"]}
    claim = volumes["scratch"]["ephemeral"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == "fast-ssd"
    assert claim["resources"] == {"requests": {"storage": "10Gi"}}


@pytest.mark.parametrize(("deadline", "left"), [(600, 480), (3600, 3240), (14400, 12960)])
def test_verify_deadline_leaves_time_to_report(deadline: int, left: int) -> None:
    assert backup.verify_deadline(deadline) == left


@pytest.mark.parametrize("kind", ["backup", "verify"])
def test_cron_jobs_never_overlap_and_keep_history(kind: str) -> None:
    spec = rendered(kind)["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] == 300
    assert spec["successfulJobsHistoryLimit"] == spec["failedJobsHistoryLimit"] == 3
    assert spec["timeZone"] == "Etc/UTC"
    # The Jobs the CronJob makes carry the platform's labels: the operator finds them.
    labels = spec["jobTemplate"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/instance"] == "books"
    assert labels["app.kubernetes.io/managed-by"] == "accounting-operator"


def test_schedules_deadlines_retries_and_resources() -> None:
    custom = on(
        {
            "backup": {
                "schedule": "*/30 * * * *",
                "activeDeadlineSeconds": 1200,
                "resources": {"limits": {"cpu": "2", "memory": "3Gi"}},
                "verify": {"schedule": "@daily", "scratchSize": "40Gi"},
            }
        }
    )
    backups, verify = backup.backup_cron_job(custom), backup.verify_cron_job(custom)
    assert backups is not None
    assert verify is not None
    assert backups["spec"]["schedule"] == "*/30 * * * *"
    assert verify["spec"]["schedule"] == "@daily"
    assert job_spec(backups)["activeDeadlineSeconds"] == 1200
    assert job_spec(backups)["backoffLimit"] == 2
    assert job_spec(verify)["backoffLimit"] == 1
    assert container(backups)["resources"]["limits"] == {"cpu": "2", "memory": "3Gi"}
    assert container(verify)["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
    assert {"name": "scratch", "emptyDir": {"sizeLimit": "40Gi"}} in pod(verify)["volumes"]


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({}, []),
        (ON, ["books-backup", "books-verify"]),
        (helpers.merged(ON, {"backup": {"verify": {"enabled": False}}}), ["books-backup"]),
        (helpers.merged(ON, {"backup": {"enabled": False}}), []),
    ],
    ids=["off", "on", "no-restore-test", "switched-off"],
)
def test_cron_jobs_exist_only_while_backups_are_on(
    patch: dict[str, Any], expected: list[str]
) -> None:
    manifests = render.render(helpers.platform(patch))
    assert [m["metadata"]["name"] for m in manifests if m["kind"] == "CronJob"] == expected


def test_backup_now_is_the_cron_jobs_template_owned_by_it() -> None:
    job = rendered("backup-now")
    cron_job = rendered("backup")
    assert job["spec"] == cron_job["spec"]["jobTemplate"]["spec"]
    assert job["metadata"]["annotations"] == {backup.TOKEN_ANNOTATION: "2026-11-28"}
    (owner,) = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("CronJob", "books-backup", "uid-cron")
    assert owner["controller"] is True


def test_backup_now_is_named_by_its_token() -> None:
    names = {backup.on_demand_name(on(), t) for t in ("a", "b", "2026-11-28", "x" * 253)}
    assert len(names) == 4
    assert backup.on_demand_name(on(), "a") == backup.on_demand_name(on(), "a")
    longest = render.Platform(name="p" * 40, namespace="n", uid="u", spec=on().spec)
    assert len(backup.on_demand_name(longest, "a")) <= 63
    assert len(backup.backup_name(longest)) <= 52  # a CronJob's name leaves room for its Jobs
    assert len(backup.verify_name(longest)) <= 52


def test_no_backup_now_while_backups_are_off() -> None:
    assert backup.on_demand_job(helpers.platform(), "t", "uid") is None


def test_restore_env_is_the_contract() -> None:
    source = {
        "bucket": "old-books",
        "prefix": "books",
        "region": "eu-west-1",
        "endpoint": "http://127.0.0.1:7070",
        "backup": "books/2026-11-28T090000Z",
        "scratchSize": "30Gi",
        "credentialsSecretRef": {"name": "dr-s3"},
    }
    owner = {"migrationCredentialsSecretRef": {"name": "pg-owner"}}
    manifest = restore.job(
        helpers.platform({"database": {**owner, "bootstrap": {"fromBackup": source}}})
    )
    assert manifest is not None
    assert env(manifest) == {
        "PGUSER": secret("pg-owner", "username"),
        "PGPASSWORD": secret("pg-owner", "password"),
        "BACKUP_S3_BUCKET": "old-books",
        "BACKUP_S3_PREFIX": "books",
        "BACKUP_S3_REGION": "eu-west-1",
        "BACKUP_S3_ENDPOINT": "http://127.0.0.1:7070",
        "AWS_ACCESS_KEY_ID": secret("dr-s3", "AWS_ACCESS_KEY_ID"),
        "AWS_SECRET_ACCESS_KEY": secret("dr-s3", "AWS_SECRET_ACCESS_KEY"),
        "BACKUP_SCRATCH_DIR": "/scratch",
    }
    assert container(manifest)["args"] == ["restore", "--backup", "books/2026-11-28T090000Z"]
    assert {"name": "scratch", "emptyDir": {"sizeLimit": "30Gi"}} in pod(manifest)["volumes"]


def test_restore_runs_once_as_the_schema_owner() -> None:
    manifest = rendered("restore")
    assert manifest["metadata"]["name"] == "books-restore"
    assert job_spec(manifest)["backoffLimit"] == 0
    assert job_spec(manifest)["activeDeadlineSeconds"] == 14400
    assert env(manifest)["PGUSER"] == secret("pg-app", "username")  # no migration role: app's
    assert restore.job(helpers.platform()) is None
