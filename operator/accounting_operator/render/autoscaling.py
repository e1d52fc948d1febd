"""The API's HorizontalPodAutoscaler (autoscaling/v2) on CPU and memory utilization."""

from __future__ import annotations

from accounting_operator.render import meta
from accounting_operator.render.platform import Manifest, Platform


def utilization(resource: str, percent: int) -> Manifest:
    return {
        "type": "Resource",
        "resource": {
            "name": resource,
            "target": {"type": "Utilization", "averageUtilization": percent},
        },
    }


def hpa(platform: Platform) -> Manifest | None:
    autoscaling = platform.spec.api.autoscaling
    if not autoscaling.enabled:
        return None
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta.metadata(platform, platform.child("api"), meta.API),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": platform.child("api"),
            },
            "minReplicas": autoscaling.min_replicas,
            "maxReplicas": autoscaling.max_replicas,
            "metrics": [
                utilization("cpu", autoscaling.target_cpu_utilization_percentage),
                utilization("memory", autoscaling.target_memory_utilization_percentage),
            ],
        },
    }
