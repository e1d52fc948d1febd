"""The operator's settings and the kopf settings derived from them."""

from __future__ import annotations

import logging
from typing import Any

import kopf
import pytest

from accounting_operator import controller, handlers
from accounting_operator.settings import Settings, SettingsError


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.clusterwide
    assert settings.drift_interval == 30.0
    assert settings.watch_server_timeout < settings.watch_client_timeout


def test_from_env() -> None:
    settings = Settings.from_env(
        {
            "ACCOUNTING_OPERATOR_NAMESPACES": "books, ledger",
            "ACCOUNTING_OPERATOR_DRIFT_INTERVAL": "2.5",
            "ACCOUNTING_OPERATOR_MAX_WORKERS": "3",
            "ACCOUNTING_OPERATOR_POSTING_LEVEL": "error",
            "ACCOUNTING_OPERATOR_WATCH_SECRETS": "true",
        }
    )
    assert settings.watch_secrets
    assert not Settings.from_env({"ACCOUNTING_OPERATOR_WATCH_SECRETS": "false"}).watch_secrets
    assert not Settings().watch_secrets
    assert settings.namespaces == ("books", "ledger")
    assert not settings.clusterwide
    assert (settings.drift_interval, settings.max_workers) == (2.5, 3)
    assert settings.posting_level == "ERROR"


def test_star_means_every_namespace() -> None:
    assert Settings.from_env({"ACCOUNTING_OPERATOR_NAMESPACES": "*"}).clusterwide


def test_overrides_win() -> None:
    env = {"ACCOUNTING_OPERATOR_NAMESPACES": "books"}
    assert Settings.from_env(env, namespaces=()).clusterwide


@pytest.mark.parametrize(
    "env",
    [
        {"ACCOUNTING_OPERATOR_DRIFT_INTERVAL": "soon"},
        {"ACCOUNTING_OPERATOR_DRIFT_INTERVAL": "0"},
        {"ACCOUNTING_OPERATOR_POSTING_LEVEL": "LOUD"},
        {"ACCOUNTING_OPERATOR_WATCH_SECRETS": "sometimes"},
    ],
)
def test_bad_values(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(env)


class NoClient:
    def close(self) -> None:
        pass


def test_kopf_settings_are_explicit() -> None:
    settings = Settings(watch_server_timeout=120, watch_client_timeout=150, max_workers=5)
    ctx = controller.Context(client=NoClient(), settings=settings)  # type: ignore[arg-type]
    out = handlers.kopf_settings(ctx)
    assert (out.watching.server_timeout, out.watching.client_timeout) == (120, 150)
    assert out.watching.connect_timeout == settings.watch_connect_timeout
    assert out.execution.max_workers == 5
    assert out.posting.level == logging.WARNING
    assert isinstance(out.persistence.progress_storage, kopf.AnnotationsProgressStorage)
    assert isinstance(out.persistence.diffbase_storage, kopf.AnnotationsDiffBaseStorage)
    assert out.scanning.disabled


def body(refs: list[dict[str, object]]) -> kopf.Body:
    raw: Any = {"metadata": {"namespace": "acct", "name": "books-api", "ownerReferences": refs}}
    return kopf.Body(raw)


def test_owner_of_a_child() -> None:
    owned = [{"kind": "AccountingPlatform", "name": "books", "controller": True}]
    assert handlers.owner_of(body(owned)) == ("acct", "books")
    assert (
        handlers.owner_of(body([{"kind": "ReplicaSet", "name": "x", "controller": True}])) is None
    )
    assert handlers.owner_of(body([])) is None


def test_a_job_of_a_backup_cron_job_belongs_to_the_platform_its_labels_name() -> None:
    """Its controller is the CronJob; the operator still learns of its outcome."""
    job = {
        "kind": "Job",
        "metadata": {
            "namespace": "acct",
            "name": "books-backup-29123400",
            "labels": {"app.kubernetes.io/instance": "books"},
            "ownerReferences": [{"kind": "CronJob", "name": "books-backup", "controller": True}],
        },
    }
    assert handlers.owner_of(kopf.Body(job)) == ("acct", "books")  # type: ignore[arg-type]
    assert handlers.owner_of(kopf.Body({**job, "kind": "Deployment"})) is None  # type: ignore[arg-type]
