"""The API's PodDisruptionBudget: node drains keep enough API pods serving."""

from __future__ import annotations

from accounting_operator.render import meta
from accounting_operator.render.platform import Manifest, Platform


def min_available(platform: Platform) -> int:
    """The spec's value, else one less than the minimum replicas (a drain can proceed)."""
    spec = platform.spec
    explicit = spec.pod_disruption_budget.min_available
    return explicit if explicit is not None else max(spec.api.min_replicas() - 1, 0)


def pdb(platform: Platform) -> Manifest | None:
    if not platform.spec.pod_disruption_budget.enabled:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta.metadata(platform, platform.child("api"), meta.API),
        "spec": {
            "minAvailable": min_available(platform),
            "selector": {"matchLabels": meta.selector(platform, meta.API)},
            # A crash-looping pod is not serving anyway: never let it block a drain.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }
