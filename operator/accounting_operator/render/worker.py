"""The worker Deployment (`accounting-api worker`): no ports, same hardening as the API."""

from __future__ import annotations

from accounting_operator.render import meta, pods
from accounting_operator.render.platform import Manifest, Platform


def deployment(platform: Platform) -> Manifest:
    spec = platform.spec
    env = pods.app_env(platform, spec.database.credentials_secret_ref)
    container = pods.container(platform, "worker", ["worker"], env, spec.worker.resources)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta.metadata(platform, platform.child("worker"), meta.WORKER),
        "spec": {
            "replicas": spec.worker.replicas,
            "selector": {"matchLabels": meta.selector(platform, meta.WORKER)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "progressDeadlineSeconds": spec.worker.progress_deadline_seconds,
            "revisionHistoryLimit": 5,
            "template": pods.rolling_template(
                platform, meta.WORKER, pods.pod_spec(platform, [container])
            ),
        },
    }
