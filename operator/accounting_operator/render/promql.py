"""PromQL selectors of one platform's series, shared by its alerts and its dashboard.

The ServiceMonitor's targets carry `namespace` and `job` (the Service's name: NAME-api,
NAME-worker); the operator's own series carry `namespace` and `platform` labels of their
own (its chart scrapes it with honorLabels); kube-state-metrics names the object. Every
query names one platform, so one Prometheus can watch many.
"""

from __future__ import annotations

from accounting_operator.render.platform import Platform


def _matchers(**labels: str) -> str:
    inner = ", ".join(f'{name}{op}"{value}"' for name, (op, value) in _ops(labels))
    return "{" + inner + "}"


def _ops(labels: dict[str, str]) -> list[tuple[str, tuple[str, str]]]:
    # A value starting with "~" is a regular expression (=~), else an exact match.
    return [
        (name, ("=~", value[1:]) if value.startswith("~") else ("=", value))
        for name, value in labels.items()
    ]


def series(name: str, **labels: str) -> str:
    """`name{labels}`; every metric a rule or panel reads is written through this."""
    return name + _matchers(**labels)


def api(platform: Platform, name: str, **labels: str) -> str:
    """A series of the API's /metrics."""
    return series(name, namespace=platform.namespace, job=platform.child("api"), **labels)


def worker(platform: Platform, name: str, **labels: str) -> str:
    """A series of the worker's /metrics."""
    return series(name, namespace=platform.namespace, job=platform.child("worker"), **labels)


def app(platform: Platform, name: str, **labels: str) -> str:
    """A series of the API's and the worker's /metrics (the same metric in both)."""
    jobs = f"~{platform.child('api')}|{platform.child('worker')}"
    return series(name, namespace=platform.namespace, job=jobs, **labels)


def operator(platform: Platform, name: str, **labels: str) -> str:
    """A series the operator exports about this platform."""
    return series(name, namespace=platform.namespace, platform=platform.name, **labels)


def deployment(platform: Platform, name: str, component: str) -> str:
    """A kube-state-metrics series of the platform's Deployment NAME-component."""
    return series(name, namespace=platform.namespace, deployment=platform.child(component))


def hpa(platform: Platform, name: str) -> str:
    """A kube-state-metrics series of the API's HorizontalPodAutoscaler."""
    return series(name, namespace=platform.namespace, horizontalpodautoscaler=platform.child("api"))
