"""Labels, metadata and owner references shared by every rendered object."""

from __future__ import annotations

from accounting_operator import API_VERSION, KIND
from accounting_operator.render.platform import Manifest, Platform

APP_NAME = "accounting-api"
PART_OF = "universal-accounting"
MANAGED_BY = "accounting-operator"

API = "api"
WORKER = "worker"
MIGRATION = "migration"
PLATFORM = "platform"
"""Components: the value of app.kubernetes.io/component."""


def selector(platform: Platform, component: str) -> dict[str, str]:
    """Labels that select a component's pods; never includes the version (immutable)."""
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": platform.name,
        "app.kubernetes.io/component": component,
    }


def labels(platform: Platform, component: str) -> dict[str, str]:
    """The standard app.kubernetes.io labels of every object and pod."""
    return {
        **selector(platform, component),
        "app.kubernetes.io/version": platform.spec.version,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def owner_reference(platform: Platform) -> Manifest:
    """Makes the platform the controller of a child, so deleting it collects the child."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": platform.name,
        "uid": platform.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def metadata(
    platform: Platform, name: str, component: str, annotations: dict[str, str] | None = None
) -> Manifest:
    """metadata of a child: name, namespace, labels, owner and optional annotations."""
    meta: Manifest = {
        "name": name,
        "namespace": platform.namespace,
        "labels": labels(platform, component),
        "ownerReferences": [owner_reference(platform)],
    }
    if annotations:
        meta["annotations"] = annotations
    return meta
