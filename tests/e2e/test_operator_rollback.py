"""Automatic rollback on a real control plane: a version whose pods never become Ready
misses its progress deadline (kube-controller-manager says so), the operator rolls API
and worker back to the last good version, which is Ready again, says so in a RolledBack
condition and an Event, does not try that version again, and rolls forward when
spec.version changes.

Pods of the bad version are made never-ready by an admission policy (the simulated nodes'
`never-ready` outcome); its migration Job's pods are left alone, so the migration passes
and only the rollout fails."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.e2e import helpers
from tests.e2e import operating as op
from tests.e2e.helpers import Cluster, Manifest

BAD = "2.0.0-never-ready"

BAD_WORKLOADS = (
    f"object.spec.containers.exists(c, c.image.endsWith(':{BAD}'))"
    " && has(object.metadata.labels)"
    " && 'app.kubernetes.io/component' in object.metadata.labels"
    " && object.metadata.labels['app.kubernetes.io/component'] != 'migration'"
)


def await_pod_policy(cluster: Cluster, namespace: str) -> None:
    """Wait until the policy marks an API pod of the bad version (probed with
    --dry-run=server: policies take effect a moment after they are created)."""
    restricted = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    probe = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "probe", "labels": {"app.kubernetes.io/component": "api"}},
            "spec": {
                "containers": [
                    {"name": "api", "image": f"probe:{BAD}", "securityContext": restricted}
                ]
            },
        }
    )

    def active() -> bool:
        args = ("create", "-n", namespace, "--dry-run=server", "-o", "json", "-f", "-")
        annotations = json.loads(op.kubectl(cluster, *args, stdin=probe).stdout)["metadata"]
        return bool((annotations.get("annotations") or {}).get(helpers.OUTCOME))

    helpers.wait_for("the admission policy to take effect", active)


@pytest.fixture
def never_ready(cluster: Cluster, restricted: str, operator: op.Operator) -> Iterator[str]:
    """The minimal example Ready at 1.0.0; API and worker pods of BAD never become Ready."""
    name = f"never-ready-{restricted}"[:63]
    manifest = op.pod_policy(name, restricted, BAD_WORKLOADS, op.NEVER_READY, jobs=False)
    op.kubectl(cluster, "apply", "-f", "-", stdin=manifest)
    op.apply_example(cluster, restricted)
    await_pod_policy(cluster, restricted)
    op.wait_ready(cluster, restricted)
    yield restricted
    op.kubectl(cluster, "delete", "-f", "-", "--ignore-not-found", stdin=manifest)


def images(cluster: Cluster, namespace: str) -> set[str]:
    return {op.image(cluster, namespace, c).rpartition(":")[2] for c in ("api", "worker")}


def test_a_version_that_never_becomes_ready_is_rolled_back(
    cluster: Cluster, never_ready: str, operator: op.Operator
) -> None:
    ns = never_ready
    deadline = {"progressDeadlineSeconds": 10}
    op.patch_spec(cluster, ns, {"version": BAD, "api": deadline, "worker": deadline})
    helpers.wait_for(
        f"the Deployments to run {BAD}", lambda: images(cluster, ns) == {BAD}, timeout=60
    )

    def rolled_back() -> Manifest | None:
        found = op.platform(cluster, ns)
        ready = helpers.condition(found, "Ready") or {}
        done = found.get("status", {}).get("phase") == "RolledBack"
        return found if done and ready.get("status") == "True" else None

    found = helpers.wait_for("the rollback to be Ready", rolled_back, timeout=120)
    assert images(cluster, ns) == {"1.0.0"}
    assert op.deployment(cluster, ns, "api")["status"]["availableReplicas"] == 3
    status = found["status"]
    assert status["lastGoodVersion"] == "1.0.0"
    assert (status["rollback"]["version"], status["rollback"]["toVersion"]) == (BAD, "1.0.0")
    condition = helpers.condition(found, "RolledBack") or {}
    assert (condition["status"], condition["reason"]) == ("True", "ProgressDeadlineExceeded")
    assert f"version {BAD} was rolled back to 1.0.0" in condition["message"]
    op.await_events(cluster, ns, "RolledBack")
    rollbacks = "accounting_operator_rollbacks_total"
    assert operator.sample(rollbacks, reason="ProgressDeadlineExceeded") == 1

    # Not tried again: drift checks and the children's own changes leave it rolled back.
    applies = operator.sample("accounting_operator_writes_total", verb="apply")
    operator.wait_reconciles(3)
    assert images(cluster, ns) == {"1.0.0"}
    assert op.platform(cluster, ns)["status"]["rollback"] == status["rollback"]
    assert operator.sample("accounting_operator_writes_total", verb="apply") == applies

    generation = op.patch_spec(cluster, ns, {"version": "1.1.0"})
    found = op.wait_ready(cluster, ns, generation)
    assert images(cluster, ns) == {"1.1.0"}
    assert found["status"]["lastGoodVersion"] == "1.1.0"
    assert "rollback" not in found["status"]
    condition = helpers.condition(found, "RolledBack") or {}
    assert (condition["status"], condition["reason"]) == ("False", "VersionChanged")
