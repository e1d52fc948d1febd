"""Scraping by the Prometheus Operator, rendered only where its CRD exists: the
ServiceMonitor of the API's and the worker's /metrics, and the worker's metrics Service
it finds the worker pods through (the worker serves nothing else)."""

from __future__ import annotations

from accounting_operator.render import meta, pods, service
from accounting_operator.render.platform import Manifest, Platform


def _scraped(platform: Platform) -> bool:
    # Applying one without the CRD would fail every reconcile; the caller checks.
    return platform.spec.monitoring.service_monitor.enabled and platform.service_monitor_crd


def service_monitor(platform: Platform) -> Manifest | None:
    if not _scraped(platform):
        return None
    interval = platform.spec.monitoring.service_monitor.interval
    components = {"key": "app.kubernetes.io/component", "operator": "In",
                  "values": [meta.API, meta.WORKER]}  # fmt: skip
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": meta.metadata(platform, platform.child("api"), meta.API),
        "spec": {
            "selector": {
                "matchLabels": {"app.kubernetes.io/instance": platform.name},
                "matchExpressions": [components],
            },
            "namespaceSelector": {"matchNames": [platform.namespace]},
            # Each Service has one of the two ports: the API's http, the worker's metrics.
            "endpoints": [
                {"port": port, "path": "/metrics", "interval": interval}
                for port in ("http", pods.METRICS_PORT_NAME)
            ],
        },
    }


def worker_service(platform: Platform) -> Manifest | None:
    """A headless Service over the worker pods' metrics port, for the ServiceMonitor."""
    if not _scraped(platform):
        return None
    port = {"name": pods.METRICS_PORT_NAME, "port": pods.METRICS_PORT,
            "targetPort": pods.METRICS_PORT_NAME, "protocol": "TCP"}  # fmt: skip
    return service.of(platform, meta.WORKER, port, clusterIP="None")
