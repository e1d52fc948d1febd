"""The operator on a real control plane: examples become Ready, children follow the spec,
drift is undone, pause stops writes, deleting the platform collects everything, and a
failed migration keeps the old version serving (a rollback: test_operator_rollback.py).

Every test runs its own operator (`accounting-operator run --namespace NS`) against its
own namespace, which enforces the restricted pod security profile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import helpers
from tests.e2e import operating as op
from tests.e2e.helpers import Cluster


@pytest.fixture
def ready(cluster: Cluster, restricted: str, operator: op.Operator) -> str:
    """The minimal example, Ready, in the test's namespace."""
    op.apply_example(cluster, restricted)
    op.wait_ready(cluster, restricted)
    return restricted


def test_minimal_example_becomes_ready(
    cluster: Cluster, restricted: str, operator: op.Operator
) -> None:
    op.apply_example(cluster, restricted)
    done = op.kubectl(
        cluster, "wait", "-n", restricted, "--for=condition=Ready", "acp/books", "--timeout=120s"
    )
    assert "condition met" in done.stdout
    found = op.platform(cluster, restricted)
    assert found["status"]["phase"] == "Ready"
    assert found["status"]["lastGoodVersion"] == "1.0.0"
    assert found["metadata"].get("finalizers") in (None, [])
    kids = op.children(cluster, restricted)
    assert {kind for kind, _ in kids} == {
        "ServiceAccount", "ConfigMap", "Service", "Deployment", "Job",
        "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy",
    }  # fmt: skip
    uid = found["metadata"]["uid"]
    for child in kids.values():
        (owner,) = child["metadata"]["ownerReferences"]
        assert (owner["uid"], owner["controller"]) == (uid, True)
    assert {"Created", "MigrationStarted", "MigrationSucceeded", "Ready"} <= set(
        op.events(cluster, restricted)
    )
    printed = op.kubectl(cluster, "get", "acp", "-n", restricted).stdout
    assert "Ready" in printed
    assert "3/3" in printed


def test_restricted_namespace_admits_every_pod(cluster: Cluster, ready: str) -> None:
    pods = helpers.wire_items(cluster.core.list_namespaced_pod(ready))
    components = [p["metadata"]["labels"]["app.kubernetes.io/component"] for p in pods]
    assert sorted(set(components)) == ["api", "migration", "worker"]
    assert components.count("api") == 3
    refused = [
        e["message"]
        for e in helpers.wire_items(cluster.core.list_namespaced_event(ready))
        if e["reason"] == "FailedCreate"
    ]
    assert refused == []


def test_an_unchanged_platform_is_not_written(ready: str, operator: op.Operator) -> None:
    operator.wait_reconciles(1)  # let the last child events settle
    writes = operator.writes()
    operator.wait_reconciles(3)  # three drift checks
    assert operator.writes() == writes


def test_children_follow_the_spec(cluster: Cluster, ready: str) -> None:
    generation = op.patch_spec(
        cluster, ready, {"api": {"autoscaling": {"enabled": False}, "replicas": 4}}
    )
    op.wait_ready(cluster, ready, generation)
    assert op.deployment(cluster, ready, "api")["spec"]["replicas"] == 4
    assert ("HorizontalPodAutoscaler", "books-api") not in op.children(cluster, ready)

    generation = op.patch_spec(cluster, ready, {"version": "1.1.0"})
    found = op.wait_ready(cluster, ready, generation)
    assert op.image(cluster, ready, "api").endswith(":1.1.0")
    assert op.image(cluster, ready, "worker").endswith(":1.1.0")
    assert found["status"]["lastGoodVersion"] == "1.1.0"
    jobs = [name for kind, name in op.children(cluster, ready) if kind == "Job"]
    assert len(jobs) == 1
    assert jobs[0].startswith("books-migrate-1-1-0")

    autoscale = {"enabled": True, "minReplicas": 5, "maxReplicas": 8}
    generation = op.patch_spec(cluster, ready, {"api": {"autoscaling": autoscale}})
    op.wait_ready(cluster, ready, generation)
    hpa = op.children(cluster, ready)[("HorizontalPodAutoscaler", "books-api")]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (5, 8)
    assert op.deployment(cluster, ready, "api")["spec"]["replicas"] >= 5


def test_switched_off_features_are_removed(cluster: Cluster, ready: str) -> None:
    ingress = {"enabled": True, "host": "api.books.example.com"}
    op.wait_ready(cluster, ready, op.patch_spec(cluster, ready, {"ingress": ingress}))
    assert ("Ingress", "books") in op.children(cluster, ready)
    off = {"ingress": {"enabled": False}, "networkPolicy": {"enabled": False}}
    op.wait_ready(cluster, ready, op.patch_spec(cluster, ready, off))
    kinds = {kind for kind, _ in op.children(cluster, ready)}
    assert not {"Ingress", "NetworkPolicy"} & kinds
    op.await_events(cluster, ready, "Pruned")


def test_drift_is_undone(cluster: Cluster, ready: str, operator: op.Operator) -> None:
    op.kubectl(cluster, "delete", "-n", ready, "configmap/books-config", "service/books-api")
    op.kubectl(cluster, "set", "image", "-n", ready, "deployment/books-worker", "worker=evil:1")
    op.kubectl(cluster, "scale", "-n", ready, "deployment/books-api", "--replicas=1")

    def restored() -> bool:
        kids = op.children(cluster, ready)
        return (
            ("ConfigMap", "books-config") in kids
            and ("Service", "books-api") in kids
            and op.image(cluster, ready, "worker").endswith(":1.0.0")
            and op.deployment(cluster, ready, "api")["spec"]["replicas"] == 3
        )

    helpers.wait_for("the operator to undo the edits", restored)
    op.await_events(cluster, ready, "DriftCorrected")
    op.wait_ready(cluster, ready)
    # Meanwhile (every drift interval) the operator listed every child kind to look for
    # deletions its watches missed, without an error.
    operator.wait_reconciles(2)
    assert "could not audit the children index" not in operator.log.read_text()


def test_a_deleted_child_is_restored_without_waiting_for_the_drift_check(
    cluster: Cluster, restricted: str, tmp_path: Path
) -> None:
    scope = ("--namespace", restricted)
    with op.operator(cluster.kubeconfig, *scope, log_dir=tmp_path, drift_interval=3600) as running:
        op.apply_example(cluster, restricted)
        op.wait_ready(cluster, restricted)
        reconciles = running.reconciles()
        op.kubectl(cluster, "delete", "-n", restricted, "networkpolicy/books", "pdb/books-api")
        helpers.wait_for(
            "the deleted children to come back",
            lambda: (
                {("NetworkPolicy", "books"), ("PodDisruptionBudget", "books-api")}
                <= set(op.children(cluster, restricted))
            ),
            timeout=15,
        )
        assert running.reconciles() > reconciles


def test_pause_stops_all_writes(cluster: Cluster, ready: str, operator: op.Operator) -> None:
    generation = op.patch_spec(cluster, ready, {"paused": True})
    helpers.wait_for("phase Paused", lambda: op.phase(cluster, ready) == "Paused")
    assert op.platform(cluster, ready)["status"]["observedGeneration"] == generation
    op.kubectl(cluster, "delete", "-n", ready, "configmap/books-config")
    writes = operator.writes()
    operator.wait_reconciles(3)
    assert ("ConfigMap", "books-config") not in op.children(cluster, ready)
    assert operator.writes() == writes

    op.wait_ready(cluster, ready, op.patch_spec(cluster, ready, {"paused": False}))
    assert ("ConfigMap", "books-config") in op.children(cluster, ready)
    op.await_events(cluster, ready, "Paused", "Resumed")


def test_deleting_the_platform_collects_every_child(cluster: Cluster, ready: str) -> None:
    assert op.children(cluster, ready)
    op.kubectl(cluster, "delete", "-n", ready, "acp/books", "--wait=true", "--timeout=60s")
    helpers.wait_for("garbage collection", lambda: not op.children(cluster, ready), timeout=120)
    pods = helpers.wire_items(cluster.core.list_namespaced_pod(ready))
    helpers.wait_for(
        "the pods to go",
        lambda: not helpers.wire_items(cluster.core.list_namespaced_pod(ready)),
        timeout=120,
    )
    assert pods is not None


BROKEN_MIGRATIONS = (
    "(object.kind == 'Pod' ? object.spec : object.spec.template.spec)"
    ".containers.exists(c, c.image.endsWith(':9.9.9-broken'))"
)


@pytest.fixture
def broken_migrations(cluster: Cluster, ready: str) -> Iterator[str]:
    """Pods of version 9.9.9-broken fail (kwok), and their Job gives up at once."""
    name = f"fail-{ready}"[:63]
    manifest = op.pod_policy(name, ready, BROKEN_MIGRATIONS, op.FAIL_AT_ONCE, jobs=True)
    op.kubectl(cluster, "apply", "-f", "-", stdin=manifest)
    op.await_job_policy(cluster, ready, {}, "probe:9.9.9-broken")
    yield ready
    op.kubectl(cluster, "delete", "-f", "-", "--ignore-not-found", stdin=manifest)


def test_a_failed_migration_keeps_the_old_version(cluster: Cluster, broken_migrations: str) -> None:
    ns = broken_migrations
    op.patch_spec(cluster, ns, {"version": "9.9.9-broken"})

    def degraded() -> str | None:
        found = helpers.condition(op.platform(cluster, ns), "Degraded") or {}
        return found.get("message") if found.get("reason") == "MigrationFailed" else None

    message = helpers.wait_for("Degraded: MigrationFailed", degraded, timeout=120)
    assert "version 1.0.0 keeps running" in message
    found = op.platform(cluster, ns)
    assert found["status"]["phase"] == "RolledBack"
    rolled_back = helpers.condition(found, "RolledBack") or {}
    assert (rolled_back["status"], rolled_back["reason"]) == ("True", "MigrationFailed")
    assert op.image(cluster, ns, "api").endswith(":1.0.0")
    assert op.deployment(cluster, ns, "api")["status"]["availableReplicas"] == 3
    op.await_events(cluster, ns, "MigrationFailed", "RolledBack")

    generation = op.patch_spec(cluster, ns, {"version": "1.0.0"})
    op.wait_ready(cluster, ns, generation)
