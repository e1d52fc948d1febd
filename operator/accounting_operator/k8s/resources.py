"""Where each kind of object lives in the API: its REST path, from apiVersion and kind.

A fixed table instead of API discovery: the operator only ever touches these kinds, so
it needs no discovery round trips (and no discovery cache on a read-only filesystem).
"""

from __future__ import annotations

from dataclasses import dataclass

from accounting_operator import API_VERSION, KIND, PLURAL


@dataclass(frozen=True, slots=True)
class Resource:
    """One kind of namespaced object."""

    api_version: str
    kind: str
    plural: str

    def path(self, namespace: str, name: str | None = None, subresource: str = "") -> str:
        root = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        out = f"{root}/namespaces/{namespace}/{self.plural}"
        if name is not None:
            out += f"/{name}"
        if subresource:
            out += f"/{subresource}"
        return out

    def cluster_path(self) -> str:
        """The list across all namespaces."""
        root = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        return f"{root}/{self.plural}"


PLATFORM = Resource(API_VERSION, KIND, PLURAL)
EVENT = Resource("v1", "Event", "events")
SECRET = Resource("v1", "Secret", "secrets")
"""Read only for spec.failover.credentialsSecretRef (see `Client.secret`)."""

CHILDREN: tuple[Resource, ...] = (
    Resource("v1", "ServiceAccount", "serviceaccounts"),
    Resource("v1", "ConfigMap", "configmaps"),
    Resource("batch/v1", "Job", "jobs"),
    Resource("batch/v1", "CronJob", "cronjobs"),
    Resource("apps/v1", "Deployment", "deployments"),
    Resource("v1", "Service", "services"),
    Resource("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
    Resource("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
    Resource("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
    Resource("networking.k8s.io/v1", "Ingress", "ingresses"),
)
"""Every kind of child the renderers produce, except the Prometheus Operator's."""

SERVICE_MONITOR = Resource("monitoring.coreos.com/v1", "ServiceMonitor", "servicemonitors")
PROMETHEUS_RULE = Resource("monitoring.coreos.com/v1", "PrometheusRule", "prometheusrules")
MONITORING = (SERVICE_MONITOR, PROMETHEUS_RULE)
"""The Prometheus Operator's kinds: rendered only where their CRDs are served."""

_BY_KIND = {r.kind: r for r in (*CHILDREN, *MONITORING, PLATFORM, EVENT)}


class UnknownKindError(KeyError):
    """A manifest of a kind the apply layer does not know."""


def of(manifest: dict[str, object]) -> Resource:
    """The resource of a manifest (by kind; its apiVersion must match the table)."""
    kind = str(manifest.get("kind"))
    found = _BY_KIND.get(kind)
    if found is None or found.api_version != manifest.get("apiVersion"):
        raise UnknownKindError(f"{manifest.get('apiVersion')}/{kind}")
    return found


def children(service_monitors: bool, prometheus_rules: bool = False) -> tuple[Resource, ...]:
    """The kinds to list (and prune) for a platform: the served monitoring kinds too."""
    served = (service_monitors, prometheus_rules)
    return (*CHILDREN, *(r for r, on in zip(MONITORING, served, strict=True) if on))
