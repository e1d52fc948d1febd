"""Pod building blocks shared by the API, the worker and the migration Job.

Every pod meets the `restricted` Pod Security Standard: non-root, read-only root
filesystem, no privilege escalation, all capabilities dropped, RuntimeDefault seccomp.
Secrets reach containers only through secretKeyRef, never as literal values.
"""

from __future__ import annotations

from typing import Any

from accounting_operator.fieldtypes import DatabaseCredentialsRef, Resources, SecretKeyRef
from accounting_operator.render import config, meta
from accounting_operator.render.platform import (
    ROTATED_ANNOTATION,
    SECRETS_DIGEST_ANNOTATION,
    Manifest,
    Platform,
)

UID = 10001
PORT = 8000
METRICS_PORT = 9090
METRICS_PORT_NAME = "metrics"
"""The worker's /metrics (`accounting-api worker --metrics-port`)."""
TMP_VOLUME = "tmp"


def secret_env(name: str, ref: SecretKeyRef) -> Manifest:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}


def credentials_env(credentials: DatabaseCredentialsRef) -> list[Manifest]:
    """PGUSER and PGPASSWORD, which asyncpg reads when DATABASE_URL has no user."""
    return [
        secret_env("PGUSER", SecretKeyRef(name=credentials.name, key=credentials.username_key)),
        secret_env("PGPASSWORD", SecretKeyRef(name=credentials.name, key=credentials.password_key)),
    ]


def app_env(platform: Platform, credentials: DatabaseCredentialsRef) -> list[Manifest]:
    """The secret settings; the rest come from the ConfigMap through envFrom."""
    spec = platform.spec
    keys = spec.webhooks.secret_keys_secret_ref
    previous = spec.jwt_previous_secret_ref
    return [
        *credentials_env(credentials),
        secret_env("REDIS_URL", spec.redis.url_secret_ref),
        secret_env("JWT_SECRET", spec.jwt_secret_ref),
        *([secret_env("JWT_PREVIOUS_SECRET", previous)] if previous is not None else []),
        *([secret_env("WEBHOOK_SECRET_KEYS", keys)] if keys is not None else []),
    ]


def resources(spec: Resources) -> Manifest:
    return {"requests": spec.requests.wire(), "limits": spec.limits.wire()}


def container_security() -> Manifest:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def container(
    platform: Platform,
    name: str,
    args: list[str],
    env: list[Manifest],
    spec: Resources,
) -> Manifest:
    """An accounting-api container with the shared settings, /tmp and hardening."""
    return {
        "name": name,
        "image": platform.image,
        "imagePullPolicy": platform.spec.image_pull_policy,
        "command": ["accounting-api"],
        "args": args,
        "env": env,
        "envFrom": [{"configMapRef": {"name": platform.child("config")}}],
        "resources": resources(spec),
        "securityContext": container_security(),
        # A private emptyDir: the only writable path under a read-only root filesystem.
        "volumeMounts": [{"name": TMP_VOLUME, "mountPath": "/tmp"}],  # noqa: S108
    }


def pod_spec(platform: Platform, containers: list[Manifest], **extra: Any) -> Manifest:
    """A pod spec under the platform's ServiceAccount with the restricted profile."""
    return {
        "serviceAccountName": platform.name,
        # The API never calls the Kubernetes API: no token in its pods.
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "fsGroup": UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": containers,
        "volumes": [{"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "256Mi"}}],
        **extra,
    }


def template(platform: Platform, component: str, spec: Manifest) -> Manifest:
    """A pod template labelled for `component`."""
    return {"metadata": {"labels": meta.labels(platform, component)}, "spec": spec}


def rolling_template(platform: Platform, component: str, spec: Manifest) -> Manifest:
    """A Deployment's pod template: a new config hash rolls the pods to read new settings,
    and a new rotate annotation on the platform, or a new digest of the Secret keys they
    read (with watch_secrets), rolls them to read their Secrets again."""
    out = template(platform, component, spec)
    out["metadata"]["annotations"] = {config.CONFIG_HASH_ANNOTATION: config.config_hash(platform)}
    if platform.rotation:
        out["metadata"]["annotations"][ROTATED_ANNOTATION] = platform.rotation
    if platform.secrets_digest:
        out["metadata"]["annotations"][SECRETS_DIGEST_ANNOTATION] = platform.secrets_digest
    return out
