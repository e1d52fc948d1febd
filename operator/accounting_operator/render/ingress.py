"""The Ingress: TLS (cert-manager when an issuer is named) and an edge rate limit."""

from __future__ import annotations

from accounting_operator.render import meta, service
from accounting_operator.render.platform import Manifest, Platform


def edge_annotations(platform: Platform) -> dict[str, str]:
    ingress = platform.spec.ingress
    out = {
        "nginx.ingress.kubernetes.io/ssl-redirect": "true",
        "nginx.ingress.kubernetes.io/force-ssl-redirect": "true",
        # Per client IP, at the edge: bursts never reach the API's own limiter.
        "nginx.ingress.kubernetes.io/limit-rps": str(ingress.requests_per_second),
    }
    if ingress.cluster_issuer:
        out["cert-manager.io/cluster-issuer"] = ingress.cluster_issuer
    return out


def ingress(platform: Platform) -> Manifest | None:
    spec = platform.spec.ingress
    if not spec.enabled or spec.host is None:
        return None
    backend = {"service": {"name": platform.child("api"), "port": {"number": service.PORT}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta.metadata(platform, platform.name, meta.API, edge_annotations(platform)),
        "spec": {
            "ingressClassName": spec.class_name,
            "tls": [
                {
                    "hosts": [spec.host],
                    "secretName": spec.tls_secret_name or platform.child("tls"),
                }
            ],
            "rules": [
                {
                    "host": spec.host,
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                }
            ],
        },
    }
