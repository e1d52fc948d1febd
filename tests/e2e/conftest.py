"""The e2e session's Kubernetes cluster, and a fresh namespace per test.

By default the session starts the local control plane (`hack/k8s/cluster-up.sh`:
etcd, kube-apiserver, controller-manager, scheduler and kwok, built from source)
and deletes it at the end. With `E2E_USE_EXISTING_CLUSTER=1` it uses the cluster
that `KUBECONFIG` names instead (kind from `make kind-up`, or a cloud cluster) and
leaves it running. A cluster that cannot be had fails every e2e test: never a skip.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s

from tests.e2e import helpers
from tests.e2e import operating as op

HACK = Path(__file__).resolve().parents[2] / "hack" / "k8s"
# Not the developer's `make cluster-up` cluster (ua-dev), which is left alone. `make test`
# deletes this one again (Makefile: E2E_CLUSTER) in case pytest died before its teardown.
LOCAL_CLUSTER = os.environ.get("E2E_CLUSTER", "ua-e2e")

NamespaceFactory = Callable[..., str]


def use_existing_cluster() -> bool:
    return os.environ.get("E2E_USE_EXISTING_CLUSTER", "").lower() in {"1", "true", "yes"}


def run_script(name: str) -> str:
    """Run a hack/k8s script for the local cluster; its last stdout line, if any."""
    env = {**os.environ, "UA_K8S_CLUSTER": LOCAL_CLUSTER}
    done = subprocess.run([str(HACK / name)], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.splitlines()[-30:])
        pytest.fail(f"hack/k8s/{name} failed (exit {done.returncode}):\n{tail}", pytrace=False)
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def existing_kubeconfig() -> str:
    kubeconfig = os.environ.get("KUBECONFIG", "")
    if not kubeconfig:
        pytest.fail(
            "E2E_USE_EXISTING_CLUSTER=1 needs KUBECONFIG set to the cluster's kubeconfig "
            "(e.g. export KUBECONFIG=$(make -s kind-up | tail -n 1))",
            pytrace=False,
        )
    return kubeconfig


@pytest.fixture(scope="session")
def cluster() -> Iterator[helpers.Cluster]:
    if use_existing_cluster():
        with helpers.connect(existing_kubeconfig()) as existing:
            yield existing
        return
    run_script("cluster-down.sh")  # what an interrupted run may have left behind
    try:
        kubeconfig = run_script("cluster-up.sh")  # a half-started cluster is deleted too
        with helpers.connect(kubeconfig) as local:
            yield local
    finally:
        run_script("cluster-down.sh")


@pytest.fixture
def namespaces(
    cluster: helpers.Cluster, request: pytest.FixtureRequest
) -> Iterator[NamespaceFactory]:
    """Create namespaces named after the test (labels given at creation, so admission
    sees them at once); all of them are deleted afterwards."""
    created: list[str] = []
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")

    def create(labels: dict[str, str] | None = None) -> str:
        name = f"e2e-{stem}-{secrets.token_hex(3)}"
        body = {"metadata": {"name": name, "labels": labels or {}}}
        cluster.core.create_namespace(k8s.V1Namespace.model_validate(body))
        created.append(name)
        # Pods are only admitted once the namespace's default ServiceAccount exists.
        helpers.wait_for(
            f"the default ServiceAccount in {name}",
            lambda: helpers.exists(
                lambda: cluster.core.read_namespaced_service_account("default", name)
            ),
        )
        return name

    yield create
    for name in created:
        helpers.ignore_not_found(functools.partial(cluster.core.delete_namespace, name))


@pytest.fixture
def namespace(namespaces: NamespaceFactory) -> str:
    return namespaces()


# The operator's tests share these: the CRD once per module, and an operator watching one
# namespace of the restricted Pod Security level.
@pytest.fixture(scope="module")
def crd(cluster: helpers.Cluster) -> None:
    op.install_crd(cluster)


@pytest.fixture
def restricted(crd: None, namespaces: NamespaceFactory) -> str:
    return namespaces(op.RESTRICTED)


@pytest.fixture
def operator(cluster: helpers.Cluster, restricted: str, tmp_path: Path) -> Iterator[op.Operator]:
    with op.operator(cluster.kubeconfig, "--namespace", restricted, log_dir=tmp_path) as running:
        yield running
