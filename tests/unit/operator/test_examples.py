"""Every example AccountingPlatform parses, is admitted by the CRD, and renders valid
objects; every Secret it refers to is in secrets.example.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from accounting_api.domain import sealing
from accounting_operator import render
from accounting_operator.spec import AccountingPlatformSpec
from tests.unit.operator import helpers

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
PLATFORMS = sorted(p.name for p in EXAMPLES.glob("*.yaml") if p.name != "secrets.example.yaml")


def load(name: str) -> dict[str, Any]:
    resource: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return resource


def rendered_platform(name: str) -> render.Platform:
    """The example as the operator sees it, after the API server's defaults."""
    resource = load(name)
    return render.Platform(
        name=resource["metadata"]["name"],
        namespace="books",
        uid=helpers.UID,
        spec=AccountingPlatformSpec.model_validate(helpers.server_defaulted(resource["spec"])),
    )


def secret_names(tree: Any) -> set[str]:
    """Names of every *SecretRef in a spec."""
    if isinstance(tree, list):
        return set().union(*(secret_names(item) for item in tree)) if tree else set()
    if not isinstance(tree, dict):
        return set()
    found = {v["name"] for k, v in tree.items() if k.endswith("SecretRef")}
    return found.union(*(secret_names(v) for v in tree.values()))


def test_the_three_examples_exist() -> None:
    assert PLATFORMS == ["minimal.yaml", "production.yaml", "staging.yaml"]


@pytest.mark.parametrize("name", PLATFORMS)
def test_example_is_admitted_and_parses(name: str) -> None:
    resource = load(name)
    assert resource["kind"] == "AccountingPlatform"
    assert helpers.server_admits(resource["spec"], name=resource["metadata"]["name"]) == []
    AccountingPlatformSpec.model_validate(resource["spec"])


@pytest.mark.parametrize("name", PLATFORMS)
def test_example_renders_valid_objects(name: str) -> None:
    platform = rendered_platform(name)
    for manifest in render.render(platform):
        assert helpers.k8s_validate(manifest) == helpers.KUBERNETES_VERSION


@pytest.mark.parametrize("name", PLATFORMS)
def test_example_secrets_exist(name: str) -> None:
    secrets = list(yaml.safe_load_all((EXAMPLES / "secrets.example.yaml").read_text()))
    provided = {s["metadata"]["name"]: set(s["stringData"]) for s in secrets}
    spec = load(name)["spec"]
    assert secret_names(spec) <= set(provided)
    refs = [spec["redis"]["urlSecretRef"], spec["jwtSecretRef"]]
    refs += [spec["webhooks"]["secretKeysSecretRef"]] if "webhooks" in spec else []
    for tree in refs:
        assert tree["key"] in provided[tree["name"]]


def test_the_example_webhook_key_ring_is_one_the_api_accepts() -> None:
    secrets = yaml.safe_load_all((EXAMPLES / "secrets.example.yaml").read_text())
    [ring] = [s["stringData"]["keys"] for s in secrets if s["metadata"]["name"].endswith("-keys")]
    assert sealing.parse(ring).current == "FAKE-2026-01"


def test_secret_values_are_marked_fake() -> None:
    for secret in yaml.safe_load_all((EXAMPLES / "secrets.example.yaml").read_text()):
        for key, value in secret["stringData"].items():
            if key != "username":
                assert "FAKE" in value, (secret["metadata"]["name"], key)


def test_the_production_example_reads_reports_from_its_two_replicas() -> None:
    platform = rendered_platform("production.yaml")
    data = render.config.config_map(platform)["data"]
    assert data["DATABASE_REPLICAS"] == (
        "pg-1.postgres.databases.svc.cluster.local:5432,"
        "pg-2.postgres.databases.svc.cluster.local:5432"
    )
    assert (data["DATABASE_REPLICA_MAX_LAG_BYTES"], data["DATABASE_REPLICA_WAIT_MS"]) == (
        "16777216",
        "100",
    )
