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


def test_render_shows_the_prometheus_operators_objects_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_platform(tmp_path, helpers.MINIMAL)
    assert cli.main(["render", str(path), "--service-monitor", "--prometheus-rule"]) == 0
    kinds = [d["kind"] for d in yaml.safe_load_all(capsys.readouterr().out)]
    assert {"ServiceMonitor", "PrometheusRule"} <= set(kinds)
    assert cli.main(["render", str(path)]) == 0
    kinds = [d["kind"] for d in yaml.safe_load_all(capsys.readouterr().out)]
    assert {"ServiceMonitor", "PrometheusRule"}.isdisjoint(kinds)


def test_render_reports_an_invalid_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_platform(tmp_path, helpers.merged(helpers.MINIMAL, {"ingress": {"enabled": True}}))
    assert cli.main(["render", str(path)]) == 2
    assert "ingress.host is required when ingress is enabled" in capsys.readouterr().err


def test_render_reports_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["render", str(tmp_path / "absent.yaml")]) == 2
    assert "absent.yaml" in capsys.readouterr().err


def test_run_takes_namespaces_or_all() -> None:
    args = cli.parser().parse_args(["run", "-n", "books", "--namespace", "ledger"])
    assert (args.namespace, args.all_namespaces) == (["books", "ledger"], False)
    assert cli.parser().parse_args(["run", "--all-namespaces"]).all_namespaces


def test_run_refuses_both_scopes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["run", "-n", "books", "-A"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_run_reports_bad_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACCOUNTING_OPERATOR_DRIFT_INTERVAL", "often")
    assert cli.main(["run", "-A"]) == 2
    assert "ACCOUNTING_OPERATOR_DRIFT_INTERVAL" in capsys.readouterr().err
