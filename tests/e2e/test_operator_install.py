"""The operator as a cluster admin installs and runs it: every namespace at once, with
its Helm chart's least-privilege RBAC, with and without the Prometheus Operator's CRDs,
and with its /metrics and /healthz endpoints."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e import helpers
from tests.e2e import operating as op
from tests.e2e.conftest import NamespaceFactory
from tests.e2e.helpers import Cluster

CHART = op.ROOT / "charts" / "accounting-operator"


def prometheus_operator_crd(kind: str, plural: str) -> dict[str, Any]:
    """A stand-in for one of the Prometheus Operator's CRDs (any object is accepted)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.monitoring.coreos.com"},
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "listKind": f"{kind}List"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


SERVICE_MONITOR_CRD = prometheus_operator_crd("ServiceMonitor", "servicemonitors")
PROMETHEUS_RULE_CRD = prometheus_operator_crd("PrometheusRule", "prometheusrules")


def test_all_namespaces_with_the_staging_and_production_examples(
    cluster: Cluster, crd: None, namespaces: NamespaceFactory, tmp_path: Path
) -> None:
    staging, production = namespaces(op.RESTRICTED), namespaces(op.RESTRICTED)
    with op.operator(cluster.kubeconfig, "--all-namespaces", log_dir=tmp_path) as running:
        op.apply_example(cluster, staging, "staging.yaml")
        op.apply_example(cluster, production, "production.yaml")
        for namespace in (staging, production):
            op.wait_ready(cluster, namespace)
        assert ("Ingress", "books") in op.children(cluster, production)
        assert op.deployment(cluster, staging, "worker")["spec"]["replicas"] == 1
        assert running.sample("accounting_operator_managed_platforms") >= 2
        assert running.sample("accounting_operator_reconcile_duration_seconds_count") > 0
        assert running.sample("accounting_operator_errors_total", error="RejectedError") == 0


@contextlib.contextmanager
def installed(cluster: Cluster, definition: dict[str, Any]) -> Iterator[None]:
    manifest = json.dumps(definition)
    op.kubectl(cluster, "apply", "-f", "-", stdin=manifest)
    op.kubectl(cluster, "wait", "--for=condition=Established", "--timeout=60s",
               f"crd/{definition['metadata']['name']}")  # fmt: skip
    try:
        yield
    finally:
        op.kubectl(cluster, "delete", "-f", "-", "--ignore-not-found", stdin=manifest)


@pytest.fixture
def service_monitors(cluster: Cluster) -> Iterator[None]:
    with installed(cluster, SERVICE_MONITOR_CRD):
        yield


@pytest.fixture
def prometheus_rules(cluster: Cluster) -> Iterator[None]:
    with installed(cluster, PROMETHEUS_RULE_CRD):
        yield


def test_a_service_monitor_where_prometheus_operator_is_installed(
    cluster: Cluster,
    crd: None,
    service_monitors: None,
    namespaces: NamespaceFactory,
    tmp_path: Path,
) -> None:
    namespace = namespaces(op.RESTRICTED)
    with ready_example(cluster, namespace, tmp_path):
        (monitor,) = listed(cluster, namespace, "servicemonitors")
        assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
        assert monitor["metadata"]["ownerReferences"][0]["kind"] == "AccountingPlatform"


@contextlib.contextmanager
def ready_example(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[None]:
    """The operator running for `namespace`, where examples/minimal.yaml is Ready."""
    with op.operator(cluster.kubeconfig, "--namespace", namespace, log_dir=tmp_path):
        op.apply_example(cluster, namespace)
        op.wait_ready(cluster, namespace)
        yield


def listed(cluster: Cluster, namespace: str, plural: str) -> list[dict[str, Any]]:
    """Every object of a kind in the namespace."""
    found = op.kubectl(cluster, "get", plural, "-n", namespace, "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(found)["items"]
    return items


def test_alerts_and_a_dashboard_while_monitoring_is_on_none_once_it_is_off(
    cluster: Cluster,
    crd: None,
    service_monitors: None,
    prometheus_rules: None,
    namespaces: NamespaceFactory,
    tmp_path: Path,
) -> None:
    namespace = namespaces(op.RESTRICTED)
    with ready_example(cluster, namespace, tmp_path):
        (rule,) = listed(cluster, namespace, "prometheusrules")
        alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
        assert {"AccountingAPIServerErrors", "AccountingFailedSignInsHigh"} <= alerts
        assert rule["metadata"]["ownerReferences"][0]["kind"] == "AccountingPlatform"
        kids = op.children(cluster, namespace)
        board = kids[("ConfigMap", "books-dashboard")]
        assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert ("Service", "books-worker") in kids  # what the ServiceMonitor scrapes
        off = {
            "monitoring": {
                key: {"enabled": False}
                for key in ("serviceMonitor", "prometheusRule", "grafanaDashboard")
            }
        }
        op.wait_ready(cluster, namespace, op.patch_spec(cluster, namespace, off))
        helpers.wait_for(
            "the alerts, the dashboard and the scraping to go",
            lambda: (
                not (
                    listed(cluster, namespace, "prometheusrules")
                    or listed(cluster, namespace, "servicemonitors")
                    or {("ConfigMap", "books-dashboard"), ("Service", "books-worker")}
                    & set(op.children(cluster, namespace))
                )
            ),
        )
        assert ("ConfigMap", "books-config") in op.children(cluster, namespace)


def helm(cluster: Cluster, tmp_path: Path, *args: str) -> str:
    env = {
        **os.environ,
        "KUBECONFIG": cluster.kubeconfig,
        "HELM_CACHE_HOME": str(tmp_path / "helm-cache"),
        "HELM_CONFIG_HOME": str(tmp_path / "helm-config"),
        "HELM_DATA_HOME": str(tmp_path / "helm-data"),
    }
    done = subprocess.run(
        [str(op.bin_dir() / "helm"), *args], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def service_account_kubeconfig(cluster: Cluster, token: str, path: Path) -> str:
    """The cluster's kubeconfig with the admin's credentials swapped for a token."""
    config = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    server = next(c for c in config["clusters"] if c["name"] == context["context"]["cluster"])
    config["users"] = [{"name": "operator", "user": {"token": token}}]
    config["contexts"] = [
        {"name": "operator", "context": {"cluster": server["name"], "user": "operator"}}
    ]
    config["clusters"] = [server]
    config["current-context"] = "operator"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_the_charts_rbac_is_enough(
    cluster: Cluster, crd: None, namespaces: NamespaceFactory, tmp_path: Path
) -> None:
    operator_ns, platform_ns = namespaces(op.RESTRICTED), namespaces(op.RESTRICTED)
    release = f"acct-op-{secrets.token_hex(3)}"
    helm(cluster, tmp_path, "install", release, str(CHART), "--namespace", operator_ns,
         "--set", f"watchNamespaces={{{platform_ns}}}", "--wait", "--timeout", "120s")  # fmt: skip
    try:
        # The chart's own operator pod is admitted under the restricted profile (on kwok
        # it only pretends to run): the operator below runs as its ServiceAccount.
        deployment = helpers.wire(cluster.apps.read_namespaced_deployment(release, operator_ns))
        assert deployment["status"]["availableReplicas"] == 1
        token = op.kubectl(cluster, "create", "token", release, "-n", operator_ns).stdout.strip()
        kubeconfig = service_account_kubeconfig(cluster, token, tmp_path / "operator.kubeconfig")
        with op.operator(kubeconfig, "--namespace", platform_ns, log_dir=tmp_path) as running:
            op.apply_example(cluster, platform_ns)
            op.wait_ready(cluster, platform_ns)
            ingress = {"enabled": True, "host": "api.books.example.com"}
            op.wait_ready(
                cluster, platform_ns, op.patch_spec(cluster, platform_ns, {"ingress": ingress})
            )
            off = {"ingress": {"enabled": False}, "api": {"autoscaling": {"enabled": False}}}
            op.wait_ready(cluster, platform_ns, op.patch_spec(cluster, platform_ns, off))
            op.kubectl(cluster, "delete", "-n", platform_ns, "configmap/books-config")
            helpers.wait_for(
                "the ConfigMap to be restored",
                lambda: ("ConfigMap", "books-config") in op.children(cluster, platform_ns),
            )
            assert running.sample("accounting_operator_errors_total", error="ForbiddenError") == 0
        log = running.log.read_text()
        assert "Forbidden" not in log
        assert "403" not in log
    finally:
        helm(cluster, tmp_path, "uninstall", release, "--namespace", operator_ns, "--wait")


def test_the_operator_refuses_what_its_rbac_does_not_allow(
    cluster: Cluster, crd: None, namespaces: NamespaceFactory, tmp_path: Path
) -> None:
    """Without a RoleBinding in the namespace, the operator cannot act there: it reports
    the refusal instead of crashing, and keeps answering its liveness probe."""
    operator_ns, platform_ns = namespaces(), namespaces(op.RESTRICTED)
    op.kubectl(cluster, "create", "serviceaccount", "nobody", "-n", operator_ns)
    token = op.kubectl(cluster, "create", "token", "nobody", "-n", operator_ns).stdout.strip()
    kubeconfig = service_account_kubeconfig(cluster, token, tmp_path / "nobody.kubeconfig")
    op.apply_example(cluster, platform_ns)
    with op.operator(kubeconfig, "--namespace", platform_ns, log_dir=tmp_path) as running:
        helpers.wait_for(
            "the operator to report being forbidden",
            lambda: (
                "Forbidden" in running.log.read_text() or "forbidden" in running.log.read_text()
            ),
        )
        assert running.healthy()


def test_helm_test_upgrade_and_uninstall(
    cluster: Cluster, crd: None, namespaces: NamespaceFactory, tmp_path: Path
) -> None:
    """`helm test` runs its selftest Job to completion (simulated nodes complete Job-owned
    pods; on a real cluster the Job checks the CRD is served and the operator healthy), an
    upgrade with a changed value reaches the operator's Deployment, and an uninstall leaves
    nothing of the release behind."""
    operator_ns = namespaces(op.RESTRICTED)
    release = f"acct-op-{secrets.token_hex(3)}"
    helm(cluster, tmp_path, "install", release, str(CHART), "--namespace", operator_ns,
         "--wait", "--timeout", "120s")  # fmt: skip
    tested = helm(cluster, tmp_path, "test", release, "--namespace", operator_ns,
                  "--timeout", "120s")  # fmt: skip
    assert f"{release}-selftest" in tested
    assert "Succeeded" in tested
    # What that Job runs, run here against the same API server (a pod's credentials aside).
    selftest = [str(Path(sys.executable).with_name("accounting-operator")), "selftest"]
    env = {**os.environ, "KUBECONFIG": cluster.kubeconfig}
    passed = subprocess.run(selftest, env=env, capture_output=True, text=True, check=False)
    assert passed.returncode == 0, passed.stderr
    served = "accountingplatforms.accounting.universalaccounting.com/v1alpha1 is served"
    assert served in passed.stdout
    unhealthy = subprocess.run(
        [*selftest, "--health-url", "http://127.0.0.1:9/healthz", "--timeout", "2"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert unhealthy.returncode != 0
    helm(cluster, tmp_path, "upgrade", release, str(CHART), "--namespace", operator_ns,
         "--reuse-values", "--set", "driftInterval=45", "--wait", "--timeout", "120s")  # fmt: skip
    deployment = helpers.wire(cluster.apps.read_namespaced_deployment(release, operator_ns))
    env = {e["name"]: e.get("value") for e in
           deployment["spec"]["template"]["spec"]["containers"][0]["env"]}  # fmt: skip
    assert env["ACCOUNTING_OPERATOR_DRIFT_INTERVAL"] == "45"
    helm(cluster, tmp_path, "uninstall", release, "--namespace", operator_ns, "--wait")
    left = op.kubectl(cluster, "get", "all,serviceaccounts,roles,rolebindings", "-n",
                      operator_ns, "-l", f"app.kubernetes.io/instance={release}", "-o",
                      "name").stdout  # fmt: skip
    assert left.strip() == ""
