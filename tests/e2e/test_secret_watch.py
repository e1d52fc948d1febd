"""With watch_secrets (the chart's watchSecrets), changing a value the API and worker read
rolls both Deployments' pods, and the operator's log never holds the value; without it
(the default) nothing about Secrets is watched and the pod templates carry no digest."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import helpers
from tests.e2e import operating as op
from tests.e2e import test_operator_install as install
from tests.e2e.conftest import NamespaceFactory
from tests.e2e.helpers import Cluster

DIGEST = "accounting.universalaccounting.com/secrets-digest"
NEW_KEY = "rotated-jwt-key-" + "q" * 32


def digests(cluster: Cluster, namespace: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for component in ("api", "worker"):
        template = op.deployment(cluster, namespace, component)["spec"]["template"]
        found[component] = (template["metadata"].get("annotations") or {}).get(DIGEST)
    return found


@pytest.fixture
def watching(
    cluster: Cluster, restricted: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[op.Operator]:
    monkeypatch.setenv("ACCOUNTING_OPERATOR_WATCH_SECRETS", "true")
    with op.operator(cluster.kubeconfig, "--namespace", restricted, log_dir=tmp_path) as running:
        yield running


def change_and_await_the_roll(cluster: Cluster, namespace: str, log: Path) -> None:
    """Change the JWT key the pods read; both templates get a new digest, the value
    never reaches the operator's log."""
    op.apply_example(cluster, namespace)
    op.wait_ready(cluster, namespace)
    before = digests(cluster, namespace)
    assert before["api"] is not None
    assert before["api"] == before["worker"]

    patch = json.dumps({"stringData": {"secret": NEW_KEY}})
    op.kubectl(cluster, "patch", "secret", "books-jwt", "-n", namespace, "-p", patch)

    def rolled() -> dict[str, str | None] | None:
        now = digests(cluster, namespace)
        return now if now["api"] != before["api"] and now["worker"] != before["worker"] else None

    after = helpers.wait_for("both pod templates to carry a new digest", rolled, timeout=60)
    assert after["api"] == after["worker"]
    op.wait_ready(cluster, namespace)
    text = log.read_text()
    assert NEW_KEY not in text
    assert "cm90YXRlZC1qd3Qta2V5" not in text  # nor its base64


def test_a_changed_secret_rolls_the_api_and_worker_pods(
    cluster: Cluster, restricted: str, watching: op.Operator
) -> None:
    change_and_await_the_roll(cluster, restricted, watching.log)
    # A Secret the pods read deleted: new pods could not start, so nothing rolls.
    before = digests(cluster, restricted)
    op.kubectl(cluster, "delete", "secret", "books-redis", "-n", restricted)
    helpers.wait_for(
        "the operator to say it does not roll while the Secret is missing",
        lambda: "books-redis/url is missing" in watching.log.read_text(),
        timeout=60,
    )
    assert digests(cluster, restricted) == before


def test_the_charts_watch_secrets_rbac_is_enough(
    cluster: Cluster,
    crd: None,
    namespaces: NamespaceFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The operator as the chart's ServiceAccount with watchSecrets: nothing forbidden."""
    operator_ns, platform_ns = namespaces(op.RESTRICTED), namespaces(op.RESTRICTED)
    release = f"acct-op-{secrets.token_hex(3)}"
    install.helm(cluster, tmp_path, "install", release, str(install.CHART),
                 "--namespace", operator_ns, "--set", f"watchNamespaces={{{platform_ns}}}",
                 "--set", "watchSecrets=true", "--wait", "--timeout", "120s")  # fmt: skip
    try:
        token = op.kubectl(cluster, "create", "token", release, "-n", operator_ns).stdout.strip()
        kubeconfig = install.service_account_kubeconfig(cluster, token, tmp_path / "sa.yaml")
        monkeypatch.setenv("ACCOUNTING_OPERATOR_WATCH_SECRETS", "true")
        with op.operator(kubeconfig, "--namespace", platform_ns, log_dir=tmp_path) as running:
            change_and_await_the_roll(cluster, platform_ns, running.log)
        assert "orbidden" not in running.log.read_text()
    finally:
        install.helm(cluster, tmp_path, "uninstall", release, "--namespace", operator_ns, "--wait")


def test_without_the_option_no_digest_is_kept(
    cluster: Cluster, restricted: str, operator: op.Operator
) -> None:
    op.apply_example(cluster, restricted)
    op.wait_ready(cluster, restricted)
    assert digests(cluster, restricted) == {"api": None, "worker": None}
