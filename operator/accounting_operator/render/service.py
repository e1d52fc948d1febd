"""The API's ClusterIP Service: port 80 to the pods' http port (which also serves /metrics)."""

from __future__ import annotations

from accounting_operator.render import meta
from accounting_operator.render.platform import Manifest, Platform

PORT = 80


def service(platform: Platform) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.metadata(platform, platform.child("api"), meta.API),
        "spec": {
            "type": "ClusterIP",
            "selector": meta.selector(platform, meta.API),
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }
