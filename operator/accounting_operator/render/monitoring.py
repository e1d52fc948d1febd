"""The ServiceMonitor (Prometheus Operator), rendered only where its CRD exists."""

from __future__ import annotations

from accounting_operator.render import meta
from accounting_operator.render.platform import Manifest, Platform


def service_monitor(platform: Platform) -> Manifest | None:
    monitor = platform.spec.monitoring.service_monitor
    # Applying one without the CRD would fail every reconcile; the caller checks.
    if not (monitor.enabled and platform.service_monitor_crd):
        return None
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": meta.metadata(platform, platform.child("api"), meta.API),
        "spec": {
            "selector": {"matchLabels": meta.selector(platform, meta.API)},
            "namespaceSelector": {"matchNames": [platform.namespace]},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": monitor.interval}],
        },
    }
