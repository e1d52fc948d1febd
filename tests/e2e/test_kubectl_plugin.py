"""`kubectl acp` on a real control plane, run as kubectl runs a plugin (the console script
`kubectl-acp` found on PATH), against a platform the test's own operator reconciles:
status reads what the operator wrote, backup/switchover/pause/resume write what it acts
on, report bundles everything but Secret values, and every failure is a clear message
with exit code 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e import helpers
from tests.e2e import operating as op
from tests.e2e.conftest import NamespaceFactory
from tests.e2e.helpers import Cluster
from tests.e2e.test_operator_install import service_account_kubeconfig

PLUGIN_DIR = Path(sys.executable).parent
BACKUPS: dict[str, Any] = {
    "backup": {
        "enabled": True,
        "credentialsSecretRef": {"name": "books-db-backup"},
        "s3": {"bucket": "books-backups", "credentialsSecretRef": {"name": "books-s3"}},
    }
}
SWITCHOVER = "accounting.universalaccounting.com/switchover-to"
BACKUP_NOW = "accounting.universalaccounting.com/backup-now"


def acp(
    cluster: Cluster, *args: str, kubeconfig: str | None = None, via_kubectl: bool = True
) -> subprocess.CompletedProcess[str]:
    """`kubectl acp ARGS` (kubectl finds the plugin on PATH), or the script itself."""
    env = {**os.environ, "PATH": f"{PLUGIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["KUBECONFIG"] = kubeconfig or cluster.kubeconfig
    if via_kubectl:
        command = [str(op.bin_dir() / "kubectl"), "acp", *args]
    else:
        command = [str(PLUGIN_DIR / "kubectl-acp"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def refused(done: subprocess.CompletedProcess[str], *phrases: str) -> str:
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    for phrase in phrases:
        assert phrase in done.stderr, done.stderr
    return done.stderr


@pytest.fixture
def ready(cluster: Cluster, restricted: str, operator: op.Operator) -> str:
    op.apply_example(cluster, restricted)
    op.wait_ready(cluster, restricted)
    return restricted


def test_status_shows_what_the_operator_reported(cluster: Cluster, ready: str) -> None:
    context = yaml.safe_load(Path(cluster.kubeconfig).read_text())["current-context"]
    text = ok(acp(cluster, "status", "books", "-n", ready, "--context", context))
    assert "Phase:           Ready" in text
    assert "Version:         1.0.0 (last good: 1.0.0)" in text
    assert "API pods ready:  3/3" in text
    assert "Primary:   postgres.databases.svc.cluster.local:5432 (from the spec" in text
    conditions = text.split("\nConditions\n")[1].split("\n\n")[0].splitlines()
    assert ["Ready", "True", "Available"] in [row.split()[:3] for row in conditions]
    assert "MigrationSucceeded" in text.split("Events (latest")[1]

    found = json.loads(ok(acp(cluster, "status", "books", "-n", ready, "-o", "json")))
    assert found["status"] == op.platform(cluster, ready)["status"]
    assert {"Created", "Ready"} <= {e["reason"] for e in found["events"]}


def test_backup_starts_one_job_and_status_shows_it(cluster: Cluster, ready: str) -> None:
    refused(acp(cluster, "backup", "books", "-n", ready), "backups are off")
    assert BACKUP_NOW not in (op.platform(cluster, ready)["metadata"].get("annotations") or {})
    assert not ({})

    op.wait_ready(cluster, ready, op.patch_spec(cluster, ready, BACKUPS))
    said = ok(acp(cluster, "backup", "books", "-n", ready, "--token", "before-upgrade"))
    assert "backup requested (token before-upgrade)" in said

    def backed_up() -> dict[str, Any] | None:
        backup = (op.platform(cluster, ready).get("status") or {}).get("backup") or {}
        return backup if backup.get("lastSuccessful") and backup.get("backupNow") else None

    backup = helpers.wait_for("the requested backup to succeed", backed_up, timeout=90)
    assert backup["backupNow"]["token"] == "before-upgrade"
    refused(acp(cluster, "backup", "books", "-n", ready, "--token", "before-upgrade"), "already")
    text = ok(acp(cluster, "status", "books", "-n", ready))
    assert "Backup now:         request 'before-upgrade': started Job books-backup-now-" in text
    assert "Last backup:        never" not in text


def test_rotate_rolls_the_api_and_worker_pods(cluster: Cluster, ready: str) -> None:
    said = ok(acp(cluster, "rotate", "books", "-n", ready, "--token", "new-db-password"))
    assert "rotation requested (token new-db-password)" in said

    def rotated() -> dict[str, str | None] | None:
        found: dict[str, str | None] = {}
        for component in ("api", "worker"):
            deployment = helpers.wire(
                cluster.apps.read_namespaced_deployment(f"books-{component}", ready)
            )
            annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
            found[component] = annotations.get("accounting.universalaccounting.com/rotation")
        return found if all(v == "new-db-password" for v in found.values()) else None

    helpers.wait_for("both pod templates to carry the rotation", rotated, timeout=60)
    op.wait_ready(cluster, ready)
    refused(acp(cluster, "rotate", "books", "-n", ready, "--token", "new-db-password"), "already")


def test_pause_and_resume(cluster: Cluster, ready: str) -> None:
    said = ok(acp(cluster, "pause", "books", "-n", ready, via_kubectl=False))
    assert "paused" in said
    assert op.platform(cluster, ready)["spec"]["paused"] is True
    helpers.wait_for("phase Paused", lambda: op.phase(cluster, ready) == "Paused", timeout=30)
    assert "already paused" in ok(acp(cluster, "pause", "books", "-n", ready))
    text = ok(acp(cluster, "status", "books", "-n", ready))
    assert "Paused:          yes" in text
    assert "Phase:           Paused" in text

    assert "resumed" in ok(acp(cluster, "resume", "books", "-n", ready))
    assert op.platform(cluster, ready)["spec"]["paused"] is False
    op.wait_ready(cluster, ready)


def test_switchover_sets_the_operators_annotation(cluster: Cluster, ready: str) -> None:
    database = {
        "replicas": [{"host": "pg-1.db.internal"}, {"host": "pg-2.db.internal", "port": 5433}]
    }
    failover = {"enabled": True, "credentialsSecretRef": {"name": "books-db-failover"}}
    op.patch_spec(cluster, ready, {"database": database, "failover": failover})
    refused(
        acp(cluster, "switchover", "books", "-n", ready, "--to", "pg-9.db.internal"),
        "not a replica that follows the primary",
        "pg-1.db.internal:5432, pg-2.db.internal:5433",
    )
    assert SWITCHOVER not in (op.platform(cluster, ready)["metadata"].get("annotations") or {})
    said = ok(acp(cluster, "switchover", "books", "-n", ready, "--to", "pg-2.db.internal:5433"))
    assert "switchover to pg-2.db.internal:5433 requested" in said
    annotations = op.platform(cluster, ready)["metadata"]["annotations"]
    assert annotations[SWITCHOVER] == "pg-2.db.internal:5433"


def test_report_bundles_everything_but_secret_values(
    cluster: Cluster, ready: str, tmp_path: Path
) -> None:
    archive = tmp_path / "books.tar.gz"
    said = acp(cluster, "report", "books", "-n", ready, "-f", str(archive), "--operator-namespace",
               ready)  # fmt: skip
    assert f"wrote {archive}" in ok(said)
    with tarfile.open(archive) as bundle:
        files = {
            m.name.split("/", 1)[1]: bundle.extractfile(m).read().decode()  # type: ignore[union-attr]
            for m in bundle.getmembers()
        }
    assert {"README.txt", "platform.yaml", "status.txt", "events.yaml", "secrets.yaml"} <= set(
        files
    )
    assert {"children/Deployment/books-api.yaml", "children/ConfigMap/books-config.yaml"} <= set(
        files
    )
    assert sum(name.startswith("children/Pod/books-api-") for name in files) == 3
    assert "Phase:           Ready" in files["status.txt"]
    assert "MigrationSucceeded" in files["events.yaml"]
    secrets = yaml.safe_load(files["secrets.yaml"])
    assert {"name": "books-db-app", "present": True} in secrets["referencedBySpec"]
    assert not any("FAKE-not-a-real-password" in text for text in files.values())
    # The operator of this test runs as a process, not a pod: the bundle says so.
    assert "no operator pod" in files["README.txt"]


def test_report_names_operator_logs_it_could_not_read(
    cluster: Cluster, ready: str, namespaces: NamespaceFactory, tmp_path: Path
) -> None:
    """An operator pod whose node serves no logs (a simulated node) is named, with the
    API server's reason, and the bundle is written all the same."""
    where = namespaces()
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "acct-op",
            "labels": {"app.kubernetes.io/name": "accounting-operator"},
        },
        "spec": {"containers": [{"name": "operator", "image": helpers.PAUSE_IMAGE}]},
    }
    op.kubectl(cluster, "apply", "-n", where, "-f", "-", stdin=json.dumps(pod))
    archive = tmp_path / "books.tar.gz"
    done = acp(cluster, "report", "books", "-n", ready, "-f", str(archive),
               "--operator-namespace", where)  # fmt: skip
    assert f"wrote {archive}" in ok(done)
    assert f"logs of {where}/acct-op operator: not gathered" in done.stderr
    with tarfile.open(archive) as bundle:
        member = bundle.extractfile(next(m for m in bundle.getmembers() if "README" in m.name))
        assert member is not None
        assert f"logs of {where}/acct-op operator: not gathered" in member.read().decode()


def test_failures_are_clear(
    cluster: Cluster, ready: str, namespaces: NamespaceFactory, tmp_path: Path
) -> None:
    refused(acp(cluster, "status", "ledger", "-n", ready), "'ledger' not found in namespace")
    missing = str(tmp_path / "absent.kubeconfig")
    refused(acp(cluster, "status", "books", "--kubeconfig", missing), "no kubeconfig")
    refused(acp(cluster, "status", "books", "--context", "elsewhere"), "context 'elsewhere'")

    other = namespaces()
    op.kubectl(cluster, "create", "serviceaccount", "nobody", "-n", other)
    token = op.kubectl(cluster, "create", "token", "nobody", "-n", other).stdout.strip()
    nobody = service_account_kubeconfig(cluster, token, tmp_path / "nobody.kubeconfig")
    refused(
        acp(cluster, "status", "books", "-n", ready, kubeconfig=nobody),
        "forbidden",
        "kubectl auth can-i",
    )
    refused(acp(cluster, "pause", "books", "-n", ready, kubeconfig=nobody), "forbidden")
    assert op.platform(cluster, ready)["spec"].get("paused") in (None, False)
    assert acp(cluster, "status").returncode == 2  # usage: NAME is required


def test_without_the_crd_the_plugin_says_to_install_it(cluster: Cluster, crd: None) -> None:
    name = f"{op.PLURAL}.{op.GROUP}"
    op.kubectl(cluster, "delete", "crd", name, "--wait=true")
    try:

        def gone() -> bool:
            done = op.kubectl(cluster, "get", "crd", name, check=False)
            return done.returncode != 0

        helpers.wait_for("the CRD to be gone", gone)
        time.sleep(1)  # discovery catches up with the deletion
        refused(acp(cluster, "status", "books", "-n", "default"), "the CRD is not installed")
    finally:
        op.install_crd(cluster)
