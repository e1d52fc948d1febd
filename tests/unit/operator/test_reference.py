"""docs/reference/accountingplatform.md is generated from the spec and never stale: every
field of the CRD's schema has a row, with its default and rules as the API server applies
them."""

from __future__ import annotations

from pathlib import Path

from accounting_operator import crd, reference

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "reference" / "accountingplatform.md"


def test_the_reference_page_is_the_generated_one() -> None:
    assert PAGE.read_text() == reference.render(ROOT), (
        "docs/reference/accountingplatform.md is stale: run "
        "`accounting-operator reference > docs/reference/accountingplatform.md`"
    )


def test_every_field_of_the_schema_has_a_row() -> None:
    spec = crd.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    paths = [path for path, _, _ in reference.fields(spec)]
    assert len(paths) > 100
    page = PAGE.read_text()
    for path in paths:
        assert f"| `{path}` |" in page


def test_a_row_shows_type_default_rules_and_an_example_from_the_examples() -> None:
    page = PAGE.read_text()
    row = next(line for line in page.splitlines() if line.startswith("| `spec.api.replicas` |"))
    assert row.startswith("| `spec.api.replicas` | integer | `3` | ≥ 1; ≤ 1000 |")
    minimum = next(
        line
        for line in page.splitlines()
        if line.startswith("| `spec.api.autoscaling.minReplicas`")
    )
    assert minimum.endswith("| `3` |")  # examples/production.yaml
    assert "- failover.enabled needs at least one entry in database.replicas" in page
