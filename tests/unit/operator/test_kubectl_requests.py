"""What `kubectl acp backup|switchover|pause|resume` write: the operator's own annotations
and spec.paused, and a refusal (nothing written) where the operator would not act."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from accounting_operator.kubectl import requests
from tests.unit.operator import helpers


def platform(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "books", "namespace": "acct", "uid": helpers.UID},
        "spec": helpers.merged(helpers.MINIMAL, spec),
        "status": status or {},
    }


FAILOVER: dict[str, Any] = {
    "database": {"primary": {"host": "pg-0"}, "replicas": [{"host": "pg-1"}, {"host": "pg-2"}]},
    "failover": {"enabled": True, "credentialsSecretRef": {"name": "pg-failover"}},
}


def test_backup_sets_the_backup_now_annotation() -> None:
    change = requests.backup_now(platform(helpers.FULL), "t1")
    assert change.patch == {
        "metadata": {"annotations": {"accounting.universalaccounting.com/backup-now": "t1"}}
    }
    assert "books-backup-now-" in change.done


def test_each_backup_request_has_a_new_token() -> None:
    first = requests.backup_token(datetime(2026, 12, 3, 12, 0, 0, 1, tzinfo=UTC))
    second = requests.backup_token(datetime(2026, 12, 3, 12, 0, 0, 2, tzinfo=UTC))
    assert first != second
    assert len(first) <= 253


def test_backup_is_refused_while_backups_are_off() -> None:
    with pytest.raises(requests.RefusedError, match="backups are off"):
        requests.backup_now(platform({}), "t1")


def test_a_token_already_handled_is_refused() -> None:
    handled = {"backup": {"backupNow": {"token": "t1", "job": "books-backup-now-x"}}}
    with pytest.raises(requests.RefusedError, match="already handled"):
        requests.backup_now(platform(helpers.FULL, handled), "t1")


def test_switchover_names_the_replica_with_its_port() -> None:
    change = requests.switchover(platform(FAILOVER), "pg-2")
    assert change.patch == {
        "metadata": {
            "annotations": {"accounting.universalaccounting.com/switchover-to": "pg-2:5432"}
        }
    }
    assert "fences pg-0:5432" in change.done


def test_switchover_follows_the_topology_after_a_failover() -> None:
    status = {"database": {"activePrimary": "pg-1:5432", "replicas": ["pg-2:5432"]}}
    change = requests.switchover(platform(FAILOVER, status), "pg-2:5432")
    assert "fences pg-1:5432" in change.done
    with pytest.raises(requests.RefusedError, match="already the primary"):
        requests.switchover(platform(FAILOVER, status), "pg-1")


@pytest.mark.parametrize(
    ("spec", "to", "why"),
    [
        (FAILOVER, "pg-9:5432", r"not a replica that follows the primary \(those: pg-1:5432"),
        (FAILOVER, "pg-1:port", "is not host:port"),
        (FAILOVER, "pg-0", "already the primary"),
        ({}, "pg-1", "spec.failover.enabled is false"),
    ],
)
def test_switchover_is_refused_where_the_operator_would_refuse(
    spec: dict[str, Any], to: str, why: str
) -> None:
    with pytest.raises(requests.RefusedError, match=why):
        requests.switchover(platform(spec), to)


def test_a_request_on_a_paused_platform_says_it_waits() -> None:
    change = requests.switchover(platform({**FAILOVER, "paused": True}), "pg-1")
    assert "after `resume`" in change.done


@pytest.mark.parametrize(("paused", "pause"), [(False, True), (True, False)])
def test_pause_and_resume_set_spec_paused(paused: bool, pause: bool) -> None:
    change = requests.paused(platform({"paused": paused}), pause)
    assert change is not None
    assert change.patch == {"spec": {"paused": pause}}


@pytest.mark.parametrize("paused", [True, False])
def test_pause_or_resume_already_so_writes_nothing(paused: bool) -> None:
    assert requests.paused(platform({"paused": paused}), paused) is None
