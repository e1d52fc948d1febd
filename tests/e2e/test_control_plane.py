"""The control plane is a real one: controllers, garbage collection, CRD validation and
admission behave as on any cluster, and a pod's outcome can be chosen per test."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from kubernetes import client as k8s

from tests.e2e import helpers
from tests.e2e.conftest import NamespaceFactory
from tests.e2e.helpers import Cluster, Manifest


def pods(cluster: Cluster, namespace: str, selector: str) -> list[Manifest]:
    listing = cluster.core.list_namespaced_pod(namespace, label_selector=selector)
    return helpers.wire_items(listing)


def deployment_status(cluster: Cluster, name: str, namespace: str) -> Manifest:
    return helpers.wire(cluster.apps.read_namespaced_deployment_status(name, namespace))


def job_status(cluster: Cluster, name: str, namespace: str) -> Manifest:
    return helpers.wire(cluster.batch.read_namespaced_job_status(name, namespace))


def test_nodes_are_ready(cluster: Cluster) -> None:
    nodes = helpers.wire_items(cluster.core.list_node())
    assert nodes
    assert all(helpers.is_true(node, "Ready") for node in nodes)


def test_deployment_becomes_available_and_scales(cluster: Cluster, namespace: str) -> None:
    web = helpers.deployment("web", 2, [helpers.container("web", helpers.PAUSE_IMAGE)])
    cluster.apps.create_namespaced_deployment(namespace, k8s.V1Deployment.model_validate(web))

    def available() -> bool:
        status = deployment_status(cluster, "web", namespace)
        return helpers.is_true(status, "Available") and status["status"]["readyReplicas"] == 2

    helpers.wait_for("Deployment web to be Available", available, timeout=120)
    ready = [pod for pod in pods(cluster, namespace, "app=web") if helpers.pod_ready(pod)]
    assert len(ready) == 2
    assert all(pod["spec"]["nodeName"] for pod in ready)

    for replicas in (4, 1):
        cluster.apps.patch_namespaced_deployment_scale(
            "web", namespace, {"spec": {"replicas": replicas}}
        )

        def scaled(n: int = replicas) -> bool:
            found = pods(cluster, namespace, "app=web")
            return len(found) == n and all(helpers.pod_ready(pod) for pod in found)

        helpers.wait_for(f"exactly {replicas} pods, all Ready", scaled, timeout=120)


def test_cronjob_creates_a_job_on_schedule(cluster: Cluster, namespace: str) -> None:
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "tick"},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": helpers.job_spec(["true"])}},
    }
    created = cluster.batch.create_namespaced_cron_job(
        namespace, k8s.V1CronJob.model_validate(cronjob)
    )
    uid = helpers.wire(created)["metadata"]["uid"]

    def job_of_the_cronjob() -> str | None:
        for job in helpers.wire_items(cluster.batch.list_namespaced_job(namespace)):
            if any(o["uid"] == uid for o in job["metadata"]["ownerReferences"] or []):
                return str(job["metadata"]["name"])
        return None

    # The controller fires at the next minute boundary.
    job = helpers.wait_for("the CronJob to create a Job", job_of_the_cronjob, timeout=150)
    helpers.wait_for(
        f"Job {job} to complete",
        lambda: helpers.is_true(job_status(cluster, job, namespace), "Complete"),
        timeout=120,
    )
    cronjob_status = helpers.wire(cluster.batch.read_namespaced_cron_job_status("tick", namespace))
    assert cronjob_status["status"]["lastScheduleTime"] is not None


@pytest.mark.parametrize(
    ("name", "annotations", "exit_code", "condition", "phase"),
    [
        ("succeeds", {}, 0, "Complete", "Succeeded"),
        (
            "fails",
            {helpers.OUTCOME: "fail", helpers.OUTCOME_EXIT_CODE: "3"},
            3,
            "Failed",
            "Failed",
        ),
    ],
    ids=["succeeds", "fails"],
)
def test_a_job_succeeds_or_fails_as_chosen(
    cluster: Cluster,
    namespace: str,
    name: str,
    annotations: dict[str, str],
    exit_code: int,
    condition: str,
    phase: str,
) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": helpers.job_spec(["sh", "-c", f"exit {exit_code}"], annotations),
    }
    cluster.batch.create_namespaced_job(namespace, k8s.V1Job.model_validate(job))

    helpers.wait_for(
        f"Job {name} to be {condition}",
        lambda: helpers.is_true(job_status(cluster, name, namespace), condition),
        timeout=120,
    )
    [pod] = pods(cluster, namespace, f"job-name={name}")
    assert pod["status"]["phase"] == phase
    [main] = pod["status"]["containerStatuses"]
    assert main["state"]["terminated"]["exitCode"] == exit_code


def test_a_rollout_whose_pods_never_become_ready_misses_its_deadline(
    cluster: Cluster, namespace: str
) -> None:
    app = helpers.container("app", helpers.BUSYBOX_IMAGE, ["sleep", "3600"])
    app["readinessProbe"] = {"exec": {"command": ["false"]}, "periodSeconds": 1}
    stuck = helpers.deployment(
        "stuck", 2, [app], {helpers.OUTCOME: "never-ready"}, progressDeadlineSeconds=5
    )
    cluster.apps.create_namespaced_deployment(namespace, k8s.V1Deployment.model_validate(stuck))

    def deadline_exceeded() -> bool:
        progressing = helpers.condition(
            deployment_status(cluster, "stuck", namespace), "Progressing"
        )
        return progressing is not None and progressing["reason"] == "ProgressDeadlineExceeded"

    helpers.wait_for("the rollout to exceed its progress deadline", deadline_exceeded, timeout=120)
    helpers.wait_for(
        "2 Running pods",
        lambda: (
            [p["status"]["phase"] for p in pods(cluster, namespace, "app=stuck")]
            == ["Running", "Running"]
        ),
        timeout=120,
    )
    assert not any(helpers.pod_ready(pod) for pod in pods(cluster, namespace, "app=stuck"))
    status = deployment_status(cluster, "stuck", namespace)
    assert not status["status"]["availableReplicas"]
    assert not helpers.is_true(status, "Available")


def test_deleting_an_owner_garbage_collects_its_dependents(
    cluster: Cluster, namespace: str
) -> None:
    core = cluster.core
    owner = core.create_namespaced_config_map(
        namespace, k8s.V1ConfigMap.model_validate({"metadata": {"name": "owner"}})
    )
    owned = {
        "name": "owned",
        "ownerReferences": [helpers.owner_reference("v1", "ConfigMap", helpers.wire(owner))],
    }
    core.create_namespaced_config_map(
        namespace, k8s.V1ConfigMap.model_validate({"metadata": owned})
    )
    core.create_namespaced_secret(
        namespace, k8s.V1Secret.model_validate({"metadata": owned, "stringData": {"k": "v"}})
    )
    core.create_namespaced_config_map(
        namespace, k8s.V1ConfigMap.model_validate({"metadata": {"name": "unrelated"}})
    )

    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Background")

    helpers.wait_for(
        "the owned ConfigMap and Secret to be deleted",
        lambda: (
            not helpers.exists(lambda: core.read_namespaced_config_map("owned", namespace))
            and not helpers.exists(lambda: core.read_namespaced_secret("owned", namespace))
        ),
    )
    assert helpers.exists(lambda: core.read_namespaced_config_map("unrelated", namespace))


RULE_MESSAGE = "spec.minReplicas must not be greater than spec.maxReplicas"


def scaler_crd(group: str) -> Manifest:
    spec_schema = {
        "type": "object",
        "required": ["minReplicas", "maxReplicas"],
        "properties": {
            "minReplicas": {"type": "integer", "minimum": 0},
            "maxReplicas": {"type": "integer", "minimum": 1},
        },
        "x-kubernetes-validations": [
            {"rule": "self.minReplicas <= self.maxReplicas", "message": RULE_MESSAGE}
        ],
    }
    schema = {"type": "object", "properties": {"spec": spec_schema}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"scalers.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "scalers", "singular": "scaler", "kind": "Scaler"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def test_a_crd_cel_rule_rejects_an_invalid_object(cluster: Cluster, namespace: str) -> None:
    # A group of its own, so runs on a shared cluster never meet.
    group = f"t{secrets.token_hex(4)}.e2e.universal-accounting.local"
    crd_name = f"scalers.{group}"
    extensions, custom = cluster.extensions, cluster.custom
    extensions.create_custom_resource_definition(
        k8s.V1CustomResourceDefinition.model_validate(scaler_crd(group))
    )
    try:
        helpers.wait_for(
            "the CRD to be Established",
            lambda: helpers.is_true(
                helpers.wire(extensions.read_custom_resource_definition_status(crd_name)),
                "Established",
            ),
        )
        helpers.wait_for(
            "the new resource to be served",
            lambda: helpers.exists(
                lambda: custom.list_namespaced_custom_object(group, "v1", namespace, "scalers")
            ),
        )

        def create(name: str, spec: Manifest) -> Any:
            scaler = {"apiVersion": f"{group}/v1", "kind": "Scaler", "metadata": {"name": name}}
            return custom.create_namespaced_custom_object(
                group, "v1", namespace, "scalers", {**scaler, "spec": spec}
            )

        stored = create("ok", {"minReplicas": 1, "maxReplicas": 3, "unknown": "pruned"})
        assert stored["spec"] == {"minReplicas": 1, "maxReplicas": 3}

        status, message = helpers.rejection(
            lambda: create("bad", {"minReplicas": 5, "maxReplicas": 3})
        )
        assert status == 422
        assert RULE_MESSAGE in message
    finally:
        helpers.ignore_not_found(lambda: extensions.delete_custom_resource_definition(crd_name))


def pod(name: str, privileged: bool) -> Manifest:
    """A pod that meets the restricted profile, or the same pod made privileged."""
    security: Manifest = {
        "allowPrivilegeEscalation": privileged,
        "capabilities": {"drop": ["ALL"]},
    }
    if privileged:
        security["privileged"] = True
    app = {**helpers.container("app", helpers.PAUSE_IMAGE), "securityContext": security}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65534,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [app],
        },
    }


def test_a_restricted_namespace_rejects_a_privileged_pod(
    cluster: Cluster, namespaces: NamespaceFactory
) -> None:
    namespace = namespaces({"pod-security.kubernetes.io/enforce": "restricted"})

    status, message = helpers.rejection(
        lambda: cluster.core.create_namespaced_pod(
            namespace, k8s.V1Pod.model_validate(pod("privileged", privileged=True))
        )
    )
    assert status == 403
    assert 'violates PodSecurity "restricted:latest"' in message
    assert "privileged" in message

    admitted = cluster.core.create_namespaced_pod(
        namespace, k8s.V1Pod.model_validate(pod("restricted", privileged=False))
    )
    assert helpers.wire(admitted)["metadata"]["name"] == "restricted"
