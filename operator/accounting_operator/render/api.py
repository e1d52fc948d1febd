"""The API Deployment: probes, rolling strategy, topology spread, restricted pods."""

from __future__ import annotations

from accounting_operator.render import meta, pods
from accounting_operator.render.platform import Manifest, Platform

# The deployment guide's probe timings.
LIVENESS = {"initialDelaySeconds": 30, "periodSeconds": 10, "timeoutSeconds": 5}
READINESS = {"initialDelaySeconds": 5, "periodSeconds": 5, "timeoutSeconds": 3}
# Long enough for the endpoints to drop the pod before uvicorn stops accepting, so a
# rollout with maxUnavailable 0 loses no request.
PRE_STOP_SLEEP_SECONDS = 5


def probe(path: str, timings: dict[str, int]) -> Manifest:
    return {"httpGet": {"path": path, "port": "http"}, "failureThreshold": 3, **timings}


def spread(platform: Platform) -> list[Manifest]:
    """Spread API pods over zones and nodes, preferring but not requiring balance."""
    selector = {
        "matchLabels": meta.selector(platform, meta.API),
    }
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": selector,
            # Count only pods of the same ReplicaSet, so a rollout is not skewed by
            # the old version's pods.
            "matchLabelKeys": ["pod-template-hash"],
        }
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
    ]


def api_container(platform: Platform) -> Manifest:
    args = ["serve", "--host", "0.0.0.0", "--port", str(pods.PORT)]  # noqa: S104 (in a pod)
    spec = platform.spec
    env = pods.app_env(platform, spec.database.credentials_secret_ref)
    return {
        **pods.container(platform, "api", args, env, spec.api.resources),
        "ports": [{"name": "http", "containerPort": pods.PORT, "protocol": "TCP"}],
        # Not /health: it fails while the database is down, and restarting every
        # replica for that would only add a crash loop to the outage.
        "livenessProbe": probe("/health/live", LIVENESS),
        "readinessProbe": probe("/ready", READINESS),
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SLEEP_SECONDS}}},
    }


def deployment(platform: Platform) -> Manifest:
    api = platform.spec.api
    spec: Manifest = {
        "selector": {"matchLabels": meta.selector(platform, meta.API)},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {
                "maxSurge": api.rolling_update.max_surge,
                "maxUnavailable": api.rolling_update.max_unavailable,
            },
        },
        "progressDeadlineSeconds": api.progress_deadline_seconds,
        "revisionHistoryLimit": 5,
        "template": pods.rolling_template(
            platform,
            meta.API,
            pods.pod_spec(
                platform,
                [api_container(platform)],
                topologySpreadConstraints=spread(platform),
                terminationGracePeriodSeconds=30 + PRE_STOP_SLEEP_SECONDS,
            ),
        ),
    }
    # With an HPA the replica count is the HPA's: applying one would fight it.
    if not api.autoscaling.enabled:
        spec["replicas"] = api.replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta.metadata(platform, platform.child("api"), meta.API),
        "spec": spec,
    }
