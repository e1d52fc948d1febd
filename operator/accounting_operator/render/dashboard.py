"""The platform's Grafana dashboard, in a ConfigMap that Grafana's sidecar loads (label
`grafana_dashboard: "1"`, as kube-prometheus-stack's Grafana expects). Every query names
this platform (render.promql); tests check each one with promtool."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from accounting_operator.render import meta, promql
from accounting_operator.render.platform import Manifest, Platform

SIDECAR_LABEL = "grafana_dashboard"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    unit: str
    targets: tuple[tuple[str, str], ...]
    """(PromQL, legend) of each line."""


def line(title: str, unit: str, expr: str, legend: str) -> Panel:
    """A panel of one query."""
    return Panel(title, unit, ((expr, legend),))


def _rate(series: str, by: str = "", window: str = "5m") -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({series}[{window}]))"


def _quantile(q: float, buckets: str, by: str = "") -> str:
    return f"histogram_quantile({q}, sum by (le{', ' + by if by else ''}) (rate({buckets}[5m])))"


def traffic(p: Platform) -> list[Panel]:
    requests = promql.api(p, "http_request_duration_seconds_count")
    buckets = promql.api(p, "http_request_duration_seconds_bucket")
    server_errors = promql.api(p, "http_request_duration_seconds_count", status_code="~5..")
    available = promql.deployment(p, "kube_deployment_status_replicas_available", "api")
    return [
        line("Requests by route", "reqps", _rate(requests, "route"), "{{route}}"),
        Panel(
            "Latency",
            "s",
            ((_quantile(0.5, buckets), "p50"), (_quantile(0.99, buckets), "p99")),
        ),
        Panel(
            "Errors",
            "short",
            (
                (_rate(promql.app(p, "errors_total"), "type, service"), "{{service}} {{type}}"),
                (f"{_rate(server_errors)} / {_rate(requests)}", "5xx ratio"),
            ),
        ),
        line("Ready API pods", "short", available, "available"),
    ]


def database(p: Platform) -> list[Panel]:
    durations = promql.app(p, "db_query_duration_seconds_sum")
    buckets = promql.app(p, "db_query_duration_seconds_bucket")
    by = "operation"
    return [
        line("Database time by operation", "s", _rate(durations, by), "{{operation}}"),
        line("Query p99 by operation", "s", _quantile(0.99, buckets, by), "{{operation}}"),
    ]


def business(p: Platform) -> list[Panel]:
    invoices = promql.api(p, "invoices_created_total")
    payments = promql.api(p, "payments_processed_total")
    revenue = promql.worker(p, "revenue_recognized_amount_total")
    done = promql.worker(p, "accounting_worker_items_total")
    hourly = " * 3600"
    return [
        line("Invoices created per hour", "short",
             _rate(invoices, "customer_tier", "1h") + hourly, "{{customer_tier}}"),
        line("Payments per hour", "short",
             _rate(payments, "method, status", "1h") + hourly, "{{method}} {{status}}"),
        line("Revenue recognized per day (minor units)", "short",
             f"sum by (currency) (increase({revenue}[1d]))", "{{currency}}"),
        line("Worker: done per hour", "short",
             f"sum by (job) (increase({done}[1h]))", "{{job}}"),
    ]  # fmt: skip


def security(p: Platform) -> list[Panel]:
    events = promql.api(p, "accounting_security_events_total")
    limited = promql.api(p, "rate_limited_total")
    return [
        line("Security events per 15 minutes", "short",
             f"sum by (event) (increase({events}[15m]))", "{{event}}"),
        line("Rate-limited requests", "reqps", _rate(limited, "scope"), "{{scope}}"),
    ]  # fmt: skip


def operations(p: Platform) -> list[Panel]:
    success = promql.operator(p, "accounting_operator_backup_last_success_timestamp_seconds")
    verified = promql.operator(p, "accounting_operator_backup_last_verified_timestamp_seconds")
    promotions = promql.operator(p, "accounting_operator_failovers_total")
    lag = promql.operator(p, "accounting_operator_database_replica_lag_bytes")
    primary = promql.operator(p, "accounting_operator_database_primary_up")
    return [
        Panel(
            "Age of the newest backup and restore test",
            "s",
            ((f"time() - {success}", "backup"), (f"time() - {verified}", "verified")),
        ),
        Panel(
            "Failovers and primary health",
            "short",
            (
                (f"sum by (kind) (increase({promotions}[1h]))", "{{kind}} per hour"),
                (primary, "primary up"),
            ),
        ),
        line("Replica lag", "bytes", f"max by (server) ({lag})", "{{server}}"),
    ]


SECTIONS = (
    ("Requests, latency and errors", traffic),
    ("Database time", database),
    ("Invoices, payments and revenue", business),
    ("Security", security),
    ("Backups and failover", operations),
)


def queries(platform: Platform) -> list[str]:
    """Every PromQL query of the dashboard."""
    return [e for _, make in SECTIONS for panel in make(platform) for e, _ in panel.targets]


def _panel(panel: Panel, ident: int, x: int, y: int) -> Manifest:
    return {
        "id": ident,
        "type": "timeseries",
        "title": panel.title,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "targets": [
            {"refId": chr(65 + i), "expr": e, "legendFormat": legend, "datasource": DATASOURCE}
            for i, (e, legend) in enumerate(panel.targets)
        ],
    }


def panels(platform: Platform) -> list[Manifest]:
    """Grafana's panel list: a row per section, two panels side by side."""
    out: list[Manifest] = []
    y = 0
    for title, make in SECTIONS:
        out.append(
            {
                "id": len(out) + 1,
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        y += 1
        for index, panel in enumerate(make(platform)):
            out.append(_panel(panel, len(out) + 1, 12 * (index % 2), y + 8 * (index // 2)))
        y += 8 * ((len(make(platform)) + 1) // 2)
    return out


def document(platform: Platform) -> Manifest:
    """The dashboard's JSON model."""
    where = f"{platform.namespace}/{platform.name}"
    return {
        "uid": "ua-" + hashlib.sha256(where.encode()).hexdigest()[:16],
        "title": f"Universal Accounting: {where}",
        "tags": ["universal-accounting"],
        "timezone": "utc",
        "schemaVersion": 39,
        "editable": False,
        "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                },
            ]
        },
        "panels": panels(platform),
    }


def config_map(platform: Platform) -> Manifest | None:
    if not platform.spec.monitoring.grafana_dashboard.enabled:
        return None
    metadata = meta.metadata(platform, platform.child("dashboard"), meta.PLATFORM)
    metadata["labels"][SIDECAR_LABEL] = "1"
    text = json.dumps(document(platform), indent=1, sort_keys=True)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": {f"accounting-{platform.namespace}-{platform.name}.json": text},
    }
