"""The worker Deployment (`accounting-api worker`): one port, its /metrics; same hardening
as the API."""

from __future__ import annotations

from accounting_operator.render import meta, pods
from accounting_operator.render.platform import Manifest, Platform


def deployment(platform: Platform) -> Manifest:
    spec = platform.spec
    env = pods.app_env(platform, spec.database.credentials_secret_ref)
    args = ["worker", "--metrics-host", "0.0.0.0", "--metrics-port", str(pods.METRICS_PORT)]  # noqa: S104 (in a pod)
    container = {
        **pods.container(platform, "worker", args, env, spec.worker.resources),
        "ports": [
            {"name": pods.METRICS_PORT_NAME, "containerPort": pods.METRICS_PORT, "protocol": "TCP"}
        ],
    }
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
