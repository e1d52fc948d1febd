"""The API's ClusterIP Service: port 80 to the pods' http port (which also serves /metrics)."""

from __future__ import annotations

from accounting_operator.render import meta
from accounting_operator.render.platform import Manifest, Platform

PORT = 80


def of(platform: Platform, component: str, port: Manifest, **spec: str) -> Manifest:
    """A Service NAME-component over that component's pods, with one port."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.metadata(platform, platform.child(component), component),
        "spec": {**spec, "selector": meta.selector(platform, component), "ports": [port]},
    }


def service(platform: Platform) -> Manifest:
    port = {"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}
    return of(platform, meta.API, port, type="ClusterIP")
