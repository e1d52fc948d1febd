"""The docs' cluster-admin commands, run as a reader would run them (tests/docs_commands.py):
kubectl, `kubectl acp` and helm on the local control plane with the operator running, in
namespace `books` (the kubeconfig's current namespace, as a reader's would be); the
plugin installed from a fresh virtualenv; `make cluster-up` and friends; and `make demo`
through its tour. A command that fails fails the test with the block's place in the docs."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s

from tests import docs_commands
from tests.e2e import helpers
from tests.e2e import operating as op
from tests.e2e.helpers import Cluster

NAMESPACE = "books"
CHART_NAMESPACE = "accounting-system"
ROOT = docs_commands.ROOT
VENV_BIN = Path(sys.executable).parent


def run(
    script: str, cwd: Path, env: dict[str, str], path: list[Path], timeout: float = 1200
) -> str:
    """`script` in bash with `path` ahead of the PATH (this virtualenv's scripts only if in
    `path`); its stdout, or a failure with what it wrote."""
    system = [d for d in os.environ["PATH"].split(os.pathsep) if Path(d) != VENV_BIN]
    search = os.pathsep.join([*map(str, path), *system])
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env={**os.environ, **env, "PATH": search},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    said = f"exit {done.returncode}\n{done.stderr[-4000:]}\n{done.stdout[-2000:]}"
    assert done.returncode == 0, said
    return done.stdout


@pytest.fixture
def books(cluster: Cluster, crd: None, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Namespace `books` (restricted), an operator watching it, and a kubeconfig whose
    current namespace it is; afterwards the platform, the namespace and the chart's release
    are gone again."""
    body = {"metadata": {"name": NAMESPACE, "labels": op.RESTRICTED}}
    cluster.core.create_namespace(k8s.V1Namespace.model_validate(body))
    kubeconfig = tmp_path / "kubeconfig"
    shutil.copy(cluster.kubeconfig, kubeconfig)
    kubectl = [str(op.bin_dir() / "kubectl"), "--kubeconfig", str(kubeconfig)]
    here = f"--namespace={NAMESPACE}"
    subprocess.run([*kubectl, "config", "set-context", "--current", here], check=True)
    try:
        with op.operator(str(kubeconfig), "--namespace", NAMESPACE, log_dir=tmp_path):
            yield {"KUBECONFIG": str(kubeconfig)}
            subprocess.run([*kubectl, "delete", "acp", "books", "--ignore-not-found"], check=True)
    finally:
        helm = [str(op.bin_dir() / "helm"), "--kubeconfig", str(kubeconfig)]
        release = ["uninstall", "accounting-operator", "-n", CHART_NAMESPACE]
        subprocess.run([*helm, *release], check=False)
        for name in (NAMESPACE, CHART_NAMESPACE):
            helpers.ignore_not_found(functools.partial(cluster.core.delete_namespace, name))


def cluster_script() -> str:
    """The cluster blocks in reading order; those that need failover on and replicas in the
    spec last, each after setting them (a switchover names a replica)."""
    blocks = docs_commands.blocks("cluster")
    parts = ["set -euo pipefail"]
    for block in sorted(blocks, key=lambda block: bool(block.argument)):
        if block.argument:
            hosts = [[*host.split(":"), "5432"] for host in block.argument[9:].split(",")]
            replicas = [{"host": host, "port": int(port)} for host, port, *_ in hosts]
            failover = {"enabled": True, "credentialsSecretRef": {"name": "books-db-failover"}}
            spec = {"database": {"replicas": replicas}, "failover": failover}
            patch = json.dumps({"spec": spec})
            parts.append(f"kubectl patch acp books --type merge -p '{patch}' >/dev/null")
        parts += [f"echo '--- {block.where}' >&2", block.script()]
    return "\n".join(parts) + "\n"


def test_the_cluster_admins_commands_work_as_written(books: dict[str, str], tmp_path: Path) -> None:
    work = tmp_path / "checkout"  # the reader's checkout, without what the commands write
    work.mkdir()
    for name in ("examples", "charts"):
        (work / name).symlink_to(ROOT / name)
    out = run(cluster_script(), work, books, [op.bin_dir(), VENV_BIN])
    assert "Phase:           Ready" in out
    assert "switchover to pg-1.db.internal:5432 requested" in out
    assert (work / "books-report.tar.gz").stat().st_size > 0


def git_status() -> str:
    done = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_the_plugin_installs_from_a_fresh_virtualenv(tmp_path: Path) -> None:
    cache = Path(os.environ.get("PIP_CACHE_DIR", Path.home() / ".cache" / "pip"))
    env = {"HOME": str(tmp_path), "PIP_CACHE_DIR": str(cache), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    before = git_status()
    out = run(docs_commands.session("install"), ROOT, env, [op.bin_dir()])
    assert f"{tmp_path}/acp/bin/kubectl-acp" in out
    assert "promote a replica" in out, "kubectl acp --help lists the commands"
    assert git_status() == before, "pip install . left files in the checkout"


def test_the_local_cluster_commands_work_as_written(tmp_path: Path) -> None:
    env = {"UA_K8S_CLUSTER": "ua-docs"}  # not a developer's ua-dev
    try:
        run(docs_commands.session("local-cluster"), ROOT, env, [VENV_BIN])
    finally:
        down = ["make", "-s", "cluster-down"]
        subprocess.run(down, cwd=ROOT, env={**os.environ, **env}, check=False)
    processes = subprocess.run(
        ["pgrep", "-f", "clusters/ua-docs/"], capture_output=True, text=True, check=False
    )
    assert processes.stdout == "", "make cluster-down left processes of the cluster behind"


def test_make_demo_runs_its_tour_and_stops(tmp_path: Path) -> None:
    out = run(docs_commands.session("front-door"), ROOT, {"DEMO_EXIT": "1"}, [VENV_BIN])
    assert "hledger check --strict: ok" in out
    assert "Ready" in out
