"""The chart's monitoring of the operator itself, behind values: a ServiceMonitor that
keeps the operator's own `namespace` labels, and alerts (operator down, reconciles
failing) that pass promtool's check and unit tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.unit.operator import promtool
from tests.unit.operator.promtool import Case
from tests.unit.operator.test_chart import by_kind, template

JOB = 'namespace="ops", job="ops-metrics"'
DOWN = {"severity": "critical", "namespace": "ops"}


def rules() -> list[dict[str, Any]]:
    (rule,) = by_kind(template("metrics.prometheusRule.enabled=true"), "PrometheusRule")
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def reconciles(result: str, values: str) -> dict[str, str]:
    return {f'accounting_operator_reconciles_total{{{JOB}, result="{result}"}}': values}


CASES = [
    Case("AccountingOperatorDown", {f"up{{{JOB}}}": "1x5 0x20"}, "15m",
         [DOWN]),
    Case("AccountingOperatorDown", {'up{namespace="ops", job="other"}': "1x20"}, "15m",
         [DOWN]),
    Case("AccountingOperatorDown", {f"up{{{JOB}}}": "1x30"}, "15m"),
    Case("AccountingOperatorReconcileErrors", reconciles("failed", "0+1x40"), "30m",
         [{"severity": "warning", "namespace": "ops", "result": "failed"}]),
    Case("AccountingOperatorReconcileErrors",
         {**reconciles("failed", "0x40"), **reconciles("success", "0+5x40")}, "30m"),
]  # fmt: skip


def test_operator_alerts_are_off_by_default() -> None:
    assert by_kind(template(), "PrometheusRule") == []
    assert by_kind(template(), "ServiceMonitor") == []


def test_operator_alerts_pass_promtool(tmp_path: Path) -> None:
    assert promtool.uncovered(rules(), CASES) == {"never fired": set(), "never quiet": set()}
    assert "SUCCESS" in promtool.check_rules(tmp_path, rules())
    assert "SUCCESS" in promtool.unit_tests(tmp_path, rules(), CASES)


def test_the_operator_is_scraped_with_its_own_labels() -> None:
    documents = template("metrics.serviceMonitor.enabled=true",
                         "metrics.serviceMonitor.labels.release=prom")  # fmt: skip
    (monitor,) = by_kind(documents, "ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["honorLabels"]) == ("metrics", True)
    assert monitor["metadata"]["labels"]["release"] == "prom"
    (service,) = by_kind(documents, "Service")
    assert service["metadata"]["name"] == "ops-metrics"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
