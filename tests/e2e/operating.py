"""What the operator's e2e tests share: the operator as a process, kubectl, and reads of
platforms and their children.

The operator runs as a subprocess (`accounting-operator run`), exactly as in a pod: its
own event loop, signals, /metrics and /healthz. Each test starts one, scoped to that
test's namespace, so tests cannot see each other's platforms."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from prometheus_client.parser import text_string_to_metric_families

from tests.e2e import helpers
from tests.e2e.helpers import Cluster, Manifest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CRD = ROOT / "crds" / "accountingplatforms.yaml"
GROUP, VERSION, PLURAL = "accounting.universalaccounting.com", "v1alpha1", "accountingplatforms"
DRIFT_INTERVAL = 1.0
"""Seconds between drift checks in the tests (30 in production)."""
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


@functools.cache
def bin_dir() -> Path:
    """The pinned Kubernetes tools (kubectl, helm), built by hack/k8s/build.sh."""
    done = subprocess.run(
        [str(ROOT / "hack" / "k8s" / "build.sh")], capture_output=True, text=True, check=True
    )
    return Path(done.stdout.strip().splitlines()[-1])


def kubectl(
    cluster: Cluster, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    command = [str(bin_dir() / "kubectl"), "--kubeconfig", cluster.kubeconfig, *args]
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed:\n{done.stderr}")
    return done


def install_crd(cluster: Cluster) -> None:
    """Apply the AccountingPlatform CRD and wait until it is Established. Polled rather than
    `kubectl wait`, which fails outright while a just-created CRD's conditions are null."""
    kubectl(cluster, "apply", "--server-side", "-f", str(CRD))
    name = f"{PLURAL}.{GROUP}"

    def established() -> bool:
        found = helpers.wire(cluster.extensions.read_custom_resource_definition_status(name))
        return helpers.is_true(found, "Established")

    helpers.wait_for(f"CRD {name} to be Established", established)


def await_job_policy(cluster: Cluster, namespace: str, labels: dict[str, str], image: str) -> None:
    """Wait until an admission policy that sets Jobs' backoffLimit to 0 applies to a Job
    of these labels and image in namespace: policies take effect a moment after they are
    created, so a probe Job is created with --dry-run=server until it does."""
    probe = json.dumps(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "probe", "labels": labels},
            "spec": {
                "backoffLimit": 3,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "m", "image": image}],
                    }
                },
            },
        }
    )

    def active() -> bool:
        args = ("create", "-n", namespace, "--dry-run=server", "-o", "json", "-f", "-")
        done = kubectl(cluster, *args, stdin=probe)
        return bool(json.loads(done.stdout)["spec"]["backoffLimit"] == 0)

    helpers.wait_for("the admission policy to take effect", active)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status), response.read().decode()
    except OSError:
        return 0, ""


@dataclass
class Operator:
    """A running `accounting-operator run`."""

    process: subprocess.Popen[bytes]
    metrics_port: int
    health_port: int
    log: Path

    def healthy(self) -> bool:
        return http_get(f"http://127.0.0.1:{self.health_port}/healthz")[0] == 200

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        status, text = http_get(f"http://127.0.0.1:{self.metrics_port}/metrics")
        assert status == 200, "the operator's /metrics does not answer"
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics().get((name, tuple(sorted(labels.items()))), 0.0)

    def writes(self) -> float:
        verbs = ("apply", "create", "delete", "status")
        return sum(self.sample("accounting_operator_writes_total", verb=v) for v in verbs)

    def reconciles(self) -> float:
        return self.sample("accounting_operator_reconciles_total", result="success")

    def wait_reconciles(self, more: int) -> None:
        """Wait until `more` further reconciles have finished (drift checks included)."""
        target = self.reconciles() + more
        helpers.wait_for(f"{more} more reconciles", lambda: self.reconciles() >= target)


@contextlib.contextmanager
def operator(
    kubeconfig: str, *scope: str, log_dir: Path, drift_interval: float = DRIFT_INTERVAL
) -> Iterator[Operator]:
    """Run the operator (scope: `--namespace NS`... or `--all-namespaces`) until the end."""
    metrics_port, health_port = free_port(), free_port()
    env = {
        **os.environ,
        "KUBECONFIG": kubeconfig,
        "ACCOUNTING_OPERATOR_DRIFT_INTERVAL": str(drift_interval),
        "ACCOUNTING_OPERATOR_METRICS_ADDRESS": "127.0.0.1",
        "ACCOUNTING_OPERATOR_METRICS_PORT": str(metrics_port),
        "ACCOUNTING_OPERATOR_LIVENESS_ENDPOINT": f"http://127.0.0.1:{health_port}/healthz",
    }
    log = log_dir / "operator.log"
    command = [str(Path(sys.executable).parent / "accounting-operator"), "run", *scope]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    running = Operator(process, metrics_port, health_port, log)
    try:
        helpers.wait_for("the operator's /healthz", running.healthy, timeout=30)
        yield running
    except BaseException:
        sys.stderr.write(f"--- operator log ---\n{log.read_text()[-8000:]}\n")
        raise
    finally:
        terminate(process, timeout=30)


def terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds; waited for either way."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- platforms and children ----------------------------------------------------------


def platform(cluster: Cluster, namespace: str, name: str = "books") -> Manifest:
    found = cluster.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    return cast(Manifest, found)


def patch_spec(cluster: Cluster, namespace: str, spec: dict[str, Any], name: str = "books") -> int:
    """Merge-patch the spec; the new metadata.generation."""
    patched = cluster.custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name, {"spec": spec}
    )
    return int(cast(Manifest, patched)["metadata"]["generation"])


def converged(cluster: Cluster, namespace: str, generation: int | None = None) -> Manifest | None:
    """The platform once Ready at its current (or the given) generation."""
    found = platform(cluster, namespace)
    wanted = generation or found["metadata"]["generation"]
    status = found.get("status") or {}
    ready = helpers.is_true(found, "Ready") and status.get("observedGeneration") == wanted
    return found if ready else None


def wait_ready(cluster: Cluster, namespace: str, generation: int | None = None) -> Manifest:
    return helpers.wait_for(
        f"platform books in {namespace} to be Ready",
        lambda: converged(cluster, namespace, generation),
        timeout=120,
    )


def phase(cluster: Cluster, namespace: str) -> str | None:
    return (platform(cluster, namespace).get("status") or {}).get("phase")


def apply_example(cluster: Cluster, namespace: str, name: str = "minimal.yaml") -> None:
    kubectl(
        cluster,
        "apply",
        "-n",
        namespace,
        "-f",
        str(EXAMPLES / "secrets.example.yaml"),
        "-f",
        str(EXAMPLES / name),
    )


def children(cluster: Cluster, namespace: str) -> dict[tuple[str, str], Manifest]:
    """Every object labelled as a child of platform books, by (kind, name)."""
    selector = "app.kubernetes.io/instance=books,app.kubernetes.io/managed-by=accounting-operator"
    kinds = "serviceaccounts,configmaps,services,deployments,jobs,horizontalpodautoscalers,"
    kinds += "poddisruptionbudgets,networkpolicies,ingresses,cronjobs"
    listing = kubectl(cluster, "get", kinds, "-n", namespace, "-l", selector, "-o", "json")
    items = json.loads(listing.stdout)["items"]
    return {(i["kind"], i["metadata"]["name"]): i for i in items}


def deployment(cluster: Cluster, namespace: str, component: str) -> Manifest:
    return helpers.wire(cluster.apps.read_namespaced_deployment(f"books-{component}", namespace))


def image(cluster: Cluster, namespace: str, component: str) -> str:
    return str(
        deployment(cluster, namespace, component)["spec"]["template"]["spec"]["containers"][0][
            "image"
        ]
    )


def events(cluster: Cluster, namespace: str) -> list[str]:
    """Reasons of the Events about platforms in the namespace."""
    listing = cluster.core.list_namespaced_event(
        namespace, field_selector="involvedObject.kind=AccountingPlatform"
    )
    return [e["reason"] for e in helpers.wire_items(listing)]


def await_events(cluster: Cluster, namespace: str, *reasons: str) -> list[str]:
    """Wait until Events of every reason exist (the operator posts them right after the
    status it reports them with, so a test that saw the status may be a moment early)."""

    def posted() -> list[str] | None:
        found = events(cluster, namespace)
        return found if set(reasons) <= set(found) else None

    return helpers.wait_for(f"Events {', '.join(reasons)}", posted, timeout=30)


# --- admission policies that make simulated pods misbehave -------------------------------

_POLICY = """
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: NAME}
spec:
  matchConstraints:
    resourceRules:
RULES
  matchConditions:
    - name: chosen
      expression: >-
        CONDITION
  failurePolicy: Fail
  reinvocationPolicy: Never
  mutations:
MUTATION
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {name: NAME}
spec:
  policyName: NAME
  matchResources:
    namespaceSelector:
      matchLabels: {kubernetes.io/metadata.name: NAMESPACE}
"""
_PODS = '      - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}'
_JOBS = "      - {apiGroups: [batch], apiVersions: [v1], operations: [CREATE], resources: [jobs]}"

FAIL_AT_ONCE = """    - patchType: JSONPatch
      jsonPatch:
        expression: >-
          object.kind == 'Pod'
          ? [JSONPatch{op: "add", path: "/metadata/annotations",
                       value: {"kwok.universal-accounting.local/outcome": "fail",
                               "kwok.universal-accounting.local/exit-code": "3"}}]
          : [JSONPatch{op: "replace", path: "/spec/backoffLimit", value: 0}]"""
"""Pods fail (kwok's outcome, exit code 3) and their Jobs give up at once."""

NEVER_READY = """    - patchType: ApplyConfiguration
      applyConfiguration:
        expression: >-
          Object{metadata: Object.metadata{annotations: {
            "kwok.universal-accounting.local/outcome": "never-ready"}}}"""
"""Pods run but never become Ready."""


def pod_policy(name: str, namespace: str, condition: str, mutation: str, *, jobs: bool) -> str:
    """A MutatingAdmissionPolicy and its binding to `namespace`: pods (and with `jobs`,
    Jobs) for which the CEL `condition` holds get `mutation`."""
    rules = "\n".join([_PODS, _JOBS] if jobs else [_PODS])
    return (
        _POLICY.replace("RULES", rules)
        .replace("CONDITION", condition)
        .replace("MUTATION", mutation)
        .replace("NAMESPACE", namespace)
        .replace("NAME", name)
    )
