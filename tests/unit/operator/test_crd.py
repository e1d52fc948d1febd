"""The CRD: committed file up to date, structural, documented, valid for Kubernetes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from accounting_operator import crd
from tests.unit.operator import helpers

COMMITTED = Path(__file__).resolve().parents[3] / "crds" / "accountingplatforms.yaml"
# Top-level fields every Kubernetes object has; `kubectl explain` documents them itself.
STANDARD = {"apiVersion", "kind", "metadata"}


def schemas(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its dotted path."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from schemas(child, f"{path}.{name}" if path else name)
    if "items" in node:
        yield from schemas(node["items"], f"{path}[]")


def all_nodes() -> list[tuple[str, dict[str, Any]]]:
    return [(p, n) for p, n in schemas(helpers.root_schema()) if p.split(".")[0] not in STANDARD]


def test_committed_crd_is_up_to_date() -> None:
    assert COMMITTED.read_text() == crd.render_yaml(), (
        "crds/accountingplatforms.yaml is stale: run "
        "`accounting-operator crd > crds/accountingplatforms.yaml`"
    )


def test_crd_validates_against_kubernetes_schema() -> None:
    assert helpers.k8s_validate(yaml.safe_load(COMMITTED.read_text())) == helpers.KUBERNETES_VERSION


def test_names_and_scope() -> None:
    spec = crd.crd()["spec"]
    assert crd.crd()["metadata"]["name"] == "accountingplatforms.accounting.universalaccounting.com"
    assert spec["group"] == "accounting.universalaccounting.com"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "AccountingPlatform"
    assert spec["names"]["plural"] == "accountingplatforms"
    assert spec["names"]["shortNames"] == ["acp"]
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}


def test_printer_columns() -> None:
    columns = crd.crd()["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [(c["name"], c["jsonPath"]) for c in columns] == [
        ("Phase", ".status.phase"),
        ("Version", ".spec.version"),
        ("Ready", ".status.ready"),
        ("Last backup", ".status.backup.lastSuccessful"),
        ("Last verified", ".status.backup.lastVerified"),
        ("Age", ".metadata.creationTimestamp"),
    ]


@pytest.mark.parametrize(
    "keyword",
    ["$ref", "$defs", "anyOf", "oneOf", "allOf", "title", "nullable"],
)
def test_schema_is_structural(keyword: str) -> None:
    assert [path for path, node in all_nodes() if keyword in node] == []


def test_only_maps_have_additional_properties() -> None:
    """Structural schemas allow additionalProperties for a map's values, never beside
    properties; the one map is the PrometheusRule's extra labels."""
    maps = [(path, node) for path, node in all_nodes() if "additionalProperties" in node]
    assert [path for path, _ in maps] == ["spec.monitoring.prometheusRule.labels"]
    assert all("properties" not in node for _, node in maps)


def test_every_node_has_a_type() -> None:
    assert [path for path, node in all_nodes() if "type" not in node] == []


def test_every_field_is_documented() -> None:
    """So `kubectl explain acp.spec...` explains every field."""
    undocumented = [
        path
        for path, node in all_nodes()
        # Scalar list items are explained by their list.
        if not node.get("description") and not (path.endswith("[]") and node["type"] != "object")
    ]
    assert undocumented == []


def test_cel_cost_is_bounded() -> None:
    """The API server refuses rules whose cost it cannot bound: strings and lists need limits."""
    unbounded = [
        path
        for path, node in all_nodes()
        if (
            node["type"] == "string"
            and "maxLength" not in node
            and "enum" not in node
            and node.get("format") != "date-time"
        )
        or (node["type"] == "array" and "maxItems" not in node)
    ]
    assert unbounded == []


def test_required_fields() -> None:
    spec = helpers.root_schema()["properties"]["spec"]
    assert spec["required"] == ["version", "database", "redis", "jwtSecretRef"]


def test_every_rule_has_a_message() -> None:
    rules = [
        r
        for _, node in schemas(helpers.root_schema())
        for r in node.get("x-kubernetes-validations", [])
    ]
    assert len(rules) >= 12
    assert all(r["message"] and r["rule"] for r in rules)


def test_defaults_satisfy_their_own_rules() -> None:
    """The API server rejects a CRD whose defaults break its rules; so do we."""
    for path, node in schemas(helpers.root_schema()):
        if "default" in node and "x-kubernetes-validations" in node:
            assert helpers.cel_failures_at(node, node["default"]) == [], path


def test_status_conditions_are_a_map_keyed_by_type() -> None:
    conditions = helpers.root_schema()["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert conditions["items"]["required"] == ["type", "status", "reason", "lastTransitionTime"]
