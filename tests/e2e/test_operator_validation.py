"""Invalid AccountingPlatforms are refused by the API server at `kubectl apply`, with a
message that names the problem: the CRD's schema and CEL rules at work, on the same
cases the unit tests check against the model."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e import operating as op
from tests.e2e.conftest import NamespaceFactory
from tests.e2e.helpers import Cluster
from tests.unit.operator import helpers as unit
from tests.unit.operator.test_spec import RULES, SCHEMA


def without_nulls(tree: dict[str, Any]) -> dict[str, Any]:
    """None in a patch means: leave the field out."""
    return {
        k: without_nulls(v) if isinstance(v, dict) else v for k, v in tree.items() if v is not None
    }


def resource(spec: dict[str, Any], name: str = "bad") -> str:
    return json.dumps(
        {
            "apiVersion": f"{op.GROUP}/{op.VERSION}",
            "kind": "AccountingPlatform",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


# (id, resource, text the refusal must contain)
CORPUS: list[tuple[str, str, str]] = [
    *((f"rule-{i}", resource(unit.merged(unit.MINIMAL, patch)), text) for i, patch, text in RULES),
    *((f"schema-{i}", resource(without_nulls(unit.merged(unit.MINIMAL, patch))), field)
      for i, patch, field in SCHEMA),
    ("name-uppercase", resource(unit.MINIMAL, "Books"), "metadata.name"),
    ("name-starts-with-digit", resource(unit.MINIMAL, "1books"), "must start with a letter"),
    ("name-too-long", resource(unit.MINIMAL, "b" * 41), "at most 40 characters"),
    ("no-spec", json.dumps({"apiVersion": f"{op.GROUP}/{op.VERSION}", "kind": "AccountingPlatform",
                            "metadata": {"name": "bad"}}), "spec"),
    ("unknown-field", resource({**unit.MINIMAL, "replcas": 3}), "replcas"),
]  # fmt: skip


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 15


@pytest.fixture(scope="module")
def validation_namespace(cluster: Cluster) -> str:
    op.install_crd(cluster)
    return "default"


@pytest.mark.parametrize(
    ("manifest", "expected"), [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS]
)
def test_invalid_resource_is_refused(
    cluster: Cluster,
    namespaces: NamespaceFactory,
    validation_namespace: str,
    manifest: str,
    expected: str,
) -> None:
    del validation_namespace
    namespace = namespaces()
    done = op.kubectl(cluster, "apply", "-n", namespace, "-f", "-", stdin=manifest, check=False)
    assert done.returncode != 0, f"accepted: {manifest}"
    assert expected in done.stderr, done.stderr
    listing = op.kubectl(cluster, "get", "acp", "-n", namespace, "-o", "name")
    assert listing.stdout.strip() == ""


def test_a_valid_resource_is_admitted(
    cluster: Cluster, namespaces: NamespaceFactory, validation_namespace: str
) -> None:
    del validation_namespace
    namespace = namespaces()
    done = op.kubectl(
        cluster, "apply", "-n", namespace, "-f", "-", stdin=resource(unit.MINIMAL, "good")
    )
    assert "created" in done.stdout
