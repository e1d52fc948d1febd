"""The platform's PrometheusRule and Grafana dashboard, checked by promtool: the rules
parse, each alert fires on series that should fire it and stays quiet on series that
should not (another platform's series included), and every dashboard query parses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from accounting_operator.render import alerts, dashboard, promql
from accounting_operator.render.platform import Manifest, Platform
from tests.unit.operator import helpers, promtool
from tests.unit.operator.promtool import Case

NS, NAME = helpers.NAMESPACE, helpers.NAME
OWN = {"severity": "critical", "namespace": NS, "platform": NAME}
WARN = {**OWN, "severity": "warning"}
API = f'namespace="{NS}", job="{NAME}-api"'
OPERATOR = f'namespace="{NS}", platform="{NAME}"'
HOURLY_LIMIT = 7200  # backups every hour: twice the longest gap


def full(**facts: Any) -> Platform:
    return helpers.platform(helpers.FULL, prometheus_rule_crd=True, **facts)


def groups(platform: Platform) -> list[dict[str, Any]]:
    manifest = alerts.prometheus_rule(platform)
    assert manifest is not None
    found: list[dict[str, Any]] = manifest["spec"]["groups"]
    return found


def requests(status: str, per_minute: int, job: str = f"{NAME}-api") -> tuple[str, str]:
    labels = f'namespace="{NS}", job="{job}", method="GET", route="/v1/accounts"'
    return f'http_request_duration_seconds_count{{{labels}, status_code="{status}"}}', (
        f"0+{per_minute}x40"
    )


def buckets(slow: bool) -> dict[str, str]:
    # 10 requests a minute, all under 0.5 s or all between 1 and 2.5 s.
    fast = {"0.5": 0 if slow else 10, "1": 0 if slow else 10, "2.5": 10, "+Inf": 10}
    return {
        f'http_request_duration_seconds_bucket{{{API}, le="{le}"}}': f"0+{n}x40"
        for le, n in fast.items()
    }


def security(event: str, values: str, job: str = f"{NAME}-api") -> dict[str, str]:
    labels = f'namespace="{NS}", job="{job}", event="{event}", severity="warning"'
    return {f"accounting_security_events_total{{{labels}}}": values}


def operator(name: str, values: str, **extra: str) -> dict[str, str]:
    labels = "".join(f', {k}="{v}"' for k, v in extra.items())
    return {f"{name}{{{OPERATOR}{labels}}}": values}


def passes(failed: str, succeeded: str) -> dict[str, str]:
    labels = f'namespace="{NS}", job="{NAME}-worker"'
    return {
        f'accounting_worker_passes_total{{{labels}, result="failed"}}': failed,
        f'accounting_worker_passes_total{{{labels}, result="succeeded"}}': succeeded,
    }


BACKUP = "accounting_operator_backup_last_success_timestamp_seconds"
VERIFIED = "accounting_operator_backup_last_verified_timestamp_seconds"
FAILED_TEST = "accounting_operator_backup_last_failed_verification_timestamp_seconds"
SERVER = {"server": "pg-1.db.internal:5432"}
HPA = f'namespace="{NS}", horizontalpodautoscaler="{NAME}-api"'
CURRENT = f"kube_horizontalpodautoscaler_status_current_replicas{{{HPA}}}"
MAXIMUM = f"kube_horizontalpodautoscaler_spec_max_replicas{{{HPA}}}"
AVAILABLE = (
    f'kube_deployment_status_replicas_available{{namespace="{NS}", deployment="{NAME}-api"}}'
)
READ_LAG = f'accounting_db_replica_lag_bytes{{{API}, server="pg-1.db.internal:5432"}}'

ERRORS_10_PERCENT = dict([requests("200", 90), requests("500", 10)])
CASES = [
    Case("AccountingAPIServerErrors", ERRORS_10_PERCENT, "15m", [OWN]),
    Case("AccountingAPIServerErrors", dict([requests("200", 98), requests("500", 2)]), "15m"),
    Case("AccountingAPIServerErrors",
         dict([requests("200", 90), requests("500", 50, job="other-api")]), "15m"),
    Case("AccountingAPILatencyHigh", buckets(slow=True), "20m", [WARN]),
    Case("AccountingAPILatencyHigh", buckets(slow=False), "20m"),
    Case("AccountingAPIPodsNotReady",
         {AVAILABLE: "3x10 1x20"}, "20m", [OWN]),
    Case("AccountingAPIPodsNotReady",
         {AVAILABLE: "3x30"}, "20m"),
    Case("AccountingAPIAutoscalerMaxedOut",
         {CURRENT: "20x30", MAXIMUM: "20x30"},
         "20m", [WARN]),
    Case("AccountingAPIAutoscalerMaxedOut",
         {CURRENT: "12x30", MAXIMUM: "20x30"},
         "20m"),
    Case("AccountingWorkerFailing", passes("0+1x60", "5x60"), "45m", [OWN]),
    Case("AccountingWorkerFailing", passes("0+1x60", "0+1x60"), "45m"),  # some pass
    Case("AccountingWorkerFailing", passes("0x60", "0+1x60"), "45m"),
    # The guide's threshold: more than 5 failed sign-ins in 15 minutes, platform-wide.
    Case("AccountingFailedSignInsHigh", security("auth.sign_in_failed", "0+1x30"), "20m",
         [{**WARN, "event": "auth.sign_in_failed"}]),
    Case("AccountingFailedSignInsHigh", security("auth.sign_in_failed", "0+0.25x30"), "20m"),
    Case("AccountingFailedSignInsHigh",
         security("auth.sign_in_failed", "0+1x30", job="other-api"), "20m"),
    Case("AccountingSignInsBlockedOrLocked", security("user.locked", "0x5 1x25"), "10m",
         [{**WARN, "event": "user.locked"}]),
    Case("AccountingSignInsBlockedOrLocked",
         {**security("auth.sign_in_failed", "0+1x30"), **security("user.locked", "1x30")}, "20m"),
    Case("AccountingBackupTooOld", operator(BACKUP, "0x200"), "3h", [OWN]),
    Case("AccountingBackupTooOld", operator(BACKUP, "0+60x200"), "3h"),  # one a minute
    Case("AccountingBackupMissing", operator(VERIFIED, "0x200"), f"{HOURLY_LIMIT + 600}s", [OWN]),
    Case("AccountingBackupMissing", operator(BACKUP, "0+60x200"), f"{HOURLY_LIMIT + 600}s"),
    Case("AccountingBackupRestoreTestFailed",
         {**operator(VERIFIED, "500x20"), **operator(FAILED_TEST, "1000x20")}, "10m", [OWN]),
    Case("AccountingBackupRestoreTestFailed", operator(FAILED_TEST, "1000x20"), "10m", [OWN]),
    Case("AccountingBackupRestoreTestFailed",
         {**operator(VERIFIED, "1000x20"), **operator(FAILED_TEST, "500x20")}, "10m"),
    Case("AccountingDatabaseFailover",
         operator("accounting_operator_failovers_total", "0x10 1x20", kind="Failover"), "15m",
         [{**WARN, "kind": "Failover"}]),
    Case("AccountingDatabaseFailover",
         operator("accounting_operator_failovers_total", "0x30", kind="Failover"), "15m"),
    Case("AccountingDatabaseFailover",
         operator("accounting_operator_failovers_total", "0x10 1x20", kind="Switchover"), "15m"),
    Case("AccountingDatabasePrimaryDown",
         operator("accounting_operator_database_primary_up", "1x5 0x10"), "10m", [OWN]),
    Case("AccountingDatabasePrimaryDown",
         operator("accounting_operator_database_primary_up", "1x20"), "10m"),
    Case("AccountingDatabaseReplicaLagHigh",
         operator("accounting_operator_database_replica_lag_bytes", "100000000x20", **SERVER),
         "10m", [{**WARN, **SERVER}]),
    Case("AccountingDatabaseReplicaLagHigh",
         operator("accounting_operator_database_replica_lag_bytes", "1000x20", **SERVER), "10m"),
    Case("AccountingReplicaReadsLagging",
         {READ_LAG: "100000000x20"},
         "10m", [{**WARN, **SERVER}]),
    Case("AccountingReplicaReadsLagging",
         {READ_LAG: "0x20"},
         "10m"),
]  # fmt: skip


def test_every_alert_has_a_case_where_it_fires_and_one_where_it_stays_quiet() -> None:
    assert promtool.uncovered(groups(full()), CASES) == {"never fired": set(), "never quiet": set()}


def test_the_rules_pass_promtool_check(tmp_path: Path) -> None:
    report = promtool.check_rules(tmp_path, groups(full()))
    assert f"SUCCESS: {len(promtool.alert_names(groups(full())))} rules found" in report


def test_each_alert_fires_when_it_should_and_only_then(tmp_path: Path) -> None:
    assert "SUCCESS" in promtool.unit_tests(tmp_path, groups(full()), CASES)


def test_thresholds_come_from_the_spec(tmp_path: Path) -> None:
    patch = {"monitoring": {"prometheusRule": {"failedSignIns": 20, "serverErrorPercent": 15}}}
    tuned = helpers.platform(helpers.merged(helpers.FULL, patch), prometheus_rule_crd=True)
    cases = [
        Case("AccountingFailedSignInsHigh", security("auth.sign_in_failed", "0+1x30"), "20m"),
        Case("AccountingAPIServerErrors", dict([requests("200", 90), requests("500", 10)]), "15m"),
    ]
    assert "SUCCESS" in promtool.unit_tests(tmp_path, groups(tuned), cases)


@pytest.mark.parametrize(
    ("patch", "absent"),
    [
        ({"backup": {"enabled": False}}, {"AccountingBackupTooOld", "AccountingBackupMissing"}),
        ({"failover": {"enabled": False}}, {"AccountingDatabaseFailover"}),
        ({"api": {"autoscaling": {"enabled": False}}}, {"AccountingAPIAutoscalerMaxedOut"}),
        ({"worker": {"replicas": 0}}, {"AccountingWorkerFailing"}),
        ({"database": {"replicaReads": {"enabled": False}}}, {"AccountingReplicaReadsLagging"}),
    ],
)
def test_alerts_of_features_that_are_off_are_left_out(
    patch: dict[str, Any], absent: set[str]
) -> None:
    platform = helpers.platform(helpers.merged(helpers.FULL, patch), prometheus_rule_crd=True)
    names = promtool.alert_names(groups(platform))
    assert names & absent == set()
    assert "AccountingAPIServerErrors" in names


def test_the_prometheus_rule_needs_its_crd_and_monitoring_on() -> None:
    assert alerts.prometheus_rule(helpers.platform(helpers.FULL)) is None
    off = {"monitoring": {"prometheusRule": {"enabled": False}}}
    switched_off = helpers.platform(helpers.merged(helpers.FULL, off), prometheus_rule_crd=True)
    assert alerts.prometheus_rule(switched_off) is None
    labelled = {"monitoring": {"prometheusRule": {"labels": {"release": "kube-prometheus-stack"}}}}
    manifest = alerts.prometheus_rule(
        helpers.platform(helpers.merged(helpers.FULL, labelled), prometheus_rule_crd=True)
    )
    assert manifest is not None
    assert manifest["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert manifest["metadata"]["ownerReferences"][0]["kind"] == "AccountingPlatform"


# --- the dashboard ---------------------------------------------------------------------


def board(platform: Platform) -> Manifest:
    manifest = dashboard.config_map(platform)
    assert manifest is not None
    (text,) = manifest["data"].values()
    found: Manifest = json.loads(text)
    return found


def test_every_dashboard_query_passes_promtool(tmp_path: Path) -> None:
    queries = dashboard.queries(full())
    recorded = [{"record": f"dashboard:query_{i}", "expr": q} for i, q in enumerate(queries)]
    report = promtool.check_rules(tmp_path, [{"name": "dashboard", "rules": recorded}])
    assert f"SUCCESS: {len(queries)} rules found" in report


def test_the_dashboard_covers_what_the_guide_watches() -> None:
    titles = " ".join(p["title"] for p in board(full())["panels"]).lower()
    for topic in ("requests", "latency", "errors", "database time", "invoices", "payments",
                  "revenue", "security", "backup", "failover"):  # fmt: skip
        assert topic in titles, topic


def test_the_dashboard_is_for_grafanas_sidecar_and_names_only_this_platform() -> None:
    manifest = dashboard.config_map(full())
    assert manifest is not None
    assert manifest["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert helpers.k8s_validate(manifest) == helpers.KUBERNETES_VERSION
    targets = [t for p in board(full())["panels"] for t in p.get("targets", [])]
    assert {t["expr"] for t in targets} == set(dashboard.queries(full()))
    for query in dashboard.queries(full()):
        assert all(f'namespace="{NS}"' in s for s in selectors(query)), query


def test_the_dashboard_goes_when_switched_off() -> None:
    off = {"monitoring": {"grafanaDashboard": {"enabled": False}}}
    assert dashboard.config_map(helpers.platform(off)) is None


def selectors(query: str) -> list[str]:
    return re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*\{[^}]*\}", query)


def test_selectors_are_quoted_matchers() -> None:
    assert promql.series("up", job="~a|b", namespace="x") == 'up{job=~"a|b", namespace="x"}'
