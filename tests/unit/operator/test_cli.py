"""`accounting-operator crd` and `accounting-operator render`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from accounting_operator import cli, crd
from tests.unit.operator import helpers


def write_platform(tmp_path: Path, spec: dict[str, object]) -> Path:
    path = tmp_path / "platform.yaml"
    resource = {
        "apiVersion": "accounting.universalaccounting.com/v1alpha1",
        "kind": "AccountingPlatform",
        "metadata": {"name": "books", "namespace": "acct"},
        "spec": spec,
    }
    path.write_text(yaml.safe_dump(resource))
    return path


def test_crd_prints_the_generated_crd(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["crd"]) == 0
    assert capsys.readouterr().out == crd.render_yaml()


def test_render_prints_every_child(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_platform(tmp_path, helpers.MINIMAL)
    assert cli.main(["render", str(path), "--namespace", "other"]) == 0
    documents = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in documents][:3] == ["ServiceAccount", "ConfigMap", "Job"]
    assert {d["metadata"]["namespace"] for d in documents} == {"other"}


def test_render_reports_an_invalid_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_platform(tmp_path, helpers.merged(helpers.MINIMAL, {"ingress": {"enabled": True}}))
    assert cli.main(["render", str(path)]) == 2
    assert "ingress.host is required when ingress is enabled" in capsys.readouterr().err


def test_render_reports_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["render", str(tmp_path / "absent.yaml")]) == 2
    assert "absent.yaml" in capsys.readouterr().err
