"""The Helm chart: its CRD is the generated one, and `helm template` renders objects that
are valid Kubernetes, meet the restricted pod security profile, and grant the operator
exactly the access its apply layer uses.

Rendering needs the helm binary that `make k8s-tools` builds (`make test` and
`make test-unit` build it first); without it these tests fail and say so.
"""

from __future__ import annotations

import functools
import glob
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from accounting_operator import crd
from accounting_operator.k8s import resources
from tests.unit.operator import helpers

CHART = Path(__file__).resolve().parents[3] / "charts" / "accounting-operator"


@functools.cache
def helm() -> str | None:
    cached = sorted(glob.glob(str(Path.home() / ".cache/universal-accounting/k8s-*/bin/helm")))
    return shutil.which("helm") or (cached[-1] if cached else None)


def template(*values: str) -> list[dict[str, Any]]:
    binary = helm()
    if binary is None:
        pytest.fail("helm is not built: run `make k8s-tools` (hack/k8s/build.sh)", pytrace=False)
    args = [binary, "template", "ops", str(CHART), "--namespace", "ops"]
    for value in values:
        args += ["--set", value]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in documents if d["kind"] == kind]


def test_chart_crd_is_the_generated_one() -> None:
    assert (CHART / "crds" / "accountingplatforms.yaml").read_text() == crd.render_yaml(), (
        "charts/accounting-operator/crds is stale: run "
        "`accounting-operator crd > charts/accounting-operator/crds/accountingplatforms.yaml`"
    )


@pytest.mark.parametrize("values", [(), ("watchNamespaces={books,ledger}",)], ids=["all", "some"])
def test_rendered_objects_are_valid(values: tuple[str, ...]) -> None:
    for document in template(*values):
        assert helpers.k8s_validate(document) == helpers.KUBERNETES_VERSION


def test_cluster_wide_by_default() -> None:
    documents = template()
    assert len(by_kind(documents, "ClusterRoleBinding")) == 2  # the operator's, the Secrets'
    assert by_kind(documents, "RoleBinding") == []
    (deployment,) = by_kind(documents, "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "run",
        "--all-namespaces",
    ]


def test_namespaced_binds_only_the_listed_namespaces() -> None:
    documents = template("watchNamespaces={books,ledger}")
    assert by_kind(documents, "ClusterRoleBinding") == []
    bindings = [
        (b["metadata"]["namespace"], b["roleRef"]["name"])
        for b in by_kind(documents, "RoleBinding")
    ]
    assert sorted(bindings) == [
        ("books", "ops"),
        ("books", "ops-failover-secrets"),
        ("ledger", "ops"),
        ("ledger", "ops-failover-secrets"),
    ]
    (deployment,) = by_kind(documents, "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == ["run", "--namespace=books", "--namespace=ledger"]


def test_operator_pod_meets_the_restricted_profile() -> None:
    (deployment,) = by_kind(template(), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"]["drop"] == ["ALL"]


def verbs(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


def secrets_role(*values: str) -> list[dict[str, Any]]:
    return [
        r for r in by_kind(template(*values), "ClusterRole") if "failover" in r["metadata"]["name"]
    ]


def test_secrets_are_only_read_and_only_as_narrowly_as_asked() -> None:
    (role,) = secrets_role()
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    (narrow,) = secrets_role("failover.secretNames={books-db-failover}")
    assert narrow["rules"][0]["resourceNames"] == ["books-db-failover"]
    assert secrets_role("failover.readSecrets=false") == []
    documents = template("failover.readSecrets=false")
    assert len(by_kind(documents, "ClusterRoleBinding")) == 1


def test_watching_secrets_is_granted_only_when_asked_for() -> None:
    def watch_roles(*values: str) -> list[dict[str, Any]]:
        roles = by_kind(template(*values), "ClusterRole")
        return [r for r in roles if r["metadata"]["name"].endswith("-watch-secrets")]

    def env(*values: str) -> dict[str, str]:
        (deployment,) = by_kind(template(*values), "Deployment")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        return {e["name"]: e.get("value", "") for e in container["env"]}

    assert watch_roles() == []
    assert env()["ACCOUNTING_OPERATOR_WATCH_SECRETS"] == "false"
    assert env("watchSecrets=null")["ACCOUNTING_OPERATOR_WATCH_SECRETS"] == "false"  # old values
    (role,) = watch_roles("watchSecrets=true")
    assert verbs(role) == {("", "secrets"): {"get", "list", "watch"}}
    assert env("watchSecrets=true")["ACCOUNTING_OPERATOR_WATCH_SECRETS"] == "true"
    namespaced = template("watchSecrets=true", "watchNamespaces={books,ledger}")
    bound = [
        (b["metadata"]["namespace"], b["roleRef"]["name"])
        for b in by_kind(namespaced, "RoleBinding")
        if b["roleRef"]["name"].endswith("-watch-secrets")
    ]
    assert bound == [("books", "ops-watch-secrets"), ("ledger", "ops-watch-secrets")]
    assert by_kind(namespaced, "ClusterRoleBinding") == []


def test_rbac_is_exactly_what_the_operator_uses() -> None:
    roles = by_kind(template(), "ClusterRole")
    (role,) = [r for r in roles if not r["metadata"]["name"].endswith("-secrets")]
    granted = verbs(role)
    expected: dict[tuple[str, str], set[str]] = {
        ("accounting.universalaccounting.com", "accountingplatforms"): {
            "get", "list", "watch", "patch"},
        ("accounting.universalaccounting.com", "accountingplatforms/status"): {"patch"},
        ("", "events"): {"create"},
    }  # fmt: skip
    for child in (*resources.CHILDREN, *resources.MONITORING):
        group = child.api_version.rpartition("/")[0]
        needed = {"list", "create", "delete"} | ({"patch"} if child.kind != "Job" else set())
        if child in resources.CHILDREN:
            needed.add("watch")  # kopf indexes them and reacts to their changes
        expected[(group, child.plural)] = needed
    assert granted == expected


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    binary = helm()
    if binary is None:
        pytest.fail("helm is not built: run `make k8s-tools` (hack/k8s/build.sh)", pytrace=False)
    return subprocess.run([binary, *args], capture_output=True, text=True, check=False)


COMBINATIONS = [
    (),
    ("watchNamespaces={books,ledger}",),
    ("failover.readSecrets=false",),
    ("failover.secretNames={books-db-failover}",),
    ("watchSecrets=true",),
    ("watchSecrets=true", "watchNamespaces={books}"),
    ("metrics.service=false",),
    ("image.tag=1.2.3", "image.pullPolicy=Always", "driftInterval=60", "maxWorkers=4"),
    ("metrics.serviceMonitor.enabled=true", "metrics.prometheusRule.enabled=true"),
]


@pytest.mark.parametrize("values", COMBINATIONS, ids=lambda v: ",".join(v) or "defaults")
def test_the_chart_lints_strictly_and_renders_valid_objects(values: tuple[str, ...]) -> None:
    settings = [arg for value in values for arg in ("--set", value)]
    linted = run_helm("lint", "--strict", str(CHART), *settings)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    for document in template(*values):
        if document["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # no Kubernetes schema; promtool checks the rules (test_chart_alerts.py)
        assert helpers.k8s_validate(document) == helpers.KUBERNETES_VERSION


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("driftInterval=0", "at '/driftInterval': minimum: got 0, want 1"),
        ("watchNamespace=books", "additional properties 'watchNamespace' not allowed"),
        ("postingLevel=LOUD", "at '/postingLevel': value must be one of"),
        ("metrics.port=80", "at '/metrics/port': minimum: got 80, want 1,024"),
        ("watchNamespaces={Books}", "at '/watchNamespaces/0'"),
        ("image.pullPolicy=Sometimes", "at '/image/pullPolicy'"),
        ("metrics.serviceMonitor.interval=often", "at '/metrics/serviceMonitor/interval'"),
    ],
    ids=["drift-zero", "typo", "level", "port", "namespace-name", "pull-policy", "interval"],
)
def test_bad_values_are_refused_with_a_message_naming_them(value: str, message: str) -> None:
    refused = run_helm("template", "ops", str(CHART), "--set", value)
    assert refused.returncode != 0
    assert message in refused.stderr


def test_helm_test_is_a_restricted_job_checking_the_crd_and_the_operators_health() -> None:
    (job,) = [d for d in by_kind(template(), "Job") if d["metadata"]["name"] == "ops-selftest"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "test"
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["args"] == [
        "selftest",
        "--health-url=http://ops-metrics.ops.svc:8080/healthz",
    ]
    (service,) = by_kind(template(), "Service")
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {
        "metrics": 9090,
        "health": 8080,
    }
    (without,) = by_kind(template("metrics.service=false"), "Job")
    assert without["spec"]["template"]["spec"]["containers"][0]["args"] == ["selftest"]


def test_the_install_notes_say_what_to_do_next() -> None:
    installed = run_helm(
        "install", "ops", str(CHART), "--namespace", "ops", "--dry-run=client",
        "--set", "watchNamespaces={books}", "--set", "failover.readSecrets=false",
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    notes = installed.stdout.split("NOTES:", 1)[1]
    assert "managing AccountingPlatforms in: books." in notes
    assert "helm test ops -n ops" in notes
    assert "kubectl apply --server-side -f charts/accounting-operator/crds/" in notes
    assert "failover.readSecrets=false" in notes
