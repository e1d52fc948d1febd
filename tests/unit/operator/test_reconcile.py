"""A platform's life, reconcile by reconcile, against a simulated API server."""

from __future__ import annotations

from typing import Any

import pytest

from accounting_operator import reconcile
from accounting_operator.render import migration
from tests.unit.operator import fakes, helpers
from tests.unit.operator.fakes import Server


def kinds(writes: list[Any]) -> list[str]:
    return [w.manifest["kind"] for w in writes]


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)


def image(server: Server, name: str) -> str:
    deployment = server.live[("Deployment", f"{helpers.NAME}-{name}")]
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def test_first_install_waits_for_the_migration() -> None:
    server = Server()
    decision, status, events = fakes.reconcile_once(server, fakes.body())
    assert "Deployment" not in kinds(decision.plan.writes)
    assert "HorizontalPodAutoscaler" not in kinds(decision.plan.writes)
    assert "Job" in kinds(decision.plan.writes)
    assert status["phase"] == "Pending"
    assert condition(status, "Progressing")["reason"] == "MigrationRunning"
    assert condition(status, "Ready")["status"] == "False"
    assert {e.reason for e in events} == {"Created", "MigrationStarted"}


def test_deployments_follow_a_successful_migration() -> None:
    server = Server()
    _, status, _ = fakes.reconcile_once(server, fakes.body())
    server.finish_job()
    decision, status, events = fakes.reconcile_once(server, fakes.body(status=status))
    assert kinds(decision.plan.writes) == [
        "Deployment",
        "Deployment",  # replicas handed to the HPA right after creation
        "HorizontalPodAutoscaler",
        "Deployment",
    ]
    assert server.live[("Deployment", "books-api")]["spec"]["replicas"] == 3
    assert status["phase"] == "Progressing"
    assert "MigrationSucceeded" in {e.reason for e in events}


def test_ready_once_rolled_out() -> None:
    status = fakes.converge(Server())
    assert status["phase"] == "Ready"
    assert status["lastGoodVersion"] == "1.4.2"
    assert status["ready"] == "3/3"
    assert condition(status, "Ready") == {
        "type": "Ready",
        "status": "True",
        "reason": "Available",
        "message": "version 1.4.2: api 3/3 available, worker 2/2 available",
        "lastTransitionTime": "2026-11-28T09:00:00Z",
        "observedGeneration": 1,
    }
    assert status["components"]["migration"] == {"version": "1.4.2", "phase": "Succeeded"}


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"api": {"autoscaling": {"enabled": False}, "replicas": 2}},
        {"api": {"resources": {"limits": {"cpu": "1.5", "memory": "1024Mi"}}}},
        {"ingress": {"enabled": True, "host": "api.books.example.com"}},
    ],
    ids=["minimal", "fixed-replicas", "normalized-quantities", "ingress"],
)
def test_an_unchanged_platform_is_not_written_again(spec: dict[str, Any]) -> None:
    server = Server()
    status = fakes.converge(server, spec)
    before = len(server.writes)
    decision, again, events = fakes.reconcile_once(server, fakes.body(spec, status), fakes.LATER)
    assert not decision.plan
    assert len(server.writes) == before
    assert again == status  # no status write either
    assert events == []


def test_a_new_version_waits_for_its_migration() -> None:
    server = Server()
    status = fakes.converge(server)
    upgrade = {"version": "1.5.0"}
    _, status, events = fakes.reconcile_once(server, fakes.body(upgrade, status, 2))
    assert image(server, "api").endswith(":1.4.2")
    assert image(server, "worker").endswith(":1.4.2")
    jobs = [name for kind, name in server.live if kind == "Job"]
    assert jobs == [migration.job_name(helpers.platform(upgrade))]  # the old one is pruned
    assert status["phase"] == "Progressing"
    assert condition(status, "Progressing")["reason"] == "MigrationRunning"
    assert status["lastGoodVersion"] == "1.4.2"
    assert "MigrationStarted" in {e.reason for e in events}

    server.finish_job()
    fakes.reconcile_once(server, fakes.body(upgrade, status, 2))
    assert image(server, "api").endswith(":1.5.0")
    assert image(server, "worker").endswith(":1.5.0")


def test_a_failed_migration_keeps_the_old_version() -> None:
    server = Server()
    status = fakes.converge(server)
    upgrade = {"version": "1.5.0"}
    _, status, _ = fakes.reconcile_once(server, fakes.body(upgrade, status, 2))
    server.finish_job("Failed")
    server.roll_out()
    _, status, events = fakes.reconcile_once(server, fakes.body(upgrade, status, 2))
    assert image(server, "api").endswith(":1.4.2")
    assert status["phase"] == "RolledBack"
    degraded = condition(status, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "MigrationFailed")
    assert "version 1.4.2 keeps running" in degraded["message"]
    rolled_back = condition(status, "RolledBack")
    assert (rolled_back["status"], rolled_back["reason"]) == ("True", "MigrationFailed")
    assert {("Warning", "MigrationFailed"), ("Warning", "RolledBack")} <= {
        (e.type, e.reason) for e in events
    }


def test_a_failed_first_migration_fails_the_platform() -> None:
    server = Server()
    _, status, _ = fakes.reconcile_once(server, fakes.body())
    server.finish_job("Failed")
    _, status, _ = fakes.reconcile_once(server, fakes.body(status=status))
    assert status["phase"] == "Failed"
    assert not any(kind == "Deployment" for kind, _ in server.live)


def test_paused_writes_nothing() -> None:
    server = Server()
    status = fakes.converge(server)
    del server.live[("ConfigMap", "books-config")]
    before = len(server.writes)
    paused = {"paused": True, "worker": {"replicas": 5}}
    decision, status, events = fakes.reconcile_once(server, fakes.body(paused, status, 2))
    assert decision.plan  # there would be work...
    assert len(server.writes) == before  # ...but none is done
    assert status["phase"] == "Paused"
    assert condition(status, "Progressing")["reason"] == "Paused"
    assert [e.reason for e in events] == ["Paused"]
    _, status, events = fakes.reconcile_once(server, fakes.body({}, status, 3))
    assert ("ConfigMap", "books-config") in server.live
    assert "Resumed" in {e.reason for e in events}


def test_drift_is_corrected() -> None:
    spec = {"api": {"autoscaling": {"enabled": False}, "replicas": 4}}
    server = Server()
    status = fakes.converge(server, spec)
    server.live[("Deployment", "books-api")]["spec"]["replicas"] = 1
    del server.live[("Service", "books-api")]
    decision, _, events = fakes.reconcile_once(server, fakes.body(spec, status))
    assert {(w.manifest["kind"], w.why) for w in decision.plan.writes} == {
        ("Deployment", "drifted"),
        ("Service", "created"),
    }
    assert server.live[("Deployment", "books-api")]["spec"]["replicas"] == 4
    assert {"DriftCorrected", "Created"} <= {e.reason for e in events}


def test_switched_off_features_are_pruned() -> None:
    on = {"ingress": {"enabled": True, "host": "api.books.example.com"}}
    server = Server()
    status = fakes.converge(server, on)
    assert ("Ingress", "books") in server.live
    off = {"api": {"autoscaling": {"enabled": False}}, "networkPolicy": {"enabled": False}}
    _, _, events = fakes.reconcile_once(server, fakes.body(off, status, 2))
    assert set(server.deleted) == {
        ("Ingress", "books"),
        ("HorizontalPodAutoscaler", "books-api"),
        ("NetworkPolicy", "books"),
    }
    assert "Pruned" in {e.reason for e in events}


def test_service_monitor_only_when_its_crd_exists() -> None:
    for monitors in (False, True):
        server = Server()
        decision, _, _ = fakes.reconcile_once(server, fakes.body(), monitors=monitors)
        assert ("ServiceMonitor" in kinds(decision.plan.writes)) is monitors


def test_alerts_and_the_dashboard_are_deleted_when_switched_off() -> None:
    server = Server()
    decision, _, _ = fakes.reconcile_once(server, fakes.body(), rules=True)
    assert {"PrometheusRule", "ConfigMap"} <= set(kinds(decision.plan.writes))
    off = {"monitoring": {"prometheusRule": {"enabled": False},
                          "grafanaDashboard": {"enabled": False}}}  # fmt: skip
    decision, _, _ = fakes.reconcile_once(server, fakes.body(off), rules=True)
    pruned = {(m["kind"], m["metadata"]["name"]) for m in decision.plan.prune}
    assert pruned == {("PrometheusRule", "books-alerts"), ("ConfigMap", "books-dashboard")}


def test_invalid_spec_names_the_problem() -> None:
    platform = fakes.body()
    platform["spec"]["api"]["replicas"] = 0
    with pytest.raises(reconcile.InvalidSpecError, match=r"spec\.api\.replicas"):
        reconcile.parse(reconcile.Parent.of(platform), service_monitor_crd=False)


def test_ready_event_only_on_the_transition() -> None:
    server = Server()
    status: dict[str, Any] = {}
    reasons: list[str] = []
    for _ in range(5):
        _, status, events = fakes.reconcile_once(server, fakes.body(status=status))
        reasons += [e.reason for e in events]
        server.finish_job()
        server.roll_out()
    assert reasons.count("Ready") == 1
    assert reasons.count("MigrationSucceeded") == 1
