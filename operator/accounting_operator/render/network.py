"""The NetworkPolicy: only the platform's namespace and the listed ones reach the API port
and the worker's metrics port.

It selects every pod of the platform, so the migration Job and the backup Jobs, which
listen on nothing, accept no traffic at all. Egress stays open: the database and Redis are
often outside the cluster, addressed by DNS names a NetworkPolicy cannot express.
"""

from __future__ import annotations

from accounting_operator.render import meta, pods
from accounting_operator.render.platform import Manifest, Platform


def peers(platform: Platform) -> list[Manifest]:
    out: list[Manifest] = [{"podSelector": {}}]  # any pod of the platform's namespace
    namespaces = platform.spec.network_policy.ingress_from_namespaces
    if namespaces:
        out.append(
            {
                "namespaceSelector": {
                    "matchExpressions": [
                        {
                            "key": "kubernetes.io/metadata.name",
                            "operator": "In",
                            "values": list(namespaces),
                        }
                    ]
                }
            }
        )
    return out


def network_policy(platform: Platform) -> Manifest | None:
    if not platform.spec.network_policy.enabled:
        return None
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta.metadata(platform, platform.name, meta.PLATFORM),
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/instance": platform.name}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": peers(platform),
                    "ports": [
                        {"port": pods.PORT, "protocol": "TCP"},
                        {"port": pods.METRICS_PORT, "protocol": "TCP"},
                    ],
                }
            ],
        },
    }
